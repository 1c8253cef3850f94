//! The false-alarm report (误报率): per camera, how many of its motion alerts duty officers
//! dismissed as false alarms ([`crate::incident::Action::Dismiss`]). It tells an admin which
//! camera's zones, minimum area or schedule need another look: a camera whose alerts are
//! mostly dismissed trains the duty room to ignore it.
//!
//! Definitions, so that the figures mean the same to everyone who reads them:
//! - `alarms`: the camera's `motion` incidents raised in the period (those a duty officer
//!   raised by hand from the camera included: they name it the same way).
//! - `open`: of those, the ones still open: not decided yet, so in no figure below.
//! - `false_alarms`: of the closed ones, those dismissed as false alarms.
//! - `false_alarm_ratio = false_alarms / (alarms − open)`, `None` (JSON `null`, an empty CSV
//!   cell) while none is closed. Open alarms are left out of the denominator for the reason the
//!   response report keeps pending incidents apart: an alarm under way may still be dismissed,
//!   and counting it would make the rate read low while alarms are being handled.
//!
//! A row exists for every camera with at least one alarm in the period.

use crate::report::csv_field;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One motion incident, as the report needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRecord {
    pub camera_id: String,
    /// The camera's name now; `None` for a camera deleted since (the row is named by its id).
    pub camera_name: Option<String>,
    pub open: bool,
    pub false_alarm: bool,
}

/// One row of `GET /api/v1/reports/false-alarms`. See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FalseAlarmRow {
    pub camera_id: String,
    /// The camera's name (its id when it was deleted since).
    pub camera: String,
    pub alarms: u64,
    pub open: u64,
    pub false_alarms: u64,
    /// `false_alarms / (alarms − open)`, between 0 and 1; `None` while none is closed.
    pub false_alarm_ratio: Option<f64>,
}

/// The rows, one per camera, sorted by camera name (then id, for two cameras of one name).
pub fn false_alarm_report(records: impl IntoIterator<Item = AlarmRecord>) -> Vec<FalseAlarmRow> {
    let mut by_camera: BTreeMap<String, FalseAlarmRow> = BTreeMap::new();
    for r in records {
        let row = by_camera
            .entry(r.camera_id.clone())
            .or_insert_with(|| FalseAlarmRow {
                camera: r.camera_name.clone().unwrap_or_else(|| r.camera_id.clone()),
                camera_id: r.camera_id,
                alarms: 0,
                open: 0,
                false_alarms: 0,
                false_alarm_ratio: None,
            });
        row.alarms += 1;
        if r.open {
            row.open += 1;
        } else if r.false_alarm {
            row.false_alarms += 1;
        }
    }
    let mut rows: Vec<FalseAlarmRow> = by_camera
        .into_values()
        .map(|mut row| {
            let closed = row.alarms - row.open;
            row.false_alarm_ratio = (closed > 0).then(|| row.false_alarms as f64 / closed as f64);
            row
        })
        .collect();
    rows.sort_by(|a, b| (&a.camera, &a.camera_id).cmp(&(&b.camera, &b.camera_id)));
    rows
}

/// The rows as CSV, written as the response report's ([`crate::report::to_csv`]): a header
/// line, CRLF, names quoted and defused against spreadsheet formulas, a missing ratio empty.
pub fn to_csv(rows: &[FalseAlarmRow]) -> String {
    let mut out = String::from("camera_id,camera,alarms,open,false_alarms,false_alarm_ratio\r\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            csv_field(&r.camera_id),
            csv_field(&r.camera),
            r.alarms,
            r.open,
            r.false_alarms,
            r.false_alarm_ratio
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(camera: &str, name: Option<&str>, open: bool, false_alarm: bool) -> AlarmRecord {
        AlarmRecord {
            camera_id: camera.into(),
            camera_name: name.map(Into::into),
            open,
            false_alarm,
        }
    }

    #[test]
    fn the_rate_is_of_closed_alarms_per_camera() {
        let rows = false_alarm_report([
            // The yard: four alarms, one open; of the three closed, two were false.
            alarm("c1", Some("后院"), false, true),
            alarm("c1", Some("后院"), false, true),
            alarm("c1", Some("后院"), false, false),
            alarm("c1", Some("后院"), true, false),
            // The gate: one alarm, real.
            alarm("c2", Some("东门"), false, false),
            // Only open alarms: no rate yet.
            alarm("c3", Some("北门"), true, false),
        ]);
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.camera.as_str(),
                    r.alarms,
                    r.open,
                    r.false_alarms,
                    r.false_alarm_ratio,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("东门", 1, 0, 0, Some(0.0)),
                ("北门", 1, 1, 0, None),
                ("后院", 4, 1, 2, Some(2.0 / 3.0)),
            ]
        );
        assert!(false_alarm_report([]).is_empty());
    }

    #[test]
    fn a_deleted_camera_is_named_by_its_id_and_same_names_stay_apart() {
        let rows = false_alarm_report([
            alarm("gone", None, false, true),
            alarm("b", Some("门"), false, true),
            alarm("a", Some("门"), false, false),
        ]);
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.camera.as_str(), r.camera_id.as_str()))
            .collect();
        assert_eq!(names, [("gone", "gone"), ("门", "a"), ("门", "b")]);
        assert_eq!(rows[0].false_alarm_ratio, Some(1.0));
    }

    #[test]
    fn csv_has_a_header_empty_missing_ratios_and_defused_names() {
        let rows = false_alarm_report([
            alarm("c1", Some("=HYPERLINK(\"x\")"), false, true),
            alarm("c1", Some("=HYPERLINK(\"x\")"), false, false),
            alarm("c2", Some("gate, east"), true, false),
        ]);
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "camera_id,camera,alarms,open,false_alarms,false_alarm_ratio"
        );
        assert_eq!(lines[1], "c1,\"'=HYPERLINK(\"\"x\"\")\",2,0,1,0.5");
        assert_eq!(lines[2], "c2,\"gate, east\",1,1,0,");
        assert_eq!(lines[3], "");
    }
}
