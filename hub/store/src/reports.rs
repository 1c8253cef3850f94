//! The response report (响应时效报表): the incidents of a period, keyed by grid, post or day,
//! counted by [`gridwatch_core::report`].

use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, FixedOffset, Utc};
use gridwatch_core::report::{response_report, ReportGroup, ReportRecord, ReportRow};
use std::collections::HashMap;

/// The key of incidents without a grid or a post.
pub const NO_GRID: &str = "(no grid)";
pub const NO_POST: &str = "(no post)";

impl Store {
    /// The report over incidents raised in `[from, to)`, cancelled ones left out (nobody was
    /// meant to arrive). Rows are keyed by the grid's name, the post's name (the post the
    /// incident was last dispatched to; `name (id)` when two posts share a name), or the day
    /// in the time zone `tz` (`YYYY-MM-DD`). A grid or post deleted since is keyed by its id.
    pub async fn response_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        group: ReportGroup,
        tz: FixedOffset,
    ) -> Result<Vec<ReportRow>, StoreError> {
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            i64,
        );
        let rows: Vec<Row> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT i.grid_id, g.name, i.post_id, p.name, i.created_at, i.on_scene_at, \
                 i.deadline_at FROM incidents i \
                 LEFT JOIN grids g ON g.id = i.grid_id \
                 LEFT JOIN posts p ON p.id = i.post_id \
                 WHERE i.created_at >= $1 AND i.created_at < $2 AND i.state <> 'cancelled'",
            )
            .bind(to_ms(from))
            .bind(to_ms(to))
            .fetch_all(p)
            .await?
        });
        // Post names that more than one post id carries get the id appended.
        let mut ids_of_name: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
        for (_, _, post, name, ..) in &rows {
            if let (Some(id), Some(name)) = (post, name) {
                ids_of_name.entry(name).or_default().insert(id);
            }
        }
        let records: Vec<ReportRecord> = rows
            .iter()
            .map(
                |(grid, grid_name, post, post_name, created, on_scene, deadline)| {
                    let created_at = from_ms(*created);
                    let key = match group {
                        ReportGroup::Grid => grid_name
                            .clone()
                            .or_else(|| grid.clone())
                            .unwrap_or_else(|| NO_GRID.into()),
                        ReportGroup::Post => match (post, post_name) {
                            (Some(id), Some(name)) if ids_of_name[name.as_str()].len() > 1 => {
                                format!("{name} ({id})")
                            }
                            (_, Some(name)) => name.clone(),
                            (Some(id), None) => id.clone(),
                            (None, None) => NO_POST.into(),
                        },
                        ReportGroup::Day => {
                            created_at.with_timezone(&tz).format("%Y-%m-%d").to_string()
                        }
                    };
                    ReportRecord {
                        key,
                        created_at,
                        on_scene_at: on_scene.map(from_ms),
                        deadline_at: from_ms(*deadline),
                    }
                },
            )
            .collect();
        Ok(response_report(records))
    }
}
