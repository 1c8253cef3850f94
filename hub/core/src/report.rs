//! The response report (响应时效报表): per grid, post or day, how often the centre kept its
//! promise of someone on scene by the deadline, and how long it took.
//!
//! The caller picks the incidents of the period and the key of each (grid name or id, post,
//! day), and says when the report is made (`now`, from the hub's clock). This module decides
//! which incidents count and counts them.
//!
//! Which incidents count, and why:
//! - An incident **cancelled before its deadline without a breach** is left out: nobody was
//!   meant to arrive (a false alarm, a resident who no longer needs help), and no promise was
//!   broken. Every other cancelled incident counts like any other: one cancelled after its
//!   deadline with nobody on scene (the resident gave up waiting, an officer closed it) is a
//!   broken promise, and cancelling it must not make the figures better. "Before" is strict:
//!   the breach falls at the very second of the deadline, so a cancel then counts.
//! - An incident **with nobody on scene whose deadline is still ahead of `now`** is *pending*:
//!   the promise is neither kept nor broken yet. It is left out of every figure below and
//!   counted in `pending` only, so that a report over a period that runs until now (the wall's)
//!   does not read low while incidents are under way. From the second of its deadline on, with
//!   nobody on scene, it counts as not within. An incident reached before its deadline counts
//!   at once, even while that deadline is still ahead.
//!
//! Definitions, so that the figures mean the same to everyone who reads them:
//! - `incidents`: the records with that key that count (decided: reached, or past their
//!   deadline), pending ones not included.
//! - `on_scene`: those with an `on_scene_at`.
//! - `within_deadline`: those with `on_scene_at <= deadline_at` (arriving at the very second
//!   of the deadline keeps the promise).
//! - `within_deadline_ratio = within_deadline / incidents`, `None` (JSON `null`, an empty CSV
//!   cell) when `incidents` is 0 (every incident of the row is pending: no promise to judge
//!   yet). The denominator is **every** incident that counts, reached or not: an incident
//!   nobody reached by its deadline has broken the promise as surely as a late arrival.
//! - `median_seconds`, `p90_seconds`: seconds from `created_at` to `on_scene_at`, among the
//!   incidents reached (`None` when none was), as the 50th and 90th percentile by **linear
//!   interpolation between closest ranks** (the definition of numpy's default, R's type 7 and
//!   spreadsheets' `PERCENTILE.INC`): sort the n values x₀ ≤ … ≤ xₙ₋₁, let h = (n − 1)·p; the
//!   percentile is x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋). The median of an even count is thus the
//!   mean of the two middle values. Both are rounded to the millisecond.
//! - `pending`: the records with that key with nobody on scene and a deadline after `now`.
//!
//! A row exists for every key with at least one record that counts or is pending.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
    /// When it was cancelled, if it was (its `closed_at`); `None` for any other state.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the response check recorded the breach, if it did.
    pub breached_at: Option<DateTime<Utc>>,
    /// How the dispatch reached people: `console` (a console confirmed receipt), and each
    /// notification channel that delivered, by its name in `[notify]` (`sms`, `voice`, …).
    #[serde(default)]
    pub reached_by: BTreeSet<String>,
}

/// Where one record stands in the report at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Cancelled before its deadline without a breach: not counted at all.
    LeftOut,
    /// Nobody on scene and the deadline still ahead: counted in `pending` only.
    Pending,
    /// Reached, or past its deadline: counted in the figures.
    Counted,
}

impl ReportRecord {
    /// Where the record stands at `now`; see the module documentation for why.
    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        let cancelled_unbroken =
            self.breached_at.is_none() && self.cancelled_at.is_some_and(|at| at < self.deadline_at);
        if cancelled_unbroken {
            Standing::LeftOut
        } else if self.on_scene_at.is_none() && self.deadline_at > now {
            Standing::Pending
        } else {
            Standing::Counted
        }
    }
}

/// One row of `GET /api/v1/reports/response`. See the module documentation for definitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportRow {
    pub key: String,
    /// Incidents that count: reached, or past their deadline (pending ones not included).
    pub incidents: u64,
    pub on_scene: u64,
    pub within_deadline: u64,
    /// `within_deadline / incidents`, between 0 and 1; `None` when no incident counts yet.
    pub within_deadline_ratio: Option<f64>,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Incidents with nobody on scene and their deadline still ahead: in none of the figures
    /// above.
    pub pending: u64,
    /// Of the incidents that count, how many each way reached someone: `console` (a console
    /// confirmed receipt), `sms`, `voice`, a group bot, … An incident reached several ways
    /// counts once in each; one reached no way is in none (`incidents` minus the console's
    /// count were never seen on a console).
    pub reached_by: BTreeMap<String, u64>,
}

/// The report rows at `now` (the time the report is made, from the hub's clock), one per key,
/// sorted by key (Unicode code point order, so ISO days sort by date). Keys whose records are
/// all left out have no row.
pub fn response_report(
    records: impl IntoIterator<Item = ReportRecord>,
    now: DateTime<Utc>,
) -> Vec<ReportRow> {
    #[derive(Default)]
    struct Acc {
        incidents: u64,
        within: u64,
        pending: u64,
        seconds: Vec<f64>,
        reached_by: BTreeMap<String, u64>,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for r in records {
        let standing = r.standing(now);
        if standing == Standing::LeftOut {
            continue;
        }
        let acc = groups.entry(r.key).or_default();
        if standing == Standing::Pending {
            acc.pending += 1;
            continue;
        }
        acc.incidents += 1;
        for way in &r.reached_by {
            *acc.reached_by.entry(way.clone()).or_default() += 1;
        }
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
                within_deadline_ratio: (acc.incidents > 0)
                    .then(|| acc.within as f64 / acc.incidents as f64),
                median_seconds: percentile(&acc.seconds, 0.5).map(to_millisecond),
                p90_seconds: percentile(&acc.seconds, 0.9).map(to_millisecond),
                pending: acc.pending,
                reached_by: acc.reached_by,
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
/// (shortest exact form); a missing ratio, median or p90 is an empty cell. The columns are the
/// JSON fields in their order (`pending` last, so that sheets reading the earlier columns by
/// position still find them). No byte order mark: a caller serving the file to a spreadsheet
/// may prepend one.
pub fn to_csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(
        "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds,\
         pending,reached_by\r\n",
    );
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let reached: Vec<String> = r
            .reached_by
            .iter()
            .map(|(w, n)| format!("{w}={n}"))
            .collect();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            csv_field(&r.key),
            r.incidents,
            r.on_scene,
            r.within_deadline,
            opt(r.within_deadline_ratio),
            opt(r.median_seconds),
            opt(r.p90_seconds),
            r.pending,
            csv_field(&reached.join(" ")),
        ));
    }
    out
}

/// One CSV cell: quoted when it must be, defused when a spreadsheet would run it.
pub(crate) fn csv_field(s: &str) -> String {
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

    fn min(m: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(m)
    }

    /// A day after t0: every incident of the data sets is past its deadline.
    fn later() -> DateTime<Utc> {
        t0() + Duration::days(1)
    }

    /// An incident raised `start` minutes after t0, on scene `took` seconds later (if at all),
    /// with the default 15-minute window, neither cancelled nor breached.
    fn rec(key: &str, start: i64, took: Option<i64>) -> ReportRecord {
        let created_at = min(start);
        ReportRecord {
            key: key.into(),
            created_at,
            on_scene_at: took.map(|s| created_at + Duration::seconds(s)),
            deadline_at: created_at + Duration::minutes(15),
            cancelled_at: None,
            breached_at: None,
            reached_by: BTreeSet::new(),
        }
    }

    /// `rec` cancelled at minute `at` (after t0).
    fn cancelled(mut r: ReportRecord, at: i64) -> ReportRecord {
        r.cancelled_at = Some(min(at));
        r
    }

    fn breached(mut r: ReportRecord) -> ReportRecord {
        r.breached_at = Some(r.deadline_at);
        r
    }

    /// (incidents, on_scene, within_deadline, pending) of the only row.
    fn counts(rows: &[ReportRow]) -> (u64, u64, u64, u64) {
        assert_eq!(rows.len(), 1, "{rows:?}");
        let r = &rows[0];
        (r.incidents, r.on_scene, r.within_deadline, r.pending)
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
        let rows = response_report(records, later());
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["Grid, \"B\"", "Zone C", "一网格"]);

        // Sorted 300, 600, 900, 1200: median = (600 + 900) / 2 = 750;
        // p90: h = 3 × 0.9 = 2.7 → 900 + 0.7 × (1200 − 900) = 1110.
        let g1 = &rows[2];
        assert_eq!((g1.incidents, g1.on_scene, g1.within_deadline), (5, 4, 3));
        assert_eq!(g1.within_deadline_ratio, Some(3.0 / 5.0));
        assert_eq!(g1.pending, 0);
        assert_eq!(g1.median_seconds, Some(750.0));
        assert_eq!(g1.p90_seconds, Some(1110.0));

        let b = &rows[0];
        assert_eq!((b.incidents, b.on_scene, b.within_deadline), (1, 1, 1));
        assert_eq!(b.within_deadline_ratio, Some(1.0));
        assert_eq!(
            (b.median_seconds, b.p90_seconds),
            (Some(240.0), Some(240.0))
        );

        let c = &rows[1];
        assert_eq!((c.incidents, c.on_scene, c.within_deadline), (2, 0, 0));
        assert_eq!(c.within_deadline_ratio, Some(0.0));
        assert_eq!((c.median_seconds, c.p90_seconds), (None, None));

        let csv = to_csv(&rows);
        assert_eq!(
            csv,
            "key,incidents,on_scene,within_deadline,within_deadline_ratio,median_seconds,p90_seconds,pending,reached_by\r\n\
             \"Grid, \"\"B\"\"\",1,1,1,1,240,240,0,\r\n\
             Zone C,2,0,0,0,,,0,\r\n\
             一网格,5,4,3,0.6,750,1110,0,\r\n"
        );
    }

    #[test]
    fn reached_by_counts_each_way_once_per_counted_incident() {
        let by = |ways: &[&str]| ways.iter().map(|w| w.to_string()).collect::<BTreeSet<_>>();
        let mut a = rec("g", 0, Some(300));
        a.reached_by = by(&["console", "sms"]);
        let mut b = rec("g", 1, Some(600));
        b.reached_by = by(&["sms", "voice"]);
        let c = rec("g", 2, None); // reached nobody, and broken
        let mut pending = rec("g", 60 * 23 + 50, None);
        pending.reached_by = by(&["console"]);
        let rows = response_report(vec![a, b, c, pending], later());
        let r = &rows[0];
        assert_eq!((r.incidents, r.pending), (3, 1));
        let counts: Vec<(&str, u64)> = r.reached_by.iter().map(|(w, n)| (w.as_str(), *n)).collect();
        assert_eq!(counts, [("console", 1), ("sms", 2), ("voice", 1)]);
        assert!(to_csv(&rows)
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(",console=1 sms=2 voice=1"));
    }

    #[test]
    fn no_records_no_rows() {
        assert!(response_report(Vec::new(), later()).is_empty());
        assert_eq!(to_csv(&[]).lines().count(), 1);
    }

    #[test]
    fn days_sort_by_date_and_seconds_keep_fractions() {
        let mut a = rec("2026-03-02", 0, None);
        a.on_scene_at = Some(a.created_at + Duration::milliseconds(90_500));
        let rows = response_report(
            vec![
                a,
                rec("2026-02-28", 0, Some(60)),
                rec("2026-03-01", 0, Some(60)),
            ],
            later(),
        );
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2026-02-28", "2026-03-01", "2026-03-02"]);
        assert_eq!(rows[2].median_seconds, Some(90.5));
    }

    #[test]
    fn late_arrival_is_on_scene_but_not_within() {
        let rows = response_report(vec![rec("g", 0, Some(901))], later());
        assert_eq!((rows[0].on_scene, rows[0].within_deadline), (1, 0));
    }

    #[test]
    fn cancelled_before_the_deadline_without_a_breach_is_left_out() {
        // A false alarm, and one cancelled after someone came, both before minute 15.
        let records = vec![
            cancelled(rec("g", 0, None), 5),
            cancelled(rec("g", 0, Some(300)), 8),
        ];
        assert!(response_report(records.clone(), later()).is_empty());
        // So is one cancelled while its deadline is still ahead: not pending either.
        assert!(response_report(records, min(10)).is_empty());
    }

    #[test]
    fn cancelled_after_the_deadline_is_a_broken_promise() {
        let rows = response_report(
            vec![
                // Nobody came; the resident gave up at minute 20, before any breach was
                // recorded.
                cancelled(rec("g", 0, None), 20),
                // Breached at minute 15, closed by an officer at minute 20.
                cancelled(breached(rec("g", 0, None)), 20),
                // Cancelled at the very second of the deadline: not before it.
                cancelled(rec("g", 0, None), 15),
                // A breach on record counts even if the cancel's time were earlier.
                cancelled(breached(rec("g", 0, None)), 14),
                // Reached in time, cancelled afterwards: the promise was kept.
                cancelled(rec("g", 0, Some(600)), 20),
            ],
            later(),
        );
        assert_eq!(counts(&rows), (5, 1, 1, 0));
        assert_eq!(rows[0].within_deadline_ratio, Some(0.2));
        assert_eq!(rows[0].median_seconds, Some(600.0));
    }

    #[test]
    fn open_and_not_yet_due_is_pending_not_broken() {
        // Three incidents raised in the last five minutes, nobody there yet.
        let fresh = || vec![rec("g", 0, None), rec("g", 2, None), rec("g", 5, None)];
        let rows = response_report(fresh(), min(5));
        assert_eq!(counts(&rows), (0, 0, 0, 3));
        assert_eq!(rows[0].within_deadline_ratio, None);
        assert_eq!((rows[0].median_seconds, rows[0].p90_seconds), (None, None));
        assert_eq!(
            to_csv(&rows).lines().nth(1),
            Some("g,0,0,0,,,,3,"),
            "no ratio yet: an empty cell"
        );
        // At the second of the first deadline that one is broken; the others still pending.
        let rows = response_report(fresh(), min(15));
        assert_eq!(counts(&rows), (1, 0, 0, 2));
        assert_eq!(rows[0].within_deadline_ratio, Some(0.0));
        // A day later all three are broken.
        assert_eq!(counts(&response_report(fresh(), later())), (3, 0, 0, 0));
    }

    #[test]
    fn pending_leaves_the_decided_figures_alone() {
        let records = vec![
            rec("g", 0, Some(300)), // kept
            rec("g", 0, None),      // broken: due at minute 15
            rec("g", 20, Some(60)), // reached with its deadline still ahead: kept, counted
            rec("g", 25, None),     // pending at minute 30
            rec("g", 28, None),     // pending at minute 30
        ];
        let rows = response_report(records, min(30));
        assert_eq!(counts(&rows), (3, 2, 2, 2));
        assert_eq!(rows[0].within_deadline_ratio, Some(2.0 / 3.0));
        // 60 and 300 seconds: the median is their mean.
        assert_eq!(rows[0].median_seconds, Some(180.0));
    }

    #[test]
    fn standing_of_a_record() {
        let open = rec("g", 0, None);
        assert_eq!(open.standing(min(14)), Standing::Pending);
        assert_eq!(open.standing(min(15)), Standing::Counted);
        assert_eq!(rec("g", 0, Some(60)).standing(min(1)), Standing::Counted);
        assert_eq!(
            cancelled(open.clone(), 14).standing(min(14)),
            Standing::LeftOut
        );
        assert_eq!(
            cancelled(open.clone(), 15).standing(later()),
            Standing::Counted
        );
        assert_eq!(
            cancelled(breached(open), 14).standing(later()),
            Standing::Counted
        );
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
