//! Nobody can starve the hub of connections (issue 15, hardening 1): a client trickling its
//! request head is cut off after `[http] header_read_timeout_seconds`, and one address's flood
//! gets connections that serve only `/healthz`, `/readyz` and `/api/v1/sos` — a resident
//! behind the same address still gets help.

use crate::common;

use common::Hub;
use gridwatch_hub::http::connections::{serve, Limits};
use gridwatch_hub::Config;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The hub's router served under `limits` on a loopback port.
async fn listen(hub: &Hub, limits: Limits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter =
        prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &["reason"]).unwrap();
    let app = hub.app.clone();
    tokio::spawn(serve(
        listener,
        app,
        limits,
        counter,
        std::future::pending(),
    ));
    format!("127.0.0.1:{}", addr.port())
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
        let addr = listen(
            &hub,
            Limits {
                header_read_timeout: Duration::from_secs(4),
                max_connections: 10_000,
                max_per_address: 4,
                exempt: vec![],
            },
        )
        .await;
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
        for mut tcp in slow {
            let mut buf = [0u8; 512];
            let ended = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => continue, // an error response, then the close
                    }
                }
            })
            .await;
            assert!(
                ended.is_ok(),
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

/// The connection settings have working defaults and are checked.
#[test]
fn connection_settings_default_to_a_head_timeout_and_a_share_per_address() {
    let c = Config::default();
    assert_eq!(c.http.header_read_timeout_seconds, 10);
    assert_eq!(c.http.max_connections, 0);
    assert_eq!(c.http.max_connections_per_address, 256);
}
