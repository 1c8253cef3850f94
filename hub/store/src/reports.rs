//! The response report (响应时效报表): the incidents of a period, keyed by grid, post or day,
//! counted by [`gridwatch_core::report`], which also decides which of them count (cancelled
//! before the deadline without a breach: left out; nobody on scene yet and not yet due:
//! pending).

use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, FixedOffset, Utc};
use gridwatch_core::report::{response_report, ReportGroup, ReportRecord, ReportRow, Standing};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The key of incidents without a grid or a post.
pub const NO_GRID: &str = "(no grid)";
pub const NO_POST: &str = "(no post)";

impl Store {
    /// The report at `now` (the time it is made, from the hub's clock) over incidents raised
    /// in `[from, to)`. Rows are keyed by the grid's name, the post's name (the post the
    /// incident was last dispatched to; `name (id)` when two posts share a name), or the day
    /// in the time zone `tz` (`YYYY-MM-DD`). A grid or post deleted since is keyed by its id.
    ///
    /// Every incident of the period is read, cancelled ones included: those cancelled before
    /// their deadline without a breach are left out, those cancelled later count as not
    /// within; those with nobody on scene whose deadline is after `now` are `pending`, even
    /// when the deadline falls after `to` (see [`gridwatch_core::report`]).
    pub async fn response_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: ReportGroup,
        tz: FixedOffset,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let _slot = self.long_read().await;
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            i64,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT i.id, i.grid_id, g.name, i.post_id, p.name, i.created_at, i.on_scene_at, \
                 i.deadline_at, \
                 CASE WHEN i.state = 'cancelled' THEN COALESCE(i.closed_at, i.updated_at) END, \
                 i.breached_at FROM incidents i \
                 LEFT JOIN grids g ON g.id = i.grid_id \
                 LEFT JOIN posts p ON p.id = i.post_id \
                 WHERE i.created_at >= $1 AND i.created_at < $2",
            )
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(p)
            .await?
        });
        let mut reached = self.reached_by(from, to).await?;
        /// Where an incident belongs, for its key.
        struct Place {
            grid: Option<String>,
            grid_name: Option<String>,
            post: Option<String>,
            post_name: Option<String>,
        }
        // The incidents that count or are pending, with their place; the key is set below,
        // once it is known which post names more than one of them share.
        let mut kept: Vec<(ReportRecord, Place)> = rows
            .into_iter()
            .map(
                |(
                    id,
                    grid,
                    grid_name,
                    post,
                    post_name,
                    created,
                    on_scene,
                    deadline,
                    cancelled,
                    breached,
                )| {
                    let record = ReportRecord {
                        key: String::new(),
                        created_at: from_ms(created),
                        on_scene_at: on_scene.map(from_ms),
                        deadline_at: from_ms(deadline),
                        cancelled_at: cancelled.map(from_ms),
                        breached_at: breached.map(from_ms),
                        reached_by: reached.remove(&id).unwrap_or_default(),
                    };
                    let place = Place {
                        grid,
                        grid_name,
                        post,
                        post_name,
                    };
                    (record, place)
                },
            )
            .filter(|(r, _)| r.standing(now) != Standing::LeftOut)
            .collect();
        // Post names that more than one post id carries get the id appended.
        let mut ids_of_name: HashMap<String, HashSet<String>> = HashMap::new();
        for (_, place) in &kept {
            if let (Some(id), Some(name)) = (&place.post, &place.post_name) {
                ids_of_name
                    .entry(name.clone())
                    .or_default()
                    .insert(id.clone());
            }
        }
        for (record, place) in &mut kept {
            record.key = match group {
                ReportGroup::Grid => place
                    .grid_name
                    .take()
                    .or_else(|| place.grid.take())
                    .unwrap_or_else(|| NO_GRID.into()),
                ReportGroup::Post => match (place.post.take(), place.post_name.take()) {
                    (Some(id), Some(name)) if ids_of_name[&name].len() > 1 => {
                        format!("{name} ({id})")
                    }
                    (_, Some(name)) => name,
                    (Some(id), None) => id,
                    (None, None) => NO_POST.into(),
                },
                ReportGroup::Day => record
                    .created_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d")
                    .to_string(),
            };
        }
        let records = kept.into_iter().map(|(record, _)| record);
        Ok(response_report(records, now))
    }

    /// How each incident raised in `[from, to)` reached people: `console` when a console
    /// confirmed receipt (`incident.delivered`), and each notification channel with a delivery
    /// sent (issue 18).
    async fn reached_by(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<String, BTreeSet<String>>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT e.incident_id, 'console' FROM events e \
                 JOIN incidents i ON i.id = e.incident_id \
                 WHERE e.type = 'incident.delivered' AND i.created_at >= $1 AND i.created_at < $2 \
                 UNION \
                 SELECT d.incident_id, d.channel FROM notify_deliveries d \
                 JOIN incidents i ON i.id = d.incident_id \
                 WHERE d.status = 'sent' AND i.created_at >= $1 AND i.created_at < $2",
            )
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(p)
            .await?
        });
        let mut by: HashMap<String, BTreeSet<String>> = HashMap::new();
        for (incident, way) in rows {
            by.entry(incident).or_default().insert(way);
        }
        Ok(by)
    }
}
