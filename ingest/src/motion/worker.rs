//! One camera's motion worker: it watches the camera like a live viewer (the sub stream when
//! there is one, else the main stream — the frames the ingest already has, no second RTSP
//! session), decides which frames to decode, hands them to its [`Decoder`], and runs the
//! detector on what comes out.
//!
//! Nothing here can hold up live video: the worker's viewer queue is the fan-out's bounded
//! one (a viewer that falls behind is moved on to the next keyframe), and the decoder's input
//! is bounded by [`MAX_QUEUED`]: a frame that finds it full is dropped, with the frames after
//! it until the next keyframe (counted as `backlog`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gridwatch_core::motion::detector::{Detector, DetectorTuning};
use gridwatch_core::motion::MotionSettings;
use tokio::sync::broadcast;

use super::decoder::{Decoder, FPS};
use super::disposable::is_disposable;
use super::metrics::{MotionMetrics, Outcome};
use super::MotionEvent;
use crate::cameras::Cameras;
use crate::config::Quality;
use crate::fmp4::inspect::{parse_init_segment, parse_media_segment};
use crate::fmp4::{SYNC_SAMPLE_FLAGS, TIMESCALE};
use crate::live::{LiveMessage, Viewer};
use crate::snapshot::Codec;

/// Samples that may wait for the decoder: at 25 fps, 160 ms of video. More means the decoder
/// cannot keep up, and waiting longer would only make the detection late.
pub(crate) const MAX_QUEUED: u64 = 4;

/// How long to wait before watching again when the camera is gone or disabled.
const RETRY: Duration = Duration::from_secs(1);

/// What the registry and a worker share.
#[derive(Debug)]
pub(crate) struct WorkerShared {
    /// Inside the camera's schedule: outside it nothing is decoded.
    pub(crate) armed: AtomicBool,
}

/// Everything one worker needs.
pub(crate) struct WorkerContext {
    pub(crate) camera: Arc<str>,
    pub(crate) cameras: Cameras,
    pub(crate) settings: MotionSettings,
    pub(crate) tuning: DetectorTuning,
    pub(crate) shared: Arc<WorkerShared>,
    pub(crate) events: broadcast::Sender<MotionEvent>,
    pub(crate) metrics: MotionMetrics,
}

/// Watches the camera until aborted, again after it is gone or disabled for a while.
pub(crate) async fn run(ctx: WorkerContext) {
    let ctx = Arc::new(ctx);
    let detector = Arc::new(Mutex::new(Detector::new(ctx.settings.clone(), ctx.tuning)));
    loop {
        if let Ok(viewer) = ctx.cameras.subscribe(&ctx.camera, Quality::Sub) {
            follow(&ctx, &detector, viewer).await;
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn follow(ctx: &Arc<WorkerContext>, detector: &Arc<Mutex<Detector>>, mut viewer: Viewer) {
    tracing::debug!(camera = %ctx.camera, quality = %viewer.quality(), "motion worker watching");
    let mut feed = Feed {
        ctx: ctx.clone(),
        detector: detector.clone(),
        stream: None,
        decoder: None,
        waiting: Some(Outcome::Backlog),
        was_disarmed: false,
        last_decoded: None,
    };
    while let Some(msg) = viewer.recv().await {
        match msg {
            LiveMessage::Init { segment, .. } => feed.init(&segment),
            LiveMessage::Media(segment) => feed.media(&segment),
        }
    }
}

/// The stream's codec and decoder configuration, from its init segment.
#[derive(Clone, PartialEq, Eq)]
struct StreamInfo {
    codec: Codec,
    config: Vec<u8>,
}

/// A running decoder and the decode time its presentation times count from.
struct Running {
    decoder: Decoder,
    base: u64,
}

struct Feed {
    ctx: Arc<WorkerContext>,
    detector: Arc<Mutex<Detector>>,
    stream: Option<StreamInfo>,
    decoder: Option<Running>,
    /// Frames are skipped until the next keyframe, counted with this outcome.
    waiting: Option<Outcome>,
    was_disarmed: bool,
    /// Decode time of the last frame decoded.
    last_decoded: Option<u64>,
}

impl Feed {
    fn init(&mut self, segment: &[u8]) {
        let info = match parse_init_segment(segment) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(camera = %self.ctx.camera, error = %e, "motion: unreadable init segment");
                return;
            }
        };
        let stream = Codec::of_sample_entry(&info.sample_entry).map(|codec| StreamInfo {
            codec,
            config: info.decoder_config,
        });
        if stream != self.stream {
            // New parameters: a new decoder, from the next keyframe.
            self.stream = stream;
            self.restart(Outcome::Backlog);
        }
    }

    /// Drops the decoder; frames wait for the next keyframe, counted as `why`.
    fn restart(&mut self, why: Outcome) {
        self.decoder = None;
        self.waiting = Some(why);
    }

    fn count(&self, outcome: Outcome) {
        self.ctx.metrics.frame(outcome);
    }

    fn media(&mut self, segment: &Bytes) {
        if !self.ctx.shared.armed.load(Ordering::Relaxed) {
            self.was_disarmed = true;
            self.restart(Outcome::Disarmed);
            self.count(Outcome::Disarmed);
            return;
        }
        if std::mem::take(&mut self.was_disarmed) {
            // The background of hours ago is not this evening's: learn it afresh.
            let fresh = Detector::new(self.ctx.settings.clone(), self.ctx.tuning);
            *self.detector.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        }
        let Ok(media) = parse_media_segment(segment) else {
            return;
        };
        let Some(range) = media.sample_ranges.first().cloned() else {
            return;
        };
        let Some(stream) = self.stream.clone() else {
            return;
        };
        let key = media.samples.first().and_then(|s| s.flags) == Some(SYNC_SAMPLE_FLAGS);
        let dt = media.base_decode_time;
        if self.last_decoded.is_some_and(|last| dt <= last) {
            // The timeline went back (a new stream): start over.
            self.restart(Outcome::Backlog);
            self.last_decoded = None;
        }
        if let Some(why) = self.waiting {
            if !key {
                self.count(why);
                return;
            }
            self.waiting = None;
        }
        let sample = segment.slice(range);
        let step = u64::from(TIMESCALE / FPS);
        let soon = self.last_decoded.is_some_and(|last| dt < last + step);
        if !key && soon && is_disposable(stream.codec, &sample) {
            self.count(Outcome::Disposable);
            return;
        }
        if self.decoder.is_none() {
            match self.start_decoder(&stream, dt) {
                Ok(d) => self.decoder = Some(d),
                Err(e) => {
                    tracing::warn!(camera = %self.ctx.camera, error = %e, "motion decoder not started");
                    self.restart(Outcome::Backlog);
                    self.count(Outcome::Backlog);
                    return;
                }
            }
        }
        let Some(running) = &self.decoder else {
            return;
        };
        if running.decoder.queued() >= MAX_QUEUED {
            // Behind: the decoder goes on with what it has; the next frame it gets is a keyframe.
            self.waiting = Some(Outcome::Backlog);
            self.count(Outcome::Backlog);
            return;
        }
        // In u128: 90 kHz ticks times 10^9 overflow u64 after two days of stream.
        let ticks = u128::from(dt.saturating_sub(running.base));
        let pts = Duration::from_nanos((ticks * 1_000_000_000 / u128::from(TIMESCALE)) as u64);
        if let Err(e) = running.decoder.push(sample, pts) {
            tracing::warn!(camera = %self.ctx.camera, error = %e, "motion decoder failed; restarting at the next keyframe");
            self.restart(Outcome::Backlog);
            self.count(Outcome::Backlog);
            return;
        }
        self.last_decoded = Some(dt);
        self.count(Outcome::Decoded);
    }

    fn start_decoder(
        &self,
        stream: &StreamInfo,
        base: u64,
    ) -> Result<Running, super::DecoderError> {
        let detector = self.detector.clone();
        let ctx = self.ctx.clone();
        let base_ms = (base * 1000 / u64::from(TIMESCALE)) as i64;
        let decoder = Decoder::start(stream.codec, &stream.config, move |mut frame| {
            // The detector counts in stream time, which goes on across decoder restarts.
            frame.at_ms += base_ms;
            ctx.metrics.picture_analysed();
            let found = detector
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .feed(frame);
            if let Ok(Some(d)) = found {
                ctx.metrics.detected();
                tracing::info!(camera = %ctx.camera, zone = %d.zone, area = d.area, "motion detected");
                let _ = ctx.events.send(MotionEvent {
                    camera_id: ctx.camera.to_string(),
                    zone: d.zone,
                    area: d.area,
                    stream_ms: d.at_ms,
                    at: SystemTime::now(),
                });
            }
        })?;
        Ok(Running { decoder, base })
    }
}
