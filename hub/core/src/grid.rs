//! Grids (网格): the units a community is divided into. Each has a polygon on the map and an
//! ordered chain of posts (响应顺序) that are dispatched to and escalated to in turn.

use crate::geo::Polygon;
use crate::patch::double_option;
use crate::validate::{self, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Grid {
    pub id: String,
    pub name: String,
    pub polygon: Option<Polygon>,
    /// Post ids, first responder first.
    pub post_chain: Vec<String>,
    /// Overrides of the centre-wide response windows, in minutes; `None` takes the default.
    pub response_minutes: Option<u32>,
    pub ack_minutes: Option<u32>,
    pub at_risk_minutes: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrid {
    pub name: String,
    #[serde(default)]
    pub polygon: Option<Polygon>,
    #[serde(default)]
    pub post_chain: Vec<String>,
    #[serde(default)]
    pub response_minutes: Option<u32>,
    #[serde(default)]
    pub ack_minutes: Option<u32>,
    #[serde(default)]
    pub at_risk_minutes: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GridPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub polygon: Option<Option<Polygon>>,
    pub post_chain: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub response_minutes: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    pub ack_minutes: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    pub at_risk_minutes: Option<Option<u32>>,
}

impl NewGrid {
    /// Checks the shape of the grid. That the posts of the chain exist is the store's to check.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name, 100)?;
        if let Some(p) = &self.polygon {
            p.validate()?;
        }
        if self.post_chain.len() > 20 {
            return Err(ValidationError::new("post_chain", "at most 20 posts"));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = self.post_chain.iter().find(|p| !seen.insert(p.as_str())) {
            return Err(ValidationError::new(
                "post_chain",
                format!("post {dup} appears twice"),
            ));
        }
        for (field, v) in [
            ("response_minutes", self.response_minutes),
            ("ack_minutes", self.ack_minutes),
            ("at_risk_minutes", self.at_risk_minutes),
        ] {
            if let Some(m) = v {
                if m == 0 || m > 24 * 60 {
                    return Err(ValidationError::new(
                        field,
                        "must be between 1 and 1440 minutes",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Grid {
    pub fn patched(&self, p: GridPatch) -> Result<Grid, ValidationError> {
        let mut out = self.clone();
        if let Some(v) = p.name {
            out.name = v;
        }
        if let Some(v) = p.polygon {
            out.polygon = v;
        }
        if let Some(v) = p.post_chain {
            out.post_chain = v;
        }
        if let Some(v) = p.response_minutes {
            out.response_minutes = v;
        }
        if let Some(v) = p.ack_minutes {
            out.ack_minutes = v;
        }
        if let Some(v) = p.at_risk_minutes {
            out.at_risk_minutes = v;
        }
        out.as_new().validate()?;
        Ok(out)
    }

    fn as_new(&self) -> NewGrid {
        NewGrid {
            name: self.name.clone(),
            polygon: self.polygon.clone(),
            post_chain: self.post_chain.clone(),
            response_minutes: self.response_minutes,
            ack_minutes: self.ack_minutes,
            at_risk_minutes: self.at_risk_minutes,
        }
    }

    /// Whether a point (lat, lon) falls inside this grid's polygon.
    pub fn covers(&self, lat: f64, lon: f64) -> bool {
        self.polygon.as_ref().is_some_and(|p| p.contains(lon, lat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_grid(json: &str) -> NewGrid {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn chain_without_duplicates() {
        assert!(new_grid(r#"{"name":"一网格","post_chain":["a","b"]}"#)
            .validate()
            .is_ok());
        let e = new_grid(r#"{"name":"g","post_chain":["a","a"]}"#)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "post_chain");
    }

    #[test]
    fn patch_clears_polygon_and_keeps_the_rest() {
        let g = Grid {
            id: "g1".into(),
            name: "一网格".into(),
            polygon: Some(Polygon {
                kind: "Polygon".into(),
                coordinates: vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
            }),
            post_chain: vec!["p1".into()],
            response_minutes: Some(15),
            ack_minutes: None,
            at_risk_minutes: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert!(g.covers(0.2, 0.8));
        let p: GridPatch = serde_json::from_str(r#"{"polygon":null}"#).unwrap();
        let out = g.patched(p).unwrap();
        assert_eq!(out.polygon, None);
        assert_eq!(out.post_chain, vec!["p1".to_string()]);
        assert_eq!(out.response_minutes, Some(15));
        let bad: GridPatch = serde_json::from_str(r#"{"ack_minutes":0}"#).unwrap();
        assert_eq!(g.patched(bad).unwrap_err().field, "ack_minutes");
    }
}
