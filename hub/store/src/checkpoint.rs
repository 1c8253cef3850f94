//! Moving SQLite's write-ahead log into the database file off the commit path.
//!
//! In WAL mode a commit appends to the log and syncs it. When a commit finds the log over
//! `wal_autocheckpoint` pages (1,000 by default) it also checkpoints: it copies the log into
//! the database file and syncs that too before it returns — and that commit is as likely to be
//! an SOS as anything. The attack benchmark (issue 15) saw the presses caught behind one wait
//! 190–240 ms, quiet or under attack, where the others took 12–15 ms.
//!
//! So the hub checkpoints itself, every second, on a connection of its own ([`Checkpointer`],
//! outside the pool, so it never takes a connection an SOS needs). The checkpoint is PASSIVE:
//! it never waits for readers or writers, and they never wait for it; commits only append to
//! the log. The automatic checkpoint stays, at [`AUTOCHECKPOINT_PAGES`], as a backstop for when
//! no checkpointer runs (the command line's short commands, tests) or it falls behind.

use crate::{Store, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

/// Log pages (4 KiB) at which a commit checkpoints by itself: 64 MiB, a backstop only.
pub const AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// What one checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Pages in the log.
    pub log_pages: i64,
    /// Of those, pages now in the database file (all of them unless a reader still needs
    /// older ones; the next checkpoint moves the rest).
    pub moved_pages: i64,
}

/// A connection that only checkpoints the log (SQLite).
pub struct Checkpointer {
    conn: SqliteConnection,
}

impl Checkpointer {
    pub(crate) async fn connect(options: &SqliteConnectOptions) -> Result<Self, StoreError> {
        Ok(Checkpointer {
            conn: options.connect().await?,
        })
    }

    /// Moves what it can of the log into the database file, without waiting for anyone.
    pub async fn run(&mut self) -> Result<Checkpointed, StoreError> {
        // (busy, pages in the log, pages moved); -1, -1 when the database is not in WAL mode.
        let (_busy, log, moved): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut self.conn)
            .await?;
        Ok(Checkpointed {
            log_pages: log.max(0),
            moved_pages: moved.max(0),
        })
    }
}

impl Store {
    /// A checkpointer for this database: `None` on PostgreSQL, which has no such log.
    pub async fn checkpointer(&self) -> Result<Option<Checkpointer>, StoreError> {
        match &self.sqlite_options {
            Some(options) => Ok(Some(Checkpointer::connect(options).await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Pool, Store, StoreOptions};

    #[tokio::test]
    async fn commits_leave_the_log_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hub.db").display());
        let store = Store::open(&StoreOptions::new(url)).await.unwrap();
        let Pool::Sqlite(pool) = &store.pool else {
            panic!("an SQLite store");
        };
        let backstop: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(backstop, i64::from(super::AUTOCHECKPOINT_PAGES));
        let mut checkpointer = store.checkpointer().await.unwrap().expect("SQLite");
        checkpointer.run().await.unwrap();
        // Over 1,000 pages of commits (SQLite's own threshold): none of them checkpointed, so
        // the log still holds them all for the checkpointer to move.
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(pool)
            .await
            .unwrap();
        for _ in 0..300 {
            sqlx::query("INSERT INTO filler VALUES (zeroblob(16000))")
                .execute(pool)
                .await
                .unwrap();
        }
        let done = checkpointer.run().await.unwrap();
        assert!(done.log_pages > 1_000, "{done:?}");
        assert_eq!(done.moved_pages, done.log_pages, "{done:?}");
    }

    #[tokio::test]
    async fn postgres_has_no_checkpointer() {
        let url = crate::testing::fresh_postgres_url().await.unwrap();
        let store = Store::open(&StoreOptions::new(url)).await.unwrap();
        assert!(store.checkpointer().await.unwrap().is_none());
    }
}
