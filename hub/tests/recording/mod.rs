//! Recording wired to the store, against the world: a recorder killed with SIGKILL at random
//! moments and repaired (every indexed segment decodes in ffprobe, index and disk agree),
//! retention by age and by space with locked segments surviving, and a full disk that stops
//! recording with a status while live video goes on. Each on SQLite and PostgreSQL.

mod crash;
mod disk_full;
mod evidence;
mod evidence_room;
mod incident_clips;
mod index_stall;
mod late_clips;
mod lossy;
mod modes;
pub(crate) mod open_segment;
pub(crate) mod playback;
mod replay;
mod retention;
pub(crate) mod served;
pub(crate) mod support;
