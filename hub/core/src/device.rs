//! Panic buttons (报警按钮): physical one-button alarms that speak HTTP or MQTT.

use crate::patch::double_option;
use crate::validate::{self, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub grid_id: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// Where the button is mounted, as a responder would look for it.
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub name: String,
    pub grid_id: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    pub name: Option<String>,
    pub grid_id: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub lat: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub lon: Option<Option<f64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub address: Option<Option<String>>,
}

impl NewDevice {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name, 100)?;
        validate::lat_lon(self.lat, self.lon)?;
        validate::text("address", self.address.as_deref(), 200)
    }
}

impl Device {
    pub fn patched(&self, p: DevicePatch) -> Result<Device, ValidationError> {
        let mut out = self.clone();
        if let Some(v) = p.name {
            out.name = v;
        }
        if let Some(v) = p.grid_id {
            out.grid_id = v;
        }
        if let Some(v) = p.lat {
            out.lat = v;
        }
        if let Some(v) = p.lon {
            out.lon = v;
        }
        if let Some(v) = p.address {
            out.address = v;
        }
        NewDevice {
            name: out.name.clone(),
            grid_id: out.grid_id.clone(),
            lat: out.lat,
            lon: out.lon,
            address: out.address.clone(),
        }
        .validate()?;
        Ok(out)
    }
}
