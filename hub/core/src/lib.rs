//! The domain of gridwatch, free of I/O.
//!
//! Everything here is plain data and pure functions: what a grid, a post, a user, a device and
//! a camera are, which roles exist, how an incident moves through its states, and how time is
//! read (through an injected [`clock::Clock`], so the 15-minute promise can be tested in
//! milliseconds). The store (`gridwatch-store`) persists these types; the HTTP edge
//! (`gridwatch-hub`) exposes them. Neither direction is known here.

pub mod access;
pub mod camera;
pub mod change;
pub mod clock;
pub mod delivery;
pub mod device;
pub mod dewarp;
pub mod event;
pub mod false_alarms;
pub mod geo;
pub mod grid;
pub mod id;
pub mod incident;
pub mod lease;
pub mod motion;
pub mod notify;
pub mod patch;
pub mod post;
pub mod recording;
pub mod report;
pub mod response_check;
pub mod role;
pub mod routing;
pub mod user;
pub mod validate;

pub use role::Role;
pub use validate::ValidationError;
