//! The notification outbox (issue 18). Rows of `notify_outbox` are written with the events
//! that cause them (in `changes`); here a worker claims them, turns each into deliveries, and
//! claims, sends and records those. Claims are leases (`claimed_by`, `claimed_until`): with
//! several hub nodes one takes a row and the others skip it (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL; SQLite has one writer, so the `UPDATE … RETURNING` alone is the claim); a node
//! that dies holding a claim loses it when the lease runs out, so nothing is lost, and the
//! idempotency key lets a receiver drop the rare second copy.

use crate::changes::placeholders;
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Backend, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::event::Event;
use gridwatch_core::notify::rule::Rule;
use gridwatch_core::notify::OutboxEntry;

/// A delivery to add when an outbox event is expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub key: String,
    pub rule: String,
    pub channel: String,
    pub recipient: String,
    /// When it may first be sent (later than now during quiet hours).
    pub not_before: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Sent,
    /// Failed; tried again at this time.
    Retry(DateTime<Utc>),
    /// Failed for the last time.
    GaveUp,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry(_) => "failed",
            AttemptOutcome::GaveUp => "gave_up",
        }
    }
}

/// One attempt, as the incident's timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotifyAttempt {
    pub key: String,
    pub incident_id: Option<String>,
    pub channel: String,
    pub recipient: String,
    pub at: DateTime<Utc>,
    /// `sent`, `failed` or `gave_up`.
    pub outcome: String,
    pub detail: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    key: String,
    event_seq: i64,
    incident_id: Option<String>,
    rule: String,
    channel: String,
    recipient: String,
    attempts: i32,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_key: String,
    incident_id: Option<String>,
    channel: String,
    recipient: String,
    at: i64,
    outcome: String,
    detail: Option<String>,
}

impl Store {
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// Claims up to `limit` outbox events not yet expanded nor claimed by a live lease, for
    /// `lease`; returns them, oldest first.
    pub async fn claim_notify_events(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "UPDATE notify_outbox SET claimed_by = $1, claimed_until = $2 WHERE event_seq IN \
             (SELECT event_seq FROM notify_outbox WHERE expanded_at IS NULL \
              AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY event_seq LIMIT $4{}) \
             RETURNING event_seq",
            self.skip_locked()
        );
        let mut seqs: Vec<i64> = with_pool!(self, p => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(node)
                .bind(to_ms(now + lease))
                .bind(to_ms(now))
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        seqs.sort_unstable();
        let mut out = Vec::with_capacity(seqs.len());
        for s in seqs {
            if let Some(e) = self.event(s).await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Adds the deliveries of an outbox event and marks it expanded, in one transaction. A
    /// delivery already there (same key: another node expanded it after a lost lease) is kept.
    pub async fn expand_notify_event(
        &self,
        event: &Event,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now_ms = to_ms(now);
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            if !deliveries.is_empty() {
                let sql = format!(
                    "INSERT INTO notify_deliveries (key, event_seq, incident_id, rule, channel, \
                     recipient, status, attempts, next_at, created_at) VALUES {} \
                     ON CONFLICT (key) DO NOTHING",
                    placeholders(deliveries.len(), 10)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for d in deliveries {
                    q = q
                        .bind(&d.key)
                        .bind(event.seq)
                        .bind(&event.incident_id)
                        .bind(&d.rule)
                        .bind(&d.channel)
                        .bind(&d.recipient)
                        .bind("pending")
                        .bind(0i32)
                        .bind(to_ms(d.not_before))
                        .bind(now_ms);
                }
                q.execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE notify_outbox SET expanded_at = $1 WHERE event_seq = $2")
                .bind(now_ms)
                .bind(event.seq)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Claims up to `limit` pending deliveries that are due, for `lease`.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let sql = format!(
            "UPDATE notify_deliveries SET claimed_by = $1, claimed_until = $2 WHERE key IN \
             (SELECT key FROM notify_deliveries WHERE status = 'pending' AND next_at <= $3 \
              AND (claimed_until IS NULL OR claimed_until <= $3) ORDER BY next_at LIMIT $4{}) \
             RETURNING key, event_seq, incident_id, rule, channel, recipient, attempts",
            self.skip_locked()
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(node)
                .bind(to_ms(now + lease))
                .bind(to_ms(now))
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        let mut out: Vec<OutboxEntry> = rows
            .into_iter()
            .map(|r| OutboxEntry {
                key: r.key,
                event_seq: r.event_seq,
                incident_id: r.incident_id,
                rule: r.rule,
                channel: r.channel,
                recipient: r.recipient,
                attempts: u32::try_from(r.attempts).unwrap_or(0),
            })
            .collect();
        out.sort_by(|a, b| (a.event_seq, &a.key).cmp(&(b.event_seq, &b.key)));
        Ok(out)
    }

    /// Records an attempt at a delivery and its outcome, and releases the claim.
    pub async fn finish_delivery(
        &self,
        entry: &OutboxEntry,
        outcome: AttemptOutcome,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now_ms = to_ms(now);
        let (status, next_at, sent_at) = match outcome {
            AttemptOutcome::Sent => ("sent", now_ms, Some(now_ms)),
            AttemptOutcome::Retry(at) => ("pending", to_ms(at), None),
            AttemptOutcome::GaveUp => ("failed", now_ms, None),
        };
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE notify_deliveries SET status = $1, attempts = attempts + 1, next_at = $2, \
                 sent_at = $3, last_error = $4, claimed_by = NULL, claimed_until = NULL \
                 WHERE key = $5 AND status = 'pending'",
            )
            .bind(status)
            .bind(next_at)
            .bind(sent_at)
            .bind(detail)
            .bind(&entry.key)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO notify_attempts (delivery_key, incident_id, channel, recipient, at, \
                 outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&entry.key)
            .bind(&entry.incident_id)
            .bind(&entry.channel)
            .bind(&entry.recipient)
            .bind(now_ms)
            .bind(outcome.as_str())
            .bind(detail)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The notification attempts for an incident, oldest first: its timeline's "reached by".
    pub async fn notify_attempts(
        &self,
        incident_id: &str,
    ) -> Result<Vec<NotifyAttempt>, StoreError> {
        let rows: Vec<AttemptRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT delivery_key, incident_id, channel, recipient, at, outcome, detail \
                 FROM notify_attempts WHERE incident_id = $1 ORDER BY id",
            )
            .bind(incident_id)
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| NotifyAttempt {
                key: r.delivery_key,
                incident_id: r.incident_id,
                channel: r.channel,
                recipient: r.recipient,
                at: from_ms(r.at),
                outcome: r.outcome,
                detail: r.detail,
            })
            .collect())
    }

    /// How many outbox events and deliveries are still to do: (events, deliveries).
    pub async fn notify_backlog(&self) -> Result<(i64, i64), StoreError> {
        Ok(with_pool!(self, p => {
            let events: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notify_outbox WHERE expanded_at IS NULL",
            )
            .fetch_one(p)
            .await?;
            let deliveries: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notify_deliveries WHERE status = 'pending'",
            )
            .fetch_one(p)
            .await?;
            (events, deliveries)
        }))
    }

    /// Forgets outbox rows expanded before `before` (their deliveries and attempts stay: they
    /// are the incidents' record). Returns how many.
    pub async fn purge_notify_outbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query("DELETE FROM notify_outbox WHERE expanded_at IS NOT NULL AND expanded_at < $1")
                .bind(to_ms(before))
                .execute(p)
                .await?
                .rows_affected()
        }))
    }

    /// A post's group-bot addresses, by channel.
    pub async fn post_contacts(&self, post_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query_as(
                "SELECT channel, address FROM post_contacts WHERE post_id = $1 ORDER BY channel",
            )
            .bind(post_id)
            .fetch_all(p)
            .await?
        }))
    }

    /// Sets (or, with `None`, removes) a post's group-bot address for a channel.
    pub async fn set_post_contact(
        &self,
        post_id: &str,
        channel: &str,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        self.post(post_id).await?;
        with_pool!(self, p => {
            match address {
                Some(a) => {
                    sqlx::query(
                        "INSERT INTO post_contacts (post_id, channel, address) VALUES ($1, $2, $3) \
                         ON CONFLICT (post_id, channel) DO UPDATE SET address = excluded.address",
                    )
                    .bind(post_id)
                    .bind(channel)
                    .bind(a)
                    .execute(p)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM post_contacts WHERE post_id = $1 AND channel = $2")
                        .bind(post_id)
                        .bind(channel)
                        .execute(p)
                        .await?;
                }
            }
        });
        Ok(())
    }

    /// The rules saved through the admin API, by name.
    pub async fn notify_rules(&self) -> Result<Vec<Rule>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(self, p => {
            sqlx::query_as("SELECT name, rule FROM notify_rules ORDER BY name")
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(name, json)| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::corrupt("notify rule", &name, e))
            })
            .collect()
    }

    /// Saves a rule (a new one, or one of the same name replaced); checked by the caller.
    pub async fn put_notify_rule(&self, rule: &Rule, now: DateTime<Utc>) -> Result<(), StoreError> {
        let json = serde_json::to_string(rule)
            .map_err(|e| StoreError::corrupt("notify rule", &rule.name, e))?;
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO notify_rules (name, rule, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET rule = excluded.rule, updated_at = excluded.updated_at",
            )
            .bind(&rule.name)
            .bind(json)
            .bind(to_ms(now))
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Removes a saved rule; `NotFound` when there is none of that name.
    pub async fn delete_notify_rule(&self, name: &str) -> Result<(), StoreError> {
        let n = with_pool!(self, p => {
            sqlx::query("DELETE FROM notify_rules WHERE name = $1")
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::not_found("notify rule", name));
        }
        Ok(())
    }
}
