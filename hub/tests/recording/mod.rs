//! Recording wired to the store, against the world: a recorder killed with SIGKILL at random
//! moments and repaired (every indexed segment decodes in ffprobe, index and disk agree),
//! retention by age and by space with locked segments surviving, and a full disk that stops
//! recording with a status while live video goes on. Each on SQLite and PostgreSQL.

mod crash;
mod disk_full;
mod evidence;
mod incident_clips;
mod modes;
mod playback;
mod replay;
mod retention;
mod served;
mod support;
