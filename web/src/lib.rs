//! The embedded pages.
