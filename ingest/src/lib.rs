//! Camera ingest: pulls every camera's RTSP stream with retina, keeps it
//! healthy, and hands it to browsers as fragmented MP4 without transcoding.
//!
//! * [`Cameras`] is the entry point for the hub: [`Cameras::apply`] the
//!   configured cameras, read [`Cameras::status`]/[`Cameras::events`], and
//!   [`Cameras::subscribe`] a live viewer.
//! * [`session`] is one retina session; a supervisor task per stream keeps
//!   one alive (reconnecting with backoff, with a frame watchdog);
//!   [`status`] reports how it goes; [`live`] and [`gop`] fan frames out to
//!   viewers, [`decodable`] only the frames a decoder can use (a damaged
//!   stream resumes at its next keyframe, counted in [`metrics`]); [`fmp4`]
//!   packages them. Sessions and their viewers run on
//!   video threads of their own (`video_threads.rs`), which batch wake-ups.
//! * [`motion`] runs a motion detector per camera with motion alerts on, on the frames
//!   the ingest already has (decoded with GStreamer at a few pictures per second).
//! * [`camsim`] simulates cameras on gst-rtsp-server for demos and tests.
//!
//! Nothing here knows about the hub; it is wired to HTTP, WebSocket and the
//! event stream there.

mod backoff;
mod cameras;
pub mod camsim;
pub mod config;
pub mod decodable;
pub mod evidence;
pub mod fmp4;
mod frames;
pub mod gop;
pub mod live;
pub mod metrics;
pub mod motion;
pub mod quirks;
pub mod recording;
pub mod session;
pub mod snapshot;
pub mod status;
mod supervisor;
mod video_threads;

pub use cameras::{ApplySummary, Cameras, LiveError, DISABLED_REASON};
pub use config::{CameraConfig, Credentials, IngestConfig, Quality, Transport};
pub use decodable::DropReason;
pub use live::{LiveMessage, Viewer};
pub use metrics::IngestMetrics;
pub use quirks::CameraQuirks;
pub use snapshot::{Snapshot, SnapshotError, Snapshots};
pub use status::{CameraStatus, StatusEvent, StreamState, StreamStatus};
