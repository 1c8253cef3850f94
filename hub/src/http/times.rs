//! Times given in a request (`from`, `to`, `since`, …): RFC 3339, and between 1970 and the
//! end of 9999.
//!
//! chrono parses years of any length and sign (`+262142-12-31T23:55:00Z`), and adding to or
//! taking from a time near the ends of its range panics. No camera recorded before 1970 nor
//! will after 9999, so a time outside that is the caller's mistake: refused where it is
//! parsed (400 naming the field), every handler may then add windows to it freely.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer};

/// The longest period one list or report covers: a year, an audit's usual period (the
/// exports list, the response and false-alarm reports; each reads all of its period).
pub const LONGEST_PERIOD_DAYS: i64 = 366;

/// What a time outside the range is told.
pub const OUT_OF_RANGE: &str = "must be a time between 1970-01-01 and 9999-12-31 (RFC 3339)";

/// `t`, if it is between 1970 and the end of 9999.
pub fn within_range(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1970..=9999).contains(&t.year()).then_some(t)
}

/// For `#[serde(deserialize_with = …)]` on a required time.
pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let t = DateTime::<Utc>::deserialize(d)?;
    within_range(t).ok_or_else(|| serde::de::Error::custom(OUT_OF_RANGE))
}

/// For `#[serde(default, deserialize_with = …)]` on an optional time.
pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    required(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "optional")]
        from: Option<DateTime<Utc>>,
    }

    fn parse(query: &str) -> Result<Q, String> {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        axum::extract::Query::<Q>::try_from_uri(&uri)
            .map(|q| q.0)
            .map_err(|e| e.body_text())
    }

    #[test]
    fn times_in_range_pass_and_absent_is_none() {
        assert_eq!(
            parse("from=2026-12-07T08:00:00%2B08:00").unwrap().from,
            Some("2026-12-07T00:00:00Z".parse().unwrap())
        );
        assert_eq!(parse("").unwrap().from, None);
        assert!(parse("from=1970-01-01T00:00:00Z").is_ok());
        assert!(parse("from=9999-12-31T23:59:59Z").is_ok());
    }

    #[test]
    fn times_chrono_parses_but_no_recording_has_are_refused() {
        for far in [
            "-262143-01-01T00:00:00Z",
            "%2B262142-12-31T23:55:00Z",
            "1969-12-31T23:59:59Z",
            "%2B10000-01-01T00:00:00Z",
        ] {
            let err = parse(&format!("from={far}")).unwrap_err();
            assert!(err.contains(OUT_OF_RANGE), "{far}: {err}");
        }
        assert!(parse("from=yesterday").is_err());
    }
}
