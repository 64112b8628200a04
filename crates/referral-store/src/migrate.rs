//! Embedded migrations, one set per database, applied on start and idempotent.

use crate::conn::DbConnection;
use crate::error::StoreError;
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Any fixed number: instances that start together take turns migrating.
const MIGRATION_LOCK_KEY: i64 = 0x5245_4645_5252;

/// Applies the pending migrations of the connection's database; returns how many ran.
///
/// # Errors
/// [`StoreError::Migration`] with the failing migration's message.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConnection::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = c.run_pending_migrations(POSTGRES).map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(|v| v.len()),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Whether every embedded migration has been applied (for readiness checks).
///
/// # Errors
/// [`StoreError::Migration`] when the migration table cannot be read.
pub fn migrations_complete(conn: &mut DbConnection) -> Result<bool, StoreError> {
    let pending = match conn {
        DbConnection::Pg(c) => c.pending_migrations(POSTGRES).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE).map(|v| v.len()),
    };
    pending
        .map(|n| n == 0)
        .map_err(|e| StoreError::Migration(e.to_string()))
}
