//! Rules: an event kind, the people it concerns, the channel that reaches them. Configured in
//! `[notify]`; checked when loaded, so a rule naming an unknown channel is refused at start
//! instead of failing silently at 3 a.m.

use crate::event::{Event, EventType};
use crate::incident::IncidentKind;
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// Who a rule reaches. Resolved to addresses by the hub at delivery time (from contacts), so a
/// phone number changed after the event is still the one called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    /// The responders (处置人员) of the post the event concerns: their phones.
    PostResponders,
    /// The post's own phone (the duty desk of the police post).
    PostPhone,
    /// The post's group-bot address for the rule's channel (WeCom / DingTalk / Feishu).
    PostGroup,
    /// Every duty officer (值班人员) with a phone: the duty chief's step.
    DutyOfficers,
    /// A fixed address: a webhook URL, an e-mail address, a maintenance group's bot.
    Address(String),
}

/// Local hours during which non-urgent notifications wait (camera offline at 2 a.m. can wait
/// for the morning; an SOS cannot). `start` > `end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Offset of local time from UTC, in minutes (China: 480).
    #[serde(default)]
    pub utc_offset_minutes: i32,
}

impl QuietHours {
    /// Whether `at` falls inside the quiet hours.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = (at + chrono::Duration::minutes(i64::from(self.utc_offset_minutes))).time();
        if self.start <= self.end {
            local >= self.start && local < self.end
        } else {
            local >= self.start || local < self.end
        }
    }

    /// When the quiet hours that contain `at` end (`at` itself when outside them).
    pub fn ends_after(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if !self.contains(at) {
            return at;
        }
        let off = chrono::Duration::minutes(i64::from(self.utc_offset_minutes));
        let local = at + off;
        let mut end = local.date_naive().and_time(self.end).and_utc();
        if end <= local {
            end += chrono::Duration::days(1);
        }
        end - off
    }
}

/// One rule: `on` any of these event kinds, reach `to` through `channel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique, short: part of every idempotency key the rule makes.
    pub name: String,
    pub on: Vec<EventType>,
    pub to: Recipients,
    /// The name of a configured channel.
    pub channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule {0:?}: names must be 1–40 letters, digits, '-' or '_'")]
    BadName(String),
    #[error("rule {0:?} is defined twice")]
    Duplicate(String),
    #[error("rule {rule:?} uses channel {channel:?}, which is not configured")]
    UnknownChannel { rule: String, channel: String },
    #[error("rule {rule:?} reacts to {kind}, which never notifies")]
    NotNotifiable { rule: String, kind: EventType },
    #[error("rule {0:?} reacts to no event")]
    NoEvents(String),
}

/// Checks a set of rules against the configured channel names.
pub fn check(rules: &[Rule], channels: &[&str]) -> Result<(), RuleError> {
    let mut seen = std::collections::HashSet::new();
    for r in rules {
        let ok = !r.name.is_empty()
            && r.name.len() <= 40
            && r.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(RuleError::BadName(r.name.clone()));
        }
        if !seen.insert(r.name.as_str()) {
            return Err(RuleError::Duplicate(r.name.clone()));
        }
        if !channels.contains(&r.channel.as_str()) {
            return Err(RuleError::UnknownChannel {
                rule: r.name.clone(),
                channel: r.channel.clone(),
            });
        }
        if r.on.is_empty() {
            return Err(RuleError::NoEvents(r.name.clone()));
        }
        if let Some(kind) = r.on.iter().find(|k| !super::is_notifiable(**k)) {
            return Err(RuleError::NotNotifiable {
                rule: r.name.clone(),
                kind: *kind,
            });
        }
    }
    Ok(())
}

/// Whether quiet hours may hold back a notification about this event: never for an SOS (or a
/// duty officer's manual incident), only for equipment and presence — camera and post events,
/// and incidents of a camera gone offline or of motion.
pub fn quiet_hours_apply(kind: EventType, incident: Option<IncidentKind>) -> bool {
    match incident {
        Some(IncidentKind::Sos | IncidentKind::Manual) => false,
        Some(IncidentKind::CameraOffline | IncidentKind::Motion) => true,
        None => !kind.is_incident(),
    }
}

/// The rules an event triggers, in configured order.
pub fn matching<'a>(rules: &'a [Rule], event: &Event) -> Vec<&'a Rule> {
    rules
        .iter()
        .filter(|r| r.on.contains(&event.kind))
        .collect()
}

/// The post an event concerns: the dispatch's or undelivered's `post_id`, an escalation's
/// `to_post` (the next post in the chain), a post's own presence event.
pub fn event_post(event: &Event) -> Option<&str> {
    let keys: &[&str] = match event.kind {
        EventType::IncidentEscalated => &["to_post"],
        _ => &["post_id", "to_post"],
    };
    keys.iter()
        .find_map(|k| event.data.get(*k).and_then(serde_json::Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, on: &[EventType], to: Recipients, channel: &str) -> Rule {
        Rule {
            name: name.into(),
            on: on.to_vec(),
            to,
            channel: channel.into(),
        }
    }

    fn ev(kind: EventType, data: serde_json::Value) -> Event {
        Event {
            seq: 1,
            kind,
            at: Utc::now(),
            incident_id: Some("i1".into()),
            actor: "system".into(),
            origin: "timer".into(),
            data,
        }
    }

    #[test]
    fn rules_are_checked_against_channels() {
        use EventType as T;
        let good = vec![
            rule(
                "undelivered-sms",
                &[T::IncidentUndelivered],
                Recipients::PostResponders,
                "sms",
            ),
            rule(
                "breached-chief",
                &[T::IncidentBreached],
                Recipients::DutyOfficers,
                "voice",
            ),
        ];
        assert_eq!(check(&good, &["sms", "voice"]), Ok(()));
        assert_eq!(
            check(&good, &["sms"]),
            Err(RuleError::UnknownChannel {
                rule: "breached-chief".into(),
                channel: "voice".into()
            })
        );
        let dup = vec![good[0].clone(), good[0].clone()];
        assert!(matches!(
            check(&dup, &["sms"]),
            Err(RuleError::Duplicate(_))
        ));
        let bad = vec![rule(
            "a b",
            &[T::IncidentBreached],
            Recipients::DutyOfficers,
            "sms",
        )];
        assert!(matches!(check(&bad, &["sms"]), Err(RuleError::BadName(_))));
        let quiet = vec![rule(
            "x",
            &[T::IncidentDelivered],
            Recipients::PostPhone,
            "sms",
        )];
        assert!(matches!(
            check(&quiet, &["sms"]),
            Err(RuleError::NotNotifiable { .. })
        ));
        let none = vec![rule("x", &[], Recipients::PostPhone, "sms")];
        assert!(matches!(
            check(&none, &["sms"]),
            Err(RuleError::NoEvents(_))
        ));
    }

    #[test]
    fn an_event_triggers_the_rules_that_name_it() {
        use EventType as T;
        let rules = vec![
            rule(
                "a",
                &[T::IncidentUndelivered],
                Recipients::PostResponders,
                "sms",
            ),
            rule(
                "b",
                &[T::IncidentAtRisk, T::IncidentBreached],
                Recipients::PostPhone,
                "voice",
            ),
            rule("c", &[T::IncidentBreached], Recipients::DutyOfficers, "sms"),
        ];
        let names = |e: &Event| {
            matching(&rules, e)
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&ev(T::IncidentUndelivered, json!({}))), ["a"]);
        assert_eq!(names(&ev(T::IncidentBreached, json!({}))), ["b", "c"]);
        assert!(names(&ev(T::CameraOffline, json!({}))).is_empty());
    }

    #[test]
    fn the_post_an_event_concerns() {
        use EventType as T;
        assert_eq!(
            event_post(&ev(T::IncidentUndelivered, json!({"post_id": "p1"}))),
            Some("p1")
        );
        assert_eq!(
            event_post(&ev(
                T::IncidentEscalated,
                json!({"from_post": "p1", "post_id": "p1", "to_post": "p2"})
            )),
            Some("p2")
        );
        assert_eq!(
            event_post(&ev(T::IncidentEscalated, json!({"to_post": null}))),
            None
        );
        assert_eq!(event_post(&ev(T::IncidentAtRisk, json!({}))), None);
    }

    #[test]
    fn quiet_hours_span_midnight_and_never_hold_an_sos() {
        let q = QuietHours {
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            utc_offset_minutes: 480,
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 23:30 and 03:00 in Beijing are quiet; 12:00 is not.
        assert!(q.contains(at("2026-03-01T15:30:00Z")));
        assert!(q.contains(at("2026-03-01T19:00:00Z")));
        assert!(!q.contains(at("2026-03-01T04:00:00Z")));
        // Held until 07:00 Beijing = 23:00 UTC.
        assert_eq!(
            q.ends_after(at("2026-03-01T15:30:00Z")),
            at("2026-03-01T23:00:00Z")
        );
        assert_eq!(
            q.ends_after(at("2026-03-01T19:00:00Z")),
            at("2026-03-01T23:00:00Z")
        );
        assert_eq!(
            q.ends_after(at("2026-03-01T04:00:00Z")),
            at("2026-03-01T04:00:00Z")
        );
        use EventType as T;
        assert!(!quiet_hours_apply(
            T::IncidentRaised,
            Some(IncidentKind::Sos)
        ));
        assert!(!quiet_hours_apply(
            T::IncidentBreached,
            Some(IncidentKind::Sos)
        ));
        assert!(!quiet_hours_apply(T::IncidentBreached, None));
        assert!(quiet_hours_apply(
            T::IncidentRaised,
            Some(IncidentKind::CameraOffline)
        ));
        assert!(quiet_hours_apply(T::CameraOffline, None));
    }
}
