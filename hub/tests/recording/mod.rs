//! Recording wired to the store, against the world: a recorder killed with SIGKILL at random
//! moments and repaired (every indexed segment decodes in ffprobe, index and disk agree),
//! retention by age and by space with locked segments surviving, and a full disk that stops
//! recording with a status while live video goes on. Each on SQLite and PostgreSQL.

/// The ingest's helpers for tests against the camera simulator, and ffprobe.
#[path = "../../../ingest/tests/common/mod.rs"]
mod ingest_common;

mod crash;
mod disk_full;
mod evidence;
mod retention;
mod support;
