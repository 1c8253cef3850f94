//! Nobody can starve the hub of connections (issue 15, hardening 1): a client trickling its
//! request head is cut off after `[http] header_read_timeout_seconds`, and one address's flood
//! gets connections that serve only `/healthz`, `/readyz` and `/api/v1/sos` — a resident
//! behind the same address still gets help.

use crate::common;

use axum::http::Method;
use common::Hub;
use gridwatch_hub::http::connections::{serve, Limits};
use gridwatch_hub::Config;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The hub's router served under `limits` on a loopback port.
async fn listen(hub: &Hub, limits: Limits) -> String {
    listen_app(hub.app.clone(), limits).await
}

/// `app` served under `limits` on a loopback port.
async fn listen_app(app: axum::Router, limits: Limits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter =
        prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &["reason"]).unwrap();
    tokio::spawn(serve(
        listener,
        app,
        limits,
        counter,
        std::future::pending(),
    ));
    format!("127.0.0.1:{}", addr.port())
}

/// A head timeout of `head_secs` and a share of `per_address` connections, under a cap of 10,000.
fn limits(head_secs: u64, per_address: usize) -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(head_secs),
        max_connections: 10_000,
        max_per_address: per_address,
        exempt: vec![],
    }
}

/// Whether the hub closes `tcp` within 10 s (after an error response, if it sends one).
async fn closed_within_10_s(mut tcp: TcpStream) -> bool {
    let mut buf = [0u8; 512];
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    })
    .await
    .is_ok()
}

/// A fresh connection per request, so that each is admitted anew.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

on_both!(
    a_flood_from_one_address_leaves_room_for_sos,
    |hub: Hub| async move {
        let addr = listen(&hub, limits(4, 4)).await;
        let (_, resident) = hub.login_as("resident", None, None).await;

        // Seven slow clients from this address, each having sent part of a head.
        let mut slow = Vec::new();
        for _ in 0..7 {
            let mut tcp = TcpStream::connect(&addr).await.unwrap();
            tcp.write_all(b"GET /api/v1/me HTTP/1.1\r\nHo")
                .await
                .unwrap();
            slow.push(tcp);
        }
        // And one that asked once, then keeps its connection idle.
        let mut idle = TcpStream::connect(&addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        slow.push(idle);
        let opened = Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;

        // The address is over its share: other paths are refused with a JSON 503 ...
        let http = client();
        let a = http
            .get(format!("http://{addr}/api/v1/me"))
            .bearer_auth(&resident)
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 503);
        let body: serde_json::Value = a.json().await.unwrap();
        assert_eq!(body["error"]["code"], "busy", "{body}");
        // ... while health and the SOS are served.
        let a = http
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 200);
        let a = http
            .post(format!("http://{addr}/api/v1/sos"))
            .bearer_auth(&resident)
            .json(&json!({"lat": 26.5, "lon": 107.9, "note": "behind a flood"}))
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 201, "{}", a.text().await.unwrap());
        assert!(
            opened.elapsed() < Duration::from_secs(4),
            "checked while the flood held its slots"
        );

        // The slow clients are cut off once their head is late (4 s), not held for ever.
        for tcp in slow {
            assert!(
                closed_within_10_s(tcp).await,
                "a slow client still open after {:?}",
                opened.elapsed()
            );
        }
        let cut = opened.elapsed();
        assert!(
            cut >= Duration::from_secs(3),
            "cut off at {cut:?}, before its time"
        );

        // Their slots are given back: the address is served in full again.
        let a = http
            .get(format!("http://{addr}/api/v1/me"))
            .bearer_auth(&resident)
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 200);
    }
);

on_both!(
    connections_that_never_begin_a_request_are_cut_off,
    |hub: Hub| async move {
        // Before a request head the hub's connection once waited to tell HTTP/1 from HTTP/2,
        // without a timeout: a connection that sent nothing, or part of HTTP/2's preface, held
        // its slot for ever, and enough of them filled the cap (503 for every SOS).
        let addr = listen(&hub, limits(2, 256)).await;
        let opened = Instant::now();
        let mut waiting = Vec::new();
        for start in [&b""[..], b"", b"P", b"PRI * HTTP/2.0\r\n"] {
            let mut tcp = TcpStream::connect(&addr).await.unwrap();
            tcp.write_all(start).await.unwrap();
            waiting.push(tcp);
        }
        for (n, tcp) in waiting.into_iter().enumerate() {
            assert!(
                closed_within_10_s(tcp).await,
                "connection {n} still open after {:?}",
                opened.elapsed()
            );
        }
        let cut = opened.elapsed();
        assert!(
            cut >= Duration::from_millis(1500),
            "cut off at {cut:?}, before its time"
        );
        // HTTP/2 in clear (prior knowledge: the whole preface and a SETTINGS frame) is not
        // served; it had no idle limit. The connection is closed (hyper's HTTP/1 parser knows
        // the preface), never answered with HTTP/2 frames (a SETTINGS frame, before).
        let answer = raw(
            &addr,
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        )
        .await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 "),
            "{answer:?}"
        );
        // The hub serves on.
        let a = client()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 200);
    }
);

/// Sends `head` on a fresh connection and reads the whole answer (the hub closes it).
async fn raw(addr: &str, head: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .expect("the hub answers and closes")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

on_both!(
    a_request_hyper_cannot_parse_gets_a_json_error,
    |hub: Hub| async move {
        let addr = listen(&hub, limits(10, 256)).await;
        let (_, resident) = hub.login_as("resident", None, None).await;
        let body = r#"{"lat": 31.2304, "lon": 121.4737}"#;
        // A DEL byte in a header value: hyper's parser refuses it before our code runs.
        let mut head = format!(
            "POST /api/v1/sos HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {resident}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nIdempotency-Key: a",
            body.len()
        )
        .into_bytes();
        head.push(0x7f);
        head.extend_from_slice(b"b\r\n\r\n");
        head.extend_from_slice(body.as_bytes());
        let oversized = format!(
            "GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Padding: {}\r\n\r\n",
            "x".repeat(512 * 1024)
        );
        for (request, status, code) in [
            (head, "400", "unparsable_request"),
            (oversized.into_bytes(), "431", "headers_too_large"),
        ] {
            let answer = raw(&addr, &request).await;
            let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{head}"
            );
            let v: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
            assert_eq!(v["error"]["code"], code, "{body}");
            assert!(v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }

        // Nothing was raised by the refused press, and the same press with a clean key is.
        let http = client();
        let (_, duty) = hub.login_as("duty_officer", None, None).await;
        let incidents = || async {
            let list = hub
                .call(Method::GET, "/api/v1/incidents", Some(&duty), None)
                .await;
            list.body.as_array().expect("a list").len()
        };
        assert_eq!(incidents().await, 0, "the refused press raised nothing");
        let ok = http
            .post(format!("http://{addr}/api/v1/sos"))
            .bearer_auth(&resident)
            .header("Idempotency-Key", "ab")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 201);
        assert_eq!(incidents().await, 1);
        // Ordinary errors are untouched (a handler's own JSON).
        let not_found = raw(
            &addr,
            b"GET /api/v1/nothing HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(not_found.starts_with("HTTP/1.1 404"), "{not_found}");
        assert!(!not_found.contains("unparsable_request"), "{not_found}");
    }
);

/// The connection settings have working defaults and are checked.
#[test]
fn connection_settings_default_to_a_head_timeout_and_a_share_per_address() {
    let c = Config::default();
    assert_eq!(c.http.header_read_timeout_seconds, 10);
    assert_eq!(c.http.max_connections, 0);
    assert_eq!(c.http.max_connections_per_address, 256);
}

/// A request whose answer takes longer than the head timeout is served whole: the timeout is
/// for a request to begin, not to end (a long download, an export waiting for its audit).
#[tokio::test]
async fn a_request_slower_than_the_head_timeout_is_answered() {
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            "done"
        }),
    );
    let addr = listen_app(app, limits(1, 256)).await;
    let answer = client()
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .expect("answered, not cut off");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "done");
}
