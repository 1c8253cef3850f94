//! The end-to-end suites (the gridwatch binary driven from outside).
//!
//! They are compiled as one test binary: one link instead of one per suite, which was most of
//! what building the tests cost. Every `.rs` file beside this one must be a module here; the
//! end-to-end crate checks that (`gridwatch-tests`, `suites.rs`), as a file left out would
//! never run.

mod support;

mod cli;
mod cluster;
mod crash;
mod ingest_cluster;
mod notify_crash;
mod shutdown;
mod shutdown_hung_index;
mod suites;
