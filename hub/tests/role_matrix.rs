//! Every endpoint × every role (and no login at all): each answer is 2xx for the roles the
//! endpoint admits, 403 for the others and 401 without credentials. The endpoint list comes
//! from the same table the router is built from, so a new endpoint is walked automatically.

use crate::common;

use axum::http::{Method, StatusCode};
use common::Hub;
use gridwatch_hub::http::endpoints;
use serde_json::{json, Value};

/// Records the walk needs, created fresh where an endpoint consumes them.
struct Fixtures {
    post: String,
    grid: String,
    device: String,
    camera: String,
    user: String,
    /// A duty officer, to bring incidents into the state an endpoint needs.
    duty: String,
}

async fn admin_token(hub: &Hub) -> String {
    hub.login_as("admin", None, None).await.1
}

async fn create(hub: &Hub, token: &str, path: &str, body: Value) -> Value {
    let a = hub.call(Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "creating at {path}: {:?}",
        a.body
    );
    a.body
}

fn unique(prefix: &str) -> String {
    let n = gridwatch_core::id::new_id().replace('-', "");
    format!("{prefix}{}", &n[n.len() - 10..])
}

/// A valid body for creating a record at this collection path.
fn new_body(collection: &str, fx: &Fixtures) -> Value {
    match collection {
        "/api/v1/posts" => json!({"name": unique("post"), "lat": 26.57, "lon": 107.98}),
        "/api/v1/grids" => json!({"name": unique("grid"), "post_chain": [fx.post]}),
        "/api/v1/users" => {
            json!({"username": unique("user"), "password": "password-1", "role": "duty_officer"})
        }
        "/api/v1/devices" => json!({"name": unique("button"), "grid_id": fx.grid}),
        "/api/v1/cameras" => {
            json!({"name": unique("cam"), "rtsp_url": "rtsp://127.0.0.1:8554/cam1", "grid_id": fx.grid})
        }
        "/api/v1/sos" => json!({"lat": 26.5, "lon": 107.9, "note": "matrix"}),
        "/api/v1/incidents" => json!({"kind": "manual", "grid_id": fx.grid, "note": "matrix"}),
        other => panic!("no creation body for {other}"),
    }
}

/// A valid PATCH body for a record at this collection path.
fn patch_body(collection: &str) -> Value {
    match collection {
        "/api/v1/users" => json!({"display_name": unique("name")}),
        _ => json!({"name": unique("renamed")}),
    }
}

fn existing(collection: &str, fx: &Fixtures) -> String {
    match collection {
        "/api/v1/posts" => fx.post.clone(),
        "/api/v1/grids" => fx.grid.clone(),
        "/api/v1/users" => fx.user.clone(),
        "/api/v1/devices" => fx.device.clone(),
        "/api/v1/cameras" => fx.camera.clone(),
        other => panic!("no fixture for {other}"),
    }
}

/// A fresh incident the caller can reach: a resident's own SOS, else a panic button's SOS in the
/// fixture grid, dispatched at once to the fixture post (whose responders the matrix uses).
/// `/resolve` needs someone on scene first; `/dismiss` a camera's motion alert (raised by the
/// duty officer from the fixture camera).
async fn incident_for(
    hub: &Hub,
    admin: &str,
    role: Option<&str>,
    token: Option<&str>,
    rest: &str,
    fx: &Fixtures,
) -> String {
    if rest == "/dismiss" {
        let a = hub
            .call(
                Method::POST,
                "/api/v1/incidents",
                Some(&fx.duty),
                Some(json!({"kind": "motion", "camera_id": fx.camera})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "raising: {}", a.body);
        return a.body["incident"]["id"].as_str().unwrap().to_string();
    }
    let raiser = match (role, token) {
        (Some("resident"), Some(t)) => t.to_string(),
        _ => token_for(hub, admin, "device", fx).await,
    };
    let a = hub
        .call(Method::POST, "/api/v1/sos", Some(&raiser), None)
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "raising: {}", a.body);
    let id = a.body["incident"]["id"].as_str().unwrap().to_string();
    if rest == "/resolve" {
        let a = hub
            .call(
                Method::POST,
                &format!("/api/v1/incidents/{id}/arrive"),
                Some(&fx.duty),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "arriving: {}", a.body);
    }
    id
}

fn incident_body(rest: &str, fx: &Fixtures) -> Option<Value> {
    match rest {
        "/dispatch" => Some(json!({"post_id": fx.post})),
        "/arrive" => Some(json!({"lat": 26.5, "lon": 107.9})),
        "/resolve" => Some(json!({"note": "处置完毕"})),
        "/cancel" => Some(json!({"reason": "误报"})),
        _ => None,
    }
}

/// The concrete request for an endpoint: path with ids filled in, and a body.
async fn request_for(
    hub: &Hub,
    admin: &str,
    ep: &endpoints::Endpoint,
    fx: &Fixtures,
    role: Option<&str>,
    token: Option<&str>,
) -> (String, Option<Value>) {
    let path = ep.path;
    if path.starts_with("/api/v1/posts/{id}/contacts") {
        // The matrix hub's one notification channel (see `matrix_hub`).
        let p = path.replace("{id}", &fx.post).replace("{channel}", "wecom");
        let body = (ep.method == Method::PUT)
            .then(|| json!({"address": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"}));
        return (p, body);
    }
    if path == "/api/v1/notify/rules/{name}" {
        let rule = json!({"on": ["incident.raised"], "to": "post_group", "channel": "wecom"});
        let name = format!(
            "matrix-{}",
            &gridwatch_core::id::new_id().replace('-', "")[20..]
        );
        if ep.method == Method::DELETE {
            // Deleting consumes the rule: save one for this call.
            let a = hub
                .call(
                    Method::PUT,
                    &format!("/api/v1/notify/rules/{name}"),
                    Some(admin),
                    Some(rule.clone()),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        }
        let body = (ep.method == Method::PUT).then_some(rule);
        return (format!("/api/v1/notify/rules/{name}"), body);
    }
    if path == "/api/v1/notify/gateway-check" {
        return (
            path.into(),
            Some(json!({"url": "https://sms.example/?to={{to}}"})),
        );
    }
    if let Some(rest) = path.strip_prefix("/api/v1/incidents/{id}") {
        let id = incident_for(hub, admin, role, token, rest, fx).await;
        // A clip the incident does not have: past the role check, 404.
        let mut rest = rest.replace("{clip_id}", "no-such-clip");
        if rest.contains("{snapshot_id}") {
            // A picture the incident has: 200 for whoever may see it.
            let (picture, _) = hub
                .state
                .store
                .attach_incident_snapshot(
                    &id,
                    "fixture-camera",
                    b"\xFF\xD8\xFF\xD9",
                    &gridwatch_core::event::Actor::timer(),
                    hub.state.now(),
                )
                .await
                .unwrap();
            rest = rest.replace("{snapshot_id}", &picture.id);
        }
        return (
            format!("/api/v1/incidents/{id}{rest}"),
            incident_body(&rest, fx),
        );
    }
    if path == "/api/v1/ingest/workers/{id}" {
        // Forgetting consumes the worker: one that stopped, for this call.
        let id = unique("worker");
        let store = &hub.state.store;
        let now = hub.state.now();
        store
            .worker_alive(&id, "http://127.0.0.1:9", 4, &[], now)
            .await
            .unwrap();
        store.worker_stopped(&id, now).await.unwrap();
        return (format!("/api/v1/ingest/workers/{id}"), None);
    }
    if path == "/api/v1/auth/login" {
        let (u, _) = hub.login_as("resident", None, None).await;
        return (
            path.into(),
            Some(json!({"username": u.username, "password": "password-1"})),
        );
    }
    let Some((collection, rest)) = path.split_once("/{id}") else {
        let body =
            (ep.method == Method::POST && path.starts_with("/api/v1/") && !path.contains("/auth/"))
                .then(|| new_body(path, fx));
        return (path.into(), body);
    };
    let id = if ep.method == Method::DELETE {
        // Deleting consumes the record: make one for this call.
        let made = create(hub, admin, collection, new_body(collection, fx)).await;
        let record = if made.get("device").is_some() {
            &made["device"]
        } else {
            &made
        };
        record["id"].as_str().unwrap().to_string()
    } else {
        existing(collection, fx)
    };
    let body = match (&ep.method, rest) {
        (&Method::PATCH, _) => Some(patch_body(collection)),
        (&Method::PUT, "/motion") => Some(json!({"enabled": false})),
        // Any worker: the matrix has none for a pin to name.
        (&Method::PUT, "/worker") => Some(json!({"worker_id": null})),
        (&Method::PUT, "/dewarp") => Some(
            json!({"mount": "ceiling", "center_x": 0.5, "center_y": 0.5, "radius": 0.3, "orientation": 0}),
        ),
        _ => None,
    };
    // A download needs its range (the matrix's camera has recorded nothing).
    let query = match rest {
        "/recordings.mp4" => "?from=2026-11-26T07:59:00Z&to=2026-11-26T08:00:00Z",
        _ => "",
    };
    (format!("{collection}/{id}{rest}{query}"), body)
}

/// Every role, and no login at all (`None`).
fn callers() -> Vec<Option<&'static str>> {
    let mut callers = vec![None];
    callers.extend(gridwatch_core::Role::ALL.iter().map(|r| Some(r.as_str())));
    callers
}

/// A token for the role, or none for no login.
async fn caller_token(hub: &Hub, admin: &str, role: Option<&str>, fx: &Fixtures) -> Option<String> {
    match role {
        Some(r) => Some(token_for(hub, admin, r, fx).await),
        None => None,
    }
}

/// A token for the role: a fresh session, or a fresh device token.
async fn token_for(hub: &Hub, admin: &str, role: &str, fx: &Fixtures) -> String {
    if role == "device" {
        let made = create(
            hub,
            admin,
            "/api/v1/devices",
            json!({"name": unique("btn"), "grid_id": fx.grid}),
        )
        .await;
        return made["token"].as_str().unwrap().to_string();
    }
    let post = (role == "responder").then_some(fx.post.as_str());
    let grid = (role == "resident").then_some(fx.grid.as_str());
    hub.login_as(role, post, grid).await.1
}

async fn walk(hub: Hub) {
    let admin = admin_token(&hub).await;
    let post = create(
        &hub,
        &admin,
        "/api/v1/posts",
        json!({"name": "matrix post", "lat": 26.5, "lon": 107.9}),
    )
    .await;
    let post = post["id"].as_str().unwrap().to_string();
    let grid = create(
        &hub,
        &admin,
        "/api/v1/grids",
        json!({"name": "matrix grid", "post_chain": [post]}),
    )
    .await;
    let grid = grid["id"].as_str().unwrap().to_string();
    let device = create(
        &hub,
        &admin,
        "/api/v1/devices",
        json!({"name": "matrix button", "grid_id": grid}),
    )
    .await;
    let camera = create(
        &hub,
        &admin,
        "/api/v1/cameras",
        // In the fixture grid, whose chain names the fixture post: its responders may see it.
        json!({"name": "matrix cam", "rtsp_url": "rtsp://127.0.0.1/x", "grid_id": grid}),
    )
    .await;
    let user = create(
        &hub,
        &admin,
        "/api/v1/users",
        json!({"username": "matrixuser", "password": "password-1", "role": "resident"}),
    )
    .await;
    let duty = hub.login_as("duty_officer", None, None).await.1;
    let fx = Fixtures {
        post,
        grid,
        device: device["device"]["id"].as_str().unwrap().to_string(),
        camera: camera["id"].as_str().unwrap().to_string(),
        user: user["id"].as_str().unwrap().to_string(),
        duty,
    };

    let mut checked = 0;
    let mut failures = vec![];
    for ep in endpoints::all() {
        for role in callers() {
            let token = caller_token(&hub, &admin, role, &fx).await;
            let (path, body) = request_for(&hub, &admin, &ep, &fx, role, token.as_deref()).await;
            let a = hub
                .call(ep.method.clone(), &path, token.as_deref(), body)
                .await;
            let allowed = ep.roles.is_empty()
                || role.is_some_and(|r| ep.roles.iter().any(|x| x.as_str() == r));
            let expected = if allowed && ep.is_websocket() {
                // A plain request to a WebSocket endpoint, past the role check.
                StatusCode::UPGRADE_REQUIRED
            } else if allowed && ep.path.ends_with("/snapshot.jpg") {
                // Past the role check; the fixture camera has never sent a picture.
                StatusCode::SERVICE_UNAVAILABLE
            } else if allowed
                && (ep.path.ends_with("/recordings.mp4")
                    || ep.path.contains("{clip_id}")
                    || ep.path.ends_with("/evidence.zip"))
            {
                // Past the role check; the fixture camera has recorded nothing, and the
                // incident has no such clip (no clip at all to package).
                StatusCode::NOT_FOUND
            } else if allowed && ep.path.ends_with("/whep") {
                // Past the role check; the walk sends JSON, not an SDP offer (the WebRTC
                // suite makes real sessions).
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            } else if allowed && ep.path.ends_with("{session}") {
                // Past the role check; there is no such WebRTC session.
                StatusCode::NOT_FOUND
            } else if allowed {
                StatusCode::from_u16(ep.ok).unwrap()
            } else if role.is_none() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            checked += 1;
            if a.status != expected {
                failures.push(format!(
                    "{} {} as {}: expected {}, got {} {}",
                    ep.method,
                    path,
                    role.unwrap_or("anonymous"),
                    expected,
                    a.status,
                    a.body
                ));
            } else if !a.status.is_success() {
                assert!(
                    a.body["error"]["code"].is_string(),
                    "error shape: {}",
                    a.body
                );
            }
        }
    }
    // Playback over the live path (`live?from=`) has the roles of the recordings, not of live
    // video: admins and duty officers (past the check: 404, nothing recorded), 403 for others.
    let playback = format!(
        "/api/v1/cameras/{}/live?from=2026-11-26T07:59:00Z",
        fx.camera
    );
    for role in callers() {
        let token = caller_token(&hub, &admin, role, &fx).await;
        let a = hub
            .call(Method::GET, &playback, token.as_deref(), None)
            .await;
        let expected = match role {
            None => StatusCode::UNAUTHORIZED,
            Some("admin" | "duty_officer") => StatusCode::NOT_FOUND,
            Some(_) => StatusCode::FORBIDDEN,
        };
        checked += 1;
        if a.status != expected {
            failures.push(format!(
                "GET {playback} as {}: expected {expected}, got {} {}",
                role.unwrap_or("anonymous"),
                a.status,
                a.body
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} answers wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 6 * 30, "walked only {checked} pairs");
}

#[tokio::test]
async fn every_endpoint_every_role_sqlite() {
    walk(matrix_hub(gridwatch_store::Backend::Sqlite).await).await
}

#[tokio::test]
async fn every_endpoint_every_role_postgres() {
    walk(matrix_hub(gridwatch_store::Backend::Postgres).await).await
}

/// A hub with one notification channel, for the posts' contact endpoints.
async fn matrix_hub(backend: gridwatch_store::Backend) -> Hub {
    let mut config = gridwatch_hub::Config::default();
    config.notify.channels.insert(
        "wecom".into(),
        gridwatch_hub::notify::ChannelConfig::Wecom {},
    );
    Hub::with_config(backend, config).await
}
