//! `[response]`: the response check's windows (the centre's promise) and what a dispatch's
//! receipt must show.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// The response check (15分钟到达时限): the centre's promise, in whole minutes (or seconds). A grid may
/// override each value (`response_minutes`, `ack_minutes`, `at_risk_minutes`); the values in
/// force when an incident is raised are frozen onto it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    /// From raised to a responder on scene; missing it is a breach (已超时), escalated to the
    /// supervisor level.
    pub window_minutes: u32,
    /// From a dispatch to the post's acknowledgement; after it the next post of the grid's
    /// chain is dispatched (and at the end of the chain the duty officers are told).
    pub ack_minutes: u32,
    /// From raised to the at-risk warning (即将超时) when nobody is on scene yet.
    pub at_risk_minutes: u32,
    /// The same three windows to the second (e.g. a 90 s acknowledgement window, or a drill
    /// that runs the whole check in a minute). Unset by default; when set, each replaces its
    /// `*_minutes` field.
    pub window_seconds: Option<u32>,
    pub ack_seconds: Option<u32>,
    pub at_risk_seconds: Option<u32>,
    /// A dispatch to a post whose consoles are all online but none of which confirms it within
    /// this many seconds is flagged as not received (a socket dead without closing); 0: only
    /// a post with no console online is.
    pub receipt_seconds: u32,
    /// Escalate a dispatch nobody received (no console online, or no receipt in time) to the
    /// next post at once, instead of waiting out the acknowledgement window for a call that
    /// nobody saw.
    pub escalate_undelivered: bool,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            window_minutes:
                gridwatch_core::response_check::ResponsePolicy::DEFAULT_RESPONSE_MINUTES,
            ack_minutes: gridwatch_core::response_check::ResponsePolicy::DEFAULT_ACK_MINUTES,
            at_risk_minutes:
                gridwatch_core::response_check::ResponsePolicy::DEFAULT_AT_RISK_MINUTES,
            window_seconds: None,
            ack_seconds: None,
            at_risk_seconds: None,
            receipt_seconds: 15,
            escalate_undelivered: true,
        }
    }
}

impl ResponseConfig {
    /// The centre's policy; an error names the `[response]` field at fault.
    pub fn policy(&self) -> Result<gridwatch_core::response_check::ResponsePolicy, ConfigError> {
        let seconds = |m: u32, s: Option<u32>| {
            chrono::Duration::seconds(s.map_or(i64::from(m) * 60, i64::from))
        };
        gridwatch_core::response_check::ResponsePolicy::new(
            seconds(self.window_minutes, self.window_seconds),
            seconds(self.ack_minutes, self.ack_seconds),
            seconds(self.at_risk_minutes, self.at_risk_seconds),
        )
        .map_err(|e| {
            // Name the field in force: `*_seconds` when set, else `*_minutes`.
            let unit = |set: Option<u32>| if set.is_some() { "seconds" } else { "minutes" };
            let field = match e.field.as_str() {
                "ack_minutes" => format!("ack_{}", unit(self.ack_seconds)),
                "at_risk_minutes" => format!("at_risk_{}", unit(self.at_risk_seconds)),
                _ => format!("window_{}", unit(self.window_seconds)),
            };
            let window = format!("window_{}", unit(self.window_seconds));
            let message = e.message.replace("response window", &window);
            ConfigError::Invalid(format!("response.{field}: {message}"))
        })
    }
}
