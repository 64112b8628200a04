//! Command line and environment: flags win over variables, variables over defaults.

use clap::{Args, Parser, Subcommand};
use referral_domain::{InducementPolicy, Money};

/// The referral management service.
#[derive(Debug, Parser)]
#[command(
    name = "referral-api",
    version,
    about = "Referral management service for the telehealth platform"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of `serve` (also accepted before the subcommand).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Mint a development token signed with the development secret (or --jwt-secret).
    DevToken(DevTokenArgs),
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Fill an empty database with realistic demo data (programs, referrers, referrals in
    /// every status, clicks, rewards, orders), with a progress line as it goes.
    SeedDemo(SeedDemoArgs),
    /// Audit-trail tools.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Run only the background workers (outbox delivery, expiry sweeps, reminders), for
    /// running them apart from the HTTP instances; stops on SIGTERM or Ctrl-C.
    Worker,
}

/// `seed-demo` options.
#[derive(Debug, Args)]
pub struct SeedDemoArgs {
    /// Referrals to create (about 5 interactions each).
    #[arg(long, default_value_t = 2000)]
    pub referrals: usize,
    /// Seed of the generator: the same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain (with the key derived from --jwt-secret) and name
    /// the first broken row; exits 1 when the chain is broken.
    Verify,
}

/// `dev-token` options.
#[derive(Debug, Args)]
pub struct DevTokenArgs {
    /// Role: patient, provider, admin, provider-admin, super-admin or service.
    #[arg(long)]
    pub role: String,
    /// Subject: the patient's, provider's or service's UUID.
    #[arg(long)]
    pub sub: uuid::Uuid,
    /// Email claim (patients).
    #[arg(long)]
    pub email: Option<String>,
    /// Name claim (patients).
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
}

/// Settings of the service.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Database: sqlite://PATH or postgres://...
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://./data/referrals.db",
        global = true
    )]
    pub database_url: String,
    /// Address to listen on.
    #[arg(
        long,
        env = "REFERRAL_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,
    /// HS256 secret for tokens; without it the service runs in development mode.
    #[arg(
        long,
        env = "REFERRAL_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// Base URL of the patient-facing site, for share links and redirects.
    #[arg(
        long,
        env = "REFERRAL_PUBLIC_BASE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_base_url: String,
    /// Offer demo users (a patient and an admin) on the sign-in page. On by itself in
    /// development mode (no token secret); never turn it on in production: anyone could
    /// sign in as the demo admin.
    #[arg(long, env = "REFERRAL_DEMO_SIGN_IN", global = true)]
    pub demo_sign_in: bool,
    /// Origins allowed to call the API from a browser (comma-separated).
    #[arg(
        long,
        env = "REFERRAL_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,
    /// Requests a minute one address may make to the public code endpoints and registration.
    #[arg(
        long,
        env = "REFERRAL_PUBLIC_RATE_LIMIT",
        default_value_t = 30,
        global = true
    )]
    pub public_rate_limit: u64,
    /// Database connections.
    #[arg(
        long,
        env = "REFERRAL_DB_POOL_SIZE",
        default_value_t = 10,
        global = true
    )]
    pub db_pool_size: u32,
    /// Most reward value a patient may receive in a calendar year.
    #[arg(
        long,
        env = "REFERRAL_ANNUAL_REWARD_CAP",
        default_value = "500.00",
        global = true
    )]
    pub annual_reward_cap: Money,
    /// Most value of one reward for a federal payer.
    #[arg(
        long,
        env = "REFERRAL_FEDERAL_NOMINAL_EACH",
        default_value = "15.00",
        global = true
    )]
    pub federal_nominal_each: Money,
    /// Most reward value a federal payer may receive in a calendar year.
    #[arg(
        long,
        env = "REFERRAL_FEDERAL_NOMINAL_ANNUAL",
        default_value = "75.00",
        global = true
    )]
    pub federal_nominal_annual: Money,
    /// Seconds between expiry sweeps and outbox runs (0 disables the workers).
    #[arg(
        long,
        env = "REFERRAL_WORKER_INTERVAL",
        default_value_t = 5,
        global = true
    )]
    pub worker_interval: u64,
    /// Delivery attempts of a message before it is marked failed.
    #[arg(
        long,
        env = "REFERRAL_OUTBOX_MAX_ATTEMPTS",
        default_value_t = 8,
        value_parser = clap::value_parser!(i32).range(1..=50),
        global = true
    )]
    pub outbox_max_attempts: i32,
    /// Days before an unused reward expires that its owner gets a reminder (0: none).
    #[arg(
        long,
        env = "REFERRAL_REWARD_REMINDER_DAYS",
        default_value_t = 7,
        global = true
    )]
    pub reward_reminder_days: u32,
    /// Where messages are written when no provider key is set (development).
    #[arg(
        long,
        env = "REFERRAL_MAILBOX_DIR",
        default_value = "./data/outbox",
        global = true
    )]
    pub mailbox_dir: std::path::PathBuf,
    /// SendGrid API key (email). With no provider key at all, messages go to the mailbox.
    #[arg(
        long,
        env = "REFERRAL_SENDGRID_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub sendgrid_api_key: Option<String>,
    /// Sender address of emails.
    #[arg(
        long,
        env = "REFERRAL_EMAIL_FROM",
        default_value = "referrals@zappyhealth.example",
        global = true
    )]
    pub email_from: String,
    /// SendGrid API base URL.
    #[arg(
        long,
        env = "REFERRAL_SENDGRID_BASE_URL",
        default_value = "https://api.sendgrid.com",
        global = true
    )]
    pub sendgrid_base_url: String,
    /// Twilio account SID (SMS).
    #[arg(long, env = "REFERRAL_TWILIO_ACCOUNT_SID", global = true)]
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[arg(
        long,
        env = "REFERRAL_TWILIO_AUTH_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub twilio_auth_token: Option<String>,
    /// Twilio sender number.
    #[arg(
        long,
        env = "REFERRAL_TWILIO_FROM",
        default_value = "+15550000000",
        global = true
    )]
    pub twilio_from: String,
    /// Twilio API base URL.
    #[arg(
        long,
        env = "REFERRAL_TWILIO_BASE_URL",
        default_value = "https://api.twilio.com",
        global = true
    )]
    pub twilio_base_url: String,
    /// Stripe secret key (cash payouts).
    #[arg(
        long,
        env = "REFERRAL_STRIPE_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub stripe_api_key: Option<String>,
    /// Stripe API base URL.
    #[arg(
        long,
        env = "REFERRAL_STRIPE_BASE_URL",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub stripe_base_url: String,
}

impl ServeArgs {
    /// The inducement policy these settings describe.
    pub fn policy(&self) -> InducementPolicy {
        InducementPolicy {
            annual_cap_per_patient: self.annual_reward_cap.clone(),
            federal_nominal_each: self.federal_nominal_each.clone(),
            federal_nominal_annual: self.federal_nominal_annual.clone(),
        }
    }

    /// Where messages go: the providers whose keys are set, or, with none set, the mailbox
    /// directory.
    pub fn transport(&self) -> referral_notify::Transport {
        use referral_notify::transport::{SendGrid, Stripe, Twilio};
        let providers = referral_notify::ProviderConfig {
            sendgrid: self.sendgrid_api_key.clone().map(|api_key| SendGrid {
                api_key,
                from_email: self.email_from.clone(),
                base_url: self.sendgrid_base_url.clone(),
            }),
            twilio: match (&self.twilio_account_sid, &self.twilio_auth_token) {
                (Some(sid), Some(token)) => Some(Twilio {
                    account_sid: sid.clone(),
                    auth_token: token.clone(),
                    from_number: self.twilio_from.clone(),
                    base_url: self.twilio_base_url.clone(),
                }),
                _ => None,
            },
            stripe: self.stripe_api_key.clone().map(|api_key| Stripe {
                api_key,
                base_url: self.stripe_base_url.clone(),
            }),
        };
        if providers.is_empty() {
            referral_notify::Transport::Mailbox(self.mailbox_dir.clone())
        } else {
            referral_notify::Transport::Providers(providers)
        }
    }

    /// Settings for tests: the given database, a fixed secret, no workers.
    pub fn for_tests(database_url: &str, jwt_secret: &str) -> Self {
        ServeArgs {
            database_url: database_url.to_owned(),
            bind: "127.0.0.1:0".into(),
            jwt_secret: Some(jwt_secret.to_owned()),
            demo_sign_in: false,
            public_base_url: "http://portal.test".into(),
            cors_origins: vec!["http://portal.test".into()],
            public_rate_limit: 1000,
            db_pool_size: 8,
            annual_reward_cap: Money::from_cents(50_000).unwrap_or(Money::ZERO),
            federal_nominal_each: Money::from_cents(1_500).unwrap_or(Money::ZERO),
            federal_nominal_annual: Money::from_cents(7_500).unwrap_or(Money::ZERO),
            worker_interval: 0,
            outbox_max_attempts: 8,
            reward_reminder_days: 7,
            mailbox_dir: std::env::temp_dir()
                .join(format!("referral-mailbox-{}", uuid::Uuid::new_v4())),
            sendgrid_api_key: None,
            email_from: "referrals@zappyhealth.example".into(),
            sendgrid_base_url: "http://127.0.0.1:9".into(),
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_from: "+15550000000".into(),
            twilio_base_url: "http://127.0.0.1:9".into(),
            stripe_api_key: None,
            stripe_base_url: "http://127.0.0.1:9".into(),
        }
    }
}
