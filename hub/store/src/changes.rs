//! Applying a [`Change`] to an incident in one transaction: the incident row, its events with
//! their seqs, and its deadlines, all or nothing.
//!
//! **The log lock.** Every transaction that records events starts by locking the one row of
//! `event_counter` (`UPDATE event_counter SET seq = seq … RETURNING seq`) and ends by writing
//! the last seq it used back into it. On PostgreSQL the row lock makes every other writer wait
//! until commit, so seqs are gap-free (a rollback gives its numbers back) and commits happen in
//! seq order: a reader that has seen seq N and asks for more misses nothing. On SQLite the
//! first statement being a write takes the database's write lock, with the same effect. Taking
//! this lock *first*, always, also gives one lock order (counter, then incident and deadline
//! rows), so two writers never deadlock; and it serialises the check-then-insert of repeat
//! presses and idempotency keys, so ten simultaneous presses make one incident. The price is
//! that incident writes run one at a time; each is a handful of indexed statements.
//!
//! The statements differ per driver only in type, so they are written once, in the macro
//! [`impl_change_tx!`], and implemented for both connection types; the logic over them
//! ([`raise`], [`act`], [`fire`]) is generic.

use crate::incidents::{IncidentRow, INCIDENT_COLUMNS};
use crate::time::{from_ms, to_ms};
use crate::StoreError;
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::change::{self, Change, Raise, TimerChange};
use gridwatch_core::event::{Actor, Event, EventDraft};
use gridwatch_core::incident::{Action, Incident, IncidentState};
use gridwatch_core::response_check::{Timer, TimerOutcome};
use gridwatch_core::ValidationError;
use serde_json::Value;
use std::future::Future;

/// The statements a change is made of.
pub(crate) trait ChangeTx: Send {
    /// Locks the log; returns the last seq used.
    fn lock_log(&mut self) -> impl Future<Output = Result<i64, sqlx::Error>> + Send;
    fn set_log(&mut self, seq: i64) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    fn insert_event(&mut self, e: &Event) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Writes the outbox rows of the events that may notify someone (issue 18), in the same
    /// transaction as the events.
    fn enqueue_notifications(
        &mut self,
        es: &[Event],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    fn insert_incident(
        &mut self,
        i: &Incident,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Writes the incident if it is still in `prev_state`; returns the rows changed.
    fn update_incident(
        &mut self,
        i: &Incident,
        prev_state: IncidentState,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    fn load_incident(
        &mut self,
        id: &str,
    ) -> impl Future<Output = Result<Option<IncidentRow>, sqlx::Error>> + Send;
    /// The open incident of `source` pressed last at or after `since_ms`, if any.
    fn repeatable(
        &mut self,
        source: &str,
        since_ms: i64,
    ) -> impl Future<Output = Result<Option<IncidentRow>, sqlx::Error>> + Send;
    fn keyed_incident(
        &mut self,
        caller: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, sqlx::Error>> + Send;
    fn remember_key(
        &mut self,
        caller: &str,
        key: &str,
        incident_id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Arms the timer, replacing the incident's timer of the same kind, fired or not.
    fn arm(
        &mut self,
        incident_id: &str,
        timer: &Timer,
        due_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Forgets the pending timer of `kind`, or every pending timer.
    fn disarm(
        &mut self,
        incident_id: &str,
        kind: Option<&str>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Marks the pending, due timer fired; its JSON and due time if this call did it.
    fn claim(
        &mut self,
        incident_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<(String, i64)>, sqlx::Error>> + Send;
    fn post_exists(&mut self, id: &str) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;
    /// Several events in one statement (one round trip instead of one each).
    fn insert_events(
        &mut self,
        es: &[Event],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// [`ChangeTx::arm`] for several timers of different kinds, in one statement.
    fn arm_all(
        &mut self,
        incident_id: &str,
        timers: &[(&Timer, i64)],
        now_ms: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// `($1, $2, …), ($n+1, …), …`: `rows` tuples of `width` numbered placeholders.
pub(crate) fn placeholders(rows: usize, width: usize) -> String {
    let row = |r: usize| {
        let cols: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
        format!("({})", cols.join(", "))
    };
    let all: Vec<String> = (0..rows).map(row).collect();
    all.join(", ")
}

/// `$1, $2, …, $n`: `n` numbered placeholders, for `IN (…)`.
pub(crate) fn numbered(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `('raised', 'dispatched', …)`: the open states, for `IN`.
pub(crate) fn open_states_sql() -> String {
    let names: Vec<String> = IncidentState::OPEN
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", names.join(", "))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_ms)
}

const INSERT_INCIDENT: &str = "INSERT INTO incidents (id, kind, state, source, grid_id, post_id, \
     chain_position, lat, lon, note, camera_id, cameras, urgent, repeat_count, escalation_level, \
     post_chain, policy, created_at, deadline_at, last_press_at, dispatched_at, acknowledged_at, \
     on_scene_at, resolved_at, closed_at, at_risk_at, breached_at, false_alarm, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)";

/// What may change after the raise; kind, source, chain, policy and times of creation never do.
const UPDATE_INCIDENT: &str = "UPDATE incidents SET state = $1, grid_id = $2, post_id = $3, \
     chain_position = $4, lat = $5, lon = $6, note = $7, cameras = $8, urgent = $9, \
     repeat_count = $10, escalation_level = $11, last_press_at = $12, dispatched_at = $13, \
     acknowledged_at = $14, on_scene_at = $15, resolved_at = $16, closed_at = $17, \
     at_risk_at = $18, breached_at = $19, false_alarm = $20, updated_at = $21 \
     WHERE id = $22 AND state = $23";

macro_rules! impl_change_tx {
    ($conn:ty) => {
        impl ChangeTx for $conn {
            async fn lock_log(&mut self) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar("UPDATE event_counter SET seq = seq WHERE id = 1 RETURNING seq")
                    .fetch_one(&mut *self)
                    .await
            }

            async fn set_log(&mut self, seq: i64) -> Result<(), sqlx::Error> {
                sqlx::query("UPDATE event_counter SET seq = $1 WHERE id = 1")
                    .bind(seq)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn insert_event(&mut self, e: &Event) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO events (seq, at, type, incident_id, actor, origin, data) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(e.seq)
                .bind(to_ms(e.at))
                .bind(e.kind.as_str())
                .bind(&e.incident_id)
                .bind(&e.actor)
                .bind(&e.origin)
                .bind(json(&e.data))
                .execute(&mut *self)
                .await?;
                self.enqueue_notifications(std::slice::from_ref(e)).await
            }

            async fn enqueue_notifications(&mut self, es: &[Event]) -> Result<(), sqlx::Error> {
                let due: Vec<&Event> = es
                    .iter()
                    .filter(|e| gridwatch_core::notify::is_notifiable(e.kind))
                    .collect();
                if due.is_empty() {
                    return Ok(());
                }
                let sql = format!(
                    "INSERT INTO notify_outbox (event_seq, created_at) VALUES {}",
                    placeholders(due.len(), 2)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for e in due {
                    q = q.bind(e.seq).bind(to_ms(e.at));
                }
                q.execute(&mut *self).await?;
                Ok(())
            }

            async fn insert_incident(&mut self, i: &Incident) -> Result<(), sqlx::Error> {
                sqlx::query(INSERT_INCIDENT)
                    .bind(&i.id)
                    .bind(i.kind.as_str())
                    .bind(i.state.as_str())
                    .bind(i.source.to_string())
                    .bind(&i.grid_id)
                    .bind(&i.post_id)
                    .bind(i.chain_position.map(|p| p as i64))
                    .bind(i.lat)
                    .bind(i.lon)
                    .bind(&i.note)
                    .bind(&i.camera_id)
                    .bind(json(&i.cameras))
                    .bind(i.urgent)
                    .bind(i64::from(i.repeat_count))
                    .bind(i64::from(i.escalation_level))
                    .bind(json(&i.post_chain))
                    .bind(json(&i.policy))
                    .bind(to_ms(i.created_at))
                    .bind(to_ms(i.deadline_at))
                    .bind(to_ms(i.last_press_at))
                    .bind(opt_ms(i.dispatched_at))
                    .bind(opt_ms(i.acknowledged_at))
                    .bind(opt_ms(i.on_scene_at))
                    .bind(opt_ms(i.resolved_at))
                    .bind(opt_ms(i.closed_at))
                    .bind(opt_ms(i.at_risk_at))
                    .bind(opt_ms(i.breached_at))
                    .bind(i.false_alarm)
                    .bind(to_ms(i.updated_at))
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn update_incident(
                &mut self,
                i: &Incident,
                prev_state: IncidentState,
            ) -> Result<u64, sqlx::Error> {
                Ok(sqlx::query(UPDATE_INCIDENT)
                    .bind(i.state.as_str())
                    .bind(&i.grid_id)
                    .bind(&i.post_id)
                    .bind(i.chain_position.map(|p| p as i64))
                    .bind(i.lat)
                    .bind(i.lon)
                    .bind(&i.note)
                    .bind(json(&i.cameras))
                    .bind(i.urgent)
                    .bind(i64::from(i.repeat_count))
                    .bind(i64::from(i.escalation_level))
                    .bind(to_ms(i.last_press_at))
                    .bind(opt_ms(i.dispatched_at))
                    .bind(opt_ms(i.acknowledged_at))
                    .bind(opt_ms(i.on_scene_at))
                    .bind(opt_ms(i.resolved_at))
                    .bind(opt_ms(i.closed_at))
                    .bind(opt_ms(i.at_risk_at))
                    .bind(opt_ms(i.breached_at))
                    .bind(i.false_alarm)
                    .bind(to_ms(i.updated_at))
                    .bind(&i.id)
                    .bind(prev_state.as_str())
                    .execute(&mut *self)
                    .await?
                    .rows_affected())
            }

            async fn load_incident(&mut self, id: &str) -> Result<Option<IncidentRow>, sqlx::Error> {
                let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn repeatable(
                &mut self,
                source: &str,
                since_ms: i64,
            ) -> Result<Option<IncidentRow>, sqlx::Error> {
                let sql = format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE source = $1 \
                     AND last_press_at >= $2 AND state IN {} \
                     ORDER BY last_press_at DESC, id DESC LIMIT 1",
                    open_states_sql()
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(source)
                    .bind(since_ms)
                    .fetch_optional(&mut *self)
                    .await
            }

            async fn keyed_incident(
                &mut self,
                caller: &str,
                key: &str,
            ) -> Result<Option<String>, sqlx::Error> {
                sqlx::query_scalar(
                    "SELECT incident_id FROM idempotency_keys WHERE caller = $1 AND key = $2",
                )
                .bind(caller)
                .bind(key)
                .fetch_optional(&mut *self)
                .await
            }

            async fn remember_key(
                &mut self,
                caller: &str,
                key: &str,
                incident_id: &str,
                now_ms: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO idempotency_keys (caller, key, incident_id, created_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(caller)
                .bind(key)
                .bind(incident_id)
                .bind(now_ms)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn arm(
                &mut self,
                incident_id: &str,
                timer: &Timer,
                due_ms: i64,
                now_ms: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO deadlines (incident_id, kind, timer, due_at, armed_at, fired_at) \
                     VALUES ($1, $2, $3, $4, $5, NULL) \
                     ON CONFLICT (incident_id, kind) DO UPDATE SET timer = excluded.timer, \
                     due_at = excluded.due_at, armed_at = excluded.armed_at, fired_at = NULL",
                )
                .bind(incident_id)
                .bind(timer.kind())
                .bind(json(timer))
                .bind(due_ms)
                .bind(now_ms)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn disarm(&mut self, incident_id: &str, kind: Option<&str>) -> Result<(), sqlx::Error> {
                match kind {
                    Some(k) => {
                        sqlx::query(
                            "DELETE FROM deadlines WHERE incident_id = $1 AND kind = $2 \
                             AND fired_at IS NULL",
                        )
                        .bind(incident_id)
                        .bind(k)
                        .execute(&mut *self)
                        .await?
                    }
                    None => {
                        sqlx::query("DELETE FROM deadlines WHERE incident_id = $1 AND fired_at IS NULL")
                            .bind(incident_id)
                            .execute(&mut *self)
                            .await?
                    }
                };
                Ok(())
            }

            async fn claim(
                &mut self,
                incident_id: &str,
                kind: &str,
                now_ms: i64,
            ) -> Result<Option<(String, i64)>, sqlx::Error> {
                sqlx::query_as(
                    "UPDATE deadlines SET fired_at = $1 WHERE incident_id = $2 AND kind = $3 \
                     AND fired_at IS NULL AND due_at <= $1 RETURNING timer, due_at",
                )
                .bind(now_ms)
                .bind(incident_id)
                .bind(kind)
                .fetch_optional(&mut *self)
                .await
            }

            async fn insert_events(&mut self, es: &[Event]) -> Result<(), sqlx::Error> {
                let sql = format!(
                    "INSERT INTO events (seq, at, type, incident_id, actor, origin, data) \
                     VALUES {}",
                    placeholders(es.len(), 7)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for e in es {
                    q = q
                        .bind(e.seq)
                        .bind(to_ms(e.at))
                        .bind(e.kind.as_str())
                        .bind(&e.incident_id)
                        .bind(&e.actor)
                        .bind(&e.origin)
                        .bind(json(&e.data));
                }
                q.execute(&mut *self).await?;
                self.enqueue_notifications(es).await
            }

            async fn arm_all(
                &mut self,
                incident_id: &str,
                timers: &[(&Timer, i64)],
                now_ms: i64,
            ) -> Result<(), sqlx::Error> {
                let sql = format!(
                    "INSERT INTO deadlines (incident_id, kind, timer, due_at, armed_at, fired_at) \
                     VALUES {} \
                     ON CONFLICT (incident_id, kind) DO UPDATE SET timer = excluded.timer, \
                     due_at = excluded.due_at, armed_at = excluded.armed_at, fired_at = NULL",
                    placeholders(timers.len(), 6)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (timer, due_ms) in timers {
                    q = q
                        .bind(incident_id)
                        .bind(timer.kind())
                        .bind(json(*timer))
                        .bind(*due_ms)
                        .bind(now_ms)
                        .bind(None::<i64>);
                }
                q.execute(&mut *self).await?;
                Ok(())
            }

            async fn post_exists(&mut self, id: &str) -> Result<bool, sqlx::Error> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM posts WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *self)
                    .await?;
                Ok(n > 0)
            }
        }
    };
}

impl_change_tx!(sqlx::SqliteConnection);
impl_change_tx!(sqlx::PgConnection);

/// The events of one transaction, numbered from the locked counter.
struct Log {
    last: i64,
    actor: Actor,
    written: Vec<Event>,
}

impl Log {
    async fn open<C: ChangeTx>(c: &mut C, actor: &Actor) -> Result<Log, StoreError> {
        Ok(Log {
            last: c.lock_log().await?,
            actor: actor.clone(),
            written: vec![],
        })
    }

    /// Writes the counter back: the seqs used are taken.
    async fn close<C: ChangeTx>(self, c: &mut C) -> Result<Vec<Event>, StoreError> {
        if !self.written.is_empty() {
            c.set_log(self.last).await?;
        }
        Ok(self.written)
    }
}

/// Writes a change: the incident (inserted when `prev_state` is `None`, else updated if still
/// in that state), its events and its timers.
async fn record<C: ChangeTx>(
    c: &mut C,
    log: &mut Log,
    prev_state: Option<IncidentState>,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let inc = &change.incident;
    match prev_state {
        None => c.insert_incident(inc).await?,
        Some(prev) => {
            if c.update_incident(inc, prev).await? == 0 {
                // Cannot happen under the log lock; refuse rather than write over a change.
                return Err(StoreError::Conflict(format!(
                    "incident {} changed under way; try again",
                    inc.id
                )));
            }
        }
    }
    let mut events = Vec::with_capacity(change.events.len());
    for draft in &change.events {
        log.last += 1;
        events.push(Event {
            seq: log.last,
            kind: draft.kind,
            at: now,
            incident_id: Some(inc.id.clone()),
            actor: log.actor.actor.clone(),
            origin: log.actor.origin.clone(),
            data: draft.data.clone(),
        });
    }
    match events.len() {
        0 => {}
        1 => c.insert_event(&events[0]).await?,
        _ => c.insert_events(&events).await?,
    }
    log.written.extend(events);
    // Only arms, of different kinds (a raise's): one statement. Otherwise one at a time, in
    // order, since a disarm and an arm of the same kind must not be reordered.
    let arms: Vec<(&Timer, i64)> = change
        .timers
        .iter()
        .filter_map(|t| match t {
            TimerChange::Arm { timer, due_at } => Some((timer, to_ms(*due_at))),
            _ => None,
        })
        .collect();
    let kinds: std::collections::HashSet<&str> = arms.iter().map(|(t, _)| t.kind()).collect();
    if arms.len() > 1 && arms.len() == change.timers.len() && kinds.len() == arms.len() {
        c.arm_all(&inc.id, &arms, to_ms(now)).await?;
        return Ok(());
    }
    for t in &change.timers {
        match t {
            TimerChange::Arm { timer, due_at } => {
                c.arm(&inc.id, timer, to_ms(*due_at), to_ms(now)).await?
            }
            TimerChange::Disarm(kind) => c.disarm(&inc.id, Some(kind)).await?,
            TimerChange::DisarmAll => c.disarm(&inc.id, None).await?,
        }
    }
    Ok(())
}

async fn load<C: ChangeTx>(c: &mut C, id: &str) -> Result<Incident, StoreError> {
    c.load_incident(id)
        .await?
        .ok_or_else(|| StoreError::not_found("incident", id))?
        .try_into()
}

/// How a raise ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaiseOutcome {
    /// A new incident (HTTP 201).
    Raised,
    /// A repeat press of the same caller while its incident is open: recorded on it (200).
    Repeated,
    /// The same `Idempotency-Key` again: the incident it made, nothing recorded (200).
    Replayed,
}

/// A raise to make: the incident (routed), who asks, and the rules for the same caller.
#[derive(Debug, Clone)]
pub struct RaiseRequest {
    pub raise: Raise,
    pub actor: Actor,
    /// Treat a press within this long of the caller's last press on an open incident as a
    /// repeat of it (SOS: 120 s); `None` always raises.
    pub repeat_window: Option<Duration>,
    /// The caller's `Idempotency-Key`, scoped to the caller (the incident's source).
    pub idempotency_key: Option<String>,
}

/// The incident a raise ended with, and the events it recorded.
#[derive(Debug, Clone)]
pub struct Raised {
    pub incident: Incident,
    pub outcome: RaiseOutcome,
    pub events: Vec<Event>,
}

pub(crate) async fn raise<C: ChangeTx>(
    c: &mut C,
    req: &RaiseRequest,
    now: DateTime<Utc>,
) -> Result<Raised, StoreError> {
    let last = c.lock_log().await?;
    let (raised, used) = raise_logged(c, req, now, last).await?;
    if used != last {
        c.set_log(used).await?;
    }
    Ok(raised)
}

/// [`raise`] under a log lock the caller holds, numbering events after `last`; returns the
/// raise and the last seq now used, for the caller to write back into the counter once (group
/// commit makes several raises under one lock).
pub(crate) async fn raise_logged<C: ChangeTx>(
    c: &mut C,
    req: &RaiseRequest,
    now: DateTime<Utc>,
    last: i64,
) -> Result<(Raised, i64), StoreError> {
    let mut log = Log {
        last,
        actor: req.actor.clone(),
        written: vec![],
    };
    let caller = req.raise.source.to_string();
    if let Some(key) = &req.idempotency_key {
        if let Some(id) = c.keyed_incident(&caller, key).await? {
            let raised = Raised {
                incident: load(c, &id).await?,
                outcome: RaiseOutcome::Replayed,
                events: vec![],
            };
            return Ok((raised, last));
        }
    }
    let repeat_of = match req.repeat_window {
        Some(window) => c.repeatable(&caller, to_ms(now - window)).await?,
        None => None,
    };
    let (change, prev, outcome) = match repeat_of {
        Some(row) => {
            let inc: Incident = row.try_into()?;
            let location = req.raise.lat.zip(req.raise.lon);
            let change = change::repeat(&inc, location, req.raise.note.as_deref(), now);
            (change, Some(inc.state), RaiseOutcome::Repeated)
        }
        None => (
            change::raise(req.raise.clone(), now),
            None,
            RaiseOutcome::Raised,
        ),
    };
    record(c, &mut log, prev, &change, now).await?;
    if let Some(key) = &req.idempotency_key {
        c.remember_key(&caller, key, &change.incident.id, to_ms(now))
            .await?;
    }
    let raised = Raised {
        incident: change.incident,
        outcome,
        events: log.written,
    };
    Ok((raised, log.last))
}

/// An action done, and the events it recorded.
#[derive(Debug, Clone)]
pub struct Applied {
    pub incident: Incident,
    pub events: Vec<Event>,
}

pub(crate) async fn act<C, G>(
    c: &mut C,
    id: &str,
    action: &Action,
    actor: &Actor,
    extra: Option<&Value>,
    now: DateTime<Utc>,
    guard: G,
) -> Result<Applied, StoreError>
where
    C: ChangeTx,
    G: FnOnce(&Incident) -> Result<(), StoreError>,
{
    let mut log = Log::open(c, actor).await?;
    let inc = load(c, id).await?;
    guard(&inc)?;
    action.validate()?;
    if let Action::Dispatch { post_id } = action {
        if !c.post_exists(post_id).await? {
            return Err(
                ValidationError::new("post_id", format!("no post with id {post_id}")).into(),
            );
        }
    }
    let mut change = change::apply(&inc, action, now)?;
    if let Some(extra) = extra {
        change = change.with_data(extra);
    }
    record(c, &mut log, Some(inc.state), &change, now).await?;
    Ok(Applied {
        incident: change.incident,
        events: log.close(c).await?,
    })
}

/// A deadline this node fired, and what came of it.
#[derive(Debug, Clone)]
pub struct Fired {
    pub incident: Incident,
    pub timer: Timer,
    pub due_at: DateTime<Utc>,
    pub outcome: TimerOutcome,
    pub events: Vec<Event>,
}

pub(crate) async fn fire<C: ChangeTx>(
    c: &mut C,
    incident_id: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<Option<Fired>, StoreError> {
    let mut log = Log::open(c, &Actor::timer()).await?;
    let Some((timer, due_ms)) = c.claim(incident_id, kind, to_ms(now)).await? else {
        return Ok(None);
    };
    let timer: Timer = serde_json::from_str(&timer)
        .map_err(|e| StoreError::corrupt("deadline of incident", incident_id, e))?;
    let inc = load(c, incident_id).await?;
    let (outcome, change) = change::fire(&inc, &timer, now);
    if !change.is_empty() {
        record(c, &mut log, Some(inc.state), &change, now).await?;
    }
    Ok(Some(Fired {
        incident: change.incident,
        timer,
        due_at: from_ms(due_ms),
        outcome,
        events: log.close(c).await?,
    }))
}

/// Appends events that change no incident: a console's receipt (`incident.delivered`), a
/// camera or a post coming and going. Numbered under the log lock like every other event.
pub(crate) async fn append<C: ChangeTx>(
    c: &mut C,
    incident_id: Option<&str>,
    drafts: &[EventDraft],
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, StoreError> {
    let mut log = Log::open(c, actor).await?;
    for draft in drafts {
        log.last += 1;
        let e = Event {
            seq: log.last,
            kind: draft.kind,
            at: now,
            incident_id: incident_id.map(str::to_owned),
            actor: actor.actor.clone(),
            origin: actor.origin.clone(),
            data: draft.data.clone(),
        };
        c.insert_event(&e).await?;
        log.written.push(e);
    }
    log.close(c).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn open_states_list_every_open_state() {
        assert_eq!(
            super::open_states_sql(),
            "('raised', 'dispatched', 'acknowledged', 'en_route', 'on_scene')"
        );
    }
}
