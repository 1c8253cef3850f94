//! One notification owed to one recipient: the row the worker claims, sends and records. Its
//! idempotency key is stable across retries, restarts and hub nodes, so a receiver that keeps
//! the keys it has seen shows a message once even when the hub (at least once) sends it twice.

use serde::{Deserialize, Serialize};

/// A notification waiting in (or sent from) the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// See [`idempotency_key`]; unique in the outbox.
    pub key: String,
    /// The event that caused it.
    pub event_seq: i64,
    pub incident_id: Option<String>,
    pub rule: String,
    pub channel: String,
    /// The resolved address: a phone number, a bot URL, an e-mail address.
    pub recipient: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// `gw-<seq>-<rule>-<hash of recipient>`: the same event, rule and recipient always give the
/// same key; the recipient is hashed so a phone number does not travel in a header.
pub fn idempotency_key(event_seq: i64, rule: &str, recipient: &str) -> String {
    format!("gw-{event_seq}-{rule}-{:016x}", fnv64(recipient.as_bytes()))
}

/// A small, stable hash (FNV-1a) — not for secrets, only to name a recipient in a key.
fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_tell_recipients_apart() {
        let a = idempotency_key(42, "undelivered-sms", "+8613800000001");
        assert_eq!(a, idempotency_key(42, "undelivered-sms", "+8613800000001"));
        assert!(a.starts_with("gw-42-undelivered-sms-"));
        assert!(!a.contains("138000"));
        assert_ne!(a, idempotency_key(42, "undelivered-sms", "+8613800000002"));
        assert_ne!(a, idempotency_key(43, "undelivered-sms", "+8613800000001"));
        assert_ne!(a, idempotency_key(42, "breached", "+8613800000001"));
    }
}
