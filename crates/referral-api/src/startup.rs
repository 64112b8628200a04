//! Start-up: the database (created, migrated), the token secret (or development mode),
//! the state, the outbox delivery and the workers.

use crate::app::Service;
use crate::auth::{dev_secret_path, load_or_create_dev_secret, JwtKeys};
use crate::config::ServeArgs;
use crate::links;
use crate::state::AppState;
use chrono::{Duration, Utc};
use referral_notify::transport::Outgoing;
use referral_notify::{Notifier, NotifyError};
use referral_store::outbox;
use referral_store::{open_pool, run_migrations, DatabaseUrl, StoreError};
use std::sync::Arc;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Files (the data directory, the development secret).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Templates or the HTTP client of the notifier.
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// Opens the database, creating the SQLite directory, and applies the migrations.
///
/// # Errors
/// The database's own error.
pub fn open_database(args: &ServeArgs) -> Result<referral_store::Pool, StartupError> {
    let url = DatabaseUrl::parse(&args.database_url)?;
    if let Some(path) = url.sqlite_path() {
        if let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
    }
    let pool = open_pool(&args.database_url, args.db_pool_size)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let applied = run_migrations(&mut conn)?;
    drop(conn);
    tracing::info!(database = %url.redacted(), migrations_applied = applied, "database ready");
    Ok(pool)
}

/// The token secret: the configured one, or (development mode) one kept in the data
/// directory so that `dev-token` signs with the same one. Returns whether in development.
///
/// # Errors
/// When the development secret cannot be read or written.
pub fn jwt_secret(args: &ServeArgs) -> Result<(String, bool), StartupError> {
    match &args.jwt_secret {
        Some(secret) if !secret.is_empty() => Ok((secret.clone(), false)),
        _ => Ok((
            load_or_create_dev_secret(&dev_secret_path(&args.database_url))?,
            true,
        )),
    }
}

/// Builds the service from its settings.
///
/// # Errors
/// See [`StartupError`].
pub fn build(args: ServeArgs) -> Result<(Service, Arc<Delivery>), StartupError> {
    let pool = open_database(&args)?;
    let (secret, development) = jwt_secret(&args)?;
    if development {
        tracing::warn!("==================================================================");
        tracing::warn!("DEVELOPMENT MODE: no REFERRAL_JWT_SECRET given; using a generated");
        tracing::warn!(
            "secret kept in {}",
            dev_secret_path(&args.database_url).display()
        );
        tracing::warn!("mint a token with:  cargo run -- dev-token --role patient --sub <UUID> --email you@example.com");
        tracing::warn!("never run like this in production");
        tracing::warn!("==================================================================");
    }
    let state = Arc::new(AppState {
        pool,
        policy: args.policy(),
        public_base_url: args.public_base_url.clone(),
        rng: ring::rand::SystemRandom::new(),
        link_key: links::link_key(secret.as_bytes()),
    });
    let providers = args.providers();
    if providers.is_empty() {
        tracing::warn!("no email, SMS or payout provider configured: messages are rendered and marked sent without leaving");
    }
    let delivery = Arc::new(Delivery {
        notifier: Notifier::new(providers)?,
        api_base_url: args.public_base_url.clone(),
    });
    let keys = JwtKeys::new(secret.as_bytes());
    Ok((Service { state, keys, args }, delivery))
}

/// Delivers due outbox messages.
#[derive(Debug)]
pub struct Delivery {
    notifier: Notifier,
    api_base_url: String,
}

/// An invitation that left is an interaction of its referral (`email_sent`, `sms_sent`).
fn record_sent(
    conn: &mut referral_store::DbConnection,
    message: &outbox::OutboxMessage,
    now: chrono::DateTime<Utc>,
) -> Result<(), StoreError> {
    let kind = match message.kind {
        outbox::OutboxKind::Email => referral_domain::InteractionType::EmailSent,
        outbox::OutboxKind::Sms => referral_domain::InteractionType::SmsSent,
        outbox::OutboxKind::Payout => return Ok(()),
    };
    let referral = message
        .payload
        .get("referral_id")
        .and_then(|v| v.as_str())
        .and_then(|id| id.parse::<referral_domain::ReferralId>().ok());
    match referral {
        Some(id) if message.template == "referral_invitation" => {
            referral_store::referrals::record_interaction(
                conn,
                id,
                kind,
                &referral_store::referrals::RequestOrigin {
                    source: Some("outbox".into()),
                    ..Default::default()
                },
                Some(serde_json::json!({"message_id": message.id})),
                now,
            )
        }
        _ => Ok(()),
    }
}

/// Attempts before a message is given up.
const MAX_ATTEMPTS: i32 = 6;

impl Delivery {
    /// Claims and delivers due messages; returns how many were delivered.
    ///
    /// # Errors
    /// Store errors.
    pub fn deliver_due(&self, state: &AppState) -> Result<usize, StoreError> {
        let mut conn = state.pool.get()?;
        let claimed = outbox::claim(&mut conn, 20, Duration::minutes(2), Utc::now())?;
        let mut delivered = 0;
        for message in claimed {
            let mut payload = message.payload.clone();
            if let Some(map) = payload.as_object_mut() {
                if let Some(code) = map
                    .get("referral_code")
                    .and_then(|c| c.as_str())
                    .map(str::to_owned)
                {
                    map.insert("register_url".into(), state.share_url(&code).into());
                }
                let token = links::sign_unsubscribe(&state.link_key, &message.recipient);
                map.insert(
                    "unsubscribe_url".into(),
                    format!(
                        "{}/api/unsubscribe/{token}",
                        self.api_base_url.trim_end_matches('/')
                    )
                    .into(),
                );
            }
            let kind = message.kind.to_string();
            let outgoing = Outgoing {
                kind: &kind,
                recipient: &message.recipient,
                template: &message.template,
                payload: &payload,
                idempotency_key: &message.idempotency_key,
            };
            let now = Utc::now();
            match self.notifier.deliver(&outgoing) {
                Ok(()) => {
                    outbox::complete(&mut conn, message.id, now)?;
                    record_sent(&mut conn, &message, now)?;
                    delivered += 1;
                }
                Err(e) if e.is_retryable() && message.attempts < MAX_ATTEMPTS => {
                    let backoff = Duration::seconds(30 * i64::from(message.attempts).pow(2));
                    outbox::retry(&mut conn, message.id, &e.to_string(), now + backoff, now)?;
                }
                Err(e) => {
                    tracing::warn!(message_id = %message.id, template = %message.template, error = %e, "message given up");
                    outbox::fail(&mut conn, message.id, &e.to_string(), now)?;
                }
            }
        }
        Ok(delivered)
    }
}
