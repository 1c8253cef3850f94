//! From the live fan-out's fMP4 fragments to what an RTP sender writes: H.264 access units in
//! Annex B form with their 90 kHz media time and the instant they arrived from the camera.
//!
//! A WebRTC viewer joins at a keyframe: frames before the first one are dropped, and so are
//! the GOP a new viewer is handed at once (it has no arrival instant: it is old by design, and
//! sent as fast as the socket takes it, it would make the browser's jitter buffer wait for
//! the rest of the world to catch up).

use gridwatch_ingest::fmp4::inspect::{parse_init_segment, parse_media_segment};
use gridwatch_ingest::fmp4::{classify, AnnexB, Fmp4Error, VideoCodec};
use gridwatch_ingest::LiveMessage;
use std::time::Instant;

/// One frame ready for the RTP packetizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// NAL units after start codes; a keyframe's parameter sets first.
    pub data: Vec<u8>,
    /// Decode time in 90 kHz units (the fragments' timescale: the RTP video clock).
    pub media_time: u64,
    pub keyframe: bool,
    /// When the frame arrived from the camera: the wall clock the RTCP sender reports map
    /// the media time to, so the browser knows how old the picture on screen is.
    pub arrived: Instant,
}

/// What a live message meant for the sender.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame to send.
    Send(AccessUnit),
    /// Nothing to send (an init segment, a frame before the first keyframe, the backlog).
    Skip,
}

/// Why the stream cannot be sent over WebRTC.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FramesError {
    /// The camera sends H.265 (browsers take it over WebRTC only behind flags).
    #[error("the camera sends {0}; WebRTC here carries H.264 only")]
    Codec(&'static str),
    #[error("unreadable fragment: {0}")]
    Fmp4(#[from] Fmp4Error),
}

/// One viewer's converter.
#[derive(Debug, Default)]
pub struct Frames {
    annexb: Option<AnnexB>,
    /// A keyframe was sent since the last init segment.
    started: bool,
    /// Frames dropped while waiting for a keyframe.
    pub skipped: u64,
}

impl Frames {
    /// The next live message; `arrived` is the viewer's arrival instant for it. While the
    /// connection cannot carry media yet (`ready` false), frames are skipped and the next
    /// one sent will be a keyframe.
    pub fn step(
        &mut self,
        msg: &LiveMessage,
        arrived: Option<Instant>,
        ready: bool,
    ) -> Result<Step, FramesError> {
        match msg {
            LiveMessage::Init { segment, .. } => {
                let init = parse_init_segment(segment)?;
                if &init.sample_entry != b"avc1" {
                    return Err(FramesError::Codec("H.265"));
                }
                self.annexb = Some(AnnexB::new(&init.decoder_config)?);
                self.started = false;
                Ok(Step::Skip)
            }
            LiveMessage::Media(segment) => {
                let (Some(annexb), Some(arrived), true) = (&self.annexb, arrived, ready) else {
                    self.started = false;
                    return Ok(Step::Skip);
                };
                let info = parse_media_segment(segment)?;
                let Some(range) = info.sample_ranges.first() else {
                    return Ok(Step::Skip);
                };
                let sample = &segment[range.clone()];
                let keyframe = classify(VideoCodec::H264, sample)?.is_keyframe();
                if !self.started && !keyframe {
                    self.skipped += 1;
                    return Ok(Step::Skip);
                }
                self.started = true;
                Ok(Step::Send(AccessUnit {
                    data: annexb.access_unit(sample, keyframe)?,
                    media_time: info.base_decode_time,
                    keyframe,
                    arrived,
                }))
            }
        }
    }
}

impl Frames {
    /// The receiver lost a frame (a keyframe request): what follows cannot be decoded until
    /// the next keyframe, so nothing is sent until then.
    pub fn restart(&mut self) {
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;
    use gridwatch_ingest::fmp4::{FragmentWriter, Frame, TimelineConfig, VideoParams};
    use std::sync::Arc;

    fn writer() -> FragmentWriter {
        let avcc = vec![
            1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE,
        ];
        FragmentWriter::new(
            VideoParams::h264(640, 480, avcc).unwrap(),
            TimelineConfig::default(),
        )
    }

    fn media(w: &mut FragmentWriter, data: &[u8], timestamp: i64, key: bool) -> LiveMessage {
        let segment = w
            .write(&Frame {
                data,
                timestamp,
                is_keyframe: key,
                arrival: Some(std::time::SystemTime::now()),
            })
            .unwrap();
        LiveMessage::Media(Bytes::from(segment.data))
    }

    fn init(w: &FragmentWriter) -> LiveMessage {
        LiveMessage::Init {
            mime: Arc::from("video/mp4"),
            segment: Bytes::from(w.init_segment()),
        }
    }

    const IDR: [u8; 7] = [0, 0, 0, 3, 0x65, 0x88, 0x80];
    const P: [u8; 7] = [0, 0, 0, 3, 0x41, 0x9A, 0x80];

    #[test]
    fn sending_starts_at_the_first_live_keyframe() {
        let mut w = writer();
        let mut frames = Frames::default();
        let now = Instant::now();
        assert_eq!(frames.step(&init(&w), None, true).unwrap(), Step::Skip);
        // The backlog (no arrival) and a P frame before any keyframe are not sent.
        let backlog = media(&mut w, &IDR, 0, true);
        assert_eq!(frames.step(&backlog, None, true).unwrap(), Step::Skip);
        let p = media(&mut w, &P, 3000, false);
        assert_eq!(frames.step(&p, Some(now), true).unwrap(), Step::Skip);
        assert_eq!(frames.skipped, 1);
        let key = media(&mut w, &IDR, 6000, true);
        let Step::Send(au) = frames.step(&key, Some(now), true).unwrap() else {
            panic!("the keyframe is sent");
        };
        assert!(au.keyframe);
        assert_eq!(au.media_time, 6000);
        assert_eq!(au.arrived, now);
        // SPS, PPS, then the slice.
        assert!(au.data.starts_with(&[0, 0, 0, 1, 0x67]));
        assert!(au.data.ends_with(&[0, 0, 0, 1, 0x65, 0x88, 0x80]));
        let p = media(&mut w, &P, 9000, false);
        let Step::Send(au) = frames.step(&p, Some(now), true).unwrap() else {
            panic!("frames after the keyframe are sent");
        };
        assert_eq!(au.data, [0, 0, 0, 1, 0x41, 0x9A, 0x80]);
        assert_eq!(au.media_time, 9000);
    }

    #[test]
    fn nothing_starts_before_the_connection_is_ready_or_after_a_loss() {
        let mut w = writer();
        let mut frames = Frames::default();
        let now = Instant::now();
        frames.step(&init(&w), None, true).unwrap();
        // A keyframe while the connection is not up is not a start.
        let key = media(&mut w, &IDR, 0, true);
        assert_eq!(frames.step(&key, Some(now), false).unwrap(), Step::Skip);
        let p = media(&mut w, &P, 3000, false);
        assert_eq!(frames.step(&p, Some(now), true).unwrap(), Step::Skip);
        let key = media(&mut w, &IDR, 6000, true);
        assert!(matches!(
            frames.step(&key, Some(now), true).unwrap(),
            Step::Send(_)
        ));
        // The receiver asked for a keyframe: P frames wait for the next one.
        frames.restart();
        let p = media(&mut w, &P, 9000, false);
        assert_eq!(frames.step(&p, Some(now), true).unwrap(), Step::Skip);
        let key = media(&mut w, &IDR, 12000, true);
        assert!(matches!(
            frames.step(&key, Some(now), true).unwrap(),
            Step::Send(_)
        ));
    }

    #[test]
    fn a_new_init_segment_waits_for_a_keyframe_again() {
        let mut w = writer();
        let mut frames = Frames::default();
        let now = Instant::now();
        frames.step(&init(&w), None, true).unwrap();
        let key = media(&mut w, &IDR, 0, true);
        assert!(matches!(
            frames.step(&key, Some(now), true).unwrap(),
            Step::Send(_)
        ));
        frames.step(&init(&w), None, true).unwrap();
        let p = media(&mut w, &P, 3000, false);
        assert_eq!(frames.step(&p, Some(now), true).unwrap(), Step::Skip);
    }
}
