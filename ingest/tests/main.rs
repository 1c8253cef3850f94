//! The ingest's integration suites (against the camera simulator and ffprobe).
//!
//! They are compiled as one test binary: one link instead of one per suite, which was most of
//! what building the tests cost. Every `.rs` file beside this one must be a module here; the
//! end-to-end crate checks that (`gridwatch-tests`, `suites.rs`), as a file left out would
//! never run.

mod common;

mod fmp4_ffprobe;
mod foreign;
mod foreign_recording;
mod foreign_rtsp;
mod live_view;
mod recording;
mod snapshot;
mod supervision;
