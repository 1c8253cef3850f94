//! Login sessions: random tokens, stored hashed, that expire and can be revoked.

use crate::secret::{new_token, token_hash, TokenKind};
use crate::time::{from_ms, to_ms};
use crate::users::{UserRow, USER_COLUMNS};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use gridwatch_core::user::User;
use sqlx::AssertSqlSafe;

/// A session just opened: the token is shown to the client once and never stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    pub async fn open_session(
        &self,
        user: User,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let token = new_token(TokenKind::Session);
        let expires_at = now + ttl;
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash(&token))
            .bind(&user.id)
            .bind(to_ms(now))
            .bind(to_ms(expires_at))
            .execute(p)
            .await?;
        });
        Ok(Session {
            token,
            user,
            expires_at,
        })
    }

    /// The user a live session token belongs to; `None` for unknown, revoked or expired tokens.
    pub async fn session_user(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires_at > $2"
        );
        let row: Option<UserRow> = with_pool!(self, p => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(token_hash(token))
                .bind(to_ms(now))
                .fetch_optional(p)
                .await?
        });
        row.map(User::try_from).transpose()
    }

    /// The user and the expiry of the live session stored under `token_hash`; `None` once it
    /// is revoked, expired or its user deleted. For a long-lived connection (a WebSocket) that
    /// re-checks the session it was opened with: it keeps the hash, not the bearer token.
    pub async fn live_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(User, DateTime<Utc>)>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            expires_at: i64,
        }
        let sql = format!(
            "SELECT {USER_COLUMNS}, sessions.expires_at FROM sessions \
             JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires_at > $2"
        );
        let row: Option<Row> = with_pool!(self, p => {
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(token_hash)
                .bind(to_ms(now))
                .fetch_optional(p)
                .await?
        });
        row.map(|r| Ok((User::try_from(r.user)?, from_ms(r.expires_at))))
            .transpose()
    }

    /// Revokes one session (logout). Revoking an unknown token is not an error.
    pub async fn revoke_session(&self, token: &str) -> Result<(), StoreError> {
        with_pool!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash(token))
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Revokes every session of a user; returns how many there were.
    pub async fn revoke_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let r = with_pool!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(r)
    }

    /// Forgets expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let r = with_pool!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(to_ms(now))
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(r)
    }
}
