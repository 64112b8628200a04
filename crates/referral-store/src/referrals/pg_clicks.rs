//! The click's write on PostgreSQL over asynchronous connections (tokio-postgres, pooled by
//! deadpool), so that a click is answered without leaving the HTTP worker's thread.
//!
//! Every other query goes through Diesel on the blocking pool ([`crate::Pool`]): a click
//! there crosses threads twice (to the blocking pool and back) and waits in libpq's
//! synchronous round trip, which at 16 connections on a 2-core machine cost more than the
//! insert itself (`docs/scaling.md`). The click is the hottest and the simplest write, one
//! statement, so it alone gets this path. Make one [`PgClickPool`] per HTTP worker: its
//! connections then run on that worker's event loop.

use crate::conn::new_row_id;
use crate::referrals::RequestOrigin;
use crate::StoreError;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use referral_domain::{InteractionType, ReferralCode};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

/// The click's one statement: its interaction row, inserted by code. Prepared once per
/// connection.
const INSERT_CLICK: &str = "INSERT INTO referral_interactions \
    (id, referral_id, interaction_type, ip_address, user_agent, source, created_at) \
    SELECT $1, id, $2, $3, $4, $5, $6 FROM referrals WHERE referral_code = $7";

/// A pool of asynchronous PostgreSQL connections for recording clicks.
#[derive(Clone)]
pub struct PgClickPool {
    pool: Pool,
}

impl std::fmt::Debug for PgClickPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's config holds the password: show only its size.
        f.debug_struct("PgClickPool")
            .field("max_size", &self.pool.status().max_size)
            .finish()
    }
}

impl PgClickPool {
    /// A pool of at most `max_size` connections to the PostgreSQL database at `url`,
    /// opened on first use, in the Tokio runtime of the task that first needs each one.
    ///
    /// # Errors
    /// [`StoreError::Config`] when `url` is not a URL tokio-postgres takes, or asks for TLS
    /// (`sslmode=require`): this path has no TLS, and the caller should keep clicks on the
    /// blocking pool, whose libpq does.
    pub fn new(url: &str, max_size: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("the click pool cannot use the URL: {e}")))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(StoreError::Config(
                "the click pool has no TLS, and the URL requires it".into(),
            ));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection that died fails the one click that takes it; deadpool then
                // drops it. No query before each use (that doubled the click's round trips).
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Records a click on a referral link as its interaction row, in one plan-cached
    /// statement: the same write as [`crate::referrals::record_click`].
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown code (nothing is recorded);
    /// [`StoreError::Unavailable`] when no connection can be had or it is lost.
    pub async fn record_click(
        &self,
        code: &str,
        origin: &RequestOrigin,
        now: DateTime<Utc>,
    ) -> Result<ReferralCode, StoreError> {
        let code = ReferralCode::parse(code).map_err(|_| StoreError::NotFound)?;
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let statement = client
            .prepare_cached(INSERT_CLICK)
            .await
            .map_err(driver_error)?;
        let (id, code_text) = (new_row_id(), code.to_string());
        let params: [&(dyn ToSql + Sync); 7] = [
            &id,
            &InteractionType::Click.as_str(),
            &origin.ip_address,
            &origin.user_agent,
            &origin.source,
            &now,
            &code_text,
        ];
        let inserted = client
            .execute(&statement, &params)
            .await
            .map_err(driver_error)?;
        if inserted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(code)
    }
}

/// An error that did not come from the database (a refused, lost or timed-out connection)
/// is [`StoreError::Unavailable`]; the database's own errors are kept as text (they never
/// reach a response).
fn driver_error(error: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    // A node that is no longer the primary, or is shutting down, is out of reach as well.
    let away = [
        SqlState::READ_ONLY_SQL_TRANSACTION,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
    ];
    if error.is_closed()
        || error.as_db_error().is_none()
        || error.code().is_some_and(|c| away.contains(c))
    {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Driver(error.to_string())
    }
}
