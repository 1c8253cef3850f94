//! `GET /api/v1/reports/false-alarms?from=&to=&tz=`: per camera, how many of its motion
//! alerts were dismissed as false alarms (JSON rows, or CSV with `Accept: text/csv`). The
//! period reads as the response report's (`reports.rs`); the figures are defined in
//! `gridwatch_core::false_alarms`.

use super::error::ApiResult;
use super::json::Query;
use super::reports::{csv_download, period, wants_csv};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use gridwatch_core::false_alarms::to_csv;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FalseAlarmQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub tz: Option<String>,
}

pub async fn report(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<FalseAlarmQuery>,
) -> ApiResult<Response> {
    let range = period(q.from.as_deref(), q.to.as_deref(), q.tz.as_deref(), s.now())?;
    let rows = s.store.false_alarm_report(range.0, range.1).await?;
    if wants_csv(&headers) {
        return Ok(csv_download(to_csv(&rows), "false-alarm-report", range));
    }
    Ok(axum::Json(rows).into_response())
}
