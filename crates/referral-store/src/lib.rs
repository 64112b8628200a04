//! Diesel repositories and transactional use cases of the referral service, on SQLite and
//! PostgreSQL.
//!
//! Every use case takes a connection and `now`, runs in one transaction
//! ([`conn::write_transaction`]) and enforces the rules of `referral-domain` against the
//! stored facts. Races are settled by the database: unique indexes where one fits, row locks
//! (on PostgreSQL) or the write lock (on SQLite) where a decision reads before it writes.

pub mod analytics;
pub mod audit;
pub mod bulk;
pub mod conn;
pub mod demo;
pub mod error;
pub mod events;
pub mod inbound;
pub mod keyring;
pub mod limits;
pub mod migrate;
pub mod observe;
pub mod outbox;
pub mod page;
pub mod patients;
pub mod programs;
pub mod referrals;
pub mod retention;
pub mod reversals;
pub use referrals::pg_clicks;
pub mod rewards;
pub mod rollups;
pub mod schema;
pub mod share_links;
pub mod sql_types;
pub mod suppressions;
pub mod webhooks;

pub use conn::{
    open_pool, open_pool_lazily, open_pool_with, with_connection, write_transaction, BackendKind,
    ConnectionLoss, DatabaseUrl, DbConnection, Pool, PoolConnection, PoolOptions, PooledConnection,
};
pub use error::StoreError;
pub use migrate::run_migrations;

#[cfg(feature = "test-support")]
pub mod testing;
