//! The bridge's topics: `{prefix}/devices/{device_id}/sos` in, `{prefix}/devices/{device_id}/status`
//! out. The prefix is configurable so that several centres (or parallel test runs) can share
//! one broker without hearing each other's buttons.

use thiserror::Error;

/// The shared-subscription group of the hub nodes.
pub const SHARE_GROUP: &str = "gridwatch-hubs";

/// Longest device id taken from a topic; ids the hub makes are 36 characters.
pub const MAX_DEVICE_ID: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TopicError {
    #[error(
        "the topic prefix must be 1 to 100 characters without '+', '#', NUL or an empty level"
    )]
    BadPrefix,
    #[error("{topic:?} is not a {prefix}/devices/<device_id>/sos topic")]
    NotSos { topic: String, prefix: String },
    #[error("{0:?} is not a device id (1 to 100 characters, no '+', '#' or NUL)")]
    BadDeviceId(String),
}

/// The topic names of one configured prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

/// A topic level a device id or prefix may be: wildcards and NUL would make a filter of a
/// name, or be refused by the broker.
fn plain_level(s: &str) -> bool {
    !s.is_empty() && !s.contains(['+', '#', '\0', '/'])
}

impl Topics {
    pub fn new(prefix: &str) -> Result<Topics, TopicError> {
        if prefix.is_empty() || prefix.len() > 100 || !prefix.split('/').all(plain_level) {
            return Err(TopicError::BadPrefix);
        }
        Ok(Topics {
            prefix: prefix.to_string(),
        })
    }

    /// Every device's SOS topic.
    pub fn sos_filter(&self) -> String {
        format!("{}/devices/+/sos", self.prefix)
    }

    /// The subscription: [`Self::sos_filter`] as a shared subscription of the hub nodes, so
    /// that with several nodes each press goes to one of them — not to all, which would record
    /// it once and then as repeats. Messages still arrive on their own topic.
    pub fn sos_subscription(&self) -> String {
        format!("$share/{SHARE_GROUP}/{}", self.sos_filter())
    }

    /// The device a message on the SOS filter was published for.
    pub fn device_of_sos<'a>(&self, topic: &'a str) -> Result<&'a str, TopicError> {
        let not_sos = || TopicError::NotSos {
            topic: topic.chars().take(200).collect(),
            prefix: self.prefix.clone(),
        };
        let id = topic
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix("/devices/"))
            .and_then(|rest| rest.strip_suffix("/sos"))
            .ok_or_else(not_sos)?;
        check_device_id(id)?;
        Ok(id)
    }

    /// Where the hub answers a device.
    pub fn status(&self, device_id: &str) -> Result<String, TopicError> {
        check_device_id(device_id)?;
        Ok(format!("{}/devices/{device_id}/status", self.prefix))
    }

    /// A device's SOS topic (what a button publishes to).
    pub fn sos(&self, device_id: &str) -> Result<String, TopicError> {
        check_device_id(device_id)?;
        Ok(format!("{}/devices/{device_id}/sos", self.prefix))
    }
}

fn check_device_id(id: &str) -> Result<(), TopicError> {
    if plain_level(id) && id.len() <= MAX_DEVICE_ID {
        Ok(())
    } else {
        Err(TopicError::BadDeviceId(id.chars().take(120).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_of_the_default_prefix() {
        let t = Topics::new("gridwatch").unwrap();
        assert_eq!(t.sos_filter(), "gridwatch/devices/+/sos");
        assert_eq!(t.status("d1").unwrap(), "gridwatch/devices/d1/status");
        assert_eq!(t.sos("d1").unwrap(), "gridwatch/devices/d1/sos");
        assert_eq!(t.device_of_sos("gridwatch/devices/d-1/sos").unwrap(), "d-1");
    }

    #[test]
    fn nested_prefix() {
        let t = Topics::new("city/centre-3").unwrap();
        assert_eq!(t.device_of_sos("city/centre-3/devices/x/sos").unwrap(), "x");
        assert_eq!(t.sos_filter(), "city/centre-3/devices/+/sos");
    }

    #[test]
    fn what_is_not_an_sos_topic() {
        let t = Topics::new("gridwatch").unwrap();
        for bad in [
            "gridwatch/devices//sos",
            "gridwatch/devices/a/b/sos",
            "gridwatch/devices/a/status",
            "other/devices/a/sos",
            "gridwatch/devices/a/sos/x",
            "gridwatch/devices/a+/sos",
        ] {
            assert!(t.device_of_sos(bad).is_err(), "{bad}");
        }
        let long = format!("gridwatch/devices/{}/sos", "x".repeat(101));
        assert!(matches!(
            t.device_of_sos(&long),
            Err(TopicError::BadDeviceId(_))
        ));
        assert!(t.status("a/b").is_err());
        assert!(t.status("#").is_err());
    }

    #[test]
    fn bad_prefixes() {
        for bad in ["", "a/", "/a", "a//b", "a/+", "#", "a\0b"] {
            assert_eq!(Topics::new(bad), Err(TopicError::BadPrefix), "{bad:?}");
        }
    }
}
