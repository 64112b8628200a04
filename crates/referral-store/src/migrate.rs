//! Embedded migrations, one set per database, applied on start and idempotent.
//!
//! On PostgreSQL the versioned migrations are followed by the functions migration: the
//! PL/pgSQL functions, one file each under `sql/functions/`, applied with `CREATE OR
//! REPLACE`. Its version carries a digest of the sources, so an edited function is a new
//! migration that the next `migrate` (or start) applies, and readiness sees it pending.

use crate::conn::DbConnection;
use crate::error::StoreError;
use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The PL/pgSQL functions, in the order they are applied.
const FUNCTIONS: [(&str, &str); 3] = [
    (
        "referral_granted_cents",
        include_str!("../sql/functions/referral_granted_cents.sql"),
    ),
    (
        "referral_event_begin",
        include_str!("../sql/functions/referral_event_begin.sql"),
    ),
    (
        "referral_conversion_apply",
        include_str!("../sql/functions/referral_conversion_apply.sql"),
    ),
];

/// Applies [`FUNCTIONS`]; one migration whose version names what it applies.
#[derive(Debug)]
struct FunctionsMigration {
    version: String,
}

impl FunctionsMigration {
    fn new() -> Self {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for (name, source) in FUNCTIONS {
            context.update(name.as_bytes());
            context.update(source.as_bytes());
        }
        let digest = context.finish();
        let short: String = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // After 2026-11-30-000012, the last versioned migration when it was written; later
        // versioned migrations sort after it, which is harmless (PL/pgSQL binds late).
        FunctionsMigration {
            version: format!("20261130000013_functions_{short}"),
        }
    }
}

impl std::fmt::Display for FunctionsMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.version)
    }
}

impl diesel::migration::MigrationName for FunctionsMigration {
    fn version(&self) -> diesel::migration::MigrationVersion<'_> {
        diesel::migration::MigrationVersion::from(&self.version)
    }
}

impl diesel::migration::MigrationMetadata for FunctionsMigration {}

impl diesel::migration::Migration<diesel::pg::Pg> for FunctionsMigration {
    fn run(
        &self,
        conn: &mut dyn diesel::connection::BoxableConnection<diesel::pg::Pg>,
    ) -> diesel::migration::Result<()> {
        for (_, source) in FUNCTIONS {
            conn.batch_execute(source)?;
        }
        Ok(())
    }

    /// Nothing: the versioned migration that created a function drops it on its revert.
    fn revert(
        &self,
        _conn: &mut dyn diesel::connection::BoxableConnection<diesel::pg::Pg>,
    ) -> diesel::migration::Result<()> {
        Ok(())
    }

    fn metadata(&self) -> &dyn diesel::migration::MigrationMetadata {
        self
    }

    fn name(&self) -> &dyn diesel::migration::MigrationName {
        self
    }
}

/// PostgreSQL's migrations: the versioned ones, then the functions.
#[derive(Debug, Clone, Copy)]
struct PostgresMigrations;

impl diesel::migration::MigrationSource<diesel::pg::Pg> for PostgresMigrations {
    fn migrations(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn diesel::migration::Migration<diesel::pg::Pg>>>> {
        let mut all = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES)?;
        all.push(Box::new(FunctionsMigration::new()));
        Ok(all)
    }
}

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
            let result = c
                .run_pending_migrations(PostgresMigrations)
                .map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(|v| v.len()),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Reverts the newest applied migration (a test's way back to the schema before it).
#[cfg(feature = "test-support")]
pub(crate) fn revert_last(conn: &mut DbConnection) -> Result<String, StoreError> {
    let reverted = match conn {
        DbConnection::Pg(c) => c
            .revert_last_migration(PostgresMigrations)
            .map(|v| v.to_string()),
        DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE).map(|v| v.to_string()),
    };
    reverted.map_err(|e| StoreError::Migration(e.to_string()))
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
            MigrationSource::<diesel::pg::Pg>::migrations(&PostgresMigrations)
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
        DbConnection::Pg(c) => c.pending_migrations(PostgresMigrations).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE).map(|v| v.len()),
    };
    pending
        .map(|n| n == 0)
        .map_err(|e| StoreError::Migration(e.to_string()))
}
