//! Real local receivers for the notification suites: one HTTP server with an endpoint per
//! format (a signed webhook that checks the HMAC, SMS and voice gateways, WeCom, DingTalk and
//! Feishu bots that check their signatures) and a tiny SMTP server. Each records what it
//! accepted; an endpoint can be told to fail its next N requests.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const WEBHOOK_SECRET: &str = "receiver-secret-0123456789";
pub const BOT_SECRET: &str = "SECbot-secret";

/// One request a receiver accepted (or refused).
#[derive(Debug, Clone)]
pub struct Received {
    /// `hook`, `sms`, `voice`, `wecom`, `dingtalk`, `feishu`, `smtp`.
    pub endpoint: String,
    /// The idempotency key when the format carries one (webhook header, gateway `{{key}}`,
    /// e-mail Message-ID), else empty.
    pub key: String,
    pub to: String,
    pub text: String,
    pub accepted: bool,
}

#[derive(Clone, Default)]
pub struct Receivers {
    pub log: Arc<Mutex<Vec<Received>>>,
    /// Requests still to refuse with 500, by endpoint.
    pub fail_next: Arc<Mutex<HashMap<String, u32>>>,
}

impl Receivers {
    pub fn accepted(&self, endpoint: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.endpoint == endpoint && r.accepted)
            .cloned()
            .collect()
    }

    pub fn all(&self, endpoint: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .cloned()
            .collect()
    }

    pub fn fail(&self, endpoint: &str, times: u32) {
        self.fail_next
            .lock()
            .unwrap()
            .insert(endpoint.to_string(), times);
    }

    fn take_failure(&self, endpoint: &str) -> bool {
        let mut f = self.fail_next.lock().unwrap();
        match f.get_mut(endpoint) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    fn record(&self, endpoint: &str, key: &str, to: &str, text: &str) -> StatusCode {
        let fail = self.take_failure(endpoint);
        self.log.lock().unwrap().push(Received {
            endpoint: endpoint.into(),
            key: key.into(),
            to: to.into(),
            text: text.into(),
            accepted: !fail,
        });
        if fail {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut m = hmac::Hmac::<sha2_011::Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The signed webhook, checked as docs/notify-webhook.md tells receivers to.
async fn hook(State(r): State<Receivers>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ts = h("x-gridwatch-timestamp");
    let mut signed = ts.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    let expected = format!(
        "sha256={}",
        hex::encode(hmac(WEBHOOK_SECRET.as_bytes(), &signed))
    );
    if ts.is_empty() || h("x-gridwatch-signature") != expected {
        return StatusCode::UNAUTHORIZED;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if v["idempotency_key"] != h("idempotency-key") {
        return StatusCode::BAD_REQUEST;
    }
    r.record(
        "hook",
        h("idempotency-key"),
        "",
        v["text"].as_str().unwrap_or(""),
    )
}

/// SMS and voice gateways: the body the template made (`{"to", "text", "key"}`).
async fn gateway(
    endpoint: &'static str,
    r: Receivers,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer gw-token") {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    r.record(endpoint, &s("key"), &s("to"), &s("text"))
}

async fn sms(State(r): State<Receivers>, headers: HeaderMap, body: Bytes) -> StatusCode {
    gateway("sms", r, headers, body).await
}

async fn voice(State(r): State<Receivers>, headers: HeaderMap, body: Bytes) -> StatusCode {
    gateway("voice", r, headers, body).await
}

async fn wecom(State(r): State<Receivers>, body: Bytes) -> (StatusCode, axum::Json<Value>) {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if v["msgtype"] != "text" || !v["text"]["content"].is_string() {
        return (
            StatusCode::OK,
            axum::Json(json!({"errcode": 40008, "errmsg": "invalid message type"})),
        );
    }
    let status = r.record("wecom", "", "", v["text"]["content"].as_str().unwrap());
    (status, axum::Json(json!({"errcode": 0, "errmsg": "ok"})))
}

async fn dingtalk(
    State(r): State<Receivers>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> axum::Json<Value> {
    let ts = q.get("timestamp").cloned().unwrap_or_default();
    let expected = b64(&hmac(
        BOT_SECRET.as_bytes(),
        format!("{ts}\n{BOT_SECRET}").as_bytes(),
    ));
    if q.get("sign") != Some(&expected) {
        return axum::Json(json!({"errcode": 310000, "errmsg": "sign not match"}));
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.record(
        "dingtalk",
        "",
        "",
        v["text"]["content"].as_str().unwrap_or(""),
    );
    axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn feishu(State(r): State<Receivers>, body: Bytes) -> axum::Json<Value> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ts = v["timestamp"].as_str().unwrap_or("");
    let expected = b64(&hmac(format!("{ts}\n{BOT_SECRET}").as_bytes(), b""));
    if v["sign"] != expected.as_str() {
        return axum::Json(json!({"code": 19021, "msg": "sign match fail"}));
    }
    r.record(
        "feishu",
        "",
        "",
        v["content"]["text"].as_str().unwrap_or(""),
    );
    axum::Json(json!({"code": 0, "msg": "success"}))
}

/// Starts the HTTP receivers and the SMTP server; returns their base URL and SMTP port.
pub async fn start(r: &Receivers) -> (String, u16) {
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/sms", post(sms))
        .route("/voice", post(voice))
        .route("/wecom", post(wecom))
        .route("/dingtalk", post(dingtalk))
        .route("/feishu", post(feishu))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp.local_addr().unwrap().port();
    let rr = r.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = smtp.accept().await {
            tokio::spawn(smtp_session(sock, rr.clone()));
        }
    });
    (format!("http://{addr}"), smtp_port)
}

/// Just enough SMTP for one client: greeting, EHLO, MAIL, RCPT, DATA, QUIT.
async fn smtp_session(sock: tokio::net::TcpStream, r: Receivers) {
    let (rd, mut wr) = sock.into_split();
    let mut rd = BufReader::new(rd);
    let _ = wr.write_all(b"220 test ESMTP\r\n").await;
    let mut to = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            b"250 test\r\n"
        } else if cmd.starts_with("RCPT TO:") {
            to = line[8..].trim().trim_matches(['<', '>']).to_string();
            b"250 ok\r\n"
        } else if cmd.starts_with("DATA") {
            let _ = wr.write_all(b"354 go on\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                if rd.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            let key = data
                .lines()
                .find_map(|l| l.strip_prefix("Message-ID: <"))
                .and_then(|l| l.strip_suffix("@gridwatch>"))
                .unwrap_or("")
                .to_string();
            r.record("smtp", &key, &to, &data);
            b"250 queued\r\n"
        } else if cmd.starts_with("QUIT") {
            let _ = wr.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if wr.write_all(reply).await.is_err() {
            return;
        }
    }
}
