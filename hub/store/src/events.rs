//! Reading the event log: an incident's timeline, and everything after a seq (for the stream).
//! Events are written only with the change they record, in [`crate::changes`].

use crate::time::from_ms;
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::event::EventType;
use gridwatch_core::event::{Actor, Event, EventDraft};

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    #[sqlx(rename = "type")]
    kind: String,
    incident_id: Option<String>,
    actor: String,
    origin: String,
    data: String,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Event, StoreError> {
        let seq = r.seq.to_string();
        let kind =
            EventType::parse(&r.kind).ok_or_else(|| StoreError::corrupt("event", &seq, &r.kind))?;
        let data =
            serde_json::from_str(&r.data).map_err(|e| StoreError::corrupt("event", &seq, e))?;
        Ok(Event {
            seq: r.seq,
            kind,
            at: from_ms(r.at),
            incident_id: r.incident_id,
            actor: r.actor,
            origin: r.origin,
            data,
        })
    }
}

const COLUMNS: &str = "seq, at, type, incident_id, actor, origin, data";

impl Store {
    /// The incident's events, oldest first: its timeline and audit trail.
    pub async fn timeline(&self, incident_id: &str) -> Result<Vec<Event>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE incident_id = $1 ORDER BY seq");
        let rows: Vec<EventRow> = with_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(incident_id).fetch_all(p).await?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// The events that tell where each incident's dispatches stand (dispatched, escalated,
    /// delivered, undelivered), per incident in seq order: for
    /// [`gridwatch_core::delivery::latest`] over many incidents in one query.
    pub async fn delivery_events(
        &self,
        incident_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<Event>>, StoreError> {
        let mut out: std::collections::HashMap<String, Vec<Event>> = Default::default();
        let kinds = [
            EventType::IncidentDispatched,
            EventType::IncidentEscalated,
            EventType::IncidentDelivered,
            EventType::IncidentUndelivered,
        ]
        .map(|k| format!("'{}'", k.as_str()))
        .join(", ");
        for chunk in incident_ids.chunks(500) {
            let marks = crate::changes::numbered(chunk.len());
            let sql = format!(
                "SELECT {COLUMNS} FROM events WHERE incident_id IN ({marks}) \
                 AND type IN ({kinds}) ORDER BY seq"
            );
            let rows: Vec<EventRow> = with_pool!(self, p => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            for r in rows {
                let e = Event::try_from(r)?;
                if let Some(id) = e.incident_id.clone() {
                    out.entry(id).or_default().push(e);
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` events with a seq above `since`, in order.
    /// When `source` pressed SOS (a raise or a repeat press, committed) after `since`, newest
    /// first, at most `limit` of them. Read from the shared log, so every hub node on the
    /// database sees every node's presses (the per-caller limit holds across nodes). A press
    /// in the window is on an incident of the caller pressed last in it, so the incidents are
    /// found by `incidents(source, last_press_at)` and their events by
    /// `events(incident_id, seq)`.
    pub async fn recent_presses(
        &self,
        source: &gridwatch_core::incident::Source,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let since = crate::time::to_ms(since);
        let at: Vec<i64> = with_pool!(self, p => {
            sqlx::query_scalar(
                "SELECT e.at FROM incidents i JOIN events e ON e.incident_id = i.id \
                 WHERE i.source = $1 AND i.last_press_at > $2 AND e.at > $2 \
                 AND e.type IN ('incident.raised', 'incident.repeat') \
                 ORDER BY e.at DESC LIMIT $3",
            )
            .bind(source.to_string())
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?
        });
        Ok(at.into_iter().map(from_ms).collect())
    }

    pub async fn events_since(&self, since: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<EventRow> = with_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// The events after `since` about incidents raised by `source` (a resident's own), up to
    /// `limit`, oldest first: what a resident's replay may show, found through the incidents'
    /// source index instead of reading the whole log and filtering it (a resident's replay
    /// from 0 read 72,595 events to find 5).
    pub async fn events_since_raised_by(
        &self,
        source: &str,
        since: i64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let _slot = self.long_read().await;
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("e.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM events e JOIN incidents i ON i.id = e.incident_id \
             WHERE i.source = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
        );
        let rows: Vec<EventRow> = with_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(source)
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// [`Store::events_since`] for a console's replay: one of the long reads, which may wait
    /// for a place (the hub's own delivery reads the log without waiting).
    pub async fn replay_page(&self, since: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let _slot = self.long_read().await;
        self.events_since(since, limit).await
    }

    /// The seq of the latest event (0 before the first).
    pub async fn latest_seq(&self) -> Result<i64, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT seq FROM event_counter WHERE id = 1").fetch_one(p).await?
        }))
    }

    /// Records events that change no incident's state — `incident.delivered` (with the
    /// incident's id), `camera.online`/`offline`, `post.online`/`offline` (without) — in one
    /// transaction, with the next seqs of the log. Returns them as stored.
    pub async fn record_events(
        &self,
        incident_id: Option<&str>,
        drafts: &[EventDraft],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        let now = crate::time::stored(now);
        Ok(with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let events = crate::changes::append(&mut *tx, incident_id, drafts, actor, now).await?;
            tx.commit().await?;
            events
        }))
    }

    /// Events of `kinds` in `[from, to]`, newest first, at most `limit`; with `camera_id`, only
    /// those about that camera (`data.camera_id`). For audit lists: who took footage out.
    pub async fn events_of_kinds(
        &self,
        kinds: &[EventType],
        camera_id: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        if kinds.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // The kinds are our own constants, never the caller's words.
        let kinds_sql = kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        // The camera is found in the JSON text as serde writes it (`"camera_id":"…"`), which
        // both databases search alike; LIKE's own characters escaped, and checked again below.
        let pattern = camera_id.map(|c| {
            let written = serde_json::Value::from(c).to_string();
            let escaped = written
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%\"camera_id\":{escaped}%")
        });
        let camera_sql = if pattern.is_some() {
            " AND data LIKE $4 ESCAPE '\\'"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE type IN ({kinds_sql}) AND at >= $1 AND at <= $2\
             {camera_sql} ORDER BY at DESC, seq DESC LIMIT $3"
        );
        let (from, to) = (crate::time::to_ms(from), crate::time::to_ms(to));
        let rows: Vec<EventRow> = with_pool!(self, p => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .bind(to)
                .bind(i64::from(limit));
            if let Some(pattern) = &pattern {
                q = q.bind(pattern);
            }
            q.fetch_all(p).await?
        });
        let events: Vec<Event> = rows
            .into_iter()
            .map(Event::try_from)
            .collect::<Result<_, _>>()?;
        Ok(events
            .into_iter()
            .filter(|e| {
                camera_id
                    .is_none_or(|c| e.data.get("camera_id").and_then(|v| v.as_str()) == Some(c))
            })
            .collect())
    }

    /// One event by its seq.
    pub async fn event(&self, seq: i64) -> Result<Option<Event>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM events WHERE seq = $1");
        let row: Option<EventRow> = with_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(seq).fetch_optional(p).await?
        });
        row.map(Event::try_from).transpose()
    }

    /// Records that the dispatch event `dispatch_seq` reached a console of `post_id`
    /// (`incident.delivered`), once per dispatch and post however many consoles confirm it:
    /// the check runs under the log lock, so two consoles answering at once on two nodes
    /// record it once. `None` when it was already recorded.
    pub async fn record_delivery(
        &self,
        incident_id: &str,
        dispatch_seq: i64,
        post_id: &str,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Option<Event>, StoreError> {
        use crate::changes::ChangeTx;
        let now = crate::time::stored(now);
        let caller = format!("post:{post_id}");
        let key = format!("delivered:{dispatch_seq}");
        let draft = EventDraft::new(
            EventType::IncidentDelivered,
            serde_json::json!({ "post_id": post_id, "dispatch_seq": dispatch_seq }),
        );
        Ok(with_pool!(self, p => {
            // A receipt already recorded (a console sends one for each dispatch it shows, again
            // after every reconnect; a faulty one may repeat it without end) is answered
            // before the event log's lock, for which every incident write, SOS included,
            // waits. A connection of its own: a read transaction cannot take the lock after.
            if p.acquire().await?.keyed_incident(&caller, &key).await?.is_some() {
                return Ok(None);
            }
            let mut tx = p.begin().await?;
            tx.lock_log().await?;
            if tx.keyed_incident(&caller, &key).await?.is_some() {
                tx.rollback().await?;
                return Ok(None);
            }
            let mut events =
                crate::changes::append(&mut *tx, Some(incident_id), &[draft], actor, now).await?;
            tx.remember_key(&caller, &key, incident_id, crate::time::to_ms(now)).await?;
            tx.commit().await?;
            events.pop()
        }))
    }
}
