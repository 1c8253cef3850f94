//! How an SQLite connection waits for another's write to finish.
//!
//! SQLite lets one writer at a time into the database. A connection that finds the write lock
//! taken calls its busy handler, and the one `busy_timeout` installs sleeps 1, 2, 5, 10, 15, 20,
//! 25, 25, 25, 50, 50 and then 100 ms between tries, however soon the lock is free again. The
//! hub has several writers (the raises' group commit, routing, the response check, camera
//! health, the recording index, the notification outbox), and each write holds the lock for a
//! synced commit of a few milliseconds; the attack benchmark (issue 15) caught the hub
//! sleeping in that handler thousands of times a minute, 188 of them for 100 ms, and SOS
//! presses waiting 130–650 ms at p99 with the disk syncing in 2 ms.
//!
//! So each connection gets [`retry_soon`]: try again every [`RETRY_EVERY`], for as long as
//! `busy_timeout` would have waited. A try is a shared-memory lock attempt, cheap next to the
//! commit being waited for.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Tries so far, in this process (`gridwatch_sqlite_busy_retries_total`).
static RETRIES: AtomicU64 = AtomicU64::new(0);

/// How many times an SQLite connection of this process found the write lock taken and tried
/// again: write contention, as a counter.
pub fn sqlite_busy_retries() -> u64 {
    RETRIES.load(Ordering::Relaxed)
}

/// How long a waiting writer sleeps between tries.
pub const RETRY_EVERY: Duration = Duration::from_micros(500);

/// Tries before the waiting statement fails with `SQLITE_BUSY`: about 10 s, as the
/// `busy_timeout` it replaces.
const MAX_TRIES: c_int = 20_000;

/// The busy handler: 1 (try again) after a short sleep, 0 (give up) after [`MAX_TRIES`].
extern "C" fn retry_soon(_: *mut c_void, tries: c_int) -> c_int {
    if tries >= MAX_TRIES {
        return 0;
    }
    RETRIES.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(RETRY_EVERY);
    1
}

/// Installs [`retry_soon`] on a new connection (replacing `busy_timeout`'s handler).
pub(crate) async fn install(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: `db` is this connection's open handle, held locked (no statement runs on it
    // meanwhile); the handler is a plain function that keeps no pointer (its argument is null).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(db.as_ptr(), Some(retry_soon), std::ptr::null_mut())
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Configuration(
            format!("cannot install the busy handler (SQLite error {rc})").into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Pool, Store, StoreOptions};
    use std::time::Duration;

    /// A writer that finds another's transaction under way waits in this handler, trying again
    /// and again, and gets in once the other commits (SQLite's own handler, which sleeps up to
    /// 100 ms a try, would have left the counter alone).
    #[tokio::test]
    async fn a_waiting_writer_tries_again_in_this_handler() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let store = Store::open(&StoreOptions::new(url)).await.unwrap();
        let Pool::Sqlite(pool) = &store.pool else {
            panic!("an SQLite store");
        };
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(pool)
            .await
            .unwrap();
        let mut holder = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *holder)
            .await
            .unwrap();
        let before = super::sqlite_busy_retries();
        let other = pool.clone();
        let waiter = tokio::spawn(async move {
            sqlx::query("INSERT INTO t VALUES (2)")
                .execute(&other)
                .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiter.is_finished(),
            "the second writer waits for the first"
        );
        holder.commit().await.unwrap();
        waiter.await.unwrap().expect("the second writer gets in");
        let tries = super::sqlite_busy_retries() - before;
        assert!(tries > 0, "the handler was not called");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(n, 2);
    }
}
