//! The false-alarm report (误报率): the `motion` incidents raised in a period, per camera,
//! counted by [`gridwatch_core::false_alarms`] (which also says what the figures mean).

use crate::time::to_ms;
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::false_alarms::{false_alarm_report, AlarmRecord, FalseAlarmRow};
use gridwatch_core::incident::{IncidentKind, IncidentState};

impl Store {
    /// The report over `motion` incidents naming a camera, raised in `[from, to)`. A camera
    /// deleted since keeps its row, named by its id.
    pub async fn false_alarm_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FalseAlarmRow>, StoreError> {
        let _slot = self.long_read().await;
        let rows: Vec<(String, Option<String>, String, bool)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT i.camera_id, c.name, i.state, i.false_alarm FROM incidents i \
                 LEFT JOIN cameras c ON c.id = i.camera_id \
                 WHERE i.kind = $1 AND i.camera_id IS NOT NULL \
                 AND i.created_at >= $2 AND i.created_at < $3",
            )
            .bind(IncidentKind::Motion.as_str())
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(p)
            .await?
        });
        let records = rows
            .into_iter()
            .map(|(camera_id, camera_name, state, false_alarm)| {
                let open = IncidentState::parse(&state).is_none_or(IncidentState::is_open);
                AlarmRecord {
                    camera_id,
                    camera_name,
                    open,
                    false_alarm,
                }
            });
        Ok(false_alarm_report(records))
    }
}
