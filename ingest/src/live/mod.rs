//! Live fan-out: one camera session, any number of viewers.
//!
//! The stream's supervisor packages each frame once (one `prft`+`moof`+`mdat` as
//! [`Bytes`]) and hands it to every viewer by reference count. Each viewer
//! has its own bounded queue; one that cannot keep up is not allowed to grow
//! a buffer or to hold up the others: its frames are dropped and it resumes
//! at the next keyframe (decoding cannot resume anywhere else). A new viewer
//! gets the init segment and the current GOP at once (see [`crate::gop`]),
//! so playback starts without waiting for a keyframe. Viewers come and go
//! under a short lock; the camera session never notices.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::config::Quality;
use crate::fmp4::{Fmp4Error, FragmentWriter, SampleInfo, TimelineConfig, VideoParams};
use crate::gop::{Gop, GopLimits, GopPush, InitSegment};
use crate::session::VideoFrame;

/// What a viewer receives, in order: an `Init` first, then `Media` from a
/// keyframe on; another `Init` when the camera's parameters change (the
/// browser must then append it before the following media).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveMessage {
    /// An init segment (`ftyp`+`moov`) and its MIME type for
    /// `MediaSource.addSourceBuffer`.
    Init { mime: Arc<str>, segment: Bytes },
    /// A media segment (`prft`+`moof`+`mdat`, one frame).
    Media(Bytes),
}

impl LiveMessage {
    fn init(init: &InitSegment) -> Self {
        LiveMessage::Init {
            mime: init.mime.clone(),
            segment: init.data.clone(),
        }
    }
}

/// A message in a viewer's queue, with the instant its frame arrived from
/// the camera (`None` for init segments).
#[derive(Debug)]
struct Queued(LiveMessage, Option<Instant>);

/// One viewer of one stream. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Viewer {
    quality: Quality,
    /// Init segment and GOP as of subscribing, delivered before the queue.
    backlog: VecDeque<LiveMessage>,
    rx: mpsc::Receiver<Queued>,
    skips: Arc<AtomicU64>,
    arrived: Option<Instant>,
    home: Option<Handle>,
}

impl Viewer {
    /// The runtime its camera's frames are handled on (a video thread, see
    /// `video_threads.rs`). Serve the viewer's connection there: each frame
    /// then reaches it without waking another thread, and its sends join the
    /// thread's batch. `None` for a viewer made outside a registry.
    pub fn home(&self) -> Option<&Handle> {
        self.home.as_ref()
    }

    pub(crate) fn set_home(&mut self, runtime: Handle) {
        self.home = Some(runtime);
    }

    /// The stream actually served (`Main` when `Sub` was asked for and the
    /// camera has no sub stream).
    pub fn quality(&self) -> Quality {
        self.quality
    }

    /// The next message; `None` once the camera is removed.
    pub async fn recv(&mut self) -> Option<LiveMessage> {
        if let Some(msg) = self.backlog.pop_front() {
            self.arrived = None;
            return Some(msg);
        }
        let Queued(msg, arrived) = self.rx.recv().await?;
        self.arrived = arrived;
        Some(msg)
    }

    /// Puts `msg` back to be received first (a message looked at before serving began).
    pub fn push_front(&mut self, msg: LiveMessage) {
        self.backlog.push_front(msg);
    }

    /// The next message if one is ready.
    pub fn try_recv(&mut self) -> Option<LiveMessage> {
        if let Some(msg) = self.backlog.pop_front() {
            self.arrived = None;
            return Some(msg);
        }
        let Queued(msg, arrived) = self.rx.try_recv().ok()?;
        self.arrived = arrived;
        Some(msg)
    }

    /// When the frame of the message last received arrived from the camera
    /// (the instant retina handed it to the ingest), for measuring the
    /// delay to the viewer. `None` for init segments and for the GOP a
    /// viewer starts with, which is old by design.
    pub fn arrived(&self) -> Option<Instant> {
        self.arrived
    }

    /// How many times this viewer fell behind and was moved on to the next
    /// keyframe.
    pub fn skips(&self) -> u64 {
        self.skips.load(Ordering::Relaxed)
    }
}

/// A viewer as the fan-out sees it.
struct Slot {
    tx: mpsc::Sender<Queued>,
    /// Waiting for a keyframe (after falling behind, or joining while there
    /// was no GOP); `need_init` when an init segment must precede it.
    skipping: Option<NeedInit>,
    skips: Arc<AtomicU64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NeedInit(bool);

impl Slot {
    /// Delivers one media segment; `false` once the viewer is gone.
    fn deliver(
        &mut self,
        segment: &Bytes,
        is_keyframe: bool,
        init: Option<&InitSegment>,
        arrived: Instant,
    ) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        if let Some(NeedInit(need_init)) = self.skipping {
            if !is_keyframe {
                return true;
            }
            let needed = if need_init { 2 } else { 1 };
            if self.tx.capacity() < needed {
                return true; // still behind: try the next keyframe
            }
            if need_init {
                match init {
                    Some(init) => {
                        let _ = self.tx.try_send(Queued(LiveMessage::init(init), None));
                    }
                    None => return true,
                }
            }
            self.skipping = None;
        }
        match self
            .tx
            .try_send(Queued(LiveMessage::Media(segment.clone()), Some(arrived)))
        {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.fall_behind(false);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn deliver_init(&mut self, init: &InitSegment) -> bool {
        match &mut self.skipping {
            Some(NeedInit(need)) => {
                *need = true;
                !self.tx.is_closed()
            }
            None => match self.tx.try_send(Queued(LiveMessage::init(init), None)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.fall_behind(true);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            },
        }
    }

    fn fall_behind(&mut self, need_init: bool) {
        self.skipping = Some(NeedInit(need_init));
        self.skips.fetch_add(1, Ordering::Relaxed);
    }
}

/// The GOP and the viewers, under one lock so that a new viewer's backlog
/// and its queue join without a gap or a duplicate.
struct FanOut {
    gop: Gop,
    viewers: Vec<Slot>,
}

/// Packaging state; only the supervisor touches it, so its lock is never
/// contended. It outlives sessions: decode times continue across
/// reconnections, which a browser's `SourceBuffer` needs.
struct Packager {
    writer: Option<FragmentWriter>,
    /// Until the next keyframe, frames cannot be decoded (start of a
    /// session, new parameters) and are not sent.
    awaiting_keyframe: bool,
    /// The stream has shown B slices: its init segment keeps the SPS as the camera sent it
    /// instead of announcing no reordering (see [`VideoParams::without_reordering`]).
    reorders: bool,
}

/// One stream's live path.
pub(crate) struct LiveStream {
    quality: Quality,
    queue_len: usize,
    packager: Mutex<Packager>,
    fan_out: Mutex<FanOut>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What packaging one frame did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Packaged {
    /// Sent to viewers; what the GOP cache did with it.
    Sent(SampleInfo, GopPush),
    /// Dropped: no parameters yet, or waiting for a keyframe.
    Skipped,
}

impl LiveStream {
    pub(crate) fn new(quality: Quality, queue_len: usize, limits: GopLimits) -> Self {
        Self {
            quality,
            queue_len: queue_len.max(2),
            packager: Mutex::new(Packager {
                writer: None,
                awaiting_keyframe: true,
                reorders: false,
            }),
            fan_out: Mutex::new(FanOut {
                gop: Gop::new(limits),
                viewers: Vec::new(),
            }),
        }
    }

    /// A new viewer: init + GOP at once, then live.
    pub(crate) fn subscribe(&self) -> Viewer {
        let (tx, rx) = mpsc::channel(self.queue_len);
        let skips = Arc::new(AtomicU64::new(0));
        let mut fan_out = lock(&self.fan_out);
        fan_out.viewers.retain(|v| !v.tx.is_closed());
        let mut backlog = VecDeque::with_capacity(fan_out.gop.segments().len() + 1);
        if let Some(init) = fan_out.gop.init() {
            backlog.push_back(LiveMessage::init(init));
        }
        backlog.extend(
            fan_out
                .gop
                .segments()
                .iter()
                .cloned()
                .map(LiveMessage::Media),
        );
        let skipping = if fan_out.gop.segments().is_empty() {
            Some(NeedInit(fan_out.gop.init().is_none()))
        } else {
            None
        };
        fan_out.viewers.push(Slot {
            tx,
            skipping,
            skips: skips.clone(),
        });
        Viewer {
            quality: self.quality,
            backlog,
            rx,
            skips,
            arrived: None,
            home: None,
        }
    }

    /// Number of viewers (gone ones are noticed on the next frame).
    pub(crate) fn viewer_count(&self) -> usize {
        lock(&self.fan_out).viewers.len()
    }

    /// A new session starts: what follows does not continue what viewers
    /// have, so the GOP goes and sending resumes at a keyframe.
    pub(crate) fn begin_session(&self) {
        lock(&self.packager).awaiting_keyframe = true;
        lock(&self.fan_out).gop.clear();
    }

    /// Packages one frame and hands it to the viewers (new parameters in
    /// the frame first go out as a new init segment).
    #[cfg(test)]
    pub(crate) fn push(&self, frame: &VideoFrame) -> Result<Packaged, Fmp4Error> {
        self.push_arrived(frame, Instant::now())
    }

    /// [`LiveStream::push`] of a frame that arrived from the camera at
    /// `arrived` (see [`Viewer::arrived`]).
    pub(crate) fn push_arrived(
        &self,
        frame: &VideoFrame,
        arrived: Instant,
    ) -> Result<Packaged, Fmp4Error> {
        let mut packager = lock(&self.packager);
        if let Some(params) = &frame.new_params {
            self.set_params(&mut packager, params);
        }
        if frame.has_b_slices && !packager.reorders {
            // The camera does reorder frames after all: its own SPS from now on.
            packager.reorders = true;
            if let Some(params) = packager.writer.as_ref().map(|w| w.params().clone()) {
                self.send_init(&mut packager, &params);
            }
        }
        if packager.awaiting_keyframe && !frame.is_keyframe {
            return Ok(Packaged::Skipped);
        }
        let Some(writer) = packager.writer.as_mut() else {
            return Ok(Packaged::Skipped);
        };
        let segment = writer.write(&frame.as_fmp4())?;
        packager.awaiting_keyframe = false;
        drop(packager);
        let data = Bytes::from(segment.data);
        let key = segment.sample.is_keyframe;
        let mut fan_out = lock(&self.fan_out);
        let FanOut { gop, viewers } = &mut *fan_out;
        let cached = gop.push(data.clone(), key, segment.sample.decode_time);
        viewers.retain_mut(|v| v.deliver(&data, key, gop.init(), arrived));
        Ok(Packaged::Sent(segment.sample, cached))
    }

    /// Takes note of a frame that is not to be sent (it cannot be decoded): only its new
    /// parameters, if it has any, matter.
    pub(crate) fn skip(&self, frame: &VideoFrame) {
        if let Some(params) = &frame.new_params {
            let mut packager = lock(&self.packager);
            self.set_params(&mut packager, params);
        }
    }

    fn set_params(&self, packager: &mut Packager, params: &VideoParams) {
        let changed = match packager.writer.as_mut() {
            Some(writer) => writer.set_params(params.clone()),
            None => {
                let config = TimelineConfig::default();
                packager.writer = Some(FragmentWriter::new(params.clone(), config));
                true
            }
        };
        if changed {
            self.send_init(packager, params);
        }
    }

    /// A new init segment for `params` to the GOP and the viewers; frames wait for the
    /// next keyframe. Unless the stream has shown B slices, its SPS announces that no
    /// frame is reordered, so that browsers show each frame as soon as it is decoded.
    fn send_init(&self, packager: &mut Packager, params: &VideoParams) {
        packager.awaiting_keyframe = true;
        let rewritten = (!packager.reorders)
            .then(|| params.without_reordering())
            .flatten();
        let init = InitSegment {
            mime: params.mime_type().into(),
            data: Bytes::from(crate::fmp4::init_segment(
                rewritten.as_ref().unwrap_or(params),
            )),
        };
        let mut fan_out = lock(&self.fan_out);
        fan_out.gop.set_init(init.clone());
        fan_out.viewers.retain_mut(|v| v.deliver_init(&init));
    }
}

#[cfg(test)]
mod tests;
