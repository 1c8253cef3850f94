//! Which responders' consoles are online, shared by every hub node through the database.
//!
//! A console is one stream connection of a responder with a post. A post is *online* while it
//! has at least one console. The changes of that count from 0 to 1 and back are recorded as
//! `post.online` / `post.offline` in the event log, in the transaction that adds or removes
//! the console and under the log lock, so two consoles connecting at once on two nodes make one
//! `post.online`. Each node refreshes `seen_at` of its consoles; rows of a node that stopped
//! doing so (it crashed) are removed by [`Store::reap_consoles`] on any node.

use crate::changes::{self, ChangeTx};
use crate::time::to_ms;
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::event::EventType;
use gridwatch_core::event::{Actor, Event, EventDraft};
use serde_json::json;

/// One console connection.
#[derive(Debug, Clone)]
pub struct Console {
    /// Unique per connection.
    pub id: String,
    /// The hub process holding it.
    pub node: String,
    pub post_id: String,
    pub user_id: String,
}

fn presence(kind: EventType, post_id: &str, reason: &str) -> EventDraft {
    EventDraft::new(kind, json!({ "post_id": post_id, "reason": reason }))
}

/// How many consoles a post has (`$1`: the post).
const COUNT_OF_POST: &str = "SELECT COUNT(*) FROM consoles WHERE post_id = $1";

/// Records the presence event `kind` of `c`'s post when `changed`; nothing otherwise.
async fn presence_if<T: ChangeTx>(
    tx: &mut T,
    changed: bool,
    kind: EventType,
    c: &Console,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, StoreError> {
    if !changed {
        return Ok(vec![]);
    }
    let actor = Actor::user(&c.user_id, format!("node {}", c.node));
    changes::append(tx, None, &[presence(kind, &c.post_id, reason)], &actor, now).await
}

fn node_actor(node: &str) -> Actor {
    Actor {
        actor: "system".into(),
        origin: format!("node {node}"),
    }
}

impl Store {
    /// Adds a console; returns `post.online` when it is the post's first.
    pub async fn console_connected(
        &self,
        c: &Console,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        let now = crate::time::stored(now);
        Ok(with_pool!(self, p => {
            let mut tx = p.begin().await?;
            tx.lock_log().await?;
            let before: i64 = sqlx::query_scalar(COUNT_OF_POST)
                .bind(&c.post_id)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO consoles (id, node, post_id, user_id, connected_at, seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&c.id)
            .bind(&c.node)
            .bind(&c.post_id)
            .bind(&c.user_id)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?;
            let events = presence_if(
                &mut *tx, before == 0, EventType::PostOnline, c, "console connected", now,
            )
            .await?;
            tx.commit().await?;
            events
        }))
    }

    /// Removes a console (gone already is fine); returns `post.offline` when it was the post's
    /// last.
    pub async fn console_disconnected(
        &self,
        c: &Console,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        let now = crate::time::stored(now);
        Ok(with_pool!(self, p => {
            let mut tx = p.begin().await?;
            tx.lock_log().await?;
            let removed = sqlx::query("DELETE FROM consoles WHERE id = $1")
                .bind(&c.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let left: i64 = sqlx::query_scalar(COUNT_OF_POST)
                .bind(&c.post_id)
                .fetch_one(&mut *tx)
                .await?;
            let events = presence_if(
                &mut *tx, removed > 0 && left == 0, EventType::PostOffline, c,
                "console disconnected", now,
            )
            .await?;
            tx.commit().await?;
            events
        }))
    }

    /// Marks every console of `node` as still there.
    pub async fn console_heartbeat(
        &self,
        node: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query("UPDATE consoles SET seen_at = $1 WHERE node = $2")
                .bind(to_ms(now))
                .bind(node)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Removes consoles not refreshed since `stale_before` (their node is gone) and records
    /// `post.offline` for each post left without one.
    pub async fn reap_consoles(
        &self,
        reaper: &str,
        stale_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        let now = crate::time::stored(now);
        Ok(with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT post_id FROM consoles WHERE seen_at < $1",
            )
            .bind(to_ms(stale_before))
            .fetch_all(&mut *tx)
            .await?;
            if stale.is_empty() {
                tx.rollback().await?;
                return Ok(vec![]);
            }
            tx.lock_log().await?;
            sqlx::query("DELETE FROM consoles WHERE seen_at < $1")
                .bind(to_ms(stale_before))
                .execute(&mut *tx)
                .await?;
            let mut drafts = vec![];
            for post in &stale {
                let left: i64 =
                    sqlx::query_scalar(COUNT_OF_POST)
                        .bind(post)
                        .fetch_one(&mut *tx)
                        .await?;
                if left == 0 {
                    drafts.push(presence(EventType::PostOffline, post, "hub node gone"));
                }
            }
            let events =
                changes::append(&mut *tx, None, &drafts, &node_actor(reaper), now).await?;
            tx.commit().await?;
            events
        }))
    }

    /// How many consoles the post has online, on every node.
    pub async fn consoles_online(&self, post_id: &str) -> Result<i64, StoreError> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar(COUNT_OF_POST)
                .bind(post_id)
                .fetch_one(p)
                .await?
        }))
    }
}
