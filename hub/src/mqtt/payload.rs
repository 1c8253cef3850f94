//! What a button sends and what the hub answers.
//!
//! A press is read as leniently as over HTTP (`POST /api/v1/sos`): an empty payload (or JSON
//! `null`) is a press without a place, fields of the wrong type are dropped and recorded in
//! the timeline, and a place that is not one is dropped by the intake. Only a payload that is
//! not a JSON object at all — or is too large to be a press — is refused as malformed,
//! because then the hub cannot tell a press from something else published on the topic.

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

/// Reads a press: the press and the names of the fields that were not understood.
pub fn parse_press(payload: &[u8]) -> Result<(SosPress, Vec<String>), PayloadError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PayloadError::TooLarge { len: payload.len() });
    }
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok((SosPress::default(), vec![]));
    }
    let value: serde_json::Value = serde_json::from_slice(payload)?;
    Ok(SosPress::from_json(&value)?)
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
            let (press, ignored) = parse_press(p).unwrap();
            assert_eq!(press.location(), None);
            assert!(ignored.is_empty());
        }
    }

    #[test]
    fn a_press_with_a_place_and_a_note() {
        let (press, ignored) =
            parse_press(r#"{"lat": 26.52, "lon": 107.92, "note": "3栋"}"#.as_bytes()).unwrap();
        assert_eq!(press.location(), Some((26.52, 107.92)));
        assert_eq!(press.note.as_deref(), Some("3栋"));
        assert!(ignored.is_empty());
    }

    #[test]
    fn wrong_types_are_ignored_and_named() {
        let (press, ignored) = parse_press(br#"{"lat": "x", "lon": 1, "battery": 80}"#).unwrap();
        assert_eq!(press.lat, None);
        assert_eq!(press.lon, Some(1.0));
        assert_eq!(ignored, vec!["lat".to_string(), "battery".to_string()]);
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
