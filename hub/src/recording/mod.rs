//! Recording, as the hub wires it: the store behind the recorder's index ([`StoreIndex`]) and
//! the retention pass ([`retention::run`]) that turns `gridwatch_core`'s plan into deletions
//! and holds.
//!
//! The recorder itself (writers, repair, clips, evidence) is `gridwatch_ingest::recording` and
//! `gridwatch_ingest::evidence`; the plan is `gridwatch_core::recording::retention`. A
//! `Recorder` handle of the hub (configuration, the periodic retention task, status on
//! `/readyz` and metrics) is to be built from these.

mod index;
pub mod retention;
mod verify;

pub use index::StoreIndex;
pub use verify::{verify_evidence, VerifyError};
