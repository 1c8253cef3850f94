//! Snapshots: a current JPEG of a camera, decoded on demand from the
//! keyframe that starts its cached GOP.
//!
//! GStreamer stays in this module, on one worker thread behind a bounded
//! channel: `appsrc ! h264parse ! avdec_h264 ! videoconvert ! jpegenc !
//! appsink` (`h265parse ! avdec_h265` for H.265), fed the keyframe as the
//! length-prefixed sample it is in the `mdat`, with the `avcC`/`hvcC` of the
//! init segment as `codec_data`. One picture is decoded per request; the
//! JPEG is kept with the keyframe it came from, so every snapshot until the
//! camera's next keyframe costs nothing.
//!
//! The worker starts on the first request, and ends when the [`Snapshots`]
//! is dropped.

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::oneshot;

use crate::cameras::{Cameras, LiveError};
use crate::config::Quality;
use crate::fmp4::inspect::{parse_init_segment, parse_media_segment};
use crate::fmp4::SYNC_SAMPLE_FLAGS;
use crate::live::LiveMessage;

/// Requests that may wait for the worker before more are refused as busy.
const QUEUE: usize = 8;

/// JPEG quality (0–100).
const JPEG_QUALITY: i32 = 85;

/// Why there is no snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("no camera {0:?}")]
    UnknownCamera(String),
    #[error("camera {0:?} is disabled")]
    Disabled(String),
    /// The stream is not online (its last picture is not current), or has
    /// just (re)connected and not sent a keyframe yet.
    #[error("camera {0:?} has no current picture")]
    NoFrames(String),
    /// Too many snapshots are being decoded; try again shortly.
    #[error("too many snapshots are being made; try again")]
    Busy,
    /// GStreamer could not start (plugins missing) or the worker died.
    #[error("snapshots are unavailable: {0}")]
    Unavailable(String),
    /// The picture could not be decoded.
    #[error("the picture could not be decoded: {0}")]
    Decode(String),
}

impl From<LiveError> for SnapshotError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::UnknownCamera(id) => SnapshotError::UnknownCamera(id),
            LiveError::Disabled(id) => SnapshotError::Disabled(id),
        }
    }
}

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub jpeg: Bytes,
    /// Whether it came from the cache (the keyframe had been decoded before).
    pub cached: bool,
}

/// The codec of a picture to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    H264,
    H265,
}

impl Codec {
    /// The codec of an init segment's sample entry (`avc1`, `hvc1`, …).
    pub(crate) fn of_sample_entry(entry: &[u8; 4]) -> Option<Codec> {
        match entry {
            b"avc1" | b"avc3" => Some(Codec::H264),
            b"hvc1" | b"hev1" => Some(Codec::H265),
            _ => None,
        }
    }

    /// The caps of its length-prefixed samples with `config` (`avcC`/`hvcC`) as
    /// `codec_data`, and the names of its GStreamer parser and decoder.
    pub(crate) fn caps(self, config: &[u8]) -> (gst::Caps, &'static str, &'static str) {
        let (media, stream_format, parser, decoder) = match self {
            Codec::H264 => ("video/x-h264", "avc", "h264parse", "avdec_h264"),
            Codec::H265 => ("video/x-h265", "hvc1", "h265parse", "avdec_h265"),
        };
        let caps = gst::Caps::builder(media)
            .field("stream-format", stream_format)
            .field("alignment", "au")
            .field("codec_data", gst::Buffer::from_slice(config.to_vec()))
            .build();
        (caps, parser, decoder)
    }
}

/// One picture for the worker.
struct Job {
    codec: Codec,
    /// `avcC` or `hvcC`.
    config: Vec<u8>,
    /// The keyframe's sample: length-prefixed NAL units.
    sample: Bytes,
    reply: oneshot::Sender<Result<Bytes, SnapshotError>>,
}

/// The last picture made for one stream, and the keyframe segment it was
/// made from (kept so that its address cannot be reused by another one).
struct Cached {
    keyframe: Bytes,
    jpeg: Bytes,
}

/// Makes snapshots of the cameras of a [`Cameras`] registry; cheap to share
/// behind an `Arc`.
pub struct Snapshots {
    worker: Mutex<Option<SyncSender<Job>>>,
    cache: Mutex<HashMap<(String, Quality), Cached>>,
    timeout: Duration,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Snapshots {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Snapshots {
    /// `timeout` bounds one decode.
    pub fn new(timeout: Duration) -> Self {
        Self {
            worker: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// A JPEG of the latest keyframe of camera `id`'s stream (`Sub` falls
    /// back to the main stream as for live view).
    pub async fn jpeg(
        &self,
        cameras: &Cameras,
        id: &str,
        quality: Quality,
    ) -> Result<Snapshot, SnapshotError> {
        let (init, keyframe, quality) = latest_keyframe(cameras, id, quality)?;
        self.decode_keyframe((id.to_string(), quality), init, keyframe)
            .await
    }

    /// A JPEG of the first keyframe camera `id` sends from now on, waiting at most `wait`;
    /// of the latest one ([`Snapshots::jpeg`]) when none comes in time (a GOP longer than
    /// `wait`). For the picture of an event: the latest keyframe may be a whole GOP older
    /// than the event, and show the yard before anyone entered it.
    pub async fn jpeg_of_next_keyframe(
        &self,
        cameras: &Cameras,
        id: &str,
        quality: Quality,
        wait: Duration,
    ) -> Result<Snapshot, SnapshotError> {
        let mut viewer = cameras.subscribe(id, quality)?;
        let served = viewer.quality();
        let deadline = tokio::time::Instant::now() + wait;
        let mut init = None;
        loop {
            let msg = match tokio::time::timeout_at(deadline, viewer.recv()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => return Err(SnapshotError::NoFrames(id.to_string())),
                Err(_) => {
                    drop(viewer);
                    return self.jpeg(cameras, id, quality).await;
                }
            };
            match msg {
                LiveMessage::Init { segment, .. } => init = Some(segment),
                // Only frames that arrived after subscribing carry their arrival: the GOP
                // a viewer starts with is the past.
                LiveMessage::Media(segment)
                    if viewer.arrived().is_some() && is_keyframe(&segment) =>
                {
                    if let Some(init) = init {
                        return self
                            .decode_keyframe((id.to_string(), served), init, segment)
                            .await;
                    }
                }
                LiveMessage::Media(_) => {}
            }
        }
    }

    /// The JPEG of `keyframe` (a one-frame media segment) with `init`, from the cache when it
    /// was decoded before.
    async fn decode_keyframe(
        &self,
        key: (String, Quality),
        init: Bytes,
        keyframe: Bytes,
    ) -> Result<Snapshot, SnapshotError> {
        if let Some(c) = lock(&self.cache).get(&key) {
            if c.keyframe.as_ptr() == keyframe.as_ptr() && c.keyframe.len() == keyframe.len() {
                return Ok(Snapshot {
                    jpeg: c.jpeg.clone(),
                    cached: true,
                });
            }
        }
        let info = parse_init_segment(&init)
            .map_err(|e| SnapshotError::Decode(format!("init segment: {e}")))?;
        let Some(codec) = Codec::of_sample_entry(&info.sample_entry) else {
            return Err(SnapshotError::Decode(format!(
                "unsupported sample entry {}",
                String::from_utf8_lossy(&info.sample_entry)
            )));
        };
        let media = parse_media_segment(&keyframe)
            .map_err(|e| SnapshotError::Decode(format!("media segment: {e}")))?;
        let range = media
            .sample_ranges
            .first()
            .cloned()
            .ok_or_else(|| SnapshotError::Decode("empty media segment".into()))?;
        let (tx, rx) = oneshot::channel();
        self.submit(Job {
            codec,
            config: info.decoder_config,
            sample: keyframe.slice(range),
            reply: tx,
        })?;
        let jpeg = rx
            .await
            .map_err(|_| SnapshotError::Unavailable("the snapshot worker stopped".into()))??;
        lock(&self.cache).insert(
            key,
            Cached {
                keyframe,
                jpeg: jpeg.clone(),
            },
        );
        Ok(Snapshot {
            jpeg,
            cached: false,
        })
    }

    /// Forgets the cached picture of a camera (e.g. once it is removed).
    pub fn forget(&self, id: &str) {
        lock(&self.cache).retain(|(camera, _), _| camera != id);
    }

    fn submit(&self, job: Job) -> Result<(), SnapshotError> {
        let mut worker = lock(&self.worker);
        let tx = match worker.as_ref() {
            Some(tx) => tx.clone(),
            None => {
                let (tx, rx) = sync_channel(QUEUE);
                let timeout = self.timeout;
                std::thread::Builder::new()
                    .name("gridwatch-snapshot".into())
                    .spawn(move || run_worker(rx, timeout))
                    .map_err(|e| SnapshotError::Unavailable(format!("no worker thread: {e}")))?;
                *worker = Some(tx.clone());
                tx
            }
        };
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SnapshotError::Busy),
            Err(TrySendError::Disconnected(_)) => {
                // The worker died (it does not on its own): start a new one next time.
                *worker = None;
                Err(SnapshotError::Unavailable(
                    "the snapshot worker stopped".into(),
                ))
            }
        }
    }
}

/// The init segment and the keyframe that starts the stream's GOP, and the
/// stream they are from.
/// Whether a one-frame media segment holds a sync sample.
fn is_keyframe(segment: &[u8]) -> bool {
    parse_media_segment(segment)
        .ok()
        .and_then(|m| m.samples.first().and_then(|s| s.flags))
        == Some(SYNC_SAMPLE_FLAGS)
}

fn latest_keyframe(
    cameras: &Cameras,
    id: &str,
    quality: Quality,
) -> Result<(Bytes, Bytes, Quality), SnapshotError> {
    // A viewer's backlog is exactly the init segment and the GOP; it is
    // dropped again at once.
    let mut viewer = cameras.subscribe(id, quality)?;
    let quality = viewer.quality();
    let no_frames = || SnapshotError::NoFrames(id.to_string());
    // After an outage the GOP of the last session is still there, for the
    // viewers that stay: it is not a current picture.
    let online = cameras
        .watch(id, quality)
        .is_some_and(|w| w.borrow().state.is_online());
    if !online {
        return Err(no_frames());
    }
    let Some(LiveMessage::Init { segment: init, .. }) = viewer.try_recv() else {
        return Err(no_frames());
    };
    let Some(LiveMessage::Media(keyframe)) = viewer.try_recv() else {
        return Err(no_frames());
    };
    if !is_keyframe(&keyframe) {
        return Err(no_frames());
    }
    Ok((init, keyframe, quality))
}

fn run_worker(rx: Receiver<Job>, timeout: Duration) {
    let init = gst::init().map_err(|e| format!("GStreamer did not start: {e}"));
    if let Err(e) = &init {
        tracing::error!(error = %e, "snapshots unavailable");
    }
    while let Ok(job) = rx.recv() {
        let result = match &init {
            Ok(()) => decode(&job, timeout),
            Err(e) => Err(SnapshotError::Unavailable(e.clone())),
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, "snapshot failed");
        }
        let _ = job.reply.send(result);
    }
}

pub(crate) fn element(name: &str) -> Result<gst::Element, SnapshotError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| SnapshotError::Unavailable(format!("GStreamer element {name} is missing")))
}

/// Decodes one keyframe to a JPEG.
fn decode(job: &Job, timeout: Duration) -> Result<Bytes, SnapshotError> {
    let (caps, parser, decoder) = job.codec.caps(&job.config);
    let src = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .build();
    let sink = gst_app::AppSink::builder().sync(false).build();
    let parse = element(parser)?;
    let dec = element(decoder)?;
    let convert = element("videoconvert")?;
    let jpeg = element("jpegenc")?;
    jpeg.set_property("quality", JPEG_QUALITY);
    let pipeline = gst::Pipeline::new();
    let decode_error = |e: &dyn std::fmt::Display| SnapshotError::Decode(e.to_string());
    pipeline
        .add_many([
            src.upcast_ref::<gst::Element>(),
            &parse,
            &dec,
            &convert,
            &jpeg,
            sink.upcast_ref(),
        ])
        .map_err(|e| decode_error(&e))?;
    gst::Element::link_many([
        src.upcast_ref::<gst::Element>(),
        &parse,
        &dec,
        &convert,
        &jpeg,
        sink.upcast_ref(),
    ])
    .map_err(|e| decode_error(&e))?;
    let result = run_pipeline(&pipeline, &src, &sink, job.sample.clone(), timeout);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run_pipeline(
    pipeline: &gst::Pipeline,
    src: &gst_app::AppSrc,
    sink: &gst_app::AppSink,
    sample: Bytes,
    timeout: Duration,
) -> Result<Bytes, SnapshotError> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| SnapshotError::Decode(format!("pipeline did not start: {e}")))?;
    let mut buffer = gst::Buffer::from_slice(sample);
    if let Some(b) = buffer.get_mut() {
        b.set_pts(gst::ClockTime::ZERO);
        b.set_dts(gst::ClockTime::ZERO);
        b.set_duration(gst::ClockTime::from_mseconds(40));
    }
    src.push_buffer(buffer)
        .map_err(|e| SnapshotError::Decode(format!("pushing the picture: {e:?}")))?;
    let _ = src.end_of_stream();
    let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    match sink.try_pull_sample(gst::ClockTime::from_nseconds(timeout_ns)) {
        Some(sample) => {
            let buffer = sample
                .buffer()
                .ok_or_else(|| SnapshotError::Decode("no buffer in the sample".into()))?;
            let map = buffer
                .map_readable()
                .map_err(|e| SnapshotError::Decode(e.to_string()))?;
            Ok(Bytes::copy_from_slice(map.as_slice()))
        }
        None => {
            let why = pipeline.bus().and_then(|bus| {
                bus.pop_filtered(&[gst::MessageType::Error])
                    .and_then(|m| match m.view() {
                        gst::MessageView::Error(e) => Some(e.error().to_string()),
                        _ => None,
                    })
            });
            Err(SnapshotError::Decode(why.unwrap_or_else(|| {
                format!("no picture within {timeout:?}")
            })))
        }
    }
}
