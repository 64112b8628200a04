//! Command line and environment: flags win over variables, variables over defaults.
//!
//! One concept: the service's settings. It is long because each flag carries its help text,
//! its variable and its check; the checks that refuse a production start without a setting
//! live beside them so that one file says every setting.

use clap::{Args, Parser, Subcommand};
use referral_domain::{InducementPolicy, Money, UnknownPayerPolicy, UsState};

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
    /// The data keyring: generate or rotate.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
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
    /// Recompute the audit log's MACs and hash chain with the data keyring and name the
    /// first broken row; exits 1 when the chain is broken.
    Verify {
        /// A witness directory: also check that the chain still holds the last head it
        /// recorded (detects rows cut from the end with the head rewound).
        #[arg(long)]
        witness: Option<std::path::PathBuf>,
    },
}

/// `keys` subcommands (the data keyring; docs/operations.md).
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new keyring of one key, for REFERRAL_DATA_KEYS or a --data-keys-file.
    Generate {
        /// The key's id.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Print the configured keyring with a new signing key in front; the old keys stay for
    /// verification.
    Rotate {
        /// The new key's id (unused in the keyring).
        #[arg(long)]
        id: String,
    },
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
    /// Provider claim (roles provider and provider-admin need it).
    #[arg(long)]
    pub provider_id: Option<uuid::Uuid>,
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
    /// HS256 secret for tokens (at least 32 bytes). With no secret, JWKS URL or public key
    /// the service runs in development mode, which only a loopback bind allows.
    #[arg(
        long,
        env = "REFERRAL_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// The identity provider's JWKS URL: RS256 and ES256 tokens are checked against its
    /// keys (cached; fetched again on an unknown `kid`, at most every 10 s).
    #[arg(long, env = "REFERRAL_JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,
    /// A PEM public key (RSA or P-256) that RS256 or ES256 tokens are checked against.
    #[arg(long, env = "REFERRAL_JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<std::path::PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "REFERRAL_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "REFERRAL_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Longest token lifetime (`exp - iat`) accepted: seconds, or with a unit (`90m`, `24h`, `7d`).
    #[arg(
        long,
        env = "REFERRAL_JWT_MAX_LIFETIME",
        default_value = "24h",
        value_parser = parse_duration_seconds,
        global = true
    )]
    pub jwt_max_lifetime: i64,
    /// The data keyring: named keys for the audit MACs, unsubscribe links, the suppression
    /// list and pseudonyms, as `ID=HEX,...` (each key 32 bytes or more, hex); the first
    /// signs, all verify. Required outside development (or --data-keys-file).
    #[arg(
        long,
        env = "REFERRAL_DATA_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub data_keys: Option<String>,
    /// A file holding the data keyring, one `ID=HEX` a line (the first signs).
    #[arg(long, env = "REFERRAL_DATA_KEYS_FILE", global = true)]
    pub data_keys_file: Option<std::path::PathBuf>,
    /// Where each audit seal appends the signed chain head, outside the database
    /// (default: `audit-witness` beside the SQLite database, or `./data/audit-witness`).
    #[arg(long, env = "REFERRAL_AUDIT_WITNESS_DIR", global = true)]
    pub audit_witness_dir: Option<std::path::PathBuf>,
    /// Proxies (CIDRs, comma-separated) whose `X-Forwarded-For` or `Forwarded` header names
    /// the client. Default none: the peer address is the client.
    #[arg(
        long,
        env = "REFERRAL_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_cidr,
        global = true
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Referrals (invitations included) one patient may create a day.
    #[arg(
        long,
        env = "REFERRAL_PATIENT_DAILY_REFERRALS",
        default_value_t = 20,
        global = true
    )]
    pub patient_daily_referrals: u32,
    /// Requests a minute one verified `service` token may make to the public endpoints;
    /// 0 (the default) means no limit for platform services.
    #[arg(
        long,
        env = "REFERRAL_SERVICE_RATE_LIMIT",
        default_value_t = 0,
        global = true
    )]
    pub service_rate_limit: u64,
    /// Base URL of the patient-facing site, for share links and redirects. Unset on a
    /// loopback bind it follows the address the service listens on (any port); on a public
    /// bind it must be set (links would lead nowhere), and the service refuses to start.
    #[arg(
        long,
        env = "REFERRAL_PUBLIC_BASE_URL",
        default_value = "",
        global = true
    )]
    pub public_base_url: String,
    /// The name the pages and emails carry (header, titles, sender's name in the layout).
    #[arg(
        long,
        env = "REFERRAL_BRAND_NAME",
        default_value = "Zappy Health",
        global = true
    )]
    pub brand_name: String,
    /// The referral program's terms, linked from the friend's pages and every email. Unset,
    /// the pages say the terms are available from support instead of linking nowhere.
    #[arg(long, env = "REFERRAL_TERMS_URL", global = true)]
    pub terms_url: Option<url::Url>,
    /// The platform's booking page: the button after joining, in the welcome, reward and
    /// reminder emails. A program may set its own (`booking_url`). Unset, the pages and
    /// emails say in words how to book instead of showing a button.
    #[arg(long, env = "REFERRAL_BOOKING_URL", global = true)]
    pub booking_url: Option<url::Url>,
    /// The IANA time zone the pages show times in, such as `America/New_York`. Unset,
    /// each viewer's browser's own; either way the page says which.
    #[arg(long, env = "REFERRAL_DISPLAY_TIME_ZONE", global = true)]
    pub display_time_zone: Option<String>,
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
    /// Longest a request waits for a database connection before 503 `unavailable`, in
    /// milliseconds: while the database is down or a replica is being promoted, requests
    /// fail fast instead of piling up.
    #[arg(
        long,
        env = "REFERRAL_DB_CHECKOUT_TIMEOUT_MS",
        default_value_t = 1500,
        global = true
    )]
    pub db_checkout_timeout_ms: u64,
    /// On PostgreSQL, the longest one statement of a request may run, in milliseconds
    /// (`statement_timeout` of the pool's connections; 0: the server's own).
    #[arg(
        long,
        env = "REFERRAL_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 15000,
        global = true
    )]
    pub db_statement_timeout_ms: u64,
    /// A PostgreSQL read replica for analytics, performance, lists and CSV exports
    /// (writes and read-your-writes paths stay on `--database-url`).
    #[arg(
        long,
        env = "REFERRAL_REPLICA_URL",
        hide_env_values = true,
        global = true
    )]
    pub replica_url: Option<String>,
    /// Most seconds the replica may lag before reads fall back to the primary.
    #[arg(
        long,
        env = "REFERRAL_REPLICA_MAX_LAG",
        default_value_t = 10,
        global = true
    )]
    pub replica_max_lag: u64,
    /// A bearer token that `GET /metrics` requires on the service's own port. Without it
    /// (and without `--metrics-bind`) there is no metrics route.
    #[arg(
        long,
        env = "REFERRAL_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<String>,
    /// A separate address serving only `GET /metrics`: without a token on loopback; on any
    /// other address it requires `--metrics-token` as well, and the service refuses to start
    /// without one.
    #[arg(long, env = "REFERRAL_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// `text` for people, `json` for log collectors: one object a line with the request
    /// id, route pattern, status and latency.
    #[arg(long, env = "REFERRAL_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    pub log_format: String,
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
    /// How a patient whose payer the platform never reported is treated: `federal` (the
    /// safe default: no cash, nominal values only) or `commercial`.
    #[arg(
        long,
        env = "REFERRAL_UNKNOWN_PAYER_POLICY",
        value_enum,
        default_value = "federal",
        global = true
    )]
    pub unknown_payer_policy: UnknownPayer,
    /// States (USPS codes, comma-separated) whose residents get no referral reward, as
    /// referrer or as friend, in any program: state patient-brokering and fee-splitting
    /// laws. A program may add its own `excluded_states`.
    #[arg(
        long,
        env = "REFERRAL_EXCLUDED_STATES",
        value_delimiter = ',',
        value_parser = parse_us_state,
        global = true
    )]
    pub excluded_states: Vec<UsState>,
    /// Lets webhook endpoints be `http://` URLs and private, loopback or link-local
    /// addresses (a local receiver in development or tests). Off by default: outside
    /// development an endpoint must be a public `https://` URL (no request forgery).
    #[arg(long, env = "REFERRAL_WEBHOOKS_ALLOW_PRIVATE", global = true)]
    pub webhooks_allow_private: bool,
    /// The only hosts webhook endpoints may name, comma-separated (`hooks.example.com`, or
    /// `*.example.com` for its subdomains). Unset: any public host. Checked when an admin
    /// sets an endpoint and again at every delivery.
    #[arg(
        long,
        env = "REFERRAL_WEBHOOK_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub webhook_hosts: Vec<String>,
    /// The `velocity` fraud signal: more registrations than this through one referrer's
    /// codes in 24 hours send their rewards to review.
    #[arg(
        long,
        env = "REFERRAL_VELOCITY_PER_DAY",
        default_value_t = referral_domain::signals::DEFAULT_VELOCITY_PER_DAY,
        global = true
    )]
    pub velocity_per_day: u32,
    /// When a referrer's new rewards reach them: `daily`, `weekly` (default) or `monthly`.
    /// A reward is shown, dated and told at the end of its period, in one notice for the
    /// period, so that it never dates the friend's first visit.
    #[arg(
        long,
        env = "REFERRAL_REFERRER_REWARD_CADENCE",
        default_value = "weekly",
        value_parser = parse_cadence,
        global = true
    )]
    pub referrer_reward_cadence: referral_domain::RewardCadence,
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
    /// Days after an invitation's date (whatever became of it: counting from what the friend
    /// did would tell the referrer) that the invited person's email, phone, name and the
    /// referrer's message are erased.
    #[arg(
        long,
        env = "REFERRAL_CONTACT_RETENTION_DAYS",
        default_value_t = 90,
        value_parser = clap::value_parser!(u32).range(1..=3650),
        global = true
    )]
    pub contact_retention_days: u32,
    /// Days after which the IP address and user agent of link opens are erased.
    #[arg(
        long,
        env = "REFERRAL_TRACKING_RETENTION_DAYS",
        default_value_t = 180,
        value_parser = clap::value_parser!(u32).range(1..=3650),
        global = true
    )]
    pub tracking_retention_days: u32,
    /// Days an SMS consent's proof (the number's keyed hash, the referrer's address and user
    /// agent) is kept after the attestation; then only who attested, when and the words
    /// stay. Four years by default: TCPA claims may be brought that long after a text.
    #[arg(
        long,
        env = "REFERRAL_CONSENT_RETENTION_DAYS",
        default_value_t = referral_domain::retention::DEFAULT_CONSENT_PROOF_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=7300),
        global = true
    )]
    pub consent_retention_days: u32,
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
    /// The sender's postal address, printed in every email (CAN-SPAM). Required once an
    /// email provider key is set.
    #[arg(long, env = "REFERRAL_POSTAL_ADDRESS", global = true)]
    pub postal_address: Option<String>,
    /// Sender address of emails.
    #[arg(
        long,
        env = "REFERRAL_EMAIL_FROM",
        default_value = "referrals@zappyhealth.example",
        global = true
    )]
    pub email_from: String,
    /// SendGrid's signed event webhook verification key (Mail Settings, Event Webhook:
    /// base64 of a P-256 public key). Without it `POST /api/webhooks/sendgrid` answers 404.
    #[arg(long, env = "REFERRAL_SENDGRID_WEBHOOK_PUBLIC_KEY", global = true)]
    pub sendgrid_webhook_public_key: Option<String>,
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

/// Parses `86400`, `90s`, `30m`, `24h` or `7d` into seconds.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration_seconds(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("unknown unit `{unit}`: use s, m, h or d")),
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("`{text}` is not a duration such as 3600, 90m or 24h"))
}

/// Parses a CIDR (`10.0.0.0/8`) or a single address (`10.0.0.7`, taken as `/32` or `/128`).
///
/// # Errors
/// A message with the text that is neither.
pub fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not a CIDR such as 10.0.0.0/8 or an address"))
}

/// Whether `zone` reads as an IANA time zone name (`Area/Location`, `UTC`): the browser
/// resolves it; one it does not know falls back to the browser's own zone, and the page
/// names the zone it used.
fn is_time_zone_name(zone: &str) -> bool {
    zone.len() <= 64
        && (zone == "UTC"
            || zone.split('/').count() >= 2
                && zone.split('/').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
                }))
}

/// Whether `bind` (`HOST:PORT`) listens on loopback only: `127.0.0.0/8`, `::1` or
/// `localhost`. Anything else, `0.0.0.0` and `::` included, is not.
pub fn is_loopback_bind(bind: &str) -> bool {
    let host = match bind.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => bind,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` is an http(s) URL whose host is a loopback address or `localhost`.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The data keyring of [`ServeArgs::for_tests`].
pub const TEST_DATA_KEYS: &str =
    "test1=7465737420646174612b6b65792d746573742064617461206b65792d74657374";

impl ServeArgs {
    /// Whether any token verification is configured (a secret, a JWKS URL or a public key).
    pub fn has_token_verification(&self) -> bool {
        self.jwt_secret.as_deref().is_some_and(|s| !s.is_empty())
            || self.jwt_jwks_url.is_some()
            || self.jwt_public_key_file.is_some()
    }

    /// Refuses settings that would open the service to anyone: development mode (generated
    /// secret, demo users) or demo sign-in on an address other than loopback, and a short
    /// HS256 secret. The message names the setting to give.
    ///
    /// # Errors
    /// The first unsafe setting, in words.
    pub fn check_safe(&self) -> Result<(), String> {
        let loopback = is_loopback_bind(&self.bind);
        if let Some(secret) = self.jwt_secret.as_deref().filter(|s| !s.is_empty()) {
            if secret.len() < crate::auth::MIN_HS256_SECRET_BYTES {
                return Err(format!(
                    "REFERRAL_JWT_SECRET (--jwt-secret) is {} bytes; at least {} are required (generate one with `openssl rand -hex 32`)",
                    secret.len(),
                    crate::auth::MIN_HS256_SECRET_BYTES
                ));
            }
        }
        if !loopback && !self.has_token_verification() {
            return Err(format!(
                "refusing to listen on {} without token verification: set --jwt-jwks-url (REFERRAL_JWT_JWKS_URL), --jwt-public-key-file (REFERRAL_JWT_PUBLIC_KEY_FILE) or REFERRAL_JWT_SECRET; development mode (generated secret, demo sign-in) is allowed only on a loopback address such as 127.0.0.1:8080",
                self.bind
            ));
        }
        if !loopback && self.demo_sign_in {
            return Err(format!(
                "refusing to listen on {} with REFERRAL_DEMO_SIGN_IN (--demo-sign-in): anyone could sign in as the demo admin; demo sign-in is allowed only on a loopback address",
                self.bind
            ));
        }
        // Development mode and demo sign-in are for one machine: behind a proxy, or served
        // under a public address, anyone reaching it could sign in as the demo admin.
        let development = !self.has_token_verification();
        if development || self.demo_sign_in {
            let what = if self.demo_sign_in {
                "REFERRAL_DEMO_SIGN_IN (--demo-sign-in)"
            } else {
                "development mode (no token verification is configured)"
            };
            if !self.trusted_proxies.is_empty() {
                return Err(format!(
                    "refusing to start {what} with REFERRAL_TRUSTED_PROXIES (--trusted-proxies) set: behind a proxy anyone could use the demo sign-in; unset it, or configure token verification (--jwt-jwks-url, --jwt-public-key-file or REFERRAL_JWT_SECRET)"
                ));
            }
            if !is_loopback_url(&self.public_base_url) {
                return Err(format!(
                    "refusing to start {what} with REFERRAL_PUBLIC_BASE_URL (--public-base-url) {}: it is allowed only with a loopback URL such as http://127.0.0.1:8080",
                    self.public_base_url
                ));
            }
        }
        if !loopback && self.webhooks_allow_private {
            return Err(format!(
                "refusing to listen on {} with REFERRAL_WEBHOOKS_ALLOW_PRIVATE (--webhooks-allow-private): webhook endpoints could reach private addresses; it is allowed only on a loopback address",
                self.bind
            ));
        }
        if self
            .sendgrid_api_key
            .as_deref()
            .is_some_and(|k| !k.is_empty())
            && self.postal_address().is_none()
        {
            return Err("REFERRAL_SENDGRID_API_KEY is set but REFERRAL_POSTAL_ADDRESS (--postal-address) is not: CAN-SPAM requires the sender's valid postal address in every commercial email".to_owned());
        }
        if !loopback && self.data_keys.is_none() && self.data_keys_file.is_none() {
            return Err(format!(
                "refusing to listen on {} without a data keyring: set REFERRAL_DATA_KEYS (--data-keys) or REFERRAL_DATA_KEYS_FILE (--data-keys-file); `referral-api keys generate` makes one",
                self.bind
            ));
        }
        for (setting, url) in [
            ("REFERRAL_TERMS_URL (--terms-url)", &self.terms_url),
            ("REFERRAL_BOOKING_URL (--booking-url)", &self.booking_url),
        ] {
            if let Some(url) = url
                .as_ref()
                .filter(|u| !matches!(u.scheme(), "https" | "http"))
            {
                return Err(format!(
                    "{setting} {url}: only an http or https address can be a link people follow"
                ));
            }
        }
        if let Some(zone) = self
            .display_time_zone
            .as_deref()
            .map(str::trim)
            .filter(|z| !z.is_empty())
        {
            if !is_time_zone_name(zone) {
                return Err(format!("REFERRAL_DISPLAY_TIME_ZONE (--display-time-zone) {zone}: name an IANA time zone, such as America/New_York or UTC"));
            }
        }
        if self.brand_name.trim().is_empty() || self.brand_name.chars().count() > 60 {
            return Err("REFERRAL_BRAND_NAME (--brand-name) must be 1 to 60 characters: it heads every page and email".to_owned());
        }
        if self.public_base_url.trim().is_empty() {
            return Err(format!(
                "refusing to listen on {} without REFERRAL_PUBLIC_BASE_URL (--public-base-url): every link in an email, text or QR code is made from it; set the address patients reach the site at, such as https://refer.example.com",
                self.bind
            ));
        }
        Ok(())
    }

    /// Fills an unset `--public-base-url` from the address listened on (`bound`, when the
    /// caller has bound it; else `--bind`), when that is a loopback address. Left unset on a
    /// public bind: [`ServeArgs::check_safe`] then refuses and names the setting.
    pub fn settle_public_base_url(&mut self, bound: Option<std::net::SocketAddr>) {
        if !self.public_base_url.trim().is_empty() {
            return;
        }
        let address = bound.or_else(|| self.bind.parse::<std::net::SocketAddr>().ok());
        self.public_base_url = match address {
            Some(a) if a.ip().is_loopback() && a.port() != 0 => format!("http://{a}"),
            // A loopback bind on a port chosen later (0): the usual development address.
            Some(a) if a.ip().is_loopback() => "http://127.0.0.1:8080".to_owned(),
            _ => String::new(),
        };
    }

    /// What the daily retention erases, and when (delivered payloads: 30 days).
    pub fn retention(&self) -> referral_domain::retention::RetentionPolicy {
        referral_domain::retention::RetentionPolicy {
            contact_days: self.contact_retention_days,
            tracking_days: self.tracking_retention_days,
            consent_proof_days: self.consent_retention_days,
            ..referral_domain::retention::RetentionPolicy::default()
        }
    }

    /// The postal address printed in emails, when one is set (blank counts as unset).
    pub fn postal_address(&self) -> Option<&str> {
        self.postal_address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
    }

    /// The token settings.
    ///
    /// # Errors
    /// When the public key file cannot be read.
    pub fn token_config(
        &self,
        dev_secret: Option<String>,
    ) -> std::io::Result<crate::auth::TokenConfig> {
        let public_key_pem = match &self.jwt_public_key_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("--jwt-public-key-file {}: {e}", path.display()),
                )
            })?),
            None => None,
        };
        Ok(crate::auth::TokenConfig {
            hs256_secret: self
                .jwt_secret
                .clone()
                .filter(|s| !s.is_empty())
                .or(dev_secret)
                .map(String::into_bytes),
            public_key_pem,
            jwks_url: self.jwt_jwks_url.clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            max_lifetime_seconds: self.jwt_max_lifetime,
        })
    }

    /// The webhook hosts allow-list these settings describe.
    ///
    /// # Errors
    /// The setting's name and the entry that is not a host name.
    pub fn webhook_hosts(&self) -> Result<referral_domain::webhook::WebhookHosts, String> {
        referral_domain::webhook::WebhookHosts::parse(&self.webhook_hosts)
            .map_err(|e| format!("REFERRAL_WEBHOOK_HOSTS (--webhook-hosts): {e}"))
    }

    /// The inducement policy these settings describe.
    pub fn policy(&self) -> InducementPolicy {
        InducementPolicy {
            annual_cap_per_patient: self.annual_reward_cap.clone(),
            federal_nominal_each: self.federal_nominal_each.clone(),
            federal_nominal_annual: self.federal_nominal_annual.clone(),
            unknown_payer: match self.unknown_payer_policy {
                UnknownPayer::Federal => UnknownPayerPolicy::Federal,
                UnknownPayer::Commercial => UnknownPayerPolicy::Commercial,
            },
            excluded_states: self.excluded_states.clone(),
            velocity_per_day: self.velocity_per_day,
            referrer_cadence: self.referrer_reward_cadence,
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
            jwt_jwks_url: None,
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_max_lifetime: crate::auth::DEFAULT_MAX_LIFETIME_SECONDS,
            data_keys: Some(TEST_DATA_KEYS.to_owned()),
            data_keys_file: None,
            audit_witness_dir: Some(
                std::env::temp_dir().join(format!("referral-witness-{}", uuid::Uuid::new_v4())),
            ),
            trusted_proxies: Vec::new(),
            patient_daily_referrals: 1000,
            service_rate_limit: 0,
            demo_sign_in: false,
            public_base_url: "http://portal.test".into(),
            brand_name: "Zappy Health".into(),
            terms_url: None,
            booking_url: None,
            display_time_zone: None,
            cors_origins: vec!["http://portal.test".into()],
            public_rate_limit: 1000,
            db_pool_size: 8,
            db_checkout_timeout_ms: 1500,
            db_statement_timeout_ms: 15000,
            metrics_token: None,
            replica_url: None,
            replica_max_lag: 10,
            metrics_bind: None,
            log_format: "text".into(),
            annual_reward_cap: Money::from_cents(50_000).unwrap_or(Money::ZERO),
            federal_nominal_each: Money::from_cents(1_500).unwrap_or(Money::ZERO),
            federal_nominal_annual: Money::from_cents(7_500).unwrap_or(Money::ZERO),
            // No platform reports the test patients' payers; the tests of the default
            // (federal) set it themselves.
            unknown_payer_policy: UnknownPayer::Commercial,
            excluded_states: Vec::new(),
            velocity_per_day: referral_domain::signals::DEFAULT_VELOCITY_PER_DAY,
            referrer_reward_cadence: referral_domain::RewardCadence::Weekly,
            webhooks_allow_private: false,
            webhook_hosts: Vec::new(),
            worker_interval: 0,
            outbox_max_attempts: 8,
            reward_reminder_days: 7,
            contact_retention_days: 90,
            tracking_retention_days: 180,
            consent_retention_days: referral_domain::retention::DEFAULT_CONSENT_PROOF_DAYS,
            mailbox_dir: std::env::temp_dir()
                .join(format!("referral-mailbox-{}", uuid::Uuid::new_v4())),
            sendgrid_api_key: None,
            postal_address: None,
            sendgrid_webhook_public_key: None,
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

/// `--unknown-payer-policy`: how a patient whose payer was never reported is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownPayer {
    /// As a federal payer (no cash, nominal values only).
    Federal,
    /// As a commercial payer.
    Commercial,
}

/// `--referrer-reward-cadence`: `daily`, `weekly` or `monthly`.
fn parse_cadence(text: &str) -> Result<referral_domain::RewardCadence, String> {
    text.trim()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| format!("{text:?} is not a cadence: use daily, weekly or monthly"))
}

/// One `--excluded-states` entry: a USPS code, in any case.
fn parse_us_state(text: &str) -> Result<UsState, String> {
    UsState::parse(text)
        .map_err(|_| format!("`{text}` is not a US state, district or territory code such as CA"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_public_base_url_follows_a_loopback_bind_and_stays_unset_on_a_public_one() {
        let mut args = ServeArgs::for_tests("sqlite::memory:", "s");
        let settled = |args: &mut ServeArgs, bind: &str, bound: Option<&str>| {
            args.public_base_url = String::new();
            args.bind = bind.to_owned();
            args.settle_public_base_url(bound.map(|b| b.parse().unwrap()));
            args.public_base_url.clone()
        };
        assert_eq!(
            settled(&mut args, "127.0.0.1:9090", None),
            "http://127.0.0.1:9090"
        );
        assert_eq!(
            settled(&mut args, "127.0.0.1:0", Some("127.0.0.1:41234")),
            "http://127.0.0.1:41234"
        );
        assert_eq!(settled(&mut args, "[::1]:8081", None), "http://[::1]:8081");
        assert_eq!(
            settled(&mut args, "127.0.0.1:0", None),
            "http://127.0.0.1:8080"
        );
        assert_eq!(settled(&mut args, "0.0.0.0:8080", None), "");
        // A set value is never replaced.
        args.public_base_url = "https://refer.example.com".into();
        args.settle_public_base_url(Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(args.public_base_url, "https://refer.example.com");
    }
}
