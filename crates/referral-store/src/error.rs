//! The store's one error type. The API maps it to HTTP once, in its error module.

use referral_domain::{DomainError, Money};

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A domain rule refused the change; nothing was written.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No such row (or not visible to the caller).
    #[error("not found")]
    NotFound,
    /// Deleting a program that has referrals.
    #[error("the program has referrals and cannot be deleted")]
    ProgramHasReferrals,
    /// No program was named and none accepts the referrer's referrals.
    #[error("no active referral program accepts this referral")]
    NoActiveProgram,
    /// Another patient already has this email.
    #[error("another patient already uses this email")]
    EmailInUse,
    /// The database cannot be reached.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A connection could not be opened; the message is the database's own.
    #[error("could not connect to the database: {0}")]
    Connect(String),
    /// The database URL or another setting is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored value does not parse (a bug or a hand edit).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    /// Any other error of the asynchronous click path's driver (see [`crate::pg_clicks`]).
    #[error("database error: {0}")]
    Driver(String),
}

impl StoreError {
    /// Whether this is a unique-constraint violation (a lost race the caller may retry or
    /// report as a conflict).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// Whether the database is out of reach (connection lost or pool exhausted).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Connect(_))
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            // A node that stopped being the primary (a failover, or a node restarted as a
            // replica) refuses writes: the request may succeed once the new primary is up.
            Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(_, info) if is_shutting_down(info.message()) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            other => StoreError::Database(other),
        }
    }
}

/// PostgreSQL's words for a server that is going away (SQLSTATE 57P01–57P03: an
/// administrator's or a crash's shutdown, a server still starting); libpq gives diesel the
/// message, not the code.
fn is_shutting_down(message: &str) -> bool {
    message.starts_with("terminating connection due to")
        || message.starts_with("the database system is")
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

// Decoding stored values: a row the service cannot read is corrupt, never a panic.

/// A stored value that does not decode.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A stored enum's text as `T`.
pub(crate) fn parse_enum<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| corrupt(what))
}

/// Stored cents as money.
pub(crate) fn money(cents: Option<i64>, what: &str) -> Result<Option<Money>, StoreError> {
    cents
        .map(Money::from_cents)
        .transpose()
        .map_err(|_| corrupt(what))
}
