//! One trait for every way of reaching people. A channel gets the resolved recipient (a phone
//! number, a bot URL, an e-mail address), the message and the idempotency key, and says
//! whether the receiver took it. Adapters are small: the outbox, retries and records are the
//! worker's, not theirs.

use gridwatch_core::event::Event;
use gridwatch_core::notify::message::Message;
use std::future::Future;
use std::pin::Pin;

/// One notification to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The idempotency key: the same for every attempt at this notification.
    pub key: &'a str,
    pub recipient: &'a str,
    pub message: &'a Message,
    pub event: &'a Event,
    /// The post the event concerns, if any (for templates).
    pub post: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver answered with an error (worth trying again later).
    #[error("receiver answered {status}: {body}")]
    Refused { status: u16, body: String },
    /// The receiver could not be reached.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// This channel cannot send to this recipient (a bad address): retrying will not help.
    #[error("bad recipient: {0}")]
    BadRecipient(String),
}

impl SendError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, SendError::BadRecipient(_))
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// A way of reaching people.
pub trait Channel: Send + Sync {
    /// `webhook`, `wecom`, `dingtalk`, `feishu`, `http_template`, `smtp`: for metrics and logs.
    fn kind(&self) -> &'static str;
    /// Whether recipients are people's phones (SMS, voice) rather than addresses of their own
    /// (bot URLs, webhook URLs, e-mail addresses): decides what a rule's recipients resolve to.
    fn wants_phone(&self) -> bool {
        false
    }
    fn send<'a>(&'a self, out: Outgoing<'a>) -> SendFuture<'a>;
}

/// Posts `body` as JSON and maps the answer: 2xx is delivered, anything else a refusal.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: String,
) -> Result<reqwest::Response, SendError> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| SendError::Unreachable(e.to_string()))?;
    refused_unless_ok(resp).await
}

/// 2xx passes; otherwise a refusal carrying the first 200 characters of the body.
pub(crate) async fn refused_unless_ok(
    mut resp: reqwest::Response,
) -> Result<reqwest::Response, SendError> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    // Read no more than the start of an error page (a gateway's may be large).
    let mut head = Vec::new();
    while head.len() < REFUSAL_BYTES_READ {
        match resp.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            _ => break,
        }
    }
    Err(SendError::Refused {
        status,
        body: refusal_text(&head),
    })
}

/// Bytes of a refusal's body read (in whole chunks, so a chunk more at most): enough for
/// 200 characters of any script.
const REFUSAL_BYTES_READ: usize = 4 * 200;

/// The first 200 characters of `body`, cut between characters: a byte count could cut one in
/// two, and `String::truncate` there panics (a gateway's Chinese error page did, in the
/// notifier's task).
fn refusal_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

/// Checks that a recipient is an http(s) URL.
pub(crate) fn http_url(recipient: &str) -> Result<(), SendError> {
    if recipient.starts_with("http://") || recipient.starts_with("https://") {
        Ok(())
    } else {
        Err(SendError::BadRecipient(format!(
            "{recipient:?} is not an http(s) URL"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::refusal_text;

    #[test]
    fn a_refusal_is_cut_between_characters() {
        // 199 ASCII bytes then three-byte characters: byte 200 falls inside one.
        let body = format!("{}{}", "x".repeat(199), "网关错误".repeat(100));
        let text = refusal_text(body.as_bytes());
        assert_eq!(text.chars().count(), 200);
        assert!(text.ends_with('网'), "{text}");
        // A body cut inside a character by the read limit is still text.
        let cut = &"网关".as_bytes()[..4];
        assert_eq!(refusal_text(cut), "网\u{fffd}");
    }
}
