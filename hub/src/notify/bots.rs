//! Group bots of the chat apps Chinese offices use: WeCom (企业微信), DingTalk (钉钉) and
//! Feishu (飞书). The recipient is the bot's webhook URL (stored per post, or fixed in a rule);
//! each takes its own JSON, and each answers HTTP 200 with an error code in the body, so a 200
//! is delivered only when that code is 0. DingTalk and Feishu bots may require a signature
//! (加签): DingTalk's goes in the URL, Feishu's in the body.

use super::channel::{http_url, post_json, Channel, Outgoing, SendError, SendFuture};
use base64::Engine;
use gridwatch_core::clock::Clock;
use gridwatch_core::notify::template::url_encode;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2_011::Sha256;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotKind {
    WeCom,
    DingTalk,
    Feishu,
}

pub struct Bot {
    pub kind: BotKind,
    pub http: reqwest::Client,
    /// The bot's signing secret (DingTalk, Feishu), if the bot requires signatures.
    pub secret: Option<String>,
    pub clock: Arc<dyn Clock>,
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk's signed URL: `&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256 of
/// "<ms>\n<secret>" keyed with the secret>`.
pub fn dingtalk_url(url: &str, secret: &str, timestamp_ms: i64) -> String {
    let sign = hmac_b64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}timestamp={timestamp_ms}&sign={}",
        url_encode(&sign)
    )
}

/// Feishu's signature: base64 HMAC-SHA256 keyed with "<seconds>\n<secret>" over nothing.
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    hmac_b64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

impl Bot {
    /// The URL and JSON body for a message.
    pub fn request(&self, url: &str, text: &str) -> (String, Value) {
        let now = self.clock.now();
        match self.kind {
            BotKind::WeCom => (
                url.to_string(),
                json!({"msgtype": "text", "text": {"content": text}}),
            ),
            BotKind::DingTalk => {
                let url = match &self.secret {
                    Some(s) => dingtalk_url(url, s, now.timestamp_millis()),
                    None => url.to_string(),
                };
                (url, json!({"msgtype": "text", "text": {"content": text}}))
            }
            BotKind::Feishu => {
                let mut body = json!({"msg_type": "text", "content": {"text": text}});
                if let Some(s) = &self.secret {
                    let ts = now.timestamp();
                    body["timestamp"] = json!(ts.to_string());
                    body["sign"] = json!(feishu_sign(s, ts));
                }
                (url.to_string(), body)
            }
        }
    }
}

impl Channel for Bot {
    fn kind(&self) -> &'static str {
        match self.kind {
            BotKind::WeCom => "wecom",
            BotKind::DingTalk => "dingtalk",
            BotKind::Feishu => "feishu",
        }
    }

    fn send<'a>(&'a self, out: Outgoing<'a>) -> SendFuture<'a> {
        Box::pin(async move {
            http_url(out.recipient)?;
            let (url, body) = self.request(out.recipient, &out.message.text);
            let resp = post_json(&self.http, &url, &[], body.to_string()).await?;
            let status = resp.status().as_u16();
            let answer: Value = resp.json().await.unwrap_or(Value::Null);
            // WeCom and DingTalk: errcode; Feishu: code (StatusCode in older bots).
            let code = ["errcode", "code", "StatusCode"]
                .iter()
                .find_map(|k| answer.get(*k).and_then(Value::as_i64));
            match code {
                Some(0) => Ok(()),
                _ => Err(SendError::Refused {
                    status,
                    body: answer.to_string().chars().take(200).collect(),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dingtalk_signs_the_url() {
        let u = dingtalk_url(
            "https://oapi.dingtalk.com/robot/send?access_token=t",
            "SEC",
            1_700_000_000_000,
        );
        assert!(u.starts_with(
            "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000&sign="
        ));
        let sign = u.rsplit("sign=").next().unwrap();
        // URL-encoded base64 of a 32-byte MAC: 44 characters before encoding, no raw '+', '/', '='.
        assert!(!sign.contains(['+', '/', '=']));
        assert_eq!(
            sign.replace("%2B", "+")
                .replace("%2F", "/")
                .replace("%3D", "=")
                .len(),
            44
        );
        assert_eq!(
            u,
            dingtalk_url(
                "https://oapi.dingtalk.com/robot/send?access_token=t",
                "SEC",
                1_700_000_000_000
            )
        );
        assert_ne!(
            u,
            dingtalk_url(
                "https://oapi.dingtalk.com/robot/send?access_token=t",
                "SEC",
                1_700_000_000_001
            )
        );
    }

    #[test]
    fn feishu_signs_with_the_timestamp_in_the_key() {
        let a = feishu_sign("s", 1);
        assert_eq!(a.len(), 44);
        assert_ne!(a, feishu_sign("s", 2));
    }
}
