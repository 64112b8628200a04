//! What every handler shares: the pool, the policy, settings; and the helper that runs store
//! work off the executor and writes its audit row.

use crate::auth::Caller;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use referral_domain::{InducementPolicy, ReferralCode};
use referral_store::audit::{self, NewAuditEntry};
use referral_store::referrals::{self, ClickToRecord};
use referral_store::{DbConnection, Pool};
use ring::rand::SystemRandom;
use std::future::{ready, Ready};
use std::net::IpAddr;

/// Shared state of the service.
#[derive(Debug)]
pub struct AppState {
    /// Database pool.
    pub pool: Pool,
    /// The inducement policy.
    pub policy: InducementPolicy,
    /// Base URL of the patient-facing site.
    pub public_base_url: String,
    /// Secure random generator for codes.
    pub rng: SystemRandom,
    /// Unsubscribe links and suppression hashes.
    pub links: crate::links::LinkKeys,
    /// The data keyring: audit MACs and chain, witness, links.
    pub keyring: std::sync::Arc<referral_store::keyring::Keyring>,
    /// Where each seal records the chain head, outside the database.
    pub witness: crate::witness::Witness,
    /// Codes clicked since the last flush, to mark as clicked.
    pub clicks: crate::clicks::ClickedCodes,
    /// On SQLite, the thread that commits click rows in groups; `None` on PostgreSQL, where
    /// clicks write side by side.
    pub click_writer: Option<crate::clicks::ClickWriter>,
    /// On PostgreSQL, how each HTTP worker makes its own asynchronous click connections.
    pub click_pools: Option<crate::clicks::ClickPoolSettings>,
    /// Whether the sign-in page offers the demo users.
    pub demo_sign_in: bool,
    /// The platform's name, terms and booking page, as pages and emails show them.
    pub site: crate::site::Site,
    /// Webhook endpoints may be `http://` and private addresses (`--webhooks-allow-private`).
    pub webhooks_allow_private: bool,
    /// The hosts webhook endpoints may name (`--webhook-hosts`).
    pub webhook_hosts: referral_domain::webhook::WebhookHosts,
    /// Referrals one patient may create in 24 hours.
    pub patient_daily_referrals: u32,
    /// Proxies whose forwarded headers name the client (`--trusted-proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How many denials (failed sign-ins, 401s) were audited in the current window.
    pub denials: DenialBudget,
    /// The secrets that verify the provider webhooks.
    pub inbound: referral_notify::inbound::InboundKeys,
    /// The time handlers read (the wall clock; tests move it).
    pub clock: crate::clock::Clock,
    /// The process's metrics (`GET /metrics`).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The served contract: the OpenAPI document and its request validators.
    pub contract: std::sync::Arc<crate::contract::Contract>,
    /// The read replica (`--replica-url`), if any.
    pub replica: Option<std::sync::Arc<crate::replica::Replica>>,
    /// Turns for the lanes of event batches: all batches together hold at most half
    /// of the pool, and a lane waits for its turn rather than for a connection (whose
    /// checkout times out, failing the lane's events for nothing).
    pub batch_lanes: std::sync::Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Now, by the service's clock: the only time handlers read.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// Denial audit rows each instance writes per [`DenialBudget::WINDOW`] at most: enough for
/// every real mistake, too few for a flood of bad tokens to fill the log. The rest are
/// counted in a warning.
#[derive(Debug, Default)]
pub struct DenialBudget {
    window: std::sync::Mutex<(Option<std::time::Instant>, u32, u64)>,
}

impl DenialBudget {
    /// The window.
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
    /// Rows a window.
    pub const ROWS: u32 = 100;

    /// Whether one more denial may be audited now.
    pub fn take(&self) -> bool {
        let Ok(mut w) = self.window.lock() else {
            return false;
        };
        let (started, _, dropped) = &mut *w;
        if started.is_none_or(|s| s.elapsed() >= Self::WINDOW) {
            if *dropped > 0 {
                tracing::warn!(
                    dropped = *dropped,
                    "denials not audited: over the budget of the last window"
                );
            }
            *w = (Some(std::time::Instant::now()), 0, 0);
        }
        let (_, used, dropped) = &mut *w;
        if *used < Self::ROWS {
            *used += 1;
            true
        } else {
            *dropped += 1;
            false
        }
    }
}

impl AppState {
    /// Audits a denial (a failed sign-in, a 401 on an API route) without holding up the
    /// answer, within the [`DenialBudget`]. `resource` is a route pattern, never a value.
    pub fn audit_denial(
        self: &std::sync::Arc<Self>,
        origin: Origin,
        action: &'static str,
        resource: String,
        outcome: &'static str,
    ) {
        if !self.denials.take() {
            return;
        }
        let state = self.clone();
        actix_web::rt::spawn(async move {
            let mut entry = audit_entry(
                None,
                &origin,
                AuditAction::new(action, "route", Some(resource)),
            );
            entry.actor_role = "anonymous".into();
            entry.outcome = outcome.to_owned();
            let keyring = state.keyring.clone();
            let written = state
                .db(move |conn| Ok(audit::append(conn, &keyring, &entry, chrono::Utc::now())?))
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "a denial could not be audited");
            }
        });
    }
}

impl AppState {
    /// The link of a code that the service hands out (`/r/{code}`): following it counts
    /// the open and leads to [`AppState::register_url`].
    pub fn share_url(&self, code: &str) -> String {
        format!("{}/r/{code}", self.public_base_url.trim_end_matches('/'))
    }

    /// The registration page of a code.
    pub fn register_url(&self, code: &str) -> String {
        format!(
            "{}/register?ref={code}",
            self.public_base_url.trim_end_matches('/')
        )
    }

    /// Runs blocking store work on the blocking thread pool.
    ///
    /// # Errors
    /// The work's error; `unavailable` when no connection can be had.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || referral_store::with_connection(&pool, work))
            .await
            .map_err(|_| ApiError::Internal)?
    }

    /// The replica when reads may use it now.
    pub(crate) fn usable_replica(&self) -> Option<&crate::replica::Replica> {
        self.replica
            .as_deref()
            .filter(|r| r.state() == crate::replica::ReplicaState::InUse)
    }

    /// As [`AppState::db`], for work that only reads and may see data a moment old: on the
    /// read replica while it is usable, otherwise (or when it fails to answer) on the
    /// primary.
    ///
    /// # Errors
    /// As [`AppState::db`].
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: Fn(&mut DbConnection) -> Result<T, ApiError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let work = std::sync::Arc::new(work);
        if let Some(replica) = self.usable_replica() {
            let pool = replica.pool.clone();
            let on_replica = work.clone();
            let result =
                web::block(move || referral_store::with_connection(&pool, |c| on_replica(c)))
                    .await
                    .map_err(|_| ApiError::Internal)?;
            match result {
                Err(ApiError::Store(referral_store::StoreError::Unavailable(_))) => {
                    replica.mark_down()
                }
                other => return other,
            }
        }
        self.db(move |conn| work(conn)).await
    }

    /// Records a click's interaction row (through the click writer on SQLite, and this HTTP
    /// worker's own connections on PostgreSQL) and notes it for the first-click mark.
    ///
    /// # Errors
    /// `not_found` for an unknown code; store errors.
    pub async fn record_click(
        &self,
        worker: &crate::clicks::WorkerClickPool,
        click: ClickToRecord,
    ) -> Result<ReferralCode, ApiError> {
        let at = click.at;
        let code = match (&self.click_writer, &worker.0) {
            (Some(writer), _) => writer.record(click).await?,
            (None, Some(pg)) => {
                pg.record_click(&click.code, &click.origin, click.at)
                    .await?
            }
            (None, None) => {
                self.db(move |conn| {
                    Ok(referrals::record_click(
                        conn,
                        &click.code,
                        &click.origin,
                        click.at,
                    )?)
                })
                .await?
            }
        };
        self.clicks.add(code.to_string(), at);
        Ok(code)
    }

    /// Runs `work` and appends the audit row of the attempt, whatever its outcome (denied
    /// and not-found attempts included). The caller may be anonymous: a visitor registering
    /// creates a patient, and that change is audited too, as role `visitor`. Authenticated
    /// use cases go through [`crate::call::Call`].
    ///
    /// # Errors
    /// The work's error.
    pub async fn audited_as<T, F>(
        &self,
        caller: Option<&Caller>,
        origin: &Origin,
        action: AuditAction,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static + AuditedResource,
    {
        let entry_base = audit_entry(caller, origin, action);
        let keyring = self.keyring.clone();
        self.db(move |conn| {
            let result = work(conn);
            let entry = with_outcome(entry_base, &result);
            if let Err(e) = audit::append(conn, &keyring, &entry, chrono::Utc::now()) {
                tracing::error!(error = %e, action = %entry.action, "could not write the audit row");
                if result.is_ok() {
                    // Refuse to hand out PHI that could not be audited.
                    return Err(ApiError::from(e));
                }
            }
            result
        })
        .await
    }
}

/// `entry` with the outcome of `result`: `success` (and the resource's id when the row
/// had none) or the error's code.
pub(crate) fn with_outcome<T: AuditedResource>(
    mut entry: NewAuditEntry,
    result: &Result<T, ApiError>,
) -> NewAuditEntry {
    match result {
        Ok(value) => {
            entry.outcome = "success".into();
            if entry.resource_id.is_none() {
                entry.resource_id = value.audit_id();
            }
        }
        Err(e) => entry.outcome = e.code().to_owned(),
    }
    entry
}

/// The audit row of a request, before its outcome is known.
pub(crate) fn audit_entry(
    caller: Option<&Caller>,
    origin: &Origin,
    action: AuditAction,
) -> NewAuditEntry {
    NewAuditEntry {
        actor_id: caller.map(Caller::id),
        actor_role: caller.map_or("visitor", |c| c.role().as_str()).to_owned(),
        action: action.action.to_owned(),
        resource_type: action.resource_type.to_owned(),
        resource_id: action.resource_id,
        outcome: String::new(),
        ip_address: origin.ip,
        user_agent: origin.user_agent.clone(),
    }
}

/// What an audited request does.
#[derive(Debug, Clone)]
pub struct AuditAction {
    /// Such as `referral.read`.
    pub action: &'static str,
    /// Such as `referral`.
    pub resource_type: &'static str,
    /// The resource, when known before the work.
    pub resource_id: Option<String>,
}

impl AuditAction {
    /// An action on a resource type, with an optional id.
    pub fn new(
        action: &'static str,
        resource_type: &'static str,
        resource_id: Option<String>,
    ) -> Self {
        Self {
            action,
            resource_type,
            resource_id,
        }
    }
}

/// The id an audited result names (for creates, where it is not known before).
pub trait AuditedResource {
    /// The id to record, if any.
    fn audit_id(&self) -> Option<String> {
        None
    }
}

/// The caller's address and user agent.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The peer address.
    pub ip: Option<IpAddr>,
    /// The user agent.
    pub user_agent: Option<String>,
}

impl Origin {
    /// Where the request came from, for the fraud signals (`None` without an address).
    pub fn signal_origin(&self) -> Option<referral_domain::signals::Origin> {
        self.ip.map(|ip| referral_domain::signals::Origin {
            ip,
            user_agent: self.user_agent.clone(),
        })
    }
}

impl FromRequest for Origin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Origin::of(req)))
    }
}

impl Origin {
    /// The client of `req`: its address (see [`crate::client_ip`]) and user agent.
    pub fn of(req: &HttpRequest) -> Origin {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.trusted_proxies.as_slice())
            .unwrap_or_default();
        let ip =
            crate::client_ip::client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), trusted);
        let user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(500).collect());
        Origin { ip, user_agent }
    }
}
