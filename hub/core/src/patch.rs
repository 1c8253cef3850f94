//! PATCH bodies: a field that is absent is left alone, a field that is `null` is cleared.
//!
//! serde folds both into `None` for a plain `Option<T>`, so nullable fields of a patch are
//! `Option<Option<T>>` and use [`double_option`].

use serde::{Deserialize, Deserializer};

/// `#[serde(default, deserialize_with = "double_option")]` on an `Option<Option<T>>`:
/// absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct P {
        #[serde(default, deserialize_with = "double_option")]
        phone: Option<Option<String>>,
    }

    #[test]
    fn absent_null_and_value_differ() {
        let absent: P = serde_json::from_str("{}").unwrap();
        let null: P = serde_json::from_str(r#"{"phone":null}"#).unwrap();
        let value: P = serde_json::from_str(r#"{"phone":"110"}"#).unwrap();
        assert_eq!(absent.phone, None);
        assert_eq!(null.phone, Some(None));
        assert_eq!(value.phone, Some(Some("110".into())));
    }
}
