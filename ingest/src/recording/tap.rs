//! The recorder's one hook into the frame path: each stream's supervisor
//! offers every frame to its [`RecordingTap`] right after the live fan-out.
//!
//! Offering never waits and never fails: the frame's bytes move into the
//! queue of the stream's directory (no copy: the supervisor is done with
//! them), or, when that queue is full or the directory stopped, the frame is
//! dropped and counted, and recording resumes at the next keyframe. Only
//! frames the live path could package are recorded, so a recording starts
//! on a keyframe and follows the live path's decision about damaged frames.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::fmp4::{SampleInfo, VideoParams};
use crate::session::VideoFrame;

use super::config::RecordMode;
use super::queue::{Message, QueuedFrame, StreamKey};
use super::status::{add, lock, DirShared};

/// Why frames are being skipped until the next keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// The start of recording or of a session: nothing was lost.
    Start,
    /// The writer's queue was full.
    QueueFull,
    /// The directory stopped.
    Stopped,
    /// Frames were lost (the live path could not use them): the live path counted them.
    Hole,
}

#[derive(Debug)]
struct TapState {
    mode: RecordMode,
    params: Option<Arc<VideoParams>>,
    waiting: Option<Waiting>,
    /// Frames are missing before the next one queued.
    gap: bool,
    /// Frames were lost before the next one queued, within the session: the segment may go
    /// on after a hole (a loss during a gap changes nothing: the segment ends anyway).
    hole: bool,
    /// Frames were queued since the stream's segment was last closed.
    open: bool,
}

#[derive(Debug)]
struct TapInner {
    key: Arc<StreamKey>,
    dir: Arc<DirShared>,
    state: Mutex<TapState>,
}

impl Drop for TapInner {
    fn drop(&mut self) {
        self.dir.streams.fetch_sub(1, Ordering::Relaxed);
        if lock(&self.state).open {
            self.dir
                .queue
                .push_control(Message::Close(self.key.clone()));
        }
    }
}

/// One stream's way into the recorder; a tap of a registry without a
/// recorder does nothing.
#[derive(Debug, Default)]
pub struct RecordingTap {
    inner: Option<TapInner>,
}

impl RecordingTap {
    /// A tap that records nothing.
    pub fn off() -> Self {
        Self::default()
    }

    pub(crate) fn new(key: StreamKey, dir: Arc<DirShared>, mode: RecordMode) -> Self {
        dir.streams.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: Some(TapInner {
                key: Arc::new(key),
                dir,
                state: Mutex::new(TapState {
                    mode,
                    params: None,
                    waiting: Some(Waiting::Start),
                    gap: true,
                    hole: false,
                    open: false,
                }),
            }),
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> RecordMode {
        self.inner
            .as_ref()
            .map_or(RecordMode::Off, |i| lock(&i.state).mode)
    }

    /// Changes the mode; the next frame recorded starts a new segment (at a
    /// keyframe), and `off` finishes the current one.
    pub fn set_mode(&self, mode: RecordMode) {
        let Some(inner) = &self.inner else { return };
        let mut state = lock(&inner.state);
        if state.mode == mode {
            return;
        }
        state.mode = mode;
        state.gap = true;
        state.waiting = Some(Waiting::Start);
        if !mode.records() && state.open {
            state.open = false;
            inner
                .dir
                .queue
                .push_control(Message::Close(inner.key.clone()));
        }
    }

    /// A new camera session starts: what follows does not continue what
    /// came before, so it goes into a new segment.
    pub(crate) fn begin_session(&self) {
        if let Some(inner) = &self.inner {
            let mut state = lock(&inner.state);
            state.gap = true;
            state.waiting = Some(Waiting::Start);
        }
    }

    /// Offers a frame the camera sent; `sample` is where the live path put
    /// it on the stream's timeline (`None` when it skipped the frame). Its
    /// wall-clock time is when it arrived from the camera.
    pub(crate) fn offer(&self, frame: VideoFrame, sample: Option<SampleInfo>) {
        let Some(inner) = &self.inner else { return };
        let mut state = lock(&inner.state);
        if let Some(params) = frame.new_params {
            if state.params.as_deref() != Some(&params) {
                state.params = Some(Arc::new(params));
            }
        }
        let (Some(sample), Some(params)) = (sample, state.params.clone()) else {
            // A frame live video could not use (damaged by packet loss, or before a keyframe)
            // is a hole in the stream's timeline: recording resumes at the next keyframe, in
            // the same segment, and the segment's row lists the hole, so that it shows as a
            // gap, never as the last frame before it frozen across it. (Ending the segment
            // instead made one per hole: with a lossy camera over UDP, one per GOP.)
            if sample.is_none() && state.waiting.is_none() {
                state.hole = true;
                state.waiting = Some(Waiting::Hole);
            }
            return;
        };
        if !state.mode.records() {
            return;
        }
        let counters = &inner.dir.counters;
        if !inner.dir.accepting() {
            add(&counters.dropped_stopped, 1);
            state.waiting = Some(Waiting::Stopped);
            state.gap = true;
            return;
        }
        if let Some(waiting) = state.waiting {
            if !sample.is_keyframe {
                match waiting {
                    Waiting::Start | Waiting::Hole => {}
                    Waiting::QueueFull => add(&counters.dropped_queue_full, 1),
                    Waiting::Stopped => add(&counters.dropped_stopped, 1),
                }
                return;
            }
        }
        let queued = QueuedFrame {
            data: Bytes::from(frame.data),
            decode_time: sample.decode_time,
            duration_hint: sample.duration,
            is_keyframe: sample.is_keyframe,
            wall: frame.received,
            params,
            mode: state.mode,
            after_gap: state.gap,
            after_hole: state.hole && !state.gap,
        };
        if inner.dir.queue.try_push_frame(&inner.key, queued) {
            state.waiting = None;
            state.gap = false;
            state.hole = false;
            state.open = true;
        } else {
            add(&counters.dropped_queue_full, 1);
            state.waiting = Some(Waiting::QueueFull);
            state.gap = true;
        }
    }
}
