//! Notifications off the console (issue 18) against real local receivers, on a manual clock:
//! the right people at each step of the 15-minute check, a receiver that fails three times,
//! an outbox delivered after a restart and after a node died holding a claim, and two nodes
//! on one database sending each notification once.

mod receivers;

use crate::common;
use axum::http::{Method, StatusCode};
use chrono::Duration;
use common::community::{community, raise, run_timers, s, Community};
use common::{t0, Hub};
use gridwatch_core::event::EventType as T;
use gridwatch_core::notify::rule::{Recipients, Rule};
use gridwatch_hub::notify::{ChannelConfig, Notifier, NotifyConfig};
use gridwatch_hub::Config;
use gridwatch_store::Backend;
use receivers::{Receivers, BOT_SECRET, WEBHOOK_SECRET};
use serde_json::json;

fn rule(name: &str, on: &[T], to: Recipients, channel: &str) -> Rule {
    Rule {
        name: name.into(),
        on: on.to_vec(),
        to,
        channel: channel.into(),
    }
}

fn gateway(base: &str, path: &str) -> gridwatch_hub::notify::gateway::GatewayConfig {
    serde_json::from_value(json!({
        "url": format!("{base}/{path}"),
        "headers": {"Authorization": "Bearer gw-token"},
        "body": r#"{"to": "{{to}}", "text": "{{text}}", "key": "{{key}}", "link": "{{link}}"}"#,
    }))
    .unwrap()
}

/// Every channel pointed at the receivers, and the rules of the issue's example.
fn config(base: &str, smtp_port: u16) -> Config {
    let mut n = NotifyConfig {
        console_url: "https://hub.example".into(),
        ..Default::default()
    };
    n.retry.jitter_percent = 0;
    let ch = &mut n.channels;
    ch.insert(
        "hook".into(),
        ChannelConfig::Webhook {
            secret: WEBHOOK_SECRET.into(),
        },
    );
    ch.insert("sms".into(), ChannelConfig::Sms(gateway(base, "sms")));
    ch.insert("voice".into(), ChannelConfig::Voice(gateway(base, "voice")));
    ch.insert("wecom".into(), ChannelConfig::Wecom {});
    ch.insert(
        "dingtalk".into(),
        ChannelConfig::Dingtalk {
            secret: Some(BOT_SECRET.into()),
        },
    );
    ch.insert(
        "feishu".into(),
        ChannelConfig::Feishu {
            secret: Some(BOT_SECRET.into()),
        },
    );
    ch.insert(
        "mail".into(),
        ChannelConfig::Smtp {
            host: "127.0.0.1".into(),
            port: smtp_port,
            from: "gridwatch@hub.example".into(),
        },
    );
    n.rules = vec![
        rule(
            "raised-hook",
            &[T::IncidentRaised],
            Recipients::Address(format!("{base}/hook")),
            "hook",
        ),
        rule(
            "escalated-sms",
            &[T::IncidentEscalated],
            Recipients::PostResponders,
            "sms",
        ),
        rule(
            "at-risk-voice",
            &[T::IncidentAtRisk],
            Recipients::PostPhone,
            "voice",
        ),
        rule(
            "at-risk-group",
            &[T::IncidentAtRisk],
            Recipients::PostGroup,
            "wecom",
        ),
        rule(
            "breached-chief",
            &[T::IncidentBreached],
            Recipients::DutyOfficers,
            "sms",
        ),
        rule(
            "breached-ding",
            &[T::IncidentBreached],
            Recipients::Address(format!("{base}/dingtalk?access_token=t")),
            "dingtalk",
        ),
        rule(
            "breached-feishu",
            &[T::IncidentBreached],
            Recipients::Address(format!("{base}/feishu")),
            "feishu",
        ),
        rule(
            "breached-mail",
            &[T::IncidentBreached],
            Recipients::Address("ops@hub.example".into()),
            "mail",
        ),
    ];
    n.validate().expect("the test's config is valid");
    Config {
        notify: n,
        ..Default::default()
    }
}

struct Setup {
    hub: Hub,
    c: Community,
    rx: Receivers,
    base: String,
    notifier: Notifier,
}

/// Phones: r1 (p1) 13800000001, r2 (p2) 13800000002, the duty officer 13900000000, post p2's
/// desk 0855-2222; p2's WeCom group.
async fn setup(backend: Backend) -> Setup {
    let rx = Receivers::default();
    let (base, smtp) = receivers::start(&rx).await;
    let hub = Hub::with_config(backend, config(&base, smtp)).await;
    let c = community(&hub).await;
    let users = hub.state.store.users().await.unwrap();
    for u in users {
        let phone = match (u.role, u.post_id.as_deref()) {
            (gridwatch_core::Role::Responder, Some(p)) if p == c.p1 => "13800000001",
            (gridwatch_core::Role::Responder, Some(p)) if p == c.p2 => "13800000002",
            (gridwatch_core::Role::DutyOfficer, _) => "13900000000",
            _ => continue,
        };
        let a = hub
            .call(
                Method::PATCH,
                &format!("/api/v1/users/{}", u.id),
                Some(&c.admin),
                Some(json!({"phone": phone})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let a = hub
        .call(
            Method::PATCH,
            &format!("/api/v1/posts/{}", c.p2),
            Some(&c.admin),
            Some(json!({"phone": "0855-2222"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = hub
        .call(
            Method::PUT,
            &format!("/api/v1/posts/{}/contacts/wecom", c.p2),
            Some(&c.admin),
            Some(json!({"address": format!("{base}/wecom")})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let notifier = new_notifier(&hub, "node-a");
    Setup {
        hub,
        c,
        rx,
        base,
        notifier,
    }
}

fn new_notifier(hub: &Hub, node: &str) -> Notifier {
    Notifier::new(
        hub.state.store.clone(),
        hub.state.clock.clone(),
        hub.state.config.notify.clone(),
        node.into(),
        &gridwatch_hub::metrics::Metrics::new(),
    )
    .unwrap()
}

/// A new panic button in g1 (each raises its own incident; the same button's presses repeat).
async fn button(hub: &Hub, c: &Community) -> String {
    let b = common::community::create(
        hub,
        &c.admin,
        "/api/v1/devices",
        json!({"name": format!("btn-{}", gridwatch_core::id::new_id()), "grid_id": c.g1}),
    )
    .await;
    s(&b["token"]).to_string()
}

fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + Duration::minutes(minutes)
}

/// Who each endpoint reached, sorted.
fn reached(rx: &Receivers, endpoint: &str) -> Vec<String> {
    let mut v: Vec<String> = rx.accepted(endpoint).into_iter().map(|r| r.to).collect();
    v.sort();
    v
}

macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let f = $body;
                f(Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                let f = $body;
                f(Backend::Postgres).await
            }
        }
    };
}

on_both_backends!(the_right_people_at_each_step, |backend| async move {
    let Setup {
        hub,
        c,
        rx,
        notifier,
        ..
    } = setup(backend).await;
    let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
    // Raised: the webhook, signed (the receiver checks the HMAC), nothing else.
    let r = notifier.tick().await.unwrap();
    assert_eq!((r.sent, r.failed), (1, 0));
    let hook = rx.accepted("hook");
    assert_eq!(hook.len(), 1);
    assert!(hook[0].key.starts_with("gw-"), "{}", hook[0].key);
    assert!(hook[0]
        .text
        .contains(&format!("https://hub.example/#/incidents/{id}")));
    assert!(rx.accepted("sms").is_empty());
    // Two minutes unacknowledged: escalated to p2; an SMS to p2's responder only.
    hub.clock.set(at(2));
    run_timers(&hub).await;
    notifier.tick().await.unwrap();
    assert_eq!(reached(&rx, "sms"), ["13800000002"]);
    assert!(rx.accepted("sms")[0].text.contains("incident escalated"));
    // Ten minutes: at risk; a call to p2's desk and a message in p2's WeCom group.
    hub.clock.set(at(10));
    run_timers(&hub).await;
    notifier.tick().await.unwrap();
    assert_eq!(reached(&rx, "voice"), ["0855-2222"]);
    assert_eq!(rx.accepted("wecom").len(), 1);
    assert!(rx.accepted("wecom")[0].text.contains("即将超过15分钟承诺"));
    // Fifteen: breached; the duty officer's phone, DingTalk (signed URL), Feishu (signed
    // body) and e-mail.
    hub.clock.set(at(15));
    run_timers(&hub).await;
    notifier.tick().await.unwrap();
    assert_eq!(reached(&rx, "sms"), ["13800000002", "13900000000"]);
    assert_eq!(rx.accepted("dingtalk").len(), 1, "{:?}", rx.all("dingtalk"));
    assert_eq!(rx.accepted("feishu").len(), 1, "{:?}", rx.all("feishu"));
    let mail = rx.accepted("smtp");
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, "ops@hub.example");
    assert!(mail[0].key.starts_with("gw-"), "Message-ID carries the key");
    // Nothing more to send, and every attempt is on the incident's record.
    let r = notifier.tick().await.unwrap();
    assert_eq!((r.expanded, r.sent, r.failed), (0, 0, 0));
    let a = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{id}/notifications"),
            Some(&c.duty),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let attempts = a.body.as_array().unwrap();
    assert_eq!(attempts.len(), 8, "{}", a.body);
    assert!(attempts.iter().all(|x| x["outcome"] == "sent"));
    // The incident's page shows them to the duty room, not to the post's responders.
    let page = common::community::get(&hub, &c.duty, &id).await;
    assert_eq!(page["notifications"].as_array().map(Vec::len), Some(8));
    let page = common::community::get(&hub, &c.r2, &id).await;
    assert!(
        page.get("notifications").is_none() || page["notifications"].is_null(),
        "{page}"
    );
    // Residents and responders do not see who was called.
    let a = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{id}/notifications"),
            Some(&c.r1),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The response report says how it reached people: no console ever confirmed it, every
    // channel that delivered once (the incident counts, being past its deadline).
    hub.clock.set(at(20));
    let a = hub
        .call(
            Method::GET,
            "/api/v1/reports/response?group_by=post",
            Some(&c.duty),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let row = &a.body[0];
    assert_eq!(row["incidents"], 1, "{}", a.body);
    assert_eq!(
        row["reached_by"],
        serde_json::json!({"dingtalk": 1, "feishu": 1, "hook": 1, "mail": 1, "sms": 1, "voice": 1, "wecom": 1}),
        "{}",
        a.body
    );
});

on_both_backends!(
    a_receiver_failing_three_times_gets_it_once_more,
    |backend| async move {
        let Setup { hub, c, rx, .. } = setup(backend).await;
        // This one counts into the hub's own metrics, served at /metrics.
        let notifier = Notifier::new(
            hub.state.store.clone(),
            hub.state.clock.clone(),
            hub.state.config.notify.clone(),
            "node-m".into(),
            &hub.state.metrics,
        )
        .unwrap();
        let id = s(&raise(&hub, &c.button, None).await["id"]).to_string();
        rx.fail("hook", 3);
        let mut minute = 0;
        for _ in 0..3 {
            let r = notifier.tick().await.unwrap();
            assert_eq!((r.sent, r.failed), (0, 1));
            // Not again before its backoff has passed.
            assert_eq!(notifier.tick().await.unwrap().failed, 0);
            minute += 10;
            hub.clock.set(at(minute));
        }
        // Three failures in a row: the channel is failing (health on the stream).
        assert!(notifier.failing().lock().unwrap().contains("hook"));
        let r = notifier.tick().await.unwrap();
        assert_eq!((r.sent, r.failed), (1, 0));
        assert!(notifier.failing().lock().unwrap().is_empty(), "recovered");
        let m = hub.call(Method::GET, "/metrics", None, None).await;
        let text = m.body.as_str().unwrap();
        assert!(
            text.contains(r#"gridwatch_notifications_total{channel="hook",outcome="failed"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gridwatch_notifications_total{channel="hook",outcome="sent"} 1"#),
            "{text}"
        );
        hub.clock.set(at(120));
        assert_eq!(notifier.tick().await.unwrap(), Default::default());
        let all = rx.all("hook");
        assert_eq!(all.len(), 4);
        assert_eq!(rx.accepted("hook").len(), 1);
        assert!(
            all.iter().all(|r| r.key == all[0].key),
            "one key for every attempt"
        );
        let attempts = hub.state.store.notify_attempts(&id).await.unwrap();
        let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["failed", "failed", "failed", "sent"]);
    }
);

on_both_backends!(
    a_full_outbox_is_delivered_after_a_restart,
    |backend| async move {
        let Setup {
            hub,
            c,
            rx,
            notifier,
            ..
        } = setup(backend).await;
        let mut ids = vec![];
        for _ in 0..5 {
            let b = button(&hub, &c).await;
            ids.push(s(&raise(&hub, &b, None).await["id"]).to_string());
            hub.clock.advance(Duration::seconds(1));
        }
        // The hub stops before sending anything; a node that dies holding a claim is simulated by
        // claiming the events and deliveries under its name and never finishing.
        drop(notifier);
        let dead = "node-dead";
        let lease = Duration::seconds(60);
        let now = gridwatch_core::clock::Clock::now(&hub.clock);
        let claimed = hub
            .state
            .store
            .claim_notify_events(dead, now, lease, 2)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        let (events, deliveries) = hub.state.store.notify_backlog().await.unwrap();
        assert_eq!((events, deliveries), (5, 0));
        // Restarted: what was not claimed goes at once, the dead node's claims when they expire.
        let restarted = new_notifier(&hub, "node-b");
        assert_eq!(restarted.tick().await.unwrap().sent, 3);
        hub.clock.advance(Duration::seconds(61));
        assert_eq!(restarted.tick().await.unwrap().sent, 2);
        let keys: std::collections::BTreeSet<String> =
            rx.accepted("hook").into_iter().map(|r| r.key).collect();
        assert_eq!(keys.len(), 5, "each incident's notification once");
        assert_eq!(rx.accepted("hook").len(), 5, "none twice");
        assert_eq!(hub.state.store.notify_backlog().await.unwrap(), (0, 0));
    }
);

// Two hub nodes on one PostgreSQL (and, for the same code path, on one SQLite file) ticking
// at once: every notification is sent once.
on_both_backends!(two_nodes_send_each_once, |backend| async move {
    let Setup {
        hub,
        c,
        rx,
        notifier,
        ..
    } = setup(backend).await;
    const N: usize = 20;
    for _ in 0..N {
        let b = button(&hub, &c).await;
        raise(&hub, &b, None).await;
        hub.clock.advance(Duration::seconds(1));
    }
    let other = new_notifier(&hub, "node-b");
    let (a, b) = tokio::join!(notifier.tick(), other.tick());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, N, "{a:?} {b:?}");
    assert_eq!(a.expanded + b.expanded, N, "{a:?} {b:?}");
    let hooks = rx.accepted("hook");
    let keys: std::collections::BTreeSet<&str> = hooks.iter().map(|r| r.key.as_str()).collect();
    assert_eq!((hooks.len(), keys.len()), (N, N));
    println!("node-a sent {}, node-b sent {}", a.sent, b.sent);
});

on_both_backends!(contacts_and_templates_are_validated, |backend| async move {
    let Setup { hub, c, base, .. } = setup(backend).await;
    let put = |channel: &str, body: serde_json::Value| {
        let path = format!("/api/v1/posts/{}/contacts/{channel}", c.p1);
        let admin = c.admin.clone();
        let hub = &hub;
        async move { hub.call(Method::PUT, &path, Some(&admin), Some(body)).await }
    };
    let a = put("wecom", json!({"address": "not a url"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.to_string().contains("https://"), "{}", a.body);
    let a = put("nope", json!({"address": format!("{base}/x")})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.to_string().contains("configured"), "{}", a.body);
    let a = put("sms", json!({"address": "13800000000"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = put("mail", json!({"address": "no-at-sign"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = put("mail", json!({"address": "post1@hub.example"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Only admins set them; duty officers read them.
    let a = hub
        .call(
            Method::PUT,
            &format!("/api/v1/posts/{}/contacts/mail", c.p1),
            Some(&c.duty),
            Some(json!({"address": "x@y.z"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = hub
        .call(
            Method::GET,
            &format!("/api/v1/posts/{}/contacts", c.p1),
            Some(&c.duty),
            None,
        )
        .await;
    assert_eq!(
        a.body,
        json!([{"channel": "mail", "address": "post1@hub.example"}])
    );
    // A gateway template with a typo: 400 naming the placeholder.
    let check = |body: serde_json::Value| {
        hub.call(
            Method::POST,
            "/api/v1/notify/gateway-check",
            Some(&c.admin),
            Some(body),
        )
    };
    let a = check(json!({"url": "https://sms.example/?to={{phone}}"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.to_string().contains("{{phone}}"), "{}", a.body);
    let a = check(json!({"url": "https://sms.example/?to={{to}}", "body": "{{text"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = check(json!({"url": "ftp://sms.example/{{to}}"})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = check(json!({"url": "https://sms.example/?to={{to}}&msg={{text}}"})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
});

on_both_backends!(
    quiet_hours_hold_a_camera_alert_but_never_an_sos,
    |backend| async move {
        let rx = Receivers::default();
        let (base, smtp) = receivers::start(&rx).await;
        let mut config = config(&base, smtp);
        config.notify.quiet_hours = Some(
            serde_json::from_value(
                json!({"start": "22:00:00", "end": "07:00:00", "utc_offset_minutes": 480}),
            )
            .unwrap(),
        );
        config.notify.rules.push(rule(
            "camera-hook",
            &[T::CameraOffline],
            Recipients::Address(format!("{base}/hook")),
            "hook",
        ));
        let hub = Hub::with_config(backend, config).await;
        let c = community(&hub).await;
        let notifier = new_notifier(&hub, "node-q");
        // 23:00 in Beijing.
        hub.clock.set(at(7 * 60));
        raise(&hub, &c.button, None).await;
        hub.state
            .store
            .record_events(
                None,
                &[gridwatch_core::event::EventDraft::new(
                    T::CameraOffline,
                    json!({"camera_id": c.cams[0]}),
                )],
                &gridwatch_core::event::Actor::timer(),
                at(7 * 60),
            )
            .await
            .unwrap();
        let r = notifier.tick().await.unwrap();
        assert_eq!((r.expanded, r.sent), (2, 1), "the SOS at once");
        assert!(rx.accepted("hook")[0].text.contains("新的求助"));
        hub.clock.set(at(14 * 60) - Duration::minutes(1));
        assert_eq!(notifier.tick().await.unwrap().sent, 0, "06:59: still quiet");
        hub.clock.set(at(15 * 60));
        assert_eq!(
            notifier.tick().await.unwrap().sent,
            1,
            "07:00: the camera alert"
        );
        assert!(rx.accepted("hook")[1].text.contains(c.cams[0].as_str()));
    }
);

on_both_backends!(
    rules_saved_through_the_api_apply_and_are_checked,
    |backend| async move {
        let Setup {
            hub,
            c,
            rx,
            notifier,
            ..
        } = setup(backend).await;
        let put = |name: &str, body: serde_json::Value| {
            let (hub, admin, path) = (
                &hub,
                c.admin.clone(),
                format!("/api/v1/notify/rules/{name}"),
            );
            async move { hub.call(Method::PUT, &path, Some(&admin), Some(body)).await }
        };
        // The configuration's rules are listed, read-only here.
        let a = hub
            .call(Method::GET, "/api/v1/notify/rules", Some(&c.duty), None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let listed = a.body.as_array().unwrap();
        assert!(
            !listed.is_empty() && listed.iter().all(|r| r["source"] == "config"),
            "{}",
            a.body
        );
        let config_rule = s(&listed[0]["name"]).to_string();
        let a = put(
            &config_rule,
            json!({"on": ["incident.raised"], "to": "duty_officers", "channel": "sms"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.body);
        // Bad rules are refused, naming the field.
        for (body, field) in [
            (
                json!({"on": ["incident.raised"], "to": "duty_officers", "channel": "pigeon"}),
                "channel",
            ),
            (
                json!({"on": [], "to": "duty_officers", "channel": "sms"}),
                "on",
            ),
            (
                json!({"on": ["incident.acknowledged"], "to": "duty_officers", "channel": "sms"}),
                "on",
            ),
        ] {
            let a = put("ops-mail", body.clone()).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {}", a.body);
            assert_eq!(a.body["error"]["field"], field, "{body}: {}", a.body);
        }
        let a = put(
            "bad.name",
            json!({"on": ["incident.raised"], "to": "duty_officers", "channel": "sms"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);

        // A saved rule applies to the next event: every SOS is mailed to the ops mailbox too.
        let a = put("ops-mail", json!({"on": ["incident.raised"], "to": {"address": "ops-saved@hub.example"}, "channel": "mail"})).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let a = hub
            .call(Method::GET, "/api/v1/notify/rules", Some(&c.admin), None)
            .await;
        assert!(
            a.body
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "ops-mail" && r["source"] == "api"),
            "{}",
            a.body
        );
        raise(&hub, &button(&hub, &c).await, None).await;
        notifier.tick().await.unwrap();
        let mails: Vec<String> = rx.accepted("smtp").into_iter().map(|m| m.to).collect();
        assert_eq!(mails, ["ops-saved@hub.example"], "{mails:?}");

        // Removed, it applies no more.
        let a = hub
            .call(
                Method::DELETE,
                "/api/v1/notify/rules/ops-mail",
                Some(&c.admin),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
        let a = hub
            .call(
                Method::DELETE,
                "/api/v1/notify/rules/ops-mail",
                Some(&c.admin),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
        raise(&hub, &button(&hub, &c).await, None).await;
        notifier.tick().await.unwrap();
        assert_eq!(rx.accepted("smtp").len(), 1, "no new mail");
    }
);
