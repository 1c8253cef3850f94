//! Identifiers.
//!
//! Ids are strings in the API. We mint UUIDv7 so that ids sort by creation time, which keeps
//! database indexes append-only and makes "newest first" listings cheap.

/// A new, unique, time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
