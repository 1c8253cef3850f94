//! What a button sends and what the hub answers.
//!
//! A press is read as leniently as over HTTP (`POST /api/v1/sos`): an empty payload (or JSON
//! `null`) is a press without a place, fields of the wrong type are dropped and recorded in
//! the timeline, and a place that is not one is dropped by the intake. Only a payload that is
//! not a JSON object at all — or is too large to be a press — is refused as malformed,
//! because then the hub cannot tell a press from something else published on the topic.
//!
//! A button may name each press: `{"press_id": "…"}` (1 to 200 visible ASCII characters, or a
//! non-negative integer such as a press counter). The hub takes it as the press's
//! `Idempotency-Key`, scoped to the device, so the same press delivered twice (QoS 1 is "at
//! least once": the broker sends it again when the hub's acknowledgement was lost) is one
//! press, answered with its incident and not recorded again. A `press_id` that is not one is
//! ignored like any field of the wrong type.

use crate::incidents::intake::check_idempotency_key;
use gridwatch_core::incident::{Incident, SosPress};
use gridwatch_core::ValidationError;
use serde_json::json;
use thiserror::Error;

/// Largest press payload read. A press is a few dozen bytes; this bounds what a stuck or
/// hostile client can make the hub parse.
pub const MAX_PAYLOAD: usize = 4096;

#[derive(Debug, Error)]
pub enum PayloadError {
    #[error("payload of {len} bytes is larger than the {MAX_PAYLOAD} bytes a press may have")]
    TooLarge { len: usize },
    #[error("payload is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("payload is not a press: {0}")]
    NotAPress(#[from] ValidationError),
}

/// The field naming a press.
pub const PRESS_ID: &str = "press_id";

/// A press as read from a payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Press {
    pub press: SosPress,
    /// The names of the fields that were not understood.
    pub ignored: Vec<String>,
    /// The button's name for this press, if it gave a valid one.
    pub id: Option<String>,
}

/// Reads a press.
pub fn parse_press(payload: &[u8]) -> Result<Press, PayloadError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PayloadError::TooLarge { len: payload.len() });
    }
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(Press::default());
    }
    let mut value: serde_json::Value = serde_json::from_slice(payload)?;
    let raw_id = value
        .as_object_mut()
        .and_then(|o| o.remove(PRESS_ID))
        .filter(|v| !v.is_null());
    let (press, mut ignored) = SosPress::from_json(&value)?;
    let id = raw_id.as_ref().and_then(press_id);
    if raw_id.is_some() && id.is_none() {
        ignored.push(PRESS_ID.to_string());
    }
    Ok(Press { press, ignored, id })
}

/// A `press_id` as an idempotency key: a valid key string, or a non-negative integer.
fn press_id(v: &serde_json::Value) -> Option<String> {
    let id = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    check_idempotency_key(&id).ok().map(|()| id)
}

/// The retained answer on a device's status topic: `{"incident_id", "state"}`.
pub fn status(incident: &Incident) -> Vec<u8> {
    json!({"incident_id": incident.id, "state": incident.state})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_null_are_presses_without_a_place() {
        for p in [&b""[..], b"  \n", b"null", b"{}"] {
            let p = parse_press(p).unwrap();
            assert_eq!(p.press.location(), None);
            assert!(p.ignored.is_empty());
            assert_eq!(p.id, None);
        }
    }

    #[test]
    fn a_press_with_a_place_and_a_note() {
        let p = parse_press(r#"{"lat": 26.52, "lon": 107.92, "note": "3栋"}"#.as_bytes()).unwrap();
        assert_eq!(p.press.location(), Some((26.52, 107.92)));
        assert_eq!(p.press.note.as_deref(), Some("3栋"));
        assert!(p.ignored.is_empty());
    }

    #[test]
    fn wrong_types_are_ignored_and_named() {
        let p = parse_press(br#"{"lat": "x", "lon": 1, "battery": 80}"#).unwrap();
        assert_eq!(p.press.lat, None);
        assert_eq!(p.press.lon, Some(1.0));
        assert_eq!(p.ignored, vec!["lat".to_string(), "battery".to_string()]);
    }

    #[test]
    fn a_press_id_is_taken_out_of_the_press() {
        let p = parse_press(br#"{"press_id": "btn-7/000123", "lat": 26.5, "lon": 107.9}"#).unwrap();
        assert_eq!(p.id.as_deref(), Some("btn-7/000123"));
        assert_eq!(p.press.location(), Some((26.5, 107.9)));
        assert!(p.ignored.is_empty(), "{:?}", p.ignored);
        // A press counter is a press id too.
        assert_eq!(
            parse_press(br#"{"press_id": 42}"#).unwrap().id.as_deref(),
            Some("42")
        );
        assert_eq!(
            parse_press(br#"{"press_id": null}"#).unwrap(),
            Press::default()
        );
    }

    #[test]
    fn a_press_id_that_is_not_one_is_ignored_and_named() {
        let long = format!(r#"{{"press_id": "{}"}}"#, "k".repeat(201));
        for bad in [
            &br#"{"press_id": ""}"#[..],
            br#"{"press_id": "with space"}"#,
            br#"{"press_id": -1}"#,
            br#"{"press_id": 1.5}"#,
            br#"{"press_id": ["a"]}"#,
            long.as_bytes(),
        ] {
            let p = parse_press(bad).unwrap();
            assert_eq!(p.id, None, "{}", String::from_utf8_lossy(bad));
            assert_eq!(p.ignored, vec![PRESS_ID.to_string()]);
        }
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            parse_press(b"SOS!"),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(
            parse_press(b"{\"lat\": 1"),
            Err(PayloadError::NotJson(_))
        ));
        assert!(matches!(
            parse_press(b"[1, 2]"),
            Err(PayloadError::NotAPress(_))
        ));
        assert!(matches!(
            parse_press(b"42"),
            Err(PayloadError::NotAPress(_))
        ));
        assert!(matches!(
            parse_press(&[0xff, 0xfe]),
            Err(PayloadError::NotJson(_))
        ));
        let big = vec![b' '; MAX_PAYLOAD + 1];
        assert!(matches!(
            parse_press(&big),
            Err(PayloadError::TooLarge { len }) if len == MAX_PAYLOAD + 1
        ));
    }
}
