//! SMS and voice calls through any provider's HTTP gateway: the URL, headers and body are
//! templates with `{{to}}`, `{{text}}`, `{{link}}`, `{{incident}}`, `{{event}}`, `{{key}}` and
//! `{{post}}`, so pointing the hub at Aliyun, Tencent Cloud or a local SMS modem's API is
//! configuration, not code. The URL is filled URL-encoded, the body JSON-escaped when it is
//! JSON (`content_type` application/json), as is otherwise; headers as they are.

use super::channel::{refused_unless_ok, Channel, Outgoing, SendError, SendFuture};
use gridwatch_core::notify::template::{Escape, Template};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `[notify.channels.<name>]` settings of a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub url: Template,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, Template>,
    pub body: Option<Template>,
    #[serde(default = "json_type")]
    pub content_type: String,
}

fn post() -> String {
    "POST".into()
}

fn json_type() -> String {
    "application/json".into()
}

impl GatewayConfig {
    /// Checks what templates cannot: the method and that the URL is http(s).
    pub fn validate(&self) -> Result<(), String> {
        if !["GET", "POST", "PUT"].contains(&self.method.as_str()) {
            return Err(format!("method {:?}: GET, POST or PUT", self.method));
        }
        let u = self.url.source();
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(format!("url {u:?} must start with http:// or https://"));
        }
        Ok(())
    }
}

pub struct Gateway {
    /// `sms` or `voice`: what the metrics call it.
    pub kind: &'static str,
    pub config: GatewayConfig,
    pub http: reqwest::Client,
}

/// The value of a placeholder for one notification.
pub fn value(out: &Outgoing<'_>, name: &str) -> Option<String> {
    Some(match name {
        "to" => out.recipient.to_string(),
        "text" => out.message.text.clone(),
        "link" => out.message.link.clone(),
        "incident" => out.event.incident_id.clone().unwrap_or_default(),
        "event" => out.event.kind.as_str().to_string(),
        "key" => out.key.to_string(),
        "post" => out.post.unwrap_or_default().to_string(),
        _ => return None,
    })
}

impl Channel for Gateway {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn wants_phone(&self) -> bool {
        true
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> SendFuture<'a> {
        Box::pin(async move {
            if out.recipient.trim().is_empty() {
                return Err(SendError::BadRecipient("no phone number".into()));
            }
            let v = |n: &str| value(&out, n);
            let url = self.config.url.render(v, Escape::Url);
            let method = reqwest::Method::from_bytes(self.config.method.as_bytes())
                .unwrap_or(reqwest::Method::POST);
            let mut req = self.http.request(method, &url);
            for (k, t) in &self.config.headers {
                req = req.header(k.as_str(), t.render(v, Escape::None));
            }
            if let Some(b) = &self.config.body {
                let escape = if self.config.content_type.contains("json") {
                    Escape::Json
                } else if self.config.content_type.contains("form") {
                    Escape::Url
                } else {
                    Escape::None
                };
                req = req
                    .header("content-type", self.config.content_type.as_str())
                    .body(b.render(v, escape));
            }
            let resp = req
                .send()
                .await
                .map_err(|e| SendError::Unreachable(e.to_string()))?;
            refused_unless_ok(resp).await?;
            Ok(())
        })
    }
}
