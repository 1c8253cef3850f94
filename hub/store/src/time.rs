//! Times are stored as milliseconds since the epoch, identical in both dialects.

use chrono::{DateTime, TimeZone, Utc};

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// `t` as it will read back: to the millisecond.
pub(crate) fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    from_ms(to_ms(t))
}
