use crate::secret::{hash_password, verify_password};
use crate::time::{from_ms, to_ms};
use crate::{with_pool, Store, StoreError};
use chrono::{DateTime, Utc};
use gridwatch_core::id::new_id;
use gridwatch_core::user::{NewUser, User, UserPatch};
use gridwatch_core::{Role, ValidationError};
use sqlx::AssertSqlSafe;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    display_name: String,
    role: String,
    post_id: Option<String>,
    grid_id: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<User, StoreError> {
        let role = Role::parse(&r.role).ok_or_else(|| {
            StoreError::Corrupt(format!("user {} has unknown role {}", r.id, r.role))
        })?;
        Ok(User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            role,
            post_id: r.post_id,
            grid_id: r.grid_id,
            phone: r.phone,
            address: r.address,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

pub(crate) const USER_COLUMNS: &str =
    "users.id, users.username, users.display_name, users.role, users.post_id, users.grid_id, \
     users.phone, users.address, users.created_at, users.updated_at";

/// An empty or blank contact field is no contact.
fn blank_is_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Hashes off the async threads: argon2 takes tens of milliseconds by design.
async fn hash(password: String) -> Result<String, StoreError> {
    with_argon2(move || hash_password(&password))
        .await?
        .map_err(StoreError::Hash)
}

/// How many argon2 computations run at once: one per core. Each takes tens of milliseconds
/// of a core and 19 MiB by design; unbounded, a stream of logins (successful ones are not
/// throttled) filled the blocking pool, up to 512 threads × 19 MiB, and every core.
fn argon2_permits() -> std::sync::Arc<tokio::sync::Semaphore> {
    static PERMITS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            std::sync::Arc::new(tokio::sync::Semaphore::new(cores))
        })
        .clone()
}

/// Runs `work` (argon2) off the async threads once a permit is free; the rest wait their turn.
/// The permit goes with the work: a caller that gives up (a client gone mid-login) does not
/// free it while argon2 still runs.
async fn with_argon2<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    let permit = argon2_permits()
        .acquire_owned()
        .await
        .map_err(|e| StoreError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| StoreError::Hash(e.to_string()))
}

/// A valid hash of a password nobody has, so that a login for an unknown user takes as long as
/// one for a known user and does not tell which usernames exist.
/// Computed on first use, which is argon2's full cost: call it only off the async threads
/// (inside `spawn_blocking`), like every other hash.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        #[cfg(test)]
        tests::note_decoy_thread();
        hash_password("decoy password nobody has").expect("argon2 works")
    })
}

impl Store {
    pub async fn create_user(&self, new: NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
        new.validate()?;
        self.check_user_ties(new.post_id.as_deref(), new.grid_id.as_deref())
            .await?;
        let user = User {
            id: new_id(),
            display_name: new
                .display_name
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .unwrap_or(&new.username)
                .to_string(),
            username: new.username,
            role: new.role,
            post_id: new.post_id,
            grid_id: new.grid_id,
            phone: blank_is_none(new.phone),
            address: blank_is_none(new.address),
            created_at: now,
            updated_at: now,
        };
        let password_hash = hash(new.password).await?;
        let r = with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO users (id, username, display_name, role, password_hash, post_id, \
                 grid_id, phone, address, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&password_hash)
            .bind(&user.post_id)
            .bind(&user.grid_id)
            .bind(&user.phone)
            .bind(&user.address)
            .bind(to_ms(now))
            .bind(to_ms(now))
            .execute(p)
            .await
            .map(|_| ())
        });
        match r {
            Ok(_) => Ok(user),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict(_) => Err(StoreError::Conflict(format!(
                    "username {} is taken (names that differ only in upper and lower case \
                     are the same name)",
                    user.username
                ))),
                other => Err(other),
            },
        }
    }

    async fn check_user_ties(
        &self,
        post_id: Option<&str>,
        grid_id: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(post) = post_id {
            if let Err(StoreError::NotFound { .. }) = self.post(post).await {
                return Err(
                    ValidationError::new("post_id", format!("no post with id {post}")).into(),
                );
            }
        }
        if let Some(grid) = grid_id {
            self.check_grid_exists(grid).await?;
        }
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows: Vec<UserRow> =
            with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(p).await?);
        rows.into_iter().map(User::try_from).collect()
    }

    pub async fn user(&self, id: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::not_found("user", id))?
            .try_into()
    }

    pub async fn user_by_username(&self, username: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row: Option<UserRow> = with_pool!(self, p => sqlx::query_as(AssertSqlSafe(sql)).bind(username).fetch_optional(p).await?);
        row.ok_or_else(|| StoreError::not_found("user", username))?
            .try_into()
    }

    /// The user, if the password is right. Takes the same time whether or not the user exists.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let stored: Option<(String, String)> = with_pool!(self, p => {
            sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(p)
                .await?
        });
        let (id, hash) = match stored {
            Some((id, h)) => (Some(id), Some(h)),
            None => (None, None),
        };
        let password = password.to_string();
        // The decoy is hashed (on first use) inside the blocking task too: argon2 on an async
        // worker would stall every request sharing that thread.
        let ok = with_argon2(move || {
            let hash = hash.as_deref().unwrap_or_else(|| decoy_hash());
            verify_password(&password, hash)
        })
        .await?;
        match (ok, id) {
            (true, Some(id)) => Ok(Some(self.user(&id).await?)),
            _ => Ok(None),
        }
    }

    /// Changes a user. A new password revokes every session of the user.
    pub async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let mut user = self.user(id).await?.patched(&patch)?;
        user.phone = blank_is_none(user.phone);
        user.address = blank_is_none(user.address);
        self.check_user_ties(user.post_id.as_deref(), user.grid_id.as_deref())
            .await?;
        user.updated_at = now;
        let new_hash = match patch.password {
            Some(pw) => Some(hash(pw).await?),
            None => None,
        };
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE users SET display_name = $1, role = $2, post_id = $3, grid_id = $4, \
                 phone = $5, address = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&user.post_id)
            .bind(&user.grid_id)
            .bind(&user.phone)
            .bind(&user.address)
            .bind(to_ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(h) = &new_hash {
                sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(h)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(user)
    }

    /// Deletes a user and, with it, every session of theirs.
    pub async fn delete_user(&self, id: &str) -> Result<(), StoreError> {
        let r = with_pool!(self, p => {
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(p).await?.rows_affected()
        });
        if r == 0 {
            return Err(StoreError::not_found("user", id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::thread::ThreadId;

    /// The thread the decoy hash was computed on.
    static DECOY_THREAD: OnceLock<ThreadId> = OnceLock::new();

    pub(super) fn note_decoy_thread() {
        let _ = DECOY_THREAD.set(std::thread::current().id());
    }

    /// On a current-thread runtime every async task runs on the test's own thread: a decoy
    /// computed there would have blocked every task of the runtime for argon2's duration.
    #[tokio::test(flavor = "current_thread")]
    async fn the_decoy_for_an_unknown_user_is_hashed_off_the_async_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::fresh_store(crate::Backend::Sqlite, dir.path())
            .await
            .unwrap();
        let found = store
            .check_password("nobody-by-this-name", "guess")
            .await
            .unwrap();
        assert!(found.is_none());
        let on = DECOY_THREAD.get().expect("the decoy was computed");
        assert_ne!(
            *on,
            std::thread::current().id(),
            "hashed on the async thread"
        );
        store.close().await;
    }

    /// However many logins arrive at once, no more argon2 runs at once than there are cores.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn argon2_runs_one_per_core_at_most() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..cores * 4)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(super::with_argon2(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // (Another test of this binary may hold a permit meanwhile: at most, not exactly.)
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }
}
