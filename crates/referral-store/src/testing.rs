//! Throw-away databases for tests: a SQLite file in a temporary directory, or a fresh schema
//! in the PostgreSQL named by `TEST_DATABASE_URL`. Each is migrated, and removed on drop,
//! so suites run in parallel and leave nothing behind.

use crate::conn::{open_pool, DbConnection, Pool};
use crate::migrate::run_migrations;
use diesel::connection::SimpleConnection;
use diesel::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// A SQLite file.
    Sqlite,
    /// A schema in `TEST_DATABASE_URL`.
    Postgres,
}

/// A migrated database of its own, dropped with this value.
pub struct TestDb {
    /// A pool on the database.
    pub pool: Pool,
    /// Its URL (for starting the service on it).
    pub url: String,
    /// Which backend.
    pub backend: TestBackend,
    cleanup: Cleanup,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestDb({:?})", self.backend)
    }
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, schema } = &self.cleanup {
            if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                // pg_partman keeps the schema's partition set (and its template table) in
                // its own schema: forget them with it.
                let _ = conn.batch_execute(&format!(
                    "DO $$ DECLARE pm text; t text; BEGIN
                       SELECT extnamespace::regnamespace::text INTO pm
                         FROM pg_extension WHERE extname = 'pg_partman';
                       IF pm IS NOT NULL THEN
                         FOR t IN EXECUTE format('SELECT template_table FROM %I.part_config
                             WHERE split_part(parent_table, ''.'', 1) = %L', pm, '{schema}') LOOP
                           EXECUTE format('DROP TABLE IF EXISTS %s', t);
                         END LOOP;
                         EXECUTE format('DELETE FROM %I.part_config
                             WHERE split_part(parent_table, ''.'', 1) = %L', pm, '{schema}');
                       END IF;
                     END $$;
                     DROP SCHEMA IF EXISTS {schema} CASCADE"
                ));
            }
        }
    }
}

/// The PostgreSQL URL for tests, or `None` to skip them. With `REQUIRE_TEST_DATABASE` set
/// (CI), a missing URL is a failure, not a skip.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!("skipping the PostgreSQL variant: TEST_DATABASE_URL is not set");
            assert!(
                std::env::var_os("REQUIRE_TEST_DATABASE").is_none(),
                "REQUIRE_TEST_DATABASE is set but TEST_DATABASE_URL is not"
            );
            None
        }
    }
}

impl TestDb {
    /// A fresh SQLite database.
    pub fn sqlite() -> TestDb {
        Self::sqlite_with_pool_size(32)
    }

    /// A fresh SQLite database with a pool of `size` connections.
    pub fn sqlite_with_pool_size(size: u32) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let pool = open_pool(&url, size).expect("open SQLite");
        run_migrations(&mut pool.get().expect("connection")).expect("migrate SQLite");
        TestDb {
            pool,
            url,
            backend: TestBackend::Sqlite,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh schema in the PostgreSQL of `TEST_DATABASE_URL`, or `None` when unset.
    pub fn postgres() -> Option<TestDb> {
        Some(Self::postgres_at(&postgres_url()?))
    }

    /// A fresh schema in the PostgreSQL at `admin_url` (a server the test runs itself).
    ///
    /// # Panics
    /// When that PostgreSQL cannot be reached or migrated.
    pub fn postgres_at(admin_url: &str) -> TestDb {
        let admin_url = admin_url.to_owned();
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(&admin_url).unwrap_or_else(|e| {
            panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
        });
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("create schema");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
        let pool = open_pool(&url, 32).expect("open PostgreSQL");
        run_migrations(&mut pool.get().expect("connection")).expect("migrate PostgreSQL");
        TestDb {
            pool,
            url,
            backend: TestBackend::Postgres,
            cleanup: Cleanup::Postgres { admin_url, schema },
        }
    }

    /// A connection from the pool.
    pub fn conn(&self) -> crate::conn::PooledConnection {
        self.pool.get().expect("connection from the test pool")
    }
}

/// Reverts the newest applied migration and answers its version: with
/// [`crate::migrate::run_migrations`] after it, a test migrates a populated database.
///
/// # Errors
/// The migration's error.
pub fn revert_last_migration(conn: &mut DbConnection) -> Result<String, crate::StoreError> {
    crate::migrate::revert_last(conn)
}

/// Runs `body(fixture(db))` with `db` a fresh database of each backend.
pub fn run_with_fixture<F>(db: TestDb, fixture: impl FnOnce(TestDb) -> F, body: fn(&F)) {
    let fixture = fixture(db);
    body(&fixture);
}

/// The one way a test runs on both databases: `name::sqlite` always, and `name::postgres`
/// when `TEST_DATABASE_URL` is set.
///
/// - `both_databases!(name, |db: &TestDb| { ... })`: the body gets the database;
/// - `both_databases!(name, fixture = spawn, |app: &TestApp| { ... })`: the body gets what
///   `fixture(db)` makes of it (a running service, say);
/// - `both_databases!(name, owned, |db: TestDb| { ... })`: the body takes the database.
///
/// The PostgreSQL variant is compiled as ignored when `TEST_DATABASE_URL` was not set at
/// build time (the `postgres_tests` cfg of the package's build script), so `cargo test`'s
/// summary line says how many were skipped instead of counting them as passed.
#[macro_export]
macro_rules! both_databases {
    ($name:ident, owned, $body:expr) => {
        $crate::both_databases!(@tests $name,
            |db: $crate::testing::TestDb| { let body: fn($crate::testing::TestDb) = $body; body(db) });
    };
    ($name:ident, fixture = $fixture:expr, $body:expr) => {
        $crate::both_databases!(@tests $name,
            |db: $crate::testing::TestDb| $crate::testing::run_with_fixture(db, $fixture, $body));
    };
    ($name:ident, $body:expr) => {
        $crate::both_databases!(@tests $name,
            |db: $crate::testing::TestDb| {
                let body: fn(&$crate::testing::TestDb) = $body;
                body(&db)
            });
    };
    (@tests $name:ident, $run:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let run = $run;
                run($crate::testing::TestDb::sqlite());
            }

            #[test]
            #[cfg_attr(
                not(postgres_tests),
                ignore = "TEST_DATABASE_URL was not set when the tests were built"
            )]
            fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres() {
                    let run = $run;
                    run(db);
                }
            }
        }
    };
}
