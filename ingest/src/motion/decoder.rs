//! The motion decoder: one GStreamer pipeline per camera that turns the stream's samples into
//! small grey pictures at a few per second.
//!
//! `appsrc ! h264parse ! avdec_h264 max-threads=1 ! videorate drop-only=true !
//! video/x-raw,framerate=5/1 ! videoscale ! videoconvert !
//! video/x-raw,format=GRAY8,width=640,height=360 ! appsink` (`h265parse ! avdec_h265` for
//! H.265), fed the length-prefixed samples of the live fan-out with the init segment's
//! `avcC`/`hvcC` as `codec_data`, as snapshots are (see `snapshot.rs`). The rate is cut right
//! after the decoder, so scaling, conversion and the detector see only the frames they need;
//! one decoding thread per camera (a sub stream is small, and fifty cameras must share a core
//! without a thread pool each). The pipeline runs on GStreamer's own streaming thread, never
//! on the thread that reads the camera; the appsink's callback runs the detector there too.

use std::time::Duration;

use bytes::Bytes;
use gridwatch_core::motion::detector::GrayFrame;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::snapshot::Codec;

/// The detector's picture: the 640×360 (zones are fractions, so any camera's aspect
/// fits), grey.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 360;
/// Frames per second the detector gets (at most).
pub const FPS: u32 = 5;

/// Why a camera's motion decoder could not start or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecoderError {
    #[error("GStreamer did not start: {0}")]
    Init(String),
    #[error("GStreamer element {0} is missing")]
    Missing(String),
    #[error("the motion pipeline failed: {0}")]
    Pipeline(String),
}

/// A running pipeline; stopped when dropped.
pub(crate) struct Decoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

fn element(name: &str) -> Result<gst::Element, DecoderError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| DecoderError::Missing(name.into()))
}

impl Decoder {
    /// Starts decoding `codec` with `config` (`avcC`/`hvcC`); `on_frame` gets each grey
    /// picture with its presentation time in milliseconds.
    pub(crate) fn start(
        codec: Codec,
        config: &[u8],
        mut on_frame: impl FnMut(GrayFrame<'_>) + Send + 'static,
    ) -> Result<Decoder, DecoderError> {
        gst::init().map_err(|e| DecoderError::Init(e.to_string()))?;
        let (caps, parser, decoder) = codec.caps(config);
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .build();
        let parse = element(parser)?;
        let dec = element(decoder)?;
        dec.set_property("max-threads", 1i32);
        let rate = element("videorate")?;
        rate.set_property("drop-only", true);
        let rate_caps = element("capsfilter")?;
        rate_caps.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("framerate", gst::Fraction::new(FPS as i32, 1))
                .build(),
        );
        let scale = element("videoscale")?;
        let convert = element("videoconvert")?;
        let sink = gst_app::AppSink::builder()
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", "GRAY8")
                    .field("width", WIDTH as i32)
                    .field("height", HEIGHT as i32)
                    .build(),
            )
            .sync(false)
            .build();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let at_ms = buffer.pts().map_or(0, |t| t.mseconds() as i64);
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    // GRAY8 rows are padded to 4 bytes; 640 needs none.
                    on_frame(GrayFrame {
                        width: WIDTH,
                        height: HEIGHT,
                        data: map.as_slice(),
                        at_ms,
                    });
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let pipeline = gst::Pipeline::new();
        let chain = [
            src.upcast_ref::<gst::Element>(),
            &parse,
            &dec,
            &rate,
            &rate_caps,
            &scale,
            &convert,
            sink.upcast_ref(),
        ];
        let failed = |e: &dyn std::fmt::Display| DecoderError::Pipeline(e.to_string());
        pipeline.add_many(chain).map_err(|e| failed(&e))?;
        gst::Element::link_many(chain).map_err(|e| failed(&e))?;
        let decoder = Decoder { pipeline, src };
        decoder
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| failed(&e))?;
        Ok(decoder)
    }

    /// Samples pushed and not yet taken by the decoder.
    pub(crate) fn queued(&self) -> u64 {
        self.src.current_level_buffers()
    }

    /// Hands one sample to the decoder (never waits); an error when the pipeline failed.
    pub(crate) fn push(&self, sample: Bytes, pts: Duration) -> Result<(), DecoderError> {
        if let Some(e) = self.error() {
            return Err(DecoderError::Pipeline(e));
        }
        let mut buffer = gst::Buffer::from_slice(sample);
        if let Some(b) = buffer.get_mut() {
            let t = gst::ClockTime::from_nseconds(pts.as_nanos() as u64);
            b.set_pts(t);
            b.set_dts(t);
        }
        self.src
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| DecoderError::Pipeline(format!("{e:?}")))
    }

    /// The pipeline's first error, if it reported one.
    fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
