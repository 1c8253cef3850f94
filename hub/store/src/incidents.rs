//! Incidents: raising them (with repeat presses and idempotency keys), acting on them, and
//! reading them back with what each role may see. The writes are in [`crate::changes`].

use crate::changes::{self, Applied, RaiseRequest, Raised};
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::access::Visibility;
use gridwatch_core::event::Actor;
use gridwatch_core::incident::{Action, Incident, IncidentKind, IncidentState, Source};
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
pub(crate) struct IncidentRow {
    id: String,
    kind: String,
    state: String,
    source: String,
    grid_id: Option<String>,
    post_id: Option<String>,
    chain_position: Option<i64>,
    lat: Option<f64>,
    lon: Option<f64>,
    note: Option<String>,
    camera_id: Option<String>,
    cameras: String,
    urgent: bool,
    repeat_count: i64,
    escalation_level: i64,
    post_chain: String,
    policy: String,
    created_at: i64,
    deadline_at: i64,
    last_press_at: i64,
    dispatched_at: Option<i64>,
    acknowledged_at: Option<i64>,
    on_scene_at: Option<i64>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    at_risk_at: Option<i64>,
    breached_at: Option<i64>,
    false_alarm: bool,
    updated_at: i64,
}

pub(crate) const INCIDENT_COLUMNS: &str = "id, kind, state, source, grid_id, post_id, \
     chain_position, lat, lon, note, camera_id, cameras, urgent, repeat_count, escalation_level, \
     post_chain, policy, created_at, deadline_at, last_press_at, dispatched_at, acknowledged_at, \
     on_scene_at, resolved_at, closed_at, at_risk_at, breached_at, false_alarm, updated_at";

impl TryFrom<IncidentRow> for Incident {
    type Error = StoreError;
    fn try_from(r: IncidentRow) -> Result<Incident, StoreError> {
        let id = r.id;
        let bad = |e: &dyn std::fmt::Display| StoreError::corrupt("incident", &id, e);
        let kind = IncidentKind::parse(&r.kind).ok_or_else(|| bad(&r.kind))?;
        let state = IncidentState::parse(&r.state).ok_or_else(|| bad(&r.state))?;
        let source = Source::parse(&r.source).ok_or_else(|| bad(&r.source))?;
        let cameras = serde_json::from_str(&r.cameras).map_err(|e| bad(&e))?;
        let post_chain = serde_json::from_str(&r.post_chain).map_err(|e| bad(&e))?;
        let policy = serde_json::from_str(&r.policy).map_err(|e| bad(&e))?;
        let count = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
        Ok(Incident {
            kind,
            state,
            source,
            grid_id: r.grid_id,
            post_id: r.post_id,
            lat: r.lat,
            lon: r.lon,
            note: r.note,
            camera_id: r.camera_id,
            cameras,
            urgent: r.urgent,
            repeat_count: count(r.repeat_count),
            escalation_level: count(r.escalation_level),
            post_chain,
            chain_position: r.chain_position.map(|p| p.max(0) as usize),
            policy,
            created_at: from_ms(r.created_at),
            deadline_at: from_ms(r.deadline_at),
            last_press_at: from_ms(r.last_press_at),
            dispatched_at: r.dispatched_at.map(from_ms),
            acknowledged_at: r.acknowledged_at.map(from_ms),
            on_scene_at: r.on_scene_at.map(from_ms),
            resolved_at: r.resolved_at.map(from_ms),
            closed_at: r.closed_at.map(from_ms),
            at_risk_at: r.at_risk_at.map(from_ms),
            breached_at: r.breached_at.map(from_ms),
            false_alarm: r.false_alarm,
            updated_at: from_ms(r.updated_at),
            id,
        })
    }
}

/// `GET /api/v1/incidents`: which incidents, newest first.
#[derive(Debug, Clone)]
pub struct IncidentFilter {
    /// `None`: every state.
    pub states: Option<Vec<IncidentState>>,
    pub grid_id: Option<String>,
    /// `None`: every kind.
    pub kind: Option<IncidentKind>,
    /// Raised at or after.
    pub since: Option<DateTime<Utc>>,
    /// Raised before.
    pub until: Option<DateTime<Utc>>,
    /// Naming this camera: raised by it, or it is among the incident's nearest cameras.
    pub camera_id: Option<String>,
    /// Dispatched (last) to this post.
    pub post_id: Option<String>,
    /// Resolved or cancelled at or after; the list is then by close time, latest first.
    pub closed_since: Option<DateTime<Utc>>,
    pub limit: u32,
    pub visibility: Visibility,
}

impl IncidentFilter {
    pub fn new(visibility: Visibility) -> IncidentFilter {
        IncidentFilter {
            states: None,
            grid_id: None,
            kind: None,
            since: None,
            until: None,
            camera_id: None,
            post_id: None,
            closed_since: None,
            limit: 100,
            visibility,
        }
    }

    /// The open incidents (neither resolved nor cancelled) of `visibility`.
    pub fn open(visibility: Visibility) -> IncidentFilter {
        IncidentFilter {
            states: Some(IncidentState::OPEN.to_vec()),
            ..IncidentFilter::new(visibility)
        }
    }
}

/// `s` as JSON writes it in a string array (quotes and escapes included).
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

enum Bind {
    Text(String),
    Int(i64),
}

/// `WHERE` clauses with `$n` numbered from `first`, and their values.
fn visibility_sql(v: &Visibility, first: usize) -> (String, Vec<Bind>) {
    match v {
        Visibility::All => (String::new(), vec![]),
        Visibility::Post(p) => (
            format!(
                " AND (post_id = ${first} OR grid_id IN \
                 (SELECT grid_id FROM grid_posts WHERE post_id = ${}))",
                first + 1
            ),
            vec![Bind::Text(p.clone()), Bind::Text(p.clone())],
        ),
        Visibility::RaisedBy(s) => (
            format!(" AND source = ${first}"),
            vec![Bind::Text(s.to_string())],
        ),
        Visibility::Nothing => (" AND 1 = 0".into(), vec![]),
    }
}

impl Store {
    /// How many raises found the group-commit queue full and waited for room
    /// (`group_commit::MAX_QUEUED`), since the store opened.
    pub fn raise_queue_full_total(&self) -> u64 {
        self.raises.full()
    }

    /// Raises an incident — or records a repeat press, or replays an idempotency key — in one
    /// transaction: the incident, `incident.raised` and, when its grid has a chain,
    /// `incident.dispatched` to the first post, and its deadlines. Committed before it returns;
    /// raises arriving together share a transaction and its commit (`group_commit`).
    pub async fn raise_incident(
        &self,
        req: RaiseRequest,
        now: DateTime<Utc>,
    ) -> Result<Raised, StoreError> {
        let now = crate::time::stored(now);
        self.raises.raise(&self.pool, req, now).await
    }

    /// Applies an action in one transaction: the incident is read under the log lock, `guard`
    /// may refuse (e.g. [`StoreError::NotAllowed`]), the state machine decides
    /// ([`StoreError::IllegalTransition`] when the action does not fit), and the incident, the
    /// event (with `extra` added to its data) and the re-armed or disarmed timers are written.
    pub async fn act_on_incident<G>(
        &self,
        id: &str,
        action: &Action,
        actor: &Actor,
        extra: Option<&serde_json::Value>,
        now: DateTime<Utc>,
        guard: G,
    ) -> Result<Applied, StoreError>
    where
        G: FnOnce(&Incident) -> Result<(), StoreError> + Send,
    {
        let now = crate::time::stored(now);
        Ok(with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let applied = changes::act(&mut *tx, id, action, actor, extra, now, guard).await?;
            tx.commit().await?;
            applied
        }))
    }

    pub async fn incident(&self, id: &str) -> Result<Incident, StoreError> {
        self.visible_incident(id, &Visibility::All).await
    }

    /// The incidents of `ids` (as many as there are: one statement per 200), in no order; an
    /// unknown id is left out. For a page of the log, whose events name a few hundred
    /// incidents at most, read in one go rather than one statement each.
    pub async fn incidents_by_id(&self, ids: &[String]) -> Result<Vec<Incident>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(200) {
            let sql = format!(
                "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id IN ({})",
                crate::changes::numbered(chunk.len())
            );
            let rows: Vec<IncidentRow> = with_pool!(self, p => {
                let mut q = sqlx::query_as(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            for row in rows {
                found.push(row.try_into()?);
            }
        }
        Ok(found)
    }

    /// The incident if the caller may see it; [`StoreError::NotFound`] otherwise, so that an
    /// incident of another post or person cannot even be told to exist.
    pub async fn visible_incident(
        &self,
        id: &str,
        visibility: &Visibility,
    ) -> Result<Incident, StoreError> {
        let (clause, binds) = visibility_sql(visibility, 2);
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{clause}");
        let row: Option<IncidentRow> = with_pool!(self, p => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql)).bind(id);
            for b in binds {
                q = match b {
                    Bind::Text(s) => q.bind(s),
                    Bind::Int(i) => q.bind(i),
                };
            }
            q.fetch_optional(p).await?
        });
        row.ok_or_else(|| StoreError::not_found("incident", id))?
            .try_into()
    }

    /// Incidents matching the filter, newest first.
    /// [`Store::incidents`] for a list a person asked for (the history, a console's hello):
    /// one of the long reads, which may wait for a place; the SOS intake's own look-ups use
    /// `incidents` and never wait.
    pub async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let _slot = self.long_read().await;
        self.incidents(f).await
    }

    pub async fn incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1 = 1");
        let mut binds = vec![];
        if let Some(states) = &f.states {
            if states.is_empty() {
                return Ok(vec![]);
            }
            let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            sql.push_str(&format!(" AND state IN ({})", names.join(", ")));
        }
        if let Some(g) = &f.grid_id {
            binds.push(Bind::Text(g.clone()));
            sql.push_str(&format!(" AND grid_id = ${}", binds.len()));
        }
        if let Some(k) = f.kind {
            sql.push_str(&format!(" AND kind = '{}'", k.as_str()));
        }
        if let Some(t) = f.since {
            binds.push(Bind::Int(to_ms(t)));
            sql.push_str(&format!(" AND created_at >= ${}", binds.len()));
        }
        if let Some(t) = f.until {
            binds.push(Bind::Int(to_ms(t)));
            sql.push_str(&format!(" AND created_at < ${}", binds.len()));
        }
        if let Some(post) = &f.post_id {
            binds.push(Bind::Text(post.clone()));
            sql.push_str(&format!(" AND post_id = ${}", binds.len()));
        }
        if let Some(t) = f.closed_since {
            binds.push(Bind::Int(to_ms(t)));
            sql.push_str(&format!(" AND closed_at >= ${}", binds.len()));
        }
        if let Some(c) = &f.camera_id {
            // `cameras` is a JSON array of ids: the id as a JSON string, quotes included, is
            // in it exactly when the camera is (a plain substring search: LIKE would take `_`
            // and `%` in an id as wildcards, and SQLite's ignores case).
            binds.push(Bind::Text(c.clone()));
            let raised_by = binds.len();
            binds.push(Bind::Text(json_string(c)));
            let contains = match self.backend() {
                crate::Backend::Sqlite => format!("instr(cameras, ${}) > 0", binds.len()),
                crate::Backend::Postgres => format!("strpos(cameras, ${}) > 0", binds.len()),
            };
            sql.push_str(&format!(" AND (camera_id = ${raised_by} OR {contains})"));
        }
        let (clause, vis) = visibility_sql(&f.visibility, binds.len() + 1);
        sql.push_str(&clause);
        binds.extend(vis);
        binds.push(Bind::Int(i64::from(f.limit)));
        // Asked by when they closed: the latest closed first (an incident raised long ago and
        // closed today among them), not the latest raised.
        let order = match f.closed_since {
            Some(_) => "closed_at DESC, id DESC",
            None => "created_at DESC, id DESC",
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT ${}", binds.len()));
        let rows: Vec<IncidentRow> = with_pool!(self, p => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql));
            for b in binds {
                q = match b {
                    Bind::Text(s) => q.bind(s),
                    Bind::Int(i) => q.bind(i),
                };
            }
            q.fetch_all(p).await?
        });
        rows.into_iter().map(Incident::try_from).collect()
    }

    /// The incident that `caller`'s `Idempotency-Key` made, if the key is known. A raise checks
    /// keys itself, under the log lock; this read lets the intake answer a retry before its
    /// rate limit, which must not refuse a retry of a press already taken.
    pub async fn keyed_incident(
        &self,
        caller: &Source,
        key: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = \
             (SELECT incident_id FROM idempotency_keys WHERE caller = $1 AND key = $2)"
        );
        let row: Option<IncidentRow> = with_pool!(self, p => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(caller.to_string())
                .bind(key)
                .fetch_optional(p)
                .await?
        });
        row.map(Incident::try_from).transpose()
    }

    /// Forgets idempotency keys made before `before`; returns how many.
    pub async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(to_ms(before))
                .execute(p)
                .await?
                .rows_affected()
        }))
    }
}
