//! Validation of what people type into forms and clients send.

use thiserror::Error;

/// One field that is not acceptable, and why, in words a person understands.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A required, trimmed, non-empty name of at most `max` characters.
pub fn name(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    if let Some(c) = t.chars().find(|&c| is_invisible_format(c)) {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain invisible formatting characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Characters that change how a name looks without being seen: bidirectional overrides and
/// isolates (a name that reads "post 1" on the wall but sorts and matches as something else),
/// zero-width spaces and joiners, the byte-order mark. A name shown to officers must be what
/// it looks like.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' // zero-width space, non-joiner, joiner; LRM, RLM
        | '\u{202A}'..='\u{202E}' // embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // isolates
        | '\u{061C}' // Arabic letter mark
        | '\u{FEFF}' // byte-order mark
    )
}

/// Optional free text of at most `max` characters.
pub fn text(field: &str, value: Option<&str>, max: usize) -> Result<(), ValidationError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// Latitude and longitude come together or not at all, and lie on the Earth.
pub fn lat_lon(lat: Option<f64>, lon: Option<f64>) -> Result<(), ValidationError> {
    match (lat, lon) {
        (None, None) => Ok(()),
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() {
                return Err(ValidationError::new("lat", "must be between -90 and 90"));
            }
            if !(-180.0..=180.0).contains(&lon) || !lon.is_finite() {
                return Err(ValidationError::new("lon", "must be between -180 and 180"));
            }
            Ok(())
        }
        (Some(_), None) => Err(ValidationError::new("lon", "is required when lat is given")),
        (None, Some(_)) => Err(ValidationError::new("lat", "is required when lon is given")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("name", "网格一", 10).is_ok());
        assert_eq!(name("name", "  ", 10).unwrap_err().field, "name");
        assert!(name("name", "abcdefghijk", 10).is_err());
        assert!(name("name", "a\u{7}b", 10).is_err());
    }

    #[test]
    fn names_with_invisible_formatting_are_refused() {
        for bad in [
            "警务室\u{202E}1",
            "a\u{200B}b",
            "\u{2066}x\u{2069}",
            "\u{FEFF}网格",
        ] {
            let e = name("name", bad, 20).unwrap_err();
            assert!(e.message.contains("invisible"), "{bad:?}: {e}");
        }
        assert!(name("name", "东门 (North gate) – 1号", 40).is_ok());
    }

    #[test]
    fn coordinates() {
        assert!(lat_lon(None, None).is_ok());
        assert!(lat_lon(Some(26.56), Some(107.98)).is_ok());
        assert_eq!(lat_lon(Some(91.0), Some(0.0)).unwrap_err().field, "lat");
        assert_eq!(lat_lon(Some(0.0), Some(181.0)).unwrap_err().field, "lon");
        assert_eq!(lat_lon(Some(0.0), None).unwrap_err().field, "lon");
        assert!(lat_lon(Some(f64::NAN), Some(0.0)).is_err());
    }
}
