//! The identity provider's keys: its JWKS fetched, cached by `kid`, refreshed on a timer
//! and on the first sight of an unknown `kid` (throttled), and its health for `/ready`.

use crate::auth::TokenConfigError;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// The identity provider's keys, fetched from its JWKS URL and cached by `kid`.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    status: Mutex<JwksStatus>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone)]
struct JwksStatus {
    last_attempt: Option<Instant>,
    /// The last fetch an unknown `kid` caused (they are throttled; the timer's are not).
    last_unknown_kid_fetch: Option<Instant>,
    last_ok: bool,
    last_error: Option<String>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).finish()
    }
}

/// How long one JWKS fetch may take.
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// Fewest seconds between two fetches caused by unknown `kid`s, so that tokens with made-up
/// key ids cannot turn every request into a fetch.
pub const JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);
/// How often the keys are fetched again in the background (key rotation at the provider).
pub const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(300);

impl Jwks {
    pub(crate) fn new(url: &str) -> Result<Self, TokenConfigError> {
        let parsed =
            url::Url::parse(url).map_err(|e| TokenConfigError::BadJwksUrl(e.to_string()))?;
        // Keys fetched in the clear could be swapped on the way: https, or plain http to
        // this machine only (a local sidecar, the tests' mock).
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback)) {
            return Err(TokenConfigError::BadJwksUrl(
                "it must be https (plain http only to a loopback address)".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(JWKS_TIMEOUT)
            // The client is shared by the HTTP workers' runtimes: no pooled connections
            // tied to one of them.
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| TokenConfigError::BadJwksUrl(e.to_string()))?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            keys: RwLock::new(HashMap::new()),
            status: Mutex::new(JwksStatus::default()),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// The only key of an algorithm, for tokens without `kid`.
    pub(crate) fn only_key(&self, alg: Algorithm) -> Option<DecodingKey> {
        let keys = self.keys.read().ok()?;
        let mut matching = keys.values().filter(|(_, a)| *a == alg);
        match (matching.next(), matching.next()) {
            (Some((key, _)), None) => Some(key.clone()),
            _ => None,
        }
    }

    /// Whether the last fetch succeeded (what `/ready` reports).
    pub fn is_healthy(&self) -> bool {
        self.status.lock().map(|s| s.last_ok).unwrap_or(false)
    }

    /// The last fetch's error, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.status.lock().ok().and_then(|s| s.last_error.clone())
    }

    /// Fetches the key set now and replaces the cache; returns how many keys it holds.
    ///
    /// # Errors
    /// A fetch that fails, times out, or returns no usable key (the old keys are kept).
    pub async fn refresh(&self) -> Result<usize, String> {
        let _one_at_a_time = self.refreshing.lock().await;
        self.fetch_and_store().await
    }

    /// Refetches unless a fetch happened in the last [`JWKS_MIN_REFETCH`].
    pub(crate) async fn refresh_for_unknown_kid(&self) {
        let _one_at_a_time = self.refreshing.lock().await;
        let recent = self
            .status
            .lock()
            .ok()
            .and_then(|s| s.last_unknown_kid_fetch)
            .is_some_and(|at| at.elapsed() < JWKS_MIN_REFETCH);
        if !recent {
            if let Ok(mut status) = self.status.lock() {
                status.last_unknown_kid_fetch = Some(Instant::now());
            }
            let _ = self.fetch_and_store().await;
        }
    }

    async fn fetch_and_store(&self) -> Result<usize, String> {
        let result = self.fetch().await;
        let mut status = self.status.lock().map_err(|_| "poisoned".to_owned())?;
        status.last_attempt = Some(Instant::now());
        match result {
            Ok(keys) => {
                let count = keys.len();
                if let Ok(mut cache) = self.keys.write() {
                    *cache = keys;
                }
                status.last_ok = true;
                status.last_error = None;
                Ok(count)
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "the identity provider's JWKS could not be fetched");
                status.last_ok = false;
                status.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("fetch failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| format!("not a JWK set: {e}"))?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let alg = jwk_algorithm(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, (key, alg)))
            })
            .collect();
        if keys.is_empty() {
            return Err("the set holds no RS256 or ES256 key with a kid".into());
        }
        Ok(keys)
    }
}

/// The algorithm a JWK is for: its `alg`, or what its key type implies; only RS256 and
/// ES256 are taken.
fn jwk_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    match jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(_) => None,
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Some(Algorithm::ES256)
            }
            _ => None,
        },
    }
}
