//! See `tests/` beside this crate: each file is one end-to-end suite.
