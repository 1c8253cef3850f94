//! The hub's integration suites (the router in process, or served on loopback).
//!
//! They are compiled as one test binary: one link instead of one per suite, which was most of
//! what building the tests cost. Every `.rs` file beside this one must be a module here; the
//! end-to-end crate checks that (`gridwatch-tests`, `suites.rs`), as a file left out would
//! never run.

#[macro_use]
mod common;
/// A camera nobody here wrote (gst-rtsp-server from Python) and a lossy network in front of it,
/// from the ingest's tests.
#[allow(dead_code)]
#[path = "../../ingest/tests/foreign/mod.rs"]
mod foreign;
/// The ingest's helpers for tests against the camera simulator (a small simulator, the JPEG
/// size reader, ffprobe), shared by the camera and recording suites.
#[path = "../../ingest/tests/common/mod.rs"]
mod ingest_common;

mod auth;
mod bad_input;
mod camera_access;
mod camera_outage;
mod cameras;
mod connections;
mod deploy;
mod dewarp;
mod false_alarms;
mod incidents;
mod ingest_workers;
mod motion;
mod motion_alerts;
mod mqtt;
mod notify;
mod ops;
mod origin;
mod recording;
mod reports;
mod response_check;
mod role_matrix;
mod sos_retry;
mod stream;
mod validation;
mod webrtc;
mod worker_recording;
