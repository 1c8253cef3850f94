//! What passes from the video threads to a directory's writer: a queue
//! bounded in bytes, which the video side never waits on.
//!
//! A frame that does not fit is dropped at once (and counted by the caller):
//! a slow disk costs recorded video, never live video. The writer is not
//! woken per frame (a thread switch per frame would cost more than writing
//! it); it takes everything queued every `drain_interval`, or at once for a
//! control message.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::config::Quality;
use crate::fmp4::VideoParams;

use super::config::RecordMode;

/// Which stream a message is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct StreamKey {
    pub camera_id: Arc<str>,
    pub quality: Quality,
}

/// One frame to record, as the live path packaged it.
#[derive(Debug, Clone)]
pub(crate) struct QueuedFrame {
    /// NAL units with 4-byte length prefixes.
    pub data: Bytes,
    /// On the stream's monotonic decode timeline (90 kHz).
    pub decode_time: u64,
    /// The live path's estimate of its duration, used only for the last
    /// frame of a segment that ends without a next frame.
    pub duration_hint: u32,
    pub is_keyframe: bool,
    /// When it arrived from the camera.
    pub wall: SystemTime,
    pub params: Arc<VideoParams>,
    pub mode: RecordMode,
    /// Frames are missing before this one (dropped, or a new session): the
    /// current segment ends and a new one starts here.
    pub after_gap: bool,
    /// Frames the camera sent were lost just before this one (a keyframe), on the same
    /// timeline: the segment goes on after a hole, which its row lists.
    pub after_hole: bool,
}

#[derive(Debug)]
pub(crate) enum Message {
    Frame(Arc<StreamKey>, QueuedFrame),
    /// The stream stopped recording (mode off, camera removed): finish its segment.
    Close(Arc<StreamKey>),
    /// Finish every segment and stop.
    Shutdown,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Message>,
    bytes: usize,
    /// A control message is waiting: wake the writer now.
    urgent: bool,
}

/// The queue in front of one directory's writer.
#[derive(Debug)]
pub(crate) struct FrameQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    max_bytes: usize,
}

impl FrameQueue {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ready: Condvar::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame unless that would pass the byte bound; never waits.
    pub(crate) fn try_push_frame(&self, key: &Arc<StreamKey>, frame: QueuedFrame) -> bool {
        let len = frame.data.len();
        let mut inner = self.lock();
        if inner.bytes + len > self.max_bytes {
            return false;
        }
        inner.bytes += len;
        inner.items.push_back(Message::Frame(key.clone(), frame));
        true
    }

    /// Queues a control message (always accepted: they are few and small)
    /// and wakes the writer.
    pub(crate) fn push_control(&self, message: Message) {
        let mut inner = self.lock();
        inner.items.push_back(message);
        inner.urgent = true;
        drop(inner);
        self.ready.notify_one();
    }

    /// Waits up to `timeout` (less if a control message comes), then takes
    /// everything queued.
    pub(crate) fn take(&self, timeout: Duration) -> Vec<Message> {
        let mut inner = self.lock();
        if !inner.urgent && !timeout.is_zero() {
            inner = self
                .ready
                .wait_timeout_while(inner, timeout, |i| !i.urgent)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        inner.urgent = false;
        inner.bytes = 0;
        inner.items.drain(..).collect()
    }

    /// Bytes of frames waiting.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::testing::params;

    fn frame(len: usize) -> QueuedFrame {
        QueuedFrame {
            data: Bytes::from(vec![0; len]),
            decode_time: 0,
            duration_hint: 3600,
            is_keyframe: true,
            wall: SystemTime::UNIX_EPOCH,
            params: params(),
            mode: RecordMode::Continuous,
            after_gap: false,
            after_hole: false,
        }
    }

    #[test]
    fn frames_past_the_byte_bound_are_refused_until_taken() {
        let q = FrameQueue::new(100);
        let key = Arc::new(StreamKey {
            camera_id: "c".into(),
            quality: Quality::Main,
        });
        assert!(q.try_push_frame(&key, frame(60)));
        assert!(!q.try_push_frame(&key, frame(60)));
        assert!(q.try_push_frame(&key, frame(40)));
        assert_eq!(q.queued_bytes(), 100);
        assert_eq!(q.take(Duration::ZERO).len(), 2);
        assert_eq!(q.queued_bytes(), 0);
        assert!(q.try_push_frame(&key, frame(60)));
    }

    #[test]
    fn control_messages_wake_the_writer_at_once() {
        let q = Arc::new(FrameQueue::new(10));
        let q2 = q.clone();
        let started = std::time::Instant::now();
        let waiter = std::thread::spawn(move || q2.take(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        q.push_control(Message::Shutdown);
        let got = waiter.join().unwrap();
        assert!(matches!(got.as_slice(), [Message::Shutdown]));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
