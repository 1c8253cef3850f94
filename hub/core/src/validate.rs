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
    Ok(())
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
    fn coordinates() {
        assert!(lat_lon(None, None).is_ok());
        assert!(lat_lon(Some(26.56), Some(107.98)).is_ok());
        assert_eq!(lat_lon(Some(91.0), Some(0.0)).unwrap_err().field, "lat");
        assert_eq!(lat_lon(Some(0.0), Some(181.0)).unwrap_err().field, "lon");
        assert_eq!(lat_lon(Some(0.0), None).unwrap_err().field, "lon");
        assert!(lat_lon(Some(f64::NAN), Some(0.0)).is_err());
    }
}
