//! When a camera's motion alerts are armed: always, or a daily window of local times that may
//! cross midnight (22:00–06:00 for a yard closed at night).
//!
//! Local time is a fixed offset from UTC (China keeps UTC+8 all year, no daylight saving), so
//! the domain needs no time-zone database.

use crate::validate::ValidationError;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// Asia/Shanghai, in minutes east of UTC.
pub const DEFAULT_UTC_OFFSET_MINUTES: i32 = 8 * 60;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// Armed day and night.
    #[default]
    Always,
    /// Armed from `start` (included) to `end` (excluded), local `HH:MM`; `start > end` crosses
    /// midnight. Equal times are refused: they would mean either never or always.
    Window { start: String, end: String },
}

fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

impl Schedule {
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if let Schedule::Window { start, end } = self {
            let s = parse_hhmm(start).ok_or_else(|| {
                ValidationError::new(format!("{field}.start"), "must be a time HH:MM, e.g. 22:00")
            })?;
            let e = parse_hhmm(end).ok_or_else(|| {
                ValidationError::new(format!("{field}.end"), "must be a time HH:MM, e.g. 06:00")
            })?;
            if s == e {
                return Err(ValidationError::new(
                    field,
                    "start and end are the same time; use kind \"always\" for day and night",
                ));
            }
        }
        Ok(())
    }

    /// Whether alerts are armed at `at`, local time being UTC + `utc_offset_minutes`.
    /// An unparsable window (never stored: validation refuses it) counts as armed, so that a
    /// broken setting errs on the side of raising.
    pub fn armed_at(&self, at: DateTime<Utc>, utc_offset_minutes: i32) -> bool {
        let Schedule::Window { start, end } = self else {
            return true;
        };
        let (Some(s), Some(e)) = (parse_hhmm(start), parse_hhmm(end)) else {
            return true;
        };
        let local = (at + Duration::minutes(utc_offset_minutes.into())).time();
        if s < e {
            local >= s && local < e
        } else {
            local >= s || local < e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn night() -> Schedule {
        Schedule::Window {
            start: "22:00".into(),
            end: "06:00".into(),
        }
    }

    #[test]
    fn night_window_crosses_midnight_in_shanghai_time() {
        let off = DEFAULT_UTC_OFFSET_MINUTES;
        // 22:00 Shanghai is 14:00 UTC.
        assert!(!night().armed_at(utc("2026-01-01T13:59:59Z"), off));
        assert!(night().armed_at(utc("2026-01-01T14:00:00Z"), off));
        assert!(night().armed_at(utc("2026-01-01T16:00:00Z"), off)); // 00:00 local
        assert!(night().armed_at(utc("2026-01-01T21:59:00Z"), off)); // 05:59 local
        assert!(!night().armed_at(utc("2026-01-01T22:00:00Z"), off)); // 06:00 local
        assert!(!night().armed_at(utc("2026-01-02T04:00:00Z"), off)); // noon
                                                                      // The same instant in UTC itself is 14:00, outside the window.
        assert!(!night().armed_at(utc("2026-01-01T14:00:00Z"), 0));
    }

    #[test]
    fn day_window_and_always() {
        let day = Schedule::Window {
            start: "08:30".into(),
            end: "17:00".into(),
        };
        assert!(day.armed_at(utc("2026-01-01T00:30:00Z"), 480));
        assert!(!day.armed_at(utc("2026-01-01T09:00:00Z"), 480));
        assert!(Schedule::Always.armed_at(utc("2026-01-01T09:00:00Z"), 480));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = Schedule::Window {
            start: "25:00".into(),
            end: "06:00".into(),
        };
        assert_eq!(
            bad.validate("schedule").unwrap_err().field,
            "schedule.start"
        );
        let same = Schedule::Window {
            start: "06:00".into(),
            end: "06:00".into(),
        };
        assert_eq!(same.validate("schedule").unwrap_err().field, "schedule");
        assert!(night().validate("schedule").is_ok());
    }
}
