//! A camera simulator on gst-rtsp-server, so the demo, the tests and
//! newcomers get a wall of live cameras without owning one.
//!
//! [`CamSim::start`] serves `rtsp://ADDRESS:PORT/cam1` … `camN`, each a
//! moving test pattern with its name and a clock burnt in, H.264 with
//! frequent keyframes (see `pipeline.rs`), one shared pipeline per camera
//! however many clients. Optional credentials (Digest or Basic) make it ask
//! for authentication like a real camera.
//!
//! Each camera can be made to misbehave the way real ones do, so the ingest
//! supervisor can be tested against it: [`CamSim::stop`] (camera gone),
//! [`CamSim::stall`] (connection open, no frames), [`CamSim::restart`]
//! (every client dropped, then back) and [`CamSim::resume`].
//!
//! GStreamer's GLib main loop runs on its own std thread; the switches are
//! run on that loop (through [`glib::MainContext::invoke`]) so they never
//! race the server's own bookkeeping.

mod camera;
pub mod fisheye;
mod pipeline;
pub mod scene;

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use rtsp::glib;
use rtsp::prelude::*;

use camera::SimCamera;
pub use camera::SimCameraState;
pub use scene::SceneTimes;

/// The media factory role the simulator's user gets when credentials are set.
const ROLE: &str = "user";

/// How long a switch waits for the main loop before giving up.
const LOOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How the simulator asks clients to authenticate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthScheme {
    /// `WWW-Authenticate: Digest` (what most cameras use).
    #[default]
    Digest,
    /// `WWW-Authenticate: Basic`.
    Basic,
}

/// What each simulated camera shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SimSource {
    /// A moving test pattern with the camera's name and a clock, encoded
    /// live with x264 (`width`, `height`, `fps`, `key_int`, `bitrate_kbps`
    /// apply).
    #[default]
    TestPattern,
    /// A pre-encoded Annex B H.264 file (e.g. `ffmpeg … -bf 0 -f h264`)
    /// played in a loop at `fps`, encoding nothing: for benchmarks. Its
    /// keyframe interval is the file's.
    H264File(PathBuf),
    /// The cameras listed (1-based) show a still fisheye test pattern, as a 360° camera
    /// would (see `fisheye.rs`), encoded live like the test pattern; the others the test
    /// pattern.
    Fisheye(Vec<usize>),
    /// The cameras listed (1-based) show a still grey scene into whose lower right quarter a
    /// bright box enters `enter_after` after the camera's first frame, then walks about
    /// there (see `scene.rs`; [`CamSim::scene_times`] says when); the others the test pattern.
    Intrusion {
        cameras: Vec<usize>,
        enter_after: Duration,
    },
    /// The cameras listed show the same still scene, whose whole picture only fades brighter
    /// and darker; the others the test pattern.
    Brightness(Vec<usize>),
}

/// What to simulate.
#[derive(Clone, PartialEq, Eq)]
pub struct CamSimConfig {
    /// What the cameras show.
    pub source: SimSource,
    /// Number of cameras, served at `/cam1` … `/camN`.
    pub cameras: usize,
    /// Address to listen on.
    pub address: String,
    /// Port to listen on; 0 picks a free one (see [`CamSim::bound_port`]).
    pub port: u16,
    /// `(user, password)` every camera requires, if any.
    pub credentials: Option<(String, String)>,
    /// How credentials are asked for.
    pub auth: AuthScheme,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Frames between keyframes (x264 `key-int-max`).
    pub key_int: u32,
    /// Encoder bitrate.
    pub bitrate_kbps: u32,
}

impl Default for CamSimConfig {
    fn default() -> Self {
        Self {
            source: SimSource::default(),
            cameras: 1,
            address: "127.0.0.1".into(),
            port: 0,
            credentials: None,
            auth: AuthScheme::default(),
            width: 640,
            height: 360,
            fps: 25,
            key_int: 25,
            bitrate_kbps: 800,
        }
    }
}

impl std::fmt::Debug for CamSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamSimConfig")
            .field("source", &self.source)
            .field("cameras", &self.cameras)
            .field("address", &self.address)
            .field("port", &self.port)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| (user, "***")),
            )
            .field("auth", &self.auth)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("fps", &self.fps)
            .field("key_int", &self.key_int)
            .field("bitrate_kbps", &self.bitrate_kbps)
            .finish()
    }
}

/// Why the simulator could not start or a switch failed.
#[derive(Debug, thiserror::Error)]
pub enum CamSimError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(#[from] glib::Error),
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    #[error("the RTSP server could not listen on {address}:{port}: {reason}")]
    Listen {
        address: String,
        port: u16,
        reason: String,
    },
    #[error("no simulated camera {0} (cameras are numbered from 1)")]
    UnknownCamera(usize),
    #[error("the simulator's main loop did not respond")]
    LoopGone,
}

/// A running camera simulator; dropping it stops the server and closes
/// every client connection.
pub struct CamSim {
    config: CamSimConfig,
    port: u16,
    server: rtsp::RTSPServer,
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    source: Option<glib::SourceId>,
    thread: Option<JoinHandle<()>>,
    cameras: Vec<SimCamera>,
}

impl std::fmt::Debug for CamSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamSim")
            .field("config", &self.config)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl CamSim {
    /// Starts serving; returns once the port is bound.
    pub fn start(config: CamSimConfig) -> Result<Self, CamSimError> {
        if config.cameras == 0 {
            return Err(CamSimError::Config("at least one camera".into()));
        }
        if config.width == 0 || config.height == 0 || config.fps == 0 || config.key_int == 0 {
            return Err(CamSimError::Config(
                "width, height, fps and key_int must be positive".into(),
            ));
        }
        if let SimSource::H264File(path) = &config.source {
            if !path.is_file() {
                return Err(CamSimError::Config(format!(
                    "no H.264 file at {}",
                    path.display()
                )));
            }
        }
        if let SimSource::Fisheye(_) = &config.source {
            fisheye::ensure_frame(config.width, config.height).map_err(|e| {
                CamSimError::Config(format!("cannot write the fisheye test frame: {e}"))
            })?;
        }
        gst::init()?;
        let server = rtsp::RTSPServer::new();
        server.set_address(&config.address);
        server.set_service(&config.port.to_string());
        if let Some((user, password)) = &config.credentials {
            server.set_auth(Some(&make_auth(user, password, config.auth)));
        }
        let mounts = server
            .mount_points()
            .ok_or_else(|| CamSimError::Config("the server has no mount points".into()))?;
        let cameras: Vec<SimCamera> = (1..=config.cameras)
            .map(|i| SimCamera::new(&config, i, config.credentials.is_some()))
            .collect();
        for camera in &cameras {
            mounts.add_factory(&camera.path, camera.factory.clone());
        }

        let context = glib::MainContext::new();
        let listen_error = |reason: String| CamSimError::Listen {
            address: config.address.clone(),
            port: config.port,
            reason,
        };
        let source = server
            .attach(Some(&context))
            .map_err(|e| listen_error(e.to_string()))?;
        let port =
            u16::try_from(server.bound_port()).map_err(|_| listen_error("no port bound".into()))?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let thread = {
            let context = context.clone();
            let main_loop = main_loop.clone();
            std::thread::Builder::new()
                .name(format!("camsim-{port}"))
                .spawn(move || {
                    let run = context.with_thread_default(|| main_loop.run());
                    if let Err(e) = run {
                        tracing::error!("camsim main loop could not start: {e}");
                    }
                })
                .map_err(|e| listen_error(format!("no main loop thread: {e}")))?
        };
        tracing::info!(
            "camsim serving {} camera(s) at rtsp://{}:{port}/cam1..",
            config.cameras,
            config.address
        );
        Ok(Self {
            config,
            port,
            server,
            context,
            main_loop,
            source: Some(source),
            thread: Some(thread),
            cameras,
        })
    }

    /// The port the server listens on (useful with `port: 0`).
    pub fn bound_port(&self) -> u16 {
        self.port
    }

    /// Number of cameras.
    pub fn cameras(&self) -> usize {
        self.cameras.len()
    }

    /// The URL of camera `n` (1-based), without credentials.
    pub fn url(&self, n: usize) -> String {
        format!("rtsp://{}:{}/cam{n}", self.config.address, self.port)
    }

    /// The URLs of all cameras.
    pub fn urls(&self) -> Vec<String> {
        (1..=self.cameras.len()).map(|n| self.url(n)).collect()
    }

    /// When camera `n`'s scene began and its object entered (see [`SimSource::Intrusion`]).
    pub fn scene_times(&self, n: usize) -> Result<SceneTimes, CamSimError> {
        Ok(self.camera(n)?.scene_times())
    }

    /// What camera `n` is doing.
    pub fn state(&self, n: usize) -> Result<SimCameraState, CamSimError> {
        Ok(self.camera(n)?.state())
    }

    /// Camera gone: its mount is removed (new requests get `404 Not Found`)
    /// and its clients are disconnected.
    pub fn stop(&self, n: usize) -> Result<(), CamSimError> {
        let camera = self.camera(n)?;
        camera.set_stopped(true);
        let path = camera.path.clone();
        let medias = camera.live_medias();
        let server = self.server.clone();
        self.on_loop(move || {
            if let Some(mounts) = server.mount_points() {
                mounts.remove_factory(&path);
            }
            disconnect_clients(&server, &medias);
        })
    }

    /// Hung camera: connections stay open and requests are answered, but
    /// no frames are sent until [`CamSim::resume`].
    pub fn stall(&self, n: usize) -> Result<(), CamSimError> {
        self.camera(n)?.set_stalled(true);
        Ok(())
    }

    /// Back to normal after [`CamSim::stop`] or [`CamSim::stall`].
    pub fn resume(&self, n: usize) -> Result<(), CamSimError> {
        let camera = self.camera(n)?;
        camera.set_stalled(false);
        if camera.state() == SimCameraState::Stopped {
            camera.set_stopped(false);
            let path = camera.path.clone();
            let factory = camera.factory.clone();
            let server = self.server.clone();
            self.on_loop(move || {
                if let Some(mounts) = server.mount_points() {
                    mounts.add_factory(&path, factory);
                }
            })?;
        }
        Ok(())
    }

    /// Reboot: every client of the camera is disconnected, and the camera
    /// serves again at once (also after [`CamSim::stop`]/[`CamSim::stall`]).
    pub fn restart(&self, n: usize) -> Result<(), CamSimError> {
        let camera = self.camera(n)?;
        let medias = camera.live_medias();
        let server = self.server.clone();
        self.on_loop(move || disconnect_clients(&server, &medias))?;
        self.resume(n)
    }

    /// How many clients have a session on camera `n` (a real camera's
    /// connection limit is what makes one session per camera matter).
    pub fn client_count(&self, n: usize) -> Result<usize, CamSimError> {
        let medias = self.camera(n)?.live_medias();
        let server = self.server.clone();
        let (tx, rx) = mpsc::channel();
        self.on_loop(move || {
            let _ = tx.send(clients_of(&server, &medias).len());
        })?;
        rx.recv().map_err(|_| CamSimError::LoopGone)
    }

    fn camera(&self, n: usize) -> Result<&SimCamera, CamSimError> {
        n.checked_sub(1)
            .and_then(|i| self.cameras.get(i))
            .ok_or(CamSimError::UnknownCamera(n))
    }

    /// Runs `f` on the main loop thread and waits for it.
    fn on_loop(&self, f: impl FnOnce() + Send + 'static) -> Result<(), CamSimError> {
        let (done, wait) = mpsc::channel();
        self.context.invoke(move || {
            f();
            let _ = done.send(());
        });
        wait.recv_timeout(LOOP_TIMEOUT)
            .map_err(|_| CamSimError::LoopGone)
    }
}

impl Drop for CamSim {
    fn drop(&mut self) {
        let server = self.server.clone();
        let context = self.context.clone();
        let source = self.source.take();
        // Stop listening and drop every client before the loop ends, so
        // clients see their connection close rather than hang.
        let _ = self.on_loop(move || {
            if let Some(source) = source.and_then(|id| context.find_source_by_id(&id)) {
                source.destroy();
            }
            server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        });
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Closes the connection of every client with a session on one of `medias`.
fn disconnect_clients(server: &rtsp::RTSPServer, medias: &[rtsp::RTSPMedia]) {
    for client in clients_of(server, medias) {
        client.close();
    }
}

/// The clients with a session on one of `medias`.
fn clients_of(server: &rtsp::RTSPServer, medias: &[rtsp::RTSPMedia]) -> Vec<rtsp::RTSPClient> {
    server.client_filter(Some(&mut |_, client| {
        let mut uses_camera = false;
        client.session_filter(Some(&mut |_, session| {
            session.filter(Some(&mut |_, session_media| {
                if session_media.media().is_some_and(|m| medias.contains(&m)) {
                    uses_camera = true;
                }
                rtsp::RTSPFilterResult::Keep
            }));
            rtsp::RTSPFilterResult::Keep
        }));
        if uses_camera {
            rtsp::RTSPFilterResult::Ref
        } else {
            rtsp::RTSPFilterResult::Keep
        }
    }))
}

/// Authentication for one user who may see every camera.
fn make_auth(user: &str, password: &str, scheme: AuthScheme) -> rtsp::RTSPAuth {
    let auth = rtsp::RTSPAuth::new();
    let token = rtsp::RTSPToken::builder()
        .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        .build();
    match scheme {
        AuthScheme::Digest => {
            auth.add_digest(user, password, &token);
            auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Digest);
        }
        AuthScheme::Basic => {
            auth.add_basic(&rtsp::RTSPAuth::make_basic(user, password), &token);
            auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Basic);
        }
    }
    auth
}
