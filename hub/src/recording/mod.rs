//! Recording, as the hub wires it: `[recording]` and `[evidence]` ([`config`]), the recorder
//! opened on the store's index ([`StoreIndex`], [`open_recorder`]) and shown on `/readyz`,
//! metrics and the stream's health ([`RecordingHub`]), and the periodic retention pass
//! ([`retention`]) that turns `gridwatch_core`'s plan into deletions and holds.
//!
//! The recorder itself (writers, repair, clips, evidence) is `gridwatch_ingest::recording` and
//! `gridwatch_ingest::evidence`; the plan is `gridwatch_core::recording::retention`.

pub mod clips;
pub mod config;
pub mod downloads;
pub mod evidence;
pub mod evidence_space;
pub mod fetch;
mod hub;
mod index;
pub mod replay;
pub mod retention;
mod verify;

pub use config::{EvidenceConfig, RecordingConfig};
pub use fetch::{FetchError, SegmentFiles};
pub use hub::{open_recorder, open_recorder_on, RecordingHub};
pub use index::{holes_of, segment_of, StoreIndex};
pub use verify::{verify_evidence, VerifyError};
