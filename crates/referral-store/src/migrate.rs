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
    // Read-only first: a service running as a role that may not create tables (the
    // PostgreSQL role split of docs/operations.md) starts on a migrated database.
    if all_applied(conn).unwrap_or(false) {
        return Ok(0);
    }
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

/// Whether the migrations table lists every embedded migration, read with a plain query
/// (diesel's harness creates the table first, which needs the owner's rights).
fn all_applied(conn: &mut DbConnection) -> Result<bool, StoreError> {
    use diesel::migration::MigrationSource;
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Applied {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let query = diesel::sql_query("SELECT version FROM __diesel_schema_migrations");
    let (applied, embedded): (Vec<Applied>, Vec<String>) = match conn {
        DbConnection::Pg(c) => (
            query.load(c)?,
            MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES)
                .map_err(|e| StoreError::Migration(e.to_string()))?
                .iter()
                .map(|m| m.name().version().to_string())
                .collect(),
        ),
        DbConnection::Sqlite(c) => (
            query.load(c)?,
            MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)
                .map_err(|e| StoreError::Migration(e.to_string()))?
                .iter()
                .map(|m| m.name().version().to_string())
                .collect(),
        ),
    };
    let applied: std::collections::HashSet<String> =
        applied.into_iter().map(|a| a.version).collect();
    Ok(embedded.iter().all(|version| applied.contains(version)))
}

/// Whether every embedded migration has been applied (for readiness checks).
///
/// # Errors
/// [`StoreError::Migration`] when the migration table cannot be read.
pub fn migrations_complete(conn: &mut DbConnection) -> Result<bool, StoreError> {
    if all_applied(conn).unwrap_or(false) {
        return Ok(true);
    }
    let pending = match conn {
        DbConnection::Pg(c) => c.pending_migrations(POSTGRES).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE).map(|v| v.len()),
    };
    pending
        .map(|n| n == 0)
        .map_err(|e| StoreError::Migration(e.to_string()))
}
