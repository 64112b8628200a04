//! Connections: one `MultiConnection` over PostgreSQL and SQLite, an r2d2 pool whose manager
//! picks the backend from the URL scheme, and the write transaction every use case runs in.

use crate::error::StoreError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use std::fmt;
use std::time::Duration;

/// A connection to either database. Shared SQL goes through this type; the few statements
/// that differ per backend `match` on it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL (production).
    Pg(PgConnection),
    /// SQLite (the zero-setup default).
    Sqlite(SqliteConnection),
}

impl DbConnection {
    /// Whether this connection may write: not on a PostgreSQL streaming replica, nor in a
    /// read-only transaction. A read that tidies as it goes (the top referrers fold their
    /// queue) asks first, so that it also runs on a replica.
    ///
    /// # Errors
    /// Database errors.
    pub fn is_writable(&mut self) -> Result<bool, StoreError> {
        use diesel::RunQueryDsl;
        match self {
            DbConnection::Pg(c) => Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "current_setting('transaction_read_only') = 'off'",
            ))
            .get_result(c)?),
            DbConnection::Sqlite(_) => Ok(true),
        }
    }
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbConnection::Pg(_) => "DbConnection::Pg",
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
        })
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite://PATH` or `sqlite:PATH`.
    Sqlite,
}

/// A parsed database URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    kind: BackendKind,
    /// The URL for PostgreSQL, the file path for SQLite.
    target: String,
}

impl fmt::Debug for DatabaseUrl {
    // The URL may hold a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…`, `sqlite://PATH` or `sqlite:PATH`.
    ///
    /// # Errors
    /// [`StoreError::Config`] for any other scheme or an empty SQLite path.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self {
                kind: BackendKind::Postgres,
                target: url.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::Config("the sqlite URL has no file path".into()));
            }
            return Ok(Self {
                kind: BackendKind::Sqlite,
                target: path.to_owned(),
            });
        }
        Err(StoreError::Config(
            "the database URL must start with postgres://, postgresql:// or sqlite://".into(),
        ))
    }

    /// Which database this is.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// For SQLite, the file path.
    pub fn sqlite_path(&self) -> Option<&str> {
        (self.kind == BackendKind::Sqlite).then_some(self.target.as_str())
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        match self.kind {
            BackendKind::Sqlite => format!("sqlite://{}", self.target),
            BackendKind::Postgres => redact_password(&self.target),
        }
    }

    /// Opens one connection, with the real error when it fails (a wrong password says so).
    ///
    /// # Errors
    /// [`StoreError::Connect`] with the database's own message.
    pub fn connect(&self) -> Result<DbConnection, StoreError> {
        match self.kind {
            BackendKind::Postgres => PgConnection::establish(&self.target)
                .map(DbConnection::Pg)
                .map_err(|e| StoreError::Connect(e.to_string())),
            BackendKind::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)
                    .map_err(|e| StoreError::Connect(e.to_string()))?;
                // WAL lets readers work beside the writer; the busy timeout makes writers
                // queue instead of failing; foreign keys are off by default in SQLite.
                // `optimize` (with the open-time flags) gathers planner statistics for tables
                // that lack them, within a small budget: without them SQLite can pick a
                // per-program index for a per-referrer lookup and read thousands of rows.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA optimize = 0x10002;",
                )
                .map_err(|e| StoreError::Connect(e.to_string()))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_owned(),
    }
}

/// The r2d2 manager: opens connections for one [`DatabaseUrl`].
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    statement_timeout: Option<Duration>,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = PoolConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<PoolConnection, StoreError> {
        let mut conn = self.url.connect()?;
        if let (DbConnection::Pg(c), Some(limit)) = (&mut conn, self.statement_timeout) {
            // A primary that accepts the connection but no longer answers (a failover in
            // progress, a lock held) ends the statement instead of holding the request.
            c.batch_execute(&format!(
                "SET statement_timeout = {}",
                limit.as_millis().max(1)
            ))
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        }
        Ok(PoolConnection {
            conn,
            dropped: false,
        })
    }

    fn is_valid(&self, conn: &mut PoolConnection) -> Result<(), StoreError> {
        // Not called on check-out (see `open_pool`); r2d2 calls it for its own checks.
        match &mut conn.conn {
            DbConnection::Pg(c) => c.batch_execute("SELECT 1").map_err(StoreError::from),
            // A SQLite connection is a file handle in this process: nothing to check.
            DbConnection::Sqlite(_) => Ok(()),
        }
    }

    fn has_broken(&self, conn: &mut PoolConnection) -> bool {
        // A connection the server dropped, or left in a failed transaction, is closed when it
        // comes back instead of being handed out again.
        conn.dropped
            || match &mut conn.conn {
                DbConnection::Pg(c) => diesel::r2d2::R2D2Connection::is_broken(c),
                DbConnection::Sqlite(c) => diesel::r2d2::R2D2Connection::is_broken(c),
            }
    }
}

/// A connection as the pool holds it: the connection, and whether its server dropped it.
/// It dereferences to the [`DbConnection`].
pub struct PoolConnection {
    conn: DbConnection,
    dropped: bool,
}

impl PoolConnection {
    /// Keeps this connection out of the pool, once it is returned, when `error` says that the
    /// database dropped it (diesel cannot tell otherwise, and the pool does not test
    /// connections before use); returns `error`.
    pub fn unless_dropped<E: ConnectionLoss>(&mut self, error: E) -> E {
        if error.lost_connection() {
            self.dropped = true;
        }
        error
    }
}

/// An error that can say the database connection was lost.
pub trait ConnectionLoss {
    /// Whether the connection it happened on is gone.
    fn lost_connection(&self) -> bool;
}

impl ConnectionLoss for StoreError {
    fn lost_connection(&self) -> bool {
        self.is_unavailable()
    }
}

impl std::fmt::Debug for PoolConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.conn {
            DbConnection::Pg(_) => "postgres",
            DbConnection::Sqlite(_) => "sqlite",
        };
        f.debug_struct("PoolConnection")
            .field("backend", &backend)
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl std::ops::Deref for PoolConnection {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Runs `work` on a connection from `pool`; a connection the database dropped during the
/// work is not handed out again.
///
/// # Errors
/// The work's error, or [`StoreError::Unavailable`] when no connection can be had.
pub fn with_connection<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<StoreError> + ConnectionLoss,
{
    let mut conn = pool.get().map_err(|e| E::from(StoreError::from(e)))?;
    work(&mut conn).map_err(|e| conn.unless_dropped(e))
}

/// A new id for a row of an append-mostly table (interactions, audit, outbox): UUIDv7, which
/// starts with the time, so that new keys land at the end of the primary key's index
/// instead of on a random page of it (a random page of a 5,000,000-row index is rarely in
/// memory). Ids that leave the service (referrals, rewards) stay random.
pub(crate) fn new_row_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// A pool of connections to one database.
pub type Pool = r2d2::Pool<ConnectionManager>;
/// A connection taken from the [`Pool`].
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Opens a pool of up to `max_size` connections and checks that one connects (a
/// check-out waits up to 10 s; see [`open_pool_with`] for the service's settings).
///
/// # Errors
/// [`StoreError::Config`] for a bad URL, [`StoreError::Connect`] with the database's
/// message when no connection can be made.
pub fn open_pool(url: &str, max_size: u32) -> Result<Pool, StoreError> {
    open_pool_with(url, PoolOptions::new(max_size))
}

/// How a pool is opened.
#[derive(Debug)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// Longest a caller waits for a connection before [`StoreError::Unavailable`]: a
    /// service answers 503 in that time while its database is down or promoting a replica,
    /// instead of holding the request.
    pub checkout_timeout: Duration,
    /// Told of every check-out and time-out (the service's metrics of pool waits).
    pub events: Option<Box<dyn r2d2::HandleEvent>>,
    /// On PostgreSQL, the `statement_timeout` of every pooled connection (`None`: the
    /// server's). Migrations run on their own connection, without it.
    pub statement_timeout: Option<Duration>,
}

impl PoolOptions {
    /// Up to `max_size` connections, 10 s check-out wait, no events, the server's
    /// statement timeout.
    pub fn new(max_size: u32) -> Self {
        Self {
            max_size,
            checkout_timeout: Duration::from_secs(10),
            events: None,
            statement_timeout: None,
        }
    }
}

/// Opens a pool as [`open_pool`] does, with `options`.
///
/// # Errors
/// As [`open_pool`].
pub fn open_pool_with(url: &str, options: PoolOptions) -> Result<Pool, StoreError> {
    let url = DatabaseUrl::parse(url)?;
    // Try one connection first: r2d2 would only say "timed out" after its timeout.
    url.connect()?;
    let (builder, manager) = pool_parts(url, options, 1);
    builder
        .build(manager)
        .map_err(|e| StoreError::Connect(e.to_string()))
}

/// Opens a pool as [`open_pool_with`] does, without connecting first: for a read replica,
/// which may be down when the service starts (reads then use the primary until it is up).
///
/// # Errors
/// [`StoreError::Config`] for a bad URL.
pub fn open_pool_lazily(url: &str, options: PoolOptions) -> Result<Pool, StoreError> {
    let (builder, manager) = pool_parts(DatabaseUrl::parse(url)?, options, 0);
    Ok(builder.build_unchecked(manager))
}

/// The pool's builder and manager for `options`, keeping `min_idle` connections open.
fn pool_parts(
    url: DatabaseUrl,
    options: PoolOptions,
    min_idle: u32,
) -> (r2d2::Builder<ConnectionManager>, ConnectionManager) {
    let mut builder = r2d2::Pool::builder()
        .max_size(options.max_size.max(1))
        // Grow on demand instead of opening every connection at start: many instances (and
        // parallel test suites) share one PostgreSQL's connection limit.
        .min_idle(Some(min_idle))
        // No `SELECT 1` before every use: it doubled the round trips of a click. A connection
        // that died while idle fails the one request that takes it, and `has_broken` then
        // keeps it out of the pool; idle connections are closed after 10 minutes anyway.
        .test_on_check_out(false)
        .connection_timeout(options.checkout_timeout.max(Duration::from_millis(1)));
    if let Some(events) = options.events {
        builder = builder.event_handler(events);
    }
    let manager = ConnectionManager {
        url,
        statement_timeout: options.statement_timeout,
    };
    (builder, manager)
}

/// Runs `f` in one write transaction, committed when it returns `Ok` and rolled back
/// otherwise.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the write lock first: a
/// deferred transaction that reads and then writes can fail with "database is locked" when
/// another writer got in between, and the busy timeout does not retry that case. On
/// PostgreSQL it is a plain `BEGIN` (read committed); use cases lock the rows they decide on.
///
/// # Errors
/// The error of `f`, or of begin/commit.
pub fn write_transaction<T, F>(conn: &mut DbConnection, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError>,
{
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Pg(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Runs `$insert` (an `insert_into(...).values(...)`) with `ON CONFLICT DO NOTHING` on the
/// connection's backend; `Ok(true)` when a row was inserted, `Ok(false)` when a unique key
/// already held it. One statement, no savepoint: on PostgreSQL a concurrent insert of the
/// same key waits for the first to commit and then inserts nothing.
macro_rules! insert_new {
    ($conn:expr, $insert:expr) => {{
        let inserted = match $conn {
            $crate::conn::DbConnection::Pg(c) => {
                diesel::RunQueryDsl::execute($insert.on_conflict_do_nothing(), c)
            }
            $crate::conn::DbConnection::Sqlite(c) => {
                diesel::RunQueryDsl::execute($insert.on_conflict_do_nothing(), c)
            }
        };
        inserted
            .map(|rows| rows > 0)
            .map_err($crate::error::StoreError::from)
    }};
}
pub(crate) use insert_new;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        let pg = DatabaseUrl::parse("postgres://u:secret@localhost/db").unwrap();
        assert_eq!(pg.kind(), BackendKind::Postgres);
        assert_eq!(pg.redacted(), "postgres://u:***@localhost/db");
        assert!(!format!("{pg:?}").contains("secret"));
        let lite = DatabaseUrl::parse("sqlite://./data/referrals.db").unwrap();
        assert_eq!(lite.sqlite_path(), Some("./data/referrals.db"));
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/x.db")
                .unwrap()
                .sqlite_path(),
            Some("/tmp/x.db")
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
