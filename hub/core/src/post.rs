//! Police posts (警务室) and grid-worker teams: the places responders are sent from.

use crate::patch::double_option;
use crate::validate::{self, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Post {
    pub id: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostPatch {
    pub name: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[serde(default, deserialize_with = "double_option")]
    pub phone: Option<Option<String>>,
}

impl NewPost {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name, 100)?;
        validate::lat_lon(Some(self.lat), Some(self.lon))?;
        validate::text("phone", self.phone.as_deref(), 40)
    }
}

impl Post {
    /// Applies a patch to a copy, validating the result as a whole.
    pub fn patched(&self, p: PostPatch) -> Result<Post, ValidationError> {
        let mut out = self.clone();
        if let Some(v) = p.name {
            out.name = v;
        }
        if let Some(v) = p.lat {
            out.lat = v;
        }
        if let Some(v) = p.lon {
            out.lon = v;
        }
        if let Some(v) = p.phone {
            out.phone = v;
        }
        NewPost {
            name: out.name.clone(),
            lat: out.lat,
            lon: out.lon,
            phone: out.phone.clone(),
        }
        .validate()?;
        Ok(out)
    }
}
