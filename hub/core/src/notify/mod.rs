//! Reaching people off the console (issue 18): which events notify whom through which channel
//! ([`rule`]), what one notification owed to one recipient is ([`outbox`]), when a failed one
//! is tried again ([`retry`]), and the text it carries ([`template`], [`message`]).
//!
//! Everything here is pure: the store keeps the outbox, the hub's worker sends. Keeping the
//! decisions here lets them be tested without a network or a database.

pub mod message;
pub mod outbox;
pub mod retry;
pub mod rule;
pub mod template;

pub use outbox::{idempotency_key, OutboxEntry};
pub use retry::{ChannelHealth, RetryPolicy};
pub use rule::{QuietHours, Recipients, Rule, RuleError};
pub use template::{Template, TemplateError};

use crate::event::EventType;

/// The event kinds that may notify anyone: the store writes an outbox row for each of these in
/// the transaction that records the event, so none is lost if the hub stops right after.
pub const NOTIFIABLE: [EventType; 7] = [
    EventType::IncidentRaised,
    EventType::IncidentUndelivered,
    EventType::IncidentAtRisk,
    EventType::IncidentBreached,
    EventType::IncidentEscalated,
    EventType::CameraOffline,
    EventType::PostOffline,
];

/// Whether an event of this kind gets an outbox row.
pub fn is_notifiable(kind: EventType) -> bool {
    NOTIFIABLE.contains(&kind)
}
