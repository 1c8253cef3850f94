//! Helpers for the recording module's unit tests.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::Quality;
use crate::fmp4::VideoParams;

use super::config::RecordMode;
use super::index::SegmentRecord;

/// Baseline-profile 640x480 parameters.
pub(crate) fn params() -> Arc<VideoParams> {
    let avcc = vec![
        1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 4, 0x67, 0x42, 0xC0, 0x1E, 1, 0, 2, 0x68, 0xCE,
    ];
    Arc::new(VideoParams::h264(640, 480, avcc).expect("valid avcC"))
}

/// A row for a file that need not exist.
pub(crate) fn segment_record(dir_id: &str, path: &str) -> SegmentRecord {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_144_000);
    SegmentRecord {
        id: super::dir::new_id(),
        camera_id: "c".into(),
        stream: Quality::Main,
        mode: RecordMode::Continuous,
        dir_id: dir_id.into(),
        path: path.into(),
        start,
        end: start + Duration::from_secs(60),
        bytes: 1000,
        frames: 1500,
        sha256: "0".repeat(64),
        codec: "avc1.42C01E".into(),
        width: 640,
        height: 480,
        holes: Vec::new(),
    }
}

/// A synthetic stream: frames of `size` bytes at 25 fps, a keyframe every
/// `key_every` frames, arriving in real time from `start`.
pub(crate) struct FakeStream {
    pub start: SystemTime,
    pub key_every: u64,
    pub size: usize,
    pub next: u64,
    pub params: Arc<VideoParams>,
}

impl FakeStream {
    pub(crate) fn new(key_every: u64, size: usize) -> Self {
        Self {
            start: SystemTime::now(),
            key_every,
            size,
            next: 0,
            params: params(),
        }
    }

    /// The next frame (arriving 40 ms after the previous) with where the live path put it.
    pub(crate) fn next_frame(&mut self) -> (crate::session::VideoFrame, crate::fmp4::SampleInfo) {
        let n = self.next;
        self.next += 1;
        let is_keyframe = n.is_multiple_of(self.key_every);
        let mut data = vec![0u8; self.size.max(5)];
        let nal_len = (data.len() - 4) as u32;
        data[..4].copy_from_slice(&nal_len.to_be_bytes());
        data[4] = if is_keyframe { 0x65 } else { 0x41 };
        data[5..]
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (n as usize + i) as u8);
        let decode_time = n * 3600;
        let frame = crate::session::VideoFrame {
            data,
            timestamp: decode_time as i64,
            is_keyframe,
            new_params: (n == 0).then(|| (*self.params).clone()),
            loss: 0,
            has_b_slices: false,
            received: self.start + Duration::from_millis(n * 40),
        };
        let sample = crate::fmp4::SampleInfo {
            decode_time,
            duration: 3600,
            is_keyframe,
        };
        (frame, sample)
    }
}

/// A recorder into `dir` with 1 s segments and a quick writer.
pub(crate) fn fake_recorder(dir: &std::path::Path) -> (super::Recorder, Arc<super::MemoryIndex>) {
    use super::{MemoryIndex, Recorder, RecordingConfig, SampleDirConfig};
    let index = Arc::new(MemoryIndex::new());
    let config = RecordingConfig {
        dirs: vec![SampleDirConfig {
            path: dir.to_path_buf(),
            min_free_bytes: 0,
        }],
        segment_duration: Duration::from_secs(1),
        drain_interval: Duration::from_millis(5),
        ..RecordingConfig::default()
    };
    (Recorder::open(config, index.clone()), index)
}

/// Records `frames` synthetic frames (a keyframe every 10, 1 s segments)
/// into `dir` and returns the rows.
pub(crate) fn record_fake(dir: &std::path::Path, frames: u64) -> Vec<SegmentRecord> {
    let (recorder, index) = fake_recorder(dir);
    let tap = recorder.tap("c", Quality::Main, RecordMode::Continuous);
    let mut stream = FakeStream::new(10, 300);
    for _ in 0..frames {
        let (frame, sample) = stream.next_frame();
        tap.offer(frame, Some(sample));
    }
    drop(tap);
    recorder.shutdown();
    index.segments()
}
