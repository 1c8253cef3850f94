//! `GET /api/v1/reports/response?from=&to=&group_by=grid|post|day&tz=`: the response report
//! as JSON rows, or as CSV with `Accept: text/csv` (for the monthly report the centre files).
//!
//! `from` and `to` are RFC 3339 times or dates (`2026-03-01`, midnight in `tz`); the period is
//! `[from, to)`, by default the 30 days before now. `tz` is a fixed UTC offset (`+08:00`, the
//! default `Z`) for where days begin, for `group_by=day` and for dates. Incidents cancelled
//! before their deadline without a breach are left out; incidents nobody has reached yet whose
//! deadline is still ahead of now are counted apart, as `pending`. The figures are defined in
//! `gridwatch_core::report`.

use super::error::ApiResult;
use super::json::Query;
use super::times::{within_range, OUT_OF_RANGE};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use gridwatch_core::report::{to_csv, ReportGroup};
use gridwatch_core::ValidationError;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub group_by: Option<String>,
    #[serde(default)]
    pub tz: Option<String>,
}

fn parse_tz(s: Option<&str>) -> ApiResult<FixedOffset> {
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    match s {
        None | Some("Z") | Some("UTC") => Ok(utc),
        Some(s) => {
            // "+08:00", or "08:00" where a URL turned the plus into a space.
            let s = s.trim();
            let s = if s.starts_with(['+', '-']) {
                s.to_string()
            } else {
                format!("+{s}")
            };
            DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{s}"))
                .map(|t| *t.offset())
                .map_err(|_| {
                    ValidationError::new("tz", "must be an offset like +08:00 or Z").into()
                })
        }
    }
}

fn parse_bound(field: &str, s: &str, tz: &FixedOffset) -> ApiResult<DateTime<Utc>> {
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single())
            .map(|t| t.with_timezone(&Utc)),
    };
    let Some(t) = t else {
        return Err(
            ValidationError::new(field, "must be a date (2026-03-01) or an RFC 3339 time").into(),
        );
    };
    within_range(t).ok_or_else(|| ValidationError::new(field, OUT_OF_RANGE).into())
}

pub(super) fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/csv")
        })
}

/// The longest period one report covers (every incident in it is read into memory).
const MAX_REPORT_DAYS: i64 = super::times::LONGEST_PERIOD_DAYS;

/// The period `[from, to)` (RFC 3339 times or dates in `tz`; by default the 30 days before
/// now) and the time zone of a report's query, checked: 400 naming the field.
pub(super) fn period(
    from: Option<&str>,
    to: Option<&str>,
    tz: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>, FixedOffset)> {
    let tz = parse_tz(tz)?;
    let to = match to {
        Some(t) => parse_bound("to", t, &tz)?,
        None => now,
    };
    let from = match from {
        Some(t) => parse_bound("from", t, &tz)?,
        None => to - Duration::days(30),
    };
    if from >= to {
        return Err(ValidationError::new("from", "must be before to").into());
    }
    if to - from > Duration::days(MAX_REPORT_DAYS) {
        return Err(ValidationError::new(
            "from",
            "the period is longer than 366 days: ask for one year at a time",
        )
        .into());
    }
    Ok((from, to, tz))
}

/// `csv` as a download named `<name>-<from>-<to>.csv` (dates in `tz`).
pub(super) fn csv_download(
    csv: String,
    name: &str,
    (from, to, tz): (DateTime<Utc>, DateTime<Utc>, FixedOffset),
) -> Response {
    let mut resp = csv.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name = format!(
        "attachment; filename=\"{name}-{}-{}.csv\"",
        from.with_timezone(&tz).format("%Y%m%d"),
        to.with_timezone(&tz).format("%Y%m%d")
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

pub async fn response(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    let group = match q.group_by.as_deref() {
        None => ReportGroup::Grid,
        Some(g) => ReportGroup::parse(g)
            .ok_or_else(|| ValidationError::new("group_by", "must be grid, post or day"))?,
    };
    let now = s.now();
    let (from, to, tz) = period(q.from.as_deref(), q.to.as_deref(), q.tz.as_deref(), now)?;
    let rows = s.store.response_report(from, to, group, tz, now).await?;
    if wants_csv(&headers) {
        return Ok(csv_download(
            to_csv(&rows),
            "response-report",
            (from, to, tz),
        ));
    }
    Ok(axum::Json(rows).into_response())
}
