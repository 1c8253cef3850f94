//! The response report (响应时效报表): per grid, post or day, how many incidents had someone on
//! scene, how many within their deadline, and how long it took.
//!
//! The caller picks the incidents (period, kinds) and the key of each (grid name or id, post,
//! day); cancelled incidents are left out by the caller, since nobody was meant to arrive. This
//! module only counts.
//!
//! Definitions, so that the figures mean the same to everyone who reads them:
//! - `incidents`: the records with that key.
//! - `on_scene`: those with an `on_scene_at`.
//! - `within_deadline`: those with `on_scene_at <= deadline_at` (arriving at the very second
//!   of the deadline keeps the promise).
//! - `within_deadline_ratio = within_deadline / incidents`. The denominator is **every**
//!   incident of the row, reached or not: an incident nobody reached has broken the promise as
//!   surely as a late arrival. An incident still open and not yet due counts as not within, so
//!   a report that ends in the last 15 minutes reads low; ask for finished periods.
//! - `median_seconds`, `p90_seconds`: seconds from `created_at` to `on_scene_at`, among the
//!   incidents reached (`None` when none was), as the 50th and 90th percentile by **linear
//!   interpolation between closest ranks** (the definition of numpy's default, R's type 7 and
//!   spreadsheets' `PERCENTILE.INC`): sort the n values x₀ ≤ … ≤ xₙ₋₁, let h = (n − 1)·p; the
//!   percentile is x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋). The median of an even count is thus the
//!   mean of the two middle values. Both are rounded to the millisecond.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the rows of the report are keyed: `group_by=grid|post|day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportGroup {
    Grid,
    Post,
    Day,
}

impl ReportGroup {
    pub fn parse(s: &str) -> Option<ReportGroup> {
        match s {
            "grid" => Some(ReportGroup::Grid),
            "post" => Some(ReportGroup::Post),
            "day" => Some(ReportGroup::Day),
            _ => None,
        }
    }
}

/// One incident, as the report needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRecord {
    /// The row it counts in: a grid, a post, a day (`2026-03-01`), …
    pub key: String,
    pub created_at: DateTime<Utc>,
    pub on_scene_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
}

/// One row of `GET /api/v1/reports/response`. See the module documentation for definitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportRow {
    pub key: String,
    pub incidents: u64,
    pub on_scene: u64,
    pub within_deadline: u64,
    /// `within_deadline / incidents`, between 0 and 1.
    pub within_deadline_ratio: f64,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

/// The report rows, one per key, sorted by key (Unicode code point order, so ISO days sort by
/// date). Keys without any record have no row.
pub fn response_report(records: impl IntoIterator<Item = ReportRecord>) -> Vec<ReportRow> {
    #[derive(Default)]
    struct Acc {
        incidents: u64,
        within: u64,
        seconds: Vec<f64>,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for r in records {
        let acc = groups.entry(r.key).or_default();
        acc.incidents += 1;
        if let Some(at) = r.on_scene_at {
            acc.seconds
                .push((at - r.created_at).num_milliseconds() as f64 / 1000.0);
            if at <= r.deadline_at {
                acc.within += 1;
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, mut acc)| {
            acc.seconds.sort_by(f64::total_cmp);
            ReportRow {
                key,
                incidents: acc.incidents,
                on_scene: acc.seconds.len() as u64,
                within_deadline: acc.within,
                within_deadline_ratio: acc.within as f64 / acc.incidents as f64,
                median_seconds: percentile(&acc.seconds, 0.5).map(to_millisecond),
                p90_seconds: percentile(&acc.seconds, 0.9).map(to_millisecond),
            }
        })
        .collect()
}

/// Times are known to the millisecond; rounding there keeps interpolation's float noise
/// (1110.0000000000002) out of reports.
fn to_millisecond(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The `p`-th quantile (0 ≤ p ≤ 1) of `sorted` by linear interpolation between closest ranks;
/// `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = last as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// The rows as CSV (RFC 4180: comma-separated, CRLF line ends, a header line). Keys are quoted
/// when they hold a comma, a quote or a line break, with quotes doubled. A key that a
/// spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
/// leading `'`, so that opening the report cannot run anything. Numbers are written in full
/// (shortest exact form); a missing median or p90 is an empty cell. No byte order mark: a
/// caller serving the file to a spreadsheet may prepend one.
pub fn to_csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(
        "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds\r\n",
    );
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\r\n",
            csv_field(&r.key),
            r.incidents,
            r.on_scene,
            r.within_deadline,
            r.within_deadline_ratio,
            opt(r.median_seconds),
            opt(r.p90_seconds),
        ));
    }
    out
}

fn csv_field(s: &str) -> String {
    let defused;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{s}");
        defused.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// An incident raised `start` minutes after t0, on scene `took` seconds later (if at all),
    /// with the default 15-minute window.
    fn rec(key: &str, start: i64, took: Option<i64>) -> ReportRecord {
        let created_at = t0() + Duration::minutes(start);
        ReportRecord {
            key: key.into(),
            created_at,
            on_scene_at: took.map(|s| created_at + Duration::seconds(s)),
            deadline_at: created_at + Duration::minutes(15),
        }
    }

    #[test]
    fn known_data_set() {
        let records = vec![
            // 一网格: five incidents, four reached: 300, 600, 900 (exactly at the deadline), 1200 s.
            rec("一网格", 0, Some(600)),
            rec("一网格", 5, Some(300)),
            rec("一网格", 10, Some(1200)),
            rec("一网格", 20, None),
            rec("一网格", 30, Some(900)),
            // "Grid, \"B\"": one reached in 240 s.
            rec("Grid, \"B\"", 0, Some(240)),
            // Zone C: nobody reached either incident.
            rec("Zone C", 0, None),
            rec("Zone C", 1, None),
        ];
        let rows = response_report(records);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["Grid, \"B\"", "Zone C", "一网格"]);

        // Sorted 300, 600, 900, 1200: median = (600 + 900) / 2 = 750;
        // p90: h = 3 × 0.9 = 2.7 → 900 + 0.7 × (1200 − 900) = 1110.
        let g1 = &rows[2];
        assert_eq!((g1.incidents, g1.on_scene, g1.within_deadline), (5, 4, 3));
        assert_eq!(g1.within_deadline_ratio, 3.0 / 5.0);
        assert_eq!(g1.median_seconds, Some(750.0));
        assert_eq!(g1.p90_seconds, Some(1110.0));

        let b = &rows[0];
        assert_eq!((b.incidents, b.on_scene, b.within_deadline), (1, 1, 1));
        assert_eq!(b.within_deadline_ratio, 1.0);
        assert_eq!(
            (b.median_seconds, b.p90_seconds),
            (Some(240.0), Some(240.0))
        );

        let c = &rows[1];
        assert_eq!((c.incidents, c.on_scene, c.within_deadline), (2, 0, 0));
        assert_eq!(c.within_deadline_ratio, 0.0);
        assert_eq!((c.median_seconds, c.p90_seconds), (None, None));

        let csv = to_csv(&rows);
        assert_eq!(
            csv,
            "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds\r\n\
             \"Grid, \"\"B\"\"\",1,1,1,1,240,240\r\n\
             Zone C,2,0,0,0,,\r\n\
             一网格,5,4,3,0.6,750,1110\r\n"
        );
    }

    #[test]
    fn no_records_no_rows() {
        assert!(response_report(Vec::new()).is_empty());
        assert_eq!(to_csv(&[]).lines().count(), 1);
    }

    #[test]
    fn days_sort_by_date_and_seconds_keep_fractions() {
        let mut a = rec("2026-03-02", 0, None);
        a.on_scene_at = Some(a.created_at + Duration::milliseconds(90_500));
        let rows = response_report(vec![
            a,
            rec("2026-02-28", 0, Some(60)),
            rec("2026-03-01", 0, Some(60)),
        ]);
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2026-02-28", "2026-03-01", "2026-03-02"]);
        assert_eq!(rows[2].median_seconds, Some(90.5));
    }

    #[test]
    fn late_arrival_is_on_scene_but_not_within() {
        let rows = response_report(vec![rec("g", 0, Some(901))]);
        assert_eq!((rows[0].on_scene, rows[0].within_deadline), (1, 0));
    }

    #[test]
    fn percentiles_by_linear_interpolation() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&xs, 0.5), Some(5.5));
        assert!((percentile(&xs, 0.9).unwrap() - 9.1).abs() < 1e-9);
        assert_eq!(percentile(&xs, 0.0), Some(1.0));
        assert_eq!(percentile(&xs, 1.0), Some(10.0));
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn csv_quoting_and_formula_defusing() {
        assert_eq!(csv_field("一网格"), "一网格");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
        assert_eq!(csv_field("@x"), "'@x");
    }
}
