//! Reaching people off the console (issue 18): `[notify]` (rules and channels), the channel
//! adapters behind one trait, and the worker that expands the outbox and delivers it.
//!
//! The outbox row of an event is written by the store in the event's own transaction; the
//! [`worker::Notifier`] turns it into one delivery per recipient and sends each at least once,
//! with retries and backoff, recording every attempt for the incident's timeline.

pub mod bots;
pub mod channel;
pub mod email;
pub mod gateway;
pub mod webhook;
pub mod worker;

use gridwatch_core::notify::rule::{self, QuietHours, Rule};
use gridwatch_core::notify::RetryPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use worker::{FailingChannels, Notifier};

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// The console's address as people's phones reach it: links in messages point there.
    pub console_url: String,
    /// How often the worker looks at the outbox, in seconds.
    pub poll_seconds: u64,
    /// How long a node holds a claimed notification before another node may take it.
    pub lease_seconds: u64,
    /// Seconds an HTTP receiver has to answer.
    pub timeout_seconds: u64,
    pub retry: RetryPolicy,
    /// When non-urgent notifications wait (never an SOS).
    pub quiet_hours: Option<QuietHours>,
    pub rules: Vec<Rule>,
    pub channels: BTreeMap<String, ChannelConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            console_url: "http://127.0.0.1:8080".into(),
            poll_seconds: 2,
            lease_seconds: 60,
            timeout_seconds: 10,
            retry: RetryPolicy::default(),
            quiet_hours: None,
            rules: vec![],
            channels: BTreeMap::new(),
        }
    }
}

/// One channel: `[notify.channels.<name>]` with `kind = "…"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// A signed webhook; recipients are URLs.
    Webhook {
        secret: String,
    },
    Wecom {},
    Dingtalk {
        secret: Option<String>,
    },
    Feishu {
        secret: Option<String>,
    },
    /// SMS through an HTTP gateway; recipients are phone numbers.
    Sms(gateway::GatewayConfig),
    /// Voice calls through an HTTP gateway; recipients are phone numbers.
    Voice(gateway::GatewayConfig),
    /// E-mail; recipients are addresses.
    Smtp {
        host: String,
        port: u16,
        from: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyConfigError {
    #[error(transparent)]
    Rule(#[from] rule::RuleError),
    #[error("channel {name:?}: {message}")]
    Channel { name: String, message: String },
    #[error("console_url {0:?} must start with http:// or https://")]
    ConsoleUrl(String),
}

impl NotifyConfig {
    /// The configured channels' names, for rules to name and errors to list.
    pub fn channel_names(&self) -> Vec<&str> {
        self.channels.keys().map(String::as_str).collect()
    }

    pub fn validate(&self) -> Result<(), NotifyConfigError> {
        if !(self.console_url.starts_with("http://") || self.console_url.starts_with("https://")) {
            return Err(NotifyConfigError::ConsoleUrl(self.console_url.clone()));
        }
        for (name, c) in &self.channels {
            let bad = |message: String| NotifyConfigError::Channel {
                name: name.clone(),
                message,
            };
            match c {
                ChannelConfig::Sms(g) | ChannelConfig::Voice(g) => g.validate().map_err(bad)?,
                ChannelConfig::Webhook { secret } if secret.len() < 16 => {
                    return Err(bad("secret: at least 16 characters".into()))
                }
                ChannelConfig::Smtp { from, .. } => {
                    from.parse::<lettre::message::Mailbox>()
                        .map_err(|e| bad(format!("from {from:?}: {e}")))?;
                }
                _ => {}
            }
        }
        let names = self.channel_names();
        rule::check(&self.rules, &names)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_section_parses_and_is_checked() {
        let c: NotifyConfig = toml::from_str(
            r#"
            console_url = "https://hub.example"
            [[rules]]
            name = "undelivered-sms"
            on = ["incident.undelivered"]
            to = "post_responders"
            channel = "sms"
            [[rules]]
            name = "breached-hook"
            on = ["incident.breached"]
            to = { address = "https://ops.example/hook" }
            channel = "hook"
            [channels.sms]
            kind = "sms"
            url = "https://sms.example/send?to={{to}}"
            body = '{"text": "{{text}}"}'
            headers = { Authorization = "Bearer abc" }
            [channels.hook]
            kind = "webhook"
            secret = "0123456789abcdef"
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.rules.len(), 2);
        // A template with an unknown placeholder is refused when read.
        let e = toml::from_str::<NotifyConfig>(
            "[channels.sms]\nkind = \"sms\"\nurl = \"https://x/{{phone}}\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown placeholder"), "{e}");
        let mut short = c.clone();
        short.channels.insert(
            "hook".into(),
            ChannelConfig::Webhook {
                secret: "short".into(),
            },
        );
        assert!(short.validate().unwrap_err().to_string().contains("16"));
        let mut orphan = c;
        orphan.channels.remove("hook");
        assert!(orphan
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not configured"));
    }

    /// The example in deploy/ is a valid configuration.
    #[test]
    fn the_deploy_example_parses_and_is_valid() {
        let text = include_str!("../../../deploy/notify.example.toml");
        let c: crate::Config = toml::from_str(text).unwrap();
        c.notify.validate().unwrap();
        assert_eq!(c.notify.rules.len(), 6);
        assert!(matches!(c.notify.channels["sms"], ChannelConfig::Sms(_)));
    }
}
