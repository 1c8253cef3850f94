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
        StoreError::Config(format!("{what} {id} has an unreadable stored value: {e}"))
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}
