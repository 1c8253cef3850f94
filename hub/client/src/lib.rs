//! A client of gridwatch's real-time stream (`GET /api/v1/stream`), for police post consoles,
//! integrations and tests.
//!
//! The stream promises that a client which reconnects with `?since=<last seq>` misses nothing.
//! Keeping that promise on the client side is fiddly — remember the last seq of every event,
//! notice a dead connection, back off without hammering the hub, start over on `resync` — so
//! it lives here once:
//!
//! ```no_run
//! # async fn run() -> Result<(), gridwatch_client::ClientError> {
//! use gridwatch_client::{Message, StreamClient};
//! let mut client = StreamClient::new("http://127.0.0.1:8080", "gws_…")?;
//! loop {
//!     match client.next().await? {
//!         Message::Event(e) if e.kind == "incident.dispatched" => client.receipt(e.seq).await?,
//!         Message::Disconnected { reason } => eprintln!("offline: {reason}"),
//!         _ => {}
//!     }
//! }
//! # }
//! ```

mod backoff;
pub mod webrtc;
pub mod whep;

pub use backoff::Backoff;

use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The close code a hub uses for a client that could not keep up; it should resume at once.
pub const CLOSE_TOO_SLOW: u16 = 4008;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("bad hub URL: {0}")]
    Url(String),
    /// The hub refused the credentials: reconnecting would not help.
    #[error("the hub refused the token (HTTP {0})")]
    Refused(u16),
}

/// One event of the stream, as the API contract describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    #[serde(default)]
    pub incident: Option<Value>,
    #[serde(default)]
    pub data: Value,
}

/// What [`StreamClient::next`] hands out.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The first message of every connection: the latest seq, the user, the open incidents.
    Hello(Value),
    /// An event, never one already handed out.
    Event(Event),
    /// The hub no longer has the events since our last seq: state must be reloaded from the
    /// hello that follows.
    Resync,
    /// The connection dropped; the next call reconnects (with `since`).
    Disconnected { reason: String },
    /// Any other message of the hub (e.g. `pong`), as it came.
    Other(Value),
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct StreamClient {
    url: url::Url,
    token: String,
    last_seq: Option<i64>,
    socket: Option<Socket>,
    backoff: Backoff,
    /// How many times the client has connected, the first included.
    pub connects: u64,
}

impl StreamClient {
    /// `base` is the hub's HTTP address (`http://host:port`); the token is a session token.
    pub fn new(base: &str, token: &str) -> Result<StreamClient, ClientError> {
        let mut url = url::Url::parse(base).map_err(|e| ClientError::Url(e.to_string()))?;
        let scheme = match url.scheme() {
            "http" | "ws" => "ws",
            "https" | "wss" => "wss",
            other => return Err(ClientError::Url(format!("unknown scheme {other}"))),
        };
        url.set_scheme(scheme)
            .map_err(|_| ClientError::Url("cannot set the scheme".into()))?;
        url.set_path("/api/v1/stream");
        Ok(StreamClient {
            url,
            token: token.to_string(),
            last_seq: None,
            socket: None,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
            connects: 0,
        })
    }

    /// Starts from a known seq, as a console that kept it across a restart would.
    pub fn resume_from(mut self, seq: i64) -> Self {
        self.last_seq = Some(seq);
        self
    }

    /// The seq of the last event handed out (or of the hello, before any event).
    pub fn last_seq(&self) -> Option<i64> {
        self.last_seq
    }

    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    /// The URL of the next connection: with `since` once a seq is known.
    pub fn connect_url(&self) -> url::Url {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("token", &self.token);
            if let Some(s) = self.last_seq {
                q.append_pair("since", &s.to_string());
            }
        }
        url
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        loop {
            match tokio_tungstenite::connect_async(self.connect_url().as_str()).await {
                Ok((socket, _)) => {
                    self.socket = Some(socket);
                    self.connects += 1;
                    return Ok(());
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(resp))
                    if resp.status() == 401 || resp.status() == 403 =>
                {
                    return Err(ClientError::Refused(resp.status().as_u16()));
                }
                Err(e) => {
                    let wait = self.backoff.next_delay();
                    tracing::debug!(error = %e, ?wait, "stream connect failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The next message, connecting or reconnecting as needed. Only a refused token is an error.
    pub async fn next(&mut self) -> Result<Message, ClientError> {
        loop {
            if self.socket.is_none() {
                self.connect().await?;
            }
            let socket = self.socket.as_mut().expect("connected above");
            let frame = socket.next().await;
            let text = match frame {
                Some(Ok(WsMessage::Text(t))) => t,
                Some(Ok(WsMessage::Close(close))) => {
                    self.socket = None;
                    let (code, why) = close
                        .map(|c| (u16::from(c.code), c.reason.to_string()))
                        .unwrap_or((u16::from(CloseCode::Normal), String::new()));
                    if code == CLOSE_TOO_SLOW {
                        self.backoff.reset();
                    }
                    return Ok(Message::Disconnected {
                        reason: format!("closed by the hub ({code} {why})"),
                    });
                }
                Some(Ok(_)) => continue, // pings are answered by tungstenite; binary is not ours
                Some(Err(e)) => {
                    self.socket = None;
                    return Ok(Message::Disconnected {
                        reason: e.to_string(),
                    });
                }
                None => {
                    self.socket = None;
                    return Ok(Message::Disconnected {
                        reason: "connection ended".into(),
                    });
                }
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!("unreadable message from the hub: {text}");
                continue;
            };
            if let Some(m) = self.absorb(value) {
                return Ok(m);
            }
        }
    }

    /// Updates the seq bookkeeping for one message; `None` for a duplicate to be dropped.
    fn absorb(&mut self, value: Value) -> Option<Message> {
        match value.get("type").and_then(Value::as_str) {
            Some("hello") => {
                self.backoff.reset();
                if self.last_seq.is_none() {
                    self.last_seq = value.get("seq").and_then(Value::as_i64);
                }
                Some(Message::Hello(value))
            }
            Some("resync") => {
                self.last_seq = None;
                Some(Message::Resync)
            }
            _ if value.get("seq").is_some() => {
                let event: Event = match serde_json::from_value(value.clone()) {
                    Ok(e) => e,
                    Err(_) => return Some(Message::Other(value)),
                };
                if self.last_seq.is_some_and(|last| event.seq <= last) {
                    return None;
                }
                self.last_seq = Some(event.seq);
                Some(Message::Event(event))
            }
            _ => Some(Message::Other(value)),
        }
    }

    async fn send(&mut self, v: Value) -> Result<(), ClientError> {
        if let Some(s) = self.socket.as_mut() {
            if s.send(WsMessage::Text(v.to_string().into())).await.is_err() {
                self.socket = None;
            }
        }
        Ok(())
    }

    /// Confirms that a dispatch reached this console (`incident.delivered` on the hub).
    /// Best effort: a receipt lost with the connection is sent again by the console's logic
    /// when the replayed dispatch arrives.
    pub async fn receipt(&mut self, seq: i64) -> Result<(), ClientError> {
        self.send(serde_json::json!({"type": "receipt", "seq": seq}))
            .await
    }

    pub async fn ping(&mut self) -> Result<(), ClientError> {
        self.send(serde_json::json!({"type": "ping"})).await
    }

    /// Drops the connection (as a network cut would); the next [`StreamClient::next`]
    /// reconnects with `since`.
    pub async fn disconnect(&mut self) {
        if let Some(mut s) = self.socket.take() {
            let _ = s.close(None).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_carry_token_and_since() {
        let c = StreamClient::new("http://127.0.0.1:8080", "gws_x").unwrap();
        assert_eq!(
            c.connect_url().as_str(),
            "ws://127.0.0.1:8080/api/v1/stream?token=gws_x"
        );
        let c = c.resume_from(41);
        assert_eq!(
            c.connect_url().as_str(),
            "ws://127.0.0.1:8080/api/v1/stream?token=gws_x&since=41"
        );
        let c = StreamClient::new("https://hub.example/", "t").unwrap();
        assert!(c
            .connect_url()
            .as_str()
            .starts_with("wss://hub.example/api/v1/stream"));
        assert!(StreamClient::new("ftp://x", "t").is_err());
    }

    #[test]
    fn seq_bookkeeping_drops_duplicates_and_resets_on_resync() {
        let mut c = StreamClient::new("http://h", "t").unwrap();
        assert!(matches!(
            c.absorb(json!({"type": "hello", "seq": 10})),
            Some(Message::Hello(_))
        ));
        assert_eq!(c.last_seq(), Some(10));
        let ev =
            |seq: i64| json!({"seq": seq, "type": "incident.raised", "at": "2026-01-01T00:00:00Z"});
        assert!(c.absorb(ev(10)).is_none(), "already seen");
        assert!(matches!(c.absorb(ev(11)), Some(Message::Event(e)) if e.seq == 11));
        // A reconnect's hello does not move the seq back or forward: the replay does.
        assert!(matches!(
            c.absorb(json!({"type": "hello", "seq": 20})),
            Some(Message::Hello(_))
        ));
        assert_eq!(c.last_seq(), Some(11));
        assert!(matches!(c.absorb(ev(12)), Some(Message::Event(_))));
        assert_eq!(c.absorb(json!({"type": "resync"})), Some(Message::Resync));
        assert_eq!(c.last_seq(), None);
        c.absorb(json!({"type": "hello", "seq": 500}));
        assert_eq!(c.last_seq(), Some(500));
        assert!(matches!(
            c.absorb(json!({"type": "pong"})),
            Some(Message::Other(_))
        ));
    }
}
