//! What raises an incident: a resident's or a panic button's SOS press, and an incident a duty
//! officer raises by hand. Both are read leniently where a person in distress is concerned (a
//! press is never refused for its form) and strictly where staff type.

use super::IncidentKind;
use crate::validate::{self, ValidationError};
use serde::Deserialize;

/// A resident's or a panic button's press: `POST /api/v1/sos`, or an MQTT message.
///
/// Unknown fields are ignored and a location that is not one is dropped (and said so in the
/// timeline) rather than refused: an SOS is never turned away for its form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
pub struct SosPress {
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub note: Option<String>,
}

impl SosPress {
    /// Longest note kept; longer ones are cut.
    pub const MAX_NOTE: usize = 1000;

    /// The press made fit to store: a bad location dropped (the reason is returned), the note
    /// trimmed and cut to [`SosPress::MAX_NOTE`] characters.
    pub fn sanitized(mut self) -> (SosPress, Option<String>) {
        let mut dropped = None;
        if let Err(e) = validate::lat_lon(self.lat, self.lon) {
            dropped = Some(e.to_string());
            self.lat = None;
            self.lon = None;
        }
        self.note = self
            .note
            .map(|n| {
                n.trim()
                    .chars()
                    .take(SosPress::MAX_NOTE)
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty());
        (self, dropped)
    }

    /// Reads a press from any JSON: `null` is an empty press, an object gives the fields that
    /// have the right type (the others are named in the second value, to be recorded), and
    /// anything else is not a press at all.
    pub fn from_json(v: &serde_json::Value) -> Result<(SosPress, Vec<String>), ValidationError> {
        let obj = match v {
            serde_json::Value::Null => return Ok((SosPress::default(), vec![])),
            serde_json::Value::Object(o) => o,
            _ => {
                return Err(ValidationError::new(
                    "body",
                    "must be a JSON object or empty",
                ))
            }
        };
        let mut ignored = vec![];
        let mut number = |k: &str| match obj.get(k) {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => v.as_f64().or_else(|| {
                ignored.push(k.to_string());
                None
            }),
        };
        let lat = number("lat");
        let lon = number("lon");
        let note = match obj.get("note") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                ignored.push("note".into());
                None
            }
        };
        ignored.extend(
            obj.keys()
                .filter(|k| !matches!(k.as_str(), "lat" | "lon" | "note"))
                .cloned(),
        );
        Ok((SosPress { lat, lon, note }, ignored))
    }

    pub fn location(&self) -> Option<(f64, f64)> {
        self.lat.zip(self.lon)
    }
}

/// `POST /api/v1/incidents`: a duty officer raises an incident by hand.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    /// `manual` unless given.
    #[serde(default = "manual")]
    pub kind: IncidentKind,
    #[serde(default)]
    pub grid_id: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub camera_id: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

fn manual() -> IncidentKind {
    IncidentKind::Manual
}

impl NewIncident {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::lat_lon(self.lat, self.lon)?;
        validate::text("note", self.note.as_deref(), SosPress::MAX_NOTE)?;
        for (field, v) in [("grid_id", &self.grid_id), ("camera_id", &self.camera_id)] {
            if let Some(id) = v {
                validate::name(field, id, 100)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_press_is_made_fit_to_store_not_refused() {
        let p: SosPress =
            serde_json::from_str(r#"{"lat": 26.5, "lon": 107.9, "note": "  救命  ", "x": 1}"#)
                .unwrap();
        let (p, dropped) = p.sanitized();
        assert_eq!(
            (p.location(), p.note.as_deref(), dropped),
            (Some((26.5, 107.9)), Some("救命"), None)
        );

        let p: SosPress = serde_json::from_str(r#"{"lat": 126.5}"#).unwrap();
        let (p, dropped) = p.sanitized();
        assert_eq!(p.location(), None);
        assert!(dropped.unwrap().contains("lat"));

        let p = SosPress {
            note: Some("很".repeat(SosPress::MAX_NOTE + 5)),
            ..Default::default()
        };
        assert_eq!(
            p.sanitized().0.note.unwrap().chars().count(),
            SosPress::MAX_NOTE
        );
        assert_eq!(
            SosPress {
                note: Some("   ".into()),
                ..Default::default()
            }
            .sanitized()
            .0
            .note,
            None
        );
    }

    #[test]
    fn a_press_is_read_from_any_object() {
        let v = serde_json::json!({"lat": 26.5, "lon": "107.9", "note": 5, "colour": "red"});
        let (p, mut ignored) = SosPress::from_json(&v).unwrap();
        ignored.sort();
        assert_eq!((p.lat, p.lon, p.note), (Some(26.5), None, None));
        assert_eq!(ignored, ["colour", "lon", "note"]);
        assert_eq!(
            SosPress::from_json(&serde_json::Value::Null).unwrap().0,
            SosPress::default()
        );
        assert!(SosPress::from_json(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn manual_incidents_default_to_manual_and_check_their_input() {
        let n: NewIncident = serde_json::from_str(r#"{"note": "电话报警"}"#).unwrap();
        assert_eq!(n.kind, IncidentKind::Manual);
        assert!(n.validate().is_ok());
        let n: NewIncident = serde_json::from_str(r#"{"lat": 26.5}"#).unwrap();
        assert_eq!(n.validate().unwrap_err().field, "lon");
        assert!(serde_json::from_str::<NewIncident>(r#"{"colour": "red"}"#).is_err());
    }
}
