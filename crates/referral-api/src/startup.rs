//! Start-up: the database (created, migrated), the token secret (or development mode),
//! the state, the outbox delivery and the workers.

use crate::app::Service;
use crate::auth::{dev_secret_path, load_or_create_dev_secret, JwtKeys};
use crate::clicks::{ClickPoolSettings, ClickWriter};
use crate::config::ServeArgs;
use crate::delivery::{Delivery, RetryPolicy};
use crate::links::LinkKeys;
use crate::state::AppState;
use referral_notify::{Notifier, NotifyError, Transport};
use referral_store::keyring::Keyring;
use referral_store::{run_migrations, BackendKind, DatabaseUrl, StoreError};
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
    /// A page template that does not compile.
    #[error("{0}")]
    Pages(String),
    /// Settings that are missing, malformed or unsafe; the message names the setting.
    #[error("{0}")]
    Config(String),
}

/// Most connections to a SQLite database (see [`open_database`]).
pub const SQLITE_MAX_POOL: u32 = 4;

/// Opens the database, creating the SQLite directory, and applies the migrations.
///
/// # Errors
/// The database's own error.
pub fn open_database(args: &ServeArgs) -> Result<referral_store::Pool, StartupError> {
    open_database_observed(args, None)
}

/// As [`open_database`], telling `events` of every check-out (the metrics of pool waits).
///
/// # Errors
/// As [`open_database`].
pub fn open_database_observed(
    args: &ServeArgs,
    events: Option<Box<dyn r2d2::HandleEvent>>,
) -> Result<referral_store::Pool, StartupError> {
    let url = DatabaseUrl::parse(&args.database_url)?;
    create_sqlite_dir(&url)?;
    // SQLite has one writer at a time, and writers beyond it wait in SQLite's sleeping busy
    // loop: a few connections serve more requests, with a far shorter p99, than many
    // (bench/load.sh: 4 connections 5,700 clicks/s and p99 87 ms; 16 gave 4,200 and 308 ms).
    let pool_size = if url.sqlite_path().is_some() && args.db_pool_size > SQLITE_MAX_POOL {
        tracing::info!(
            requested = args.db_pool_size,
            used = SQLITE_MAX_POOL,
            "SQLite: the pool is capped"
        );
        SQLITE_MAX_POOL
    } else {
        args.db_pool_size
    };
    let pool = referral_store::open_pool_with(
        &args.database_url,
        referral_store::PoolOptions {
            max_size: pool_size,
            checkout_timeout: std::time::Duration::from_millis(args.db_checkout_timeout_ms),
            events,
            statement_timeout: (args.db_statement_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(args.db_statement_timeout_ms)),
        },
    )?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let applied = run_migrations(&mut conn)?;
    drop(conn);
    tracing::info!(database = %url.redacted(), migrations_applied = applied, "database ready");
    Ok(pool)
}

/// `referral-api migrate`: applies the pending migrations over one connection and returns.
/// No pool: a pool replenishes itself from a background thread, and a process that exits
/// while that thread is inside libpq's TLS handshake can crash in OpenSSL's exit handlers.
///
/// # Errors
/// A bad URL, a failed connection or migration.
pub fn migrate(args: &ServeArgs) -> Result<(), StartupError> {
    let url = DatabaseUrl::parse(&args.database_url)?;
    create_sqlite_dir(&url)?;
    let mut conn = url.connect()?;
    let applied = run_migrations(&mut conn)?;
    tracing::info!(database = %url.redacted(), migrations_applied = applied, "database ready");
    Ok(())
}

fn create_sqlite_dir(url: &DatabaseUrl) -> Result<(), StartupError> {
    if let Some(path) = url.sqlite_path() {
        if let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
    }
    Ok(())
}

/// The data keyring: `--data-keys`, `--data-keys-file`, or the development keyring beside
/// the development secret. Only `serve` in development mode (no token verification, on
/// loopback) creates that file (`may_generate`); every other process reads it if it is
/// there, and otherwise refuses, naming the setting: a worker or a production instance
/// with a keyring of its own would make links and MACs no other instance can check.
///
/// # Errors
/// A keyring that is missing, malformed or too weak, a file that cannot be read or written.
pub fn data_keyring(args: &ServeArgs, may_generate: bool) -> Result<Keyring, StartupError> {
    let bad = |e: referral_store::keyring::KeyringError, from: &str| {
        StartupError::Config(format!("{from}: {e}"))
    };
    if let Some(text) = &args.data_keys {
        return Keyring::parse(text).map_err(|e| bad(e, "REFERRAL_DATA_KEYS (--data-keys)"));
    }
    if let Some(path) = &args.data_keys_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StartupError::Config(format!("--data-keys-file {}: {e}", path.display()))
        })?;
        return Keyring::parse(&text).map_err(|e| bad(e, "--data-keys-file"));
    }
    let path = dev_secret_path(&args.database_url).with_file_name("dev-data-keys");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Keyring::parse(&text).map_err(|e| bad(e, &path.display().to_string()));
    }
    if !may_generate {
        return Err(StartupError::Config(format!(
            "no data keyring: set REFERRAL_DATA_KEYS (--data-keys) or REFERRAL_DATA_KEYS_FILE (--data-keys-file) to the keyring the service uses (no development keyring at {})",
            path.display()
        )));
    }
    let keyring = Keyring::single("dev1", &random_key()?)
        .map_err(|e| bad(e, "the generated development keyring"))?;
    write_private(&path, &keyring.to_text())?;
    tracing::warn!(path = %path.display(), "development: generated a data keyring");
    Ok(keyring)
}

/// 32 bytes from the system's secure generator.
///
/// # Errors
/// When the generator fails.
pub fn random_key() -> std::io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("secure random generator failed"))?;
    Ok(bytes)
}

/// Writes `text` to `path` readable by its owner only.
///
/// # Errors
/// I/O errors.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Where the audit witness writes: `--audit-witness-dir`, or `audit-witness` beside the
/// development files.
pub fn witness_dir(args: &ServeArgs) -> std::path::PathBuf {
    args.audit_witness_dir
        .clone()
        .unwrap_or_else(|| dev_secret_path(&args.database_url).with_file_name("audit-witness"))
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

/// Logs the development-mode banner: how to get a token, and that this is not production.
fn warn_development(args: &ServeArgs) {
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

/// The outbox delivery for these settings.
///
/// # Errors
/// Templates or the HTTP client of the notifier.
pub fn delivery(
    args: &ServeArgs,
    pool: referral_store::Pool,
    links: LinkKeys,
) -> Result<Delivery, StartupError> {
    let transport = args.transport();
    match &transport {
        Transport::Mailbox(dir) => tracing::warn!(
            mailbox = %dir.display(),
            "no email, SMS or payout provider key set: messages are written to the mailbox directory instead of being sent"
        ),
        Transport::Providers(p) => tracing::info!(
            email = p.sendgrid.is_some(),
            sms = p.twilio.is_some(),
            payouts = p.stripe.is_some(),
            "delivery providers configured"
        ),
    }
    Ok(Delivery {
        pool,
        notifier: Notifier::new(transport)?,
        links,
        public_base_url: args.public_base_url.clone(),
        postal_address: args.postal_address().map(str::to_owned),
        site: crate::site::Site::of(args),
        api_base_url: args.public_base_url.clone(),
        retry: RetryPolicy {
            max_attempts: args.outbox_max_attempts,
            ..RetryPolicy::default()
        },
        rng: ring::rand::SystemRandom::new(),
        webhooks_allow_private: args.webhooks_allow_private,
        webhook_hosts: args.webhook_hosts().map_err(StartupError::Config)?,
        circuits: std::sync::Mutex::default(),
    })
}

/// Builds the service from its settings.
///
/// # Errors
/// See [`StartupError`].
pub fn build(args: ServeArgs) -> Result<(Service, Arc<Delivery>), StartupError> {
    // Refused before anything is opened: a misconfigured deployment never listens.
    args.check_safe().map_err(StartupError::Config)?;
    let development = !args.has_token_verification();
    let dev_secret = if development {
        warn_development(&args);
        Some(load_or_create_dev_secret(&dev_secret_path(
            &args.database_url,
        ))?)
    } else {
        None
    };
    let keys = JwtKeys::from_config(&args.token_config(dev_secret)?)
        .map_err(|e| StartupError::Config(e.to_string()))?;
    let keyring = Arc::new(data_keyring(&args, development)?);
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let pool = open_database_observed(&args, Some(metrics.pool_events()))?;
    crate::pages::check_templates().map_err(StartupError::Pages)?;
    let demo_sign_in = development || args.demo_sign_in;
    if demo_sign_in && !keys.can_sign() {
        return Err(StartupError::Config(
            "demo sign-in (--demo-sign-in) needs REFERRAL_JWT_SECRET to sign its sessions".into(),
        ));
    }
    if demo_sign_in && !development {
        tracing::warn!("demo sign-in is on with a real token secret: anyone can sign in as the demo admin; never do this in production");
    }
    let witness = crate::witness::Witness::open(&witness_dir(&args), keyring.clone())?;
    let links = LinkKeys::new((*keyring).clone());
    let (click_writer, click_pools) = match DatabaseUrl::parse(&args.database_url)?.kind() {
        BackendKind::Sqlite => (Some(ClickWriter::start(pool.clone())?), None),
        BackendKind::Postgres => (
            None,
            ClickPoolSettings::for_url(
                &args.database_url,
                usize::try_from(args.db_pool_size).unwrap_or(usize::MAX),
                crate::app::http_workers(),
            ),
        ),
    };
    let state = Arc::new(AppState {
        pool: pool.clone(),
        policy: args.policy(),
        public_base_url: args.public_base_url.clone(),
        webhooks_allow_private: args.webhooks_allow_private,
        webhook_hosts: args.webhook_hosts().map_err(StartupError::Config)?,
        rng: ring::rand::SystemRandom::new(),
        links: links.clone(),
        keyring,
        witness,
        clicks: crate::clicks::ClickedCodes::default(),
        click_writer,
        click_pools,
        demo_sign_in,
        site: crate::site::Site::of(&args),
        trusted_proxies: args.trusted_proxies.clone(),
        patient_daily_referrals: args.patient_daily_referrals,
        denials: crate::state::DenialBudget::default(),
        clock: crate::clock::Clock::default(),
        metrics,
        replica: replica(&args)?,
        batch_lanes: Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(pool.max_size() / 2).unwrap_or(1).max(1),
        )),
        contract: Arc::new(
            crate::contract::Contract::build(crate::openapi::document_json())
                .map_err(StartupError::Config)?,
        ),
        inbound: referral_notify::inbound::InboundKeys {
            twilio_auth_token: args.twilio_auth_token.clone().filter(|t| !t.is_empty()),
            sendgrid_key: args
                .sendgrid_webhook_public_key
                .as_deref()
                .filter(|k| !k.trim().is_empty())
                .map(referral_notify::inbound::SendGridKey::parse)
                .transpose()
                .map_err(|e| {
                    StartupError::Config(format!(
                        "REFERRAL_SENDGRID_WEBHOOK_PUBLIC_KEY (--sendgrid-webhook-public-key): {e}"
                    ))
                })?,
        },
    });
    let delivery = Arc::new(delivery(&args, pool, links)?);
    Ok((Service { state, keys, args }, delivery))
}

/// The read replica of `--replica-url`, if set: PostgreSQL only, opened without waiting
/// for it (reads use the primary until it answers).
///
/// # Errors
/// A replica URL that is not PostgreSQL.
fn replica(args: &ServeArgs) -> Result<Option<Arc<crate::replica::Replica>>, StartupError> {
    let Some(url) = args.replica_url.as_deref().filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    if DatabaseUrl::parse(url)?.kind() != BackendKind::Postgres {
        return Err(StartupError::Config(
            "--replica-url (REFERRAL_REPLICA_URL) must be a postgres:// URL".into(),
        ));
    }
    let pool = referral_store::open_pool_lazily(
        url,
        referral_store::PoolOptions {
            max_size: args.db_pool_size,
            checkout_timeout: std::time::Duration::from_millis(args.db_checkout_timeout_ms),
            events: None,
            statement_timeout: (args.db_statement_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(args.db_statement_timeout_ms)),
        },
    )?;
    Ok(Some(Arc::new(crate::replica::Replica::new(
        pool,
        std::time::Duration::from_secs(args.replica_max_lag),
    ))))
}

/// Builds only what the background workers need (the `worker` subcommand).
///
/// # Errors
/// See [`StartupError`].
pub fn build_worker(args: &ServeArgs) -> Result<Arc<Delivery>, StartupError> {
    // The same start-up safety checks as `serve`: a worker delivers webhooks too, so
    // `--webhooks-allow-private` is refused outside a loopback bind here as well.
    args.check_safe().map_err(StartupError::Config)?;
    let keyring = data_keyring(args, false)?;
    let pool = open_database(args)?;
    Ok(Arc::new(delivery(args, pool, LinkKeys::new(keyring))?))
}
