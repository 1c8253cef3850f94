//! The store's suites, each on SQLite and on the real PostgreSQL.
//!
//! They are compiled as one test binary: one link instead of one per suite, which was most of
//! what building the tests cost. Every `.rs` file beside this one must be a module here; the
//! end-to-end crate checks that (`gridwatch-tests`, `suites.rs`), as a file left out would
//! never run.

mod audit_suite;
mod console_suite;
mod credentials_suite;
mod group_commit_suite;
mod incident_suite;
mod lease_suite;
mod long_read_suite;
mod motion_suite;
mod notify_suite;
mod recording_suite;
mod report_suite;
mod store_suite;
