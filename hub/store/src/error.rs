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
    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}
