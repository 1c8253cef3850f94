//! A small community for the incident suites: three posts, grids with polygons and chains,
//! responders, a resident, a panic button and cameras; and shorthands for the calls.

use super::{Answer, Hub};
use axum::http::{Method, StatusCode};
use gridwatch_hub::incidents::response_check::{tick, TickReport};
use serde_json::{json, Value};

pub struct Community {
    pub admin: String,
    pub duty: String,
    pub p1: String,
    pub p2: String,
    pub p3: String,
    /// lon 107.90–107.95, lat 26.50–26.55; chain p1, p2.
    pub g1: String,
    /// lon 107.95–108.00, lat 26.50–26.55; chain p3.
    pub g2: String,
    /// No polygon, no chain.
    pub g3: String,
    /// Responder tokens of p1, p2, p3.
    pub r1: String,
    pub r2: String,
    pub r3: String,
    /// A resident of g2, and their user id.
    pub resident: String,
    pub resident_id: String,
    /// A panic button of g1 without a position.
    pub button: String,
    pub button_id: String,
    /// Cameras: c1 in g1 (placed), c2 in g1 (unplaced), c3 in g2 near the border, c4 in g1
    /// disabled.
    pub cams: [String; 4],
}

pub fn square(lon0: f64, lat0: f64, lon1: f64, lat1: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]})
}

pub async fn create(hub: &Hub, token: &str, path: &str, body: Value) -> Value {
    let a = hub.call(Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "creating at {path}: {}",
        a.body
    );
    a.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

pub async fn community(hub: &Hub) -> Community {
    let admin = hub.login_as("admin", None, None).await.1;
    let duty = hub.login_as("duty_officer", None, None).await.1;
    let mut posts = vec![];
    for name in ["清江警务室", "网格员一队", "网格员二队"] {
        posts.push(id(&create(
            hub,
            &admin,
            "/api/v1/posts",
            json!({"name": name, "lat": 26.52, "lon": 107.93}),
        )
        .await));
    }
    let [p1, p2, p3] = [posts[0].clone(), posts[1].clone(), posts[2].clone()];
    let g1 = id(&create(hub, &admin, "/api/v1/grids", json!({"name": "第一网格", "polygon": square(107.90, 26.50, 107.95, 26.55), "post_chain": [p1, p2]})).await);
    let g2 = id(&create(hub, &admin, "/api/v1/grids", json!({"name": "第二网格", "polygon": square(107.95, 26.50, 108.00, 26.55), "post_chain": [p3]})).await);
    let g3 = id(&create(hub, &admin, "/api/v1/grids", json!({"name": "第三网格"})).await);
    let r1 = hub.login_as("responder", Some(&p1), None).await.1;
    let r2 = hub.login_as("responder", Some(&p2), None).await.1;
    let r3 = hub.login_as("responder", Some(&p3), None).await.1;
    let (res, resident) = hub.login_as("resident", None, Some(&g2)).await;
    let b = create(
        hub,
        &admin,
        "/api/v1/devices",
        json!({"name": "1栋大堂报警按钮", "grid_id": g1}),
    )
    .await;
    let mut cams = vec![];
    for (name, grid, at, enabled) in [
        ("c1", &g1, Some((26.525, 107.925)), true),
        ("c2", &g1, None, true),
        ("c3", &g2, Some((26.525, 107.951)), true),
        ("c4", &g1, Some((26.52, 107.92)), false),
    ] {
        let mut body = json!({"name": name, "rtsp_url": "rtsp://127.0.0.1:8554/cam1", "grid_id": grid, "enabled": enabled});
        if let Some((lat, lon)) = at {
            body["lat"] = json!(lat);
            body["lon"] = json!(lon);
        }
        cams.push(id(&create(hub, &admin, "/api/v1/cameras", body).await));
    }
    Community {
        admin,
        duty,
        p1,
        p2,
        p3,
        g1,
        g2,
        g3,
        r1,
        r2,
        r3,
        resident,
        resident_id: res.id,
        button: b["token"].as_str().unwrap().to_string(),
        button_id: b["device"]["id"].as_str().unwrap().to_string(),
        cams: [
            cams[0].clone(),
            cams[1].clone(),
            cams[2].clone(),
            cams[3].clone(),
        ],
    }
}

/// Presses SOS with an optional JSON body.
pub async fn sos(hub: &Hub, token: &str, body: Option<Value>) -> Answer {
    hub.call(Method::POST, "/api/v1/sos", Some(token), body)
        .await
}

/// Presses SOS with an `Idempotency-Key` and no body.
pub async fn keyed(hub: &Hub, token: &str, key: &str) -> Answer {
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/api/v1/sos")
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header("Idempotency-Key", key)
        .body(axum::body::Body::empty())
        .unwrap();
    hub.send(req).await
}

/// Presses SOS and expects a new incident; returns it.
pub async fn raise(hub: &Hub, token: &str, body: Option<Value>) -> Value {
    let a = sos(hub, token, body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["incident"].clone()
}

/// `POST /api/v1/incidents/{id}/{action}`.
pub async fn act(hub: &Hub, token: &str, id: &str, action: &str, body: Option<Value>) -> Answer {
    hub.call(
        Method::POST,
        &format!("/api/v1/incidents/{id}/{action}"),
        Some(token),
        body,
    )
    .await
}

/// Acts and expects 200; returns the incident.
pub async fn act_ok(hub: &Hub, token: &str, id: &str, action: &str, body: Option<Value>) -> Value {
    let a = act(hub, token, id, action, body).await;
    assert_eq!(a.status, StatusCode::OK, "{action}: {}", a.body);
    a.body["incident"].clone()
}

/// `GET /api/v1/incidents/{id}` as the token, expecting 200; the incident with its timeline.
pub async fn get(hub: &Hub, token: &str, id: &str) -> Value {
    let a = hub
        .call(
            Method::GET,
            &format!("/api/v1/incidents/{id}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["incident"].clone()
}

/// The event types of the incident's timeline.
pub async fn timeline(hub: &Hub, token: &str, id: &str) -> Vec<String> {
    get(hub, token, id).await["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// One tick of the response check at the hub's clock.
pub async fn run_timers(hub: &Hub) -> TickReport {
    tick(&hub.state.incidents).await.expect("tick")
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
