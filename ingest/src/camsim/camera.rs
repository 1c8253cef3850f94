//! One simulated camera: its media factory and its misbehaviour switches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use rtsp::glib;
use rtsp::prelude::*;

use super::pipeline::{launch, FILE_PARSER, STALL_VALVE};
use super::scene::{self, SceneTimes, SCENE_ELEMENT};
use super::CamSimConfig;

/// What a simulated camera is doing, as set by the switches on
/// [`super::CamSim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimCameraState {
    /// Serving its stream.
    Running,
    /// Mounted and connected, but sending no frames (a hung camera).
    Stalled,
    /// Gone: its mount is removed, so requests get `404 Not Found`.
    Stopped,
}

/// A pipeline the factory built, with its stall valve.
struct MediaRef {
    media: glib::WeakRef<rtsp::RTSPMedia>,
    valve: glib::WeakRef<gst::Element>,
}

/// One camera of the simulator (`/camN`).
pub(super) struct SimCamera {
    pub(super) path: String,
    pub(super) factory: rtsp::RTSPMediaFactory,
    stopped: AtomicBool,
    /// Shared with the factory's signal handlers, which apply it to every
    /// pipeline they configure.
    stalled: Arc<AtomicBool>,
    /// The pipelines currently built for this camera (with shared media,
    /// usually one), so a switch reaches the clients already connected.
    medias: Arc<Mutex<Vec<MediaRef>>>,
    /// When its scene's events happened (scene cameras only).
    scene_times: Arc<Mutex<SceneTimes>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimCamera {
    /// A camera serving [`launch`]`(config, index)` at `/cam{index}`; only
    /// the `user` role may see it when `with_auth`.
    pub(super) fn new(config: &CamSimConfig, index: usize, with_auth: bool) -> Self {
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(&launch(config, index));
        // One pipeline (one encoder) per camera however many clients, as a
        // real camera has.
        factory.set_shared(true);
        // Makes the media unseekable: retina's `PLAY` carries
        // `Range: npt=0.000-`, and a seek would flush the live pipeline and
        // wait for new frames, which a stalled camera never delivers (the
        // client thread would hang in `PLAY` for 20 s).
        factory.set_publish_clock_mode(rtsp::RTSPPublishClockMode::ClockAndOffset);
        if with_auth {
            factory.add_role_from_structure(
                &gst::Structure::builder(super::ROLE)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        let stalled = Arc::new(AtomicBool::new(false));
        let medias: Arc<Mutex<Vec<MediaRef>>> = Arc::default();
        let scene_times: Arc<Mutex<SceneTimes>> = Arc::default();
        let scene = scene::of(config, index);
        let size = (config.width, config.height);
        {
            let scene_times = scene_times.clone();
            let stalled = stalled.clone();
            let medias = medias.clone();
            factory.connect_media_configure(move |_, media| {
                let element = media.element();
                let bin = element.downcast_ref::<gst::Bin>();
                if let Some(parser) = bin.and_then(|bin| bin.by_name(FILE_PARSER)) {
                    copy_dts_to_pts(&parser);
                }
                let painted = bin.and_then(|bin| bin.by_name(SCENE_ELEMENT));
                if let (Some(scene), Some(element)) = (scene, painted) {
                    scene::paint(&element, scene, size, scene_times.clone());
                }
                let valve = bin.and_then(|bin| bin.by_name(STALL_VALVE));
                let Some(valve) = valve else {
                    tracing::warn!("camsim: pipeline without a stall valve");
                    return;
                };
                // The valve stays open until the media is prepared: the
                // server needs the first frames to answer DESCRIBE, and a
                // new client of a stalled camera should get a session that
                // then delivers nothing, like a hung camera.
                let stalled = stalled.clone();
                let weak_valve = valve.downgrade();
                media.connect_prepared(move |_| {
                    if let Some(valve) = weak_valve.upgrade() {
                        valve.set_property("drop", stalled.load(Ordering::SeqCst));
                    }
                });
                let mut medias = lock(&medias);
                medias.retain(|m| m.media.upgrade().is_some());
                medias.push(MediaRef {
                    media: media.downgrade(),
                    valve: valve.downgrade(),
                });
            });
        }
        Self {
            path: format!("/cam{index}"),
            factory,
            stopped: AtomicBool::new(false),
            stalled,
            medias,
            scene_times,
        }
    }

    pub(super) fn scene_times(&self) -> SceneTimes {
        *lock(&self.scene_times)
    }

    pub(super) fn state(&self) -> SimCameraState {
        if self.stopped.load(Ordering::SeqCst) {
            SimCameraState::Stopped
        } else if self.stalled.load(Ordering::SeqCst) {
            SimCameraState::Stalled
        } else {
            SimCameraState::Running
        }
    }

    pub(super) fn set_stopped(&self, stopped: bool) {
        self.stopped.store(stopped, Ordering::SeqCst);
    }

    /// Opens or closes the valve of every pipeline of this camera.
    pub(super) fn set_stalled(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
        for m in lock(&self.medias).iter() {
            let (Some(media), Some(valve)) = (m.media.upgrade(), m.valve.upgrade()) else {
                continue;
            };
            // A pipeline still preparing gets the flag from its `prepared`
            // handler; closing it now would keep it from ever preparing.
            if !stalled || media.status() == rtsp::RTSPMediaStatus::Prepared {
                valve.set_property("drop", stalled);
            }
        }
    }

    /// The pipelines currently built for this camera.
    pub(super) fn live_medias(&self) -> Vec<rtsp::RTSPMedia> {
        let mut medias = lock(&self.medias);
        medias.retain(|m| m.media.upgrade().is_some());
        medias.iter().filter_map(|m| m.media.upgrade()).collect()
    }
}

/// Gives buffers leaving `element` without a presentation time their decode
/// time (see [`FILE_PARSER`]).
fn copy_dts_to_pts(element: &gst::Element) {
    let Some(pad) = element.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() {
            if buffer.pts().is_none() && buffer.dts().is_some() {
                let dts = buffer.dts();
                buffer.make_mut().set_pts(dts);
            }
        }
        gst::PadProbeReturn::Ok
    });
}
