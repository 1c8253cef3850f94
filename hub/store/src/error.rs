use gridwatch_core::ValidationError;
use thiserror::Error;

/// What can go wrong in the store, sorted by what the caller should do about it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No such row: the HTTP edge answers 404.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// The change contradicts what is stored (a duplicate name, a post still in use): 409.
    #[error("{0}")]
    Conflict(String),
    /// The input refers to something that does not exist or breaks a rule: 400.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The action does not fit the incident's state: 409, naming the state.
    #[error(transparent)]
    IllegalTransition(#[from] gridwatch_core::incident::IllegalTransition),
    /// The caller may see the record but not make this change (e.g. a responder acting on an
    /// incident dispatched to another post): 403.
    #[error("{0}")]
    NotAllowed(String),
    /// The store is misconfigured (bad URL, missing migrations).
    #[error("{0}")]
    Config(String),
    /// A stored value that does not read back (JSON, a state name): a bug or a hand edit.
    /// Trying again reads the same row, so it is permanent.
    #[error("{0}")]
    Corrupt(String),
    /// The database could not take the change now (the raise writer stopped, a batch was not
    /// committed): nothing was written, and the same change may succeed if tried again.
    #[error("{0}")]
    Unavailable(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing: {0}")]
    Hash(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Conflict("already exists: a name or key must be unique".into());
            }
            if db.is_foreign_key_violation() {
                return StoreError::Conflict(
                    "still referred to by, or referring to, another record".into(),
                );
            }
        }
        StoreError::Database(e)
    }
}

impl StoreError {
    /// A stored value that does not read back (JSON, a state name): a bug or a hand edit.
    pub(crate) fn corrupt(what: &str, id: &str, e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(format!("{what} {id} has an unreadable stored value: {e}"))
    }

    /// Whether the same call may succeed if made again unchanged: the database was away, busy
    /// or timed out. A worker that retries (the MQTT press queue) retries only these; anything
    /// else — a corrupt row, a conflict, a refused change — fails the same way every time, and
    /// retrying it would hold up everything queued behind it.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(e) => sqlx_is_transient(e),
            StoreError::NotFound { .. }
            | StoreError::Conflict(_)
            | StoreError::Invalid(_)
            | StoreError::IllegalTransition(_)
            | StoreError::NotAllowed(_)
            | StoreError::Config(_)
            | StoreError::Corrupt(_)
            | StoreError::Migrate(_)
            | StoreError::Hash(_) => false,
        }
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

/// Whether a database error is the connection's or the moment's (try again) rather than the
/// change's data: connection loss, pool timeouts, lock contention and the like are transient;
/// decode failures, constraints and data exceptions are not. An error the database reports
/// that is none of the known permanent kinds counts as transient, as every failure did
/// before: retrying it costs time, dropping it a press.
fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            use sqlx::error::ErrorKind;
            if !matches!(db.kind(), ErrorKind::Other) {
                return false; // a constraint: the data's, not the moment's
            }
            let code = db.code().unwrap_or_default();
            // Only what is wrong with this change's data is permanent. A missing table or a
            // broken file is the database failing for everyone (a botched migration or
            // restore): the press waits for the operator, unacknowledged, rather than be lost.
            let permanent = if code.len() == 5 {
                // A PostgreSQL SQLSTATE: data exception (22), integrity constraint (23).
                code.starts_with("22") || code.starts_with("23")
            } else {
                // An SQLite result code (the primary code is an extended one's low byte):
                // CONSTRAINT (19), MISMATCH (20).
                code.parse::<i64>()
                    .is_ok_and(|c| matches!(c & 0xff, 19 | 20))
            };
            !permanent
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_row_and_a_conflict_are_permanent_an_outage_transient() {
        assert!(!StoreError::corrupt("incident", "i1", "bad state").is_transient());
        assert!(!StoreError::Conflict("taken".into()).is_transient());
        assert!(!StoreError::not_found("device", "d1").is_transient());
        assert!(StoreError::Unavailable("writer stopped".into()).is_transient());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_transient());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(StoreError::from(sqlx::Error::Io(io)).is_transient());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_transient());
    }
}
