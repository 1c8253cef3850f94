//! Camera ingest (see the crate description).

pub mod fmp4;
