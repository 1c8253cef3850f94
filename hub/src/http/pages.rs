//! The embedded pages (`gridwatch-web`), served at `/`, `/wall`, `/console`, `/sos`,
//! `/calibrate`, `/zones` and `/assets/…`.

use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        // The page of each role: the live wall, the police post console, the SOS page.
        // Each checks who is signed in (GET /api/v1/me) and sends others to their own page.
        .route("/wall", get(|| async { serve("wall.html") }))
        .route("/console", get(|| async { serve("console.html") }))
        .route("/sos", get(|| async { serve("sos.html") }))
        // The admin's fisheye calibration of a 360° camera (?camera=ID).
        .route("/calibrate", get(|| async { serve("calibrate.html") }))
        // The admin's motion zones, schedule and thresholds of a camera (?camera=ID).
        .route("/zones", get(|| async { serve("zones.html") }))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>| async move { serve(&path) }),
        )
}

fn serve(path: &str) -> Response {
    match gridwatch_web::asset(path) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
