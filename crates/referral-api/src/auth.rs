//! Authentication (JWTs: HS256 with a shared secret, RS256 and ES256 from the identity
//! provider's JWKS or a PEM key; `exp` required) and the role matrix of the contract.

use crate::error::ApiError;
pub use crate::jwks::{Jwks, JWKS_MIN_REFETCH, JWKS_REFRESH_EVERY, JWKS_TIMEOUT};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

/// Clock skew tolerated on `exp`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A patient of the platform.
    #[serde(rename = "patient")]
    Patient,
    /// A provider: reads programs.
    #[serde(rename = "provider")]
    Provider,
    /// A provider administrator: the provider portal.
    #[serde(rename = "provider-admin")]
    ProviderAdmin,
    /// An administrator: provider portal and admin endpoints.
    #[serde(rename = "admin")]
    Admin,
    /// A super administrator: as admin.
    #[serde(rename = "super-admin")]
    SuperAdmin,
    /// Another platform service: events, registration on behalf of a patient, redeem.
    #[serde(rename = "service")]
    Service,
}

impl Role {
    /// The role's name in tokens.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Provider => "provider",
            Role::ProviderAdmin => "provider-admin",
            Role::Admin => "admin",
            Role::SuperAdmin => "super-admin",
            Role::Service => "service",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map_err(|_| format!("unknown role `{s}`"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may use the provider portal.
pub const PORTAL_ADMINS: &[Role] = &[Role::Admin, Role::ProviderAdmin, Role::SuperAdmin];
/// Who may read programs.
pub const PROGRAM_READERS: &[Role] = &[
    Role::Provider,
    Role::Admin,
    Role::ProviderAdmin,
    Role::SuperAdmin,
];
/// Who may use the admin endpoints.
pub const ADMINS: &[Role] = &[Role::Admin, Role::SuperAdmin];

/// Whether a token issued at `iat` (if it says) and expiring at `exp` is within the
/// lifetime limit at `now`: an `iat` in the future beyond the leeway is refused (it would
/// stretch the life), and the life counts from `min(iat, now)`, so that a token without
/// `iat`, or dated ahead, cannot outlive the limit.
fn lifetime_fits(iat: Option<i64>, exp: i64, now: i64, max_lifetime_seconds: i64) -> bool {
    let leeway = i64::try_from(LEEWAY_SECONDS).unwrap_or(60);
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return false;
    }
    let issued = iat.map_or(now, |iat| iat.min(now));
    exp.saturating_sub(issued) <= max_lifetime_seconds
}

/// The claims of a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The caller's UUID.
    pub sub: Uuid,
    /// The caller's role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch (the identity provider sets it; the lifetime
    /// `exp - iat` is bounded by `--jwt-max-lifetime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Providers and provider admins: the provider they act for (required for those roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Uuid>,
    /// Patients: email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Patients: name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Claims {
    /// Claims for `sub` in `role`, valid for `ttl_seconds` from `now`.
    pub fn new(sub: Uuid, role: Role, now: i64, ttl_seconds: i64) -> Self {
        Claims {
            sub,
            role,
            exp: now + ttl_seconds,
            iat: Some(now),
            provider_id: None,
            email: None,
            name: None,
        }
    }
}

/// Shortest HS256 secret accepted (RFC 7518 3.2: a key at least as long as the hash).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// How tokens are checked: the settings behind [`JwtKeys::from_config`].
#[derive(Debug, Clone, Default)]
pub struct TokenConfig {
    /// HS256 secret (development, tests, and platforms that share a secret).
    pub hs256_secret: Option<Vec<u8>>,
    /// A PEM public key (RSA for RS256 or P-256 for ES256).
    pub public_key_pem: Option<Vec<u8>>,
    /// The identity provider's JWKS URL (RS256 and ES256 keys, by `kid`).
    pub jwks_url: Option<String>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud`, when set.
    pub audience: Option<String>,
    /// Longest `exp - iat` accepted, in seconds.
    pub max_lifetime_seconds: i64,
}

/// Default of `--jwt-max-lifetime`: 24 hours.
pub const DEFAULT_MAX_LIFETIME_SECONDS: i64 = 24 * 3600;

/// Why token settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenConfigError {
    /// The HS256 secret is too short.
    #[error("REFERRAL_JWT_SECRET (--jwt-secret) must be at least {MIN_HS256_SECRET_BYTES} bytes; generate one with `openssl rand -hex 32`")]
    ShortSecret,
    /// The PEM file is neither an RSA nor a P-256 public key.
    #[error("--jwt-public-key-file is not an RSA or EC (P-256) public key in PEM: {0}")]
    BadPublicKey(String),
    /// The JWKS URL cannot be used.
    #[error("--jwt-jwks-url cannot be used: {0}")]
    BadJwksUrl(String),
}

/// Why a token was refused (all answer 401; the kind decides whether a JWKS refetch helps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    /// Signed with a key id we do not know (yet).
    UnknownKey,
    /// Anything else: forged, expired, wrong issuer or audience, too long-lived.
    Invalid,
}

/// Signs (development and demo sessions only) and checks tokens.
#[derive(Clone)]
pub struct JwtKeys(Arc<KeysInner>);

struct KeysInner {
    signing: Option<EncodingKey>,
    hs256: Option<DecodingKey>,
    public_key: Option<(DecodingKey, Algorithm)>,
    jwks: Option<Arc<Jwks>>,
    issuer: Option<String>,
    audience: Option<String>,
    max_lifetime_seconds: i64,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("hs256", &self.0.hs256.is_some())
            .field("public_key", &self.0.public_key.as_ref().map(|(_, a)| *a))
            .field("jwks", &self.0.jwks)
            .finish()
    }
}

impl JwtKeys {
    /// Keys for an HS256 secret alone (development and tests).
    pub fn new(secret: &[u8]) -> Self {
        JwtKeys(Arc::new(KeysInner {
            signing: Some(EncodingKey::from_secret(secret)),
            hs256: Some(DecodingKey::from_secret(secret)),
            public_key: None,
            jwks: None,
            issuer: None,
            audience: None,
            max_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
        }))
    }

    /// Keys for these settings. Fetches nothing: call [`Jwks::refresh`] (the server does,
    /// at start and every [`JWKS_REFRESH_EVERY`]).
    ///
    /// # Errors
    /// See [`TokenConfigError`].
    pub fn from_config(config: &TokenConfig) -> Result<Self, TokenConfigError> {
        let hs = match &config.hs256_secret {
            Some(secret) if secret.len() < MIN_HS256_SECRET_BYTES => {
                return Err(TokenConfigError::ShortSecret)
            }
            Some(secret) => Some(secret.as_slice()),
            None => None,
        };
        let public_key = match &config.public_key_pem {
            None => None,
            Some(pem) => Some(match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => DecodingKey::from_ec_pem(pem)
                    .map(|key| (key, Algorithm::ES256))
                    .map_err(|e| TokenConfigError::BadPublicKey(e.to_string()))?,
            }),
        };
        let jwks = config
            .jwks_url
            .as_deref()
            .map(Jwks::new)
            .transpose()?
            .map(Arc::new);
        Ok(JwtKeys(Arc::new(KeysInner {
            signing: hs.map(EncodingKey::from_secret),
            hs256: hs.map(DecodingKey::from_secret),
            public_key,
            jwks,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            max_lifetime_seconds: config.max_lifetime_seconds,
        })))
    }

    /// The JWKS cache, when a JWKS URL is configured.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.0.jwks.as_ref()
    }

    /// Whether this service can sign tokens itself (it holds an HS256 secret): demo
    /// sign-in needs it.
    pub fn can_sign(&self) -> bool {
        self.0.signing.is_some()
    }

    /// Signs `claims` with the HS256 secret.
    ///
    /// # Errors
    /// When signing fails or there is no HS256 secret.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        let key = self
            .0
            .signing
            .as_ref()
            .ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key)
    }

    /// Checks a token with the keys at hand: HS256, RS256 or ES256 (each only when its key
    /// is configured), `exp` required and not past (60 s leeway), `iss` and `aud` when
    /// configured, a lifetime within the limit, and `provider_id` for provider roles.
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`].
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.check(token).map_err(|_| ApiError::Unauthenticated)
    }

    /// As [`JwtKeys::verify`], fetching the JWKS again first when the token names a key id
    /// not yet known (at most once every [`JWKS_MIN_REFETCH`]).
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`].
    pub async fn verify_fresh(&self, token: &str) -> Result<Claims, ApiError> {
        match self.check(token) {
            Ok(claims) => Ok(claims),
            Err(Rejection::UnknownKey) => {
                if let Some(jwks) = &self.0.jwks {
                    jwks.refresh_for_unknown_kid().await;
                }
                self.verify(token)
            }
            Err(Rejection::Invalid) => Err(ApiError::Unauthenticated),
        }
    }

    fn check(&self, token: &str) -> Result<Claims, Rejection> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Rejection::Invalid)?;
        let key = match header.alg {
            Algorithm::HS256 => self.0.hs256.clone().ok_or(Rejection::Invalid)?,
            alg @ (Algorithm::RS256 | Algorithm::ES256) => {
                self.public_key_for(alg, header.kid.as_deref())?
            }
            _ => return Err(Rejection::Invalid),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        // A token not valid yet (`nbf`, with the leeway) is refused like an expired one.
        validation.validate_nbf = true;
        if let Some(issuer) = &self.0.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &self.0.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|_| Rejection::Invalid)?;
        if !lifetime_fits(
            claims.iat,
            claims.exp,
            chrono::Utc::now().timestamp(),
            self.0.max_lifetime_seconds,
        ) {
            return Err(Rejection::Invalid);
        }
        if matches!(claims.role, Role::Provider | Role::ProviderAdmin)
            && claims.provider_id.is_none()
        {
            return Err(Rejection::Invalid);
        }
        Ok(claims)
    }

    fn public_key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<DecodingKey, Rejection> {
        if let Some(jwks) = &self.0.jwks {
            let found = match kid {
                Some(kid) => jwks.key(kid).filter(|(_, a)| *a == alg).map(|(k, _)| k),
                None => jwks.only_key(alg),
            };
            if let Some(key) = found {
                return Ok(key);
            }
        }
        if let Some((key, a)) = &self.0.public_key {
            if *a == alg {
                return Ok(key.clone());
            }
        }
        match (&self.0.jwks, kid) {
            (Some(_), Some(_)) => Err(Rejection::UnknownKey),
            _ => Err(Rejection::Invalid),
        }
    }
}

/// Where the development secret lives: beside the default database, so `dev-token` in
/// another process signs with the secret the running service checks.
pub fn dev_secret_path(database_url: &str) -> std::path::PathBuf {
    let dir = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("./data").to_path_buf());
    dir.join("dev-jwt-secret")
}

/// Reads the development secret, creating it (32 random bytes, hex, mode 0600) if needed.
///
/// # Errors
/// I/O errors, or a failing random generator.
pub fn load_or_create_dev_secret(path: &Path) -> std::io::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let trimmed = existing.trim();
        if trimmed.len() >= 32 {
            return Ok(trimmed.to_owned());
        }
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("secure random generator failed"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, &secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}

/// An authenticated caller, extracted from `Authorization: Bearer <JWT>`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The checked claims.
    pub claims: Claims,
}

impl Caller {
    /// The caller's id.
    pub fn id(&self) -> Uuid {
        self.claims.sub
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.claims.role
    }

    /// The provider a provider or provider-admin acts for: they see only that provider's
    /// programs and what hangs off them. `None` for every other role (admins are
    /// platform-wide; patients and services never reach the provider routes).
    pub fn provider_scope(&self) -> Option<referral_domain::ProviderId> {
        match self.claims.role {
            Role::Provider | Role::ProviderAdmin => self
                .claims
                .provider_id
                .map(referral_domain::ProviderId::from_uuid),
            _ => None,
        }
    }

    /// Refuses callers whose role is not in `roles`.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`].
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.claims.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        async move { Caller::from_http(&req).await }.boxed_local()
    }
}

impl Caller {
    /// The caller of a request, from its `Authorization: Bearer` header.
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`] for a missing, malformed, forged or expired token.
    pub async fn from_http(req: &HttpRequest) -> Result<Caller, ApiError> {
        let keys = req
            .app_data::<web::Data<JwtKeys>>()
            .ok_or(ApiError::Internal)?
            .clone();
        let token = bearer_token(req.headers()).ok_or(ApiError::Unauthenticated)?;
        Ok(Caller {
            claims: keys.verify_fresh(token).await?,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let value = headers
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            exp,
            ..Claims::new(Uuid::new_v4(), Role::Patient, exp - 60, 60)
        }
    }

    #[test]
    fn tokens_verify_with_the_same_secret_only() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        let now = chrono::Utc::now().timestamp();
        let token = keys.sign(&claims(now + 60)).unwrap();
        assert_eq!(keys.verify(&token).unwrap().role, Role::Patient);
        let other = JwtKeys::new(b"another-secret-another-secret-12");
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn expiry_allows_sixty_seconds_of_skew_and_no_more() {
        let keys = JwtKeys::new(b"secret-secret-secret-secret-1234");
        let now = chrono::Utc::now().timestamp();
        assert!(keys.verify(&keys.sign(&claims(now - 30)).unwrap()).is_ok());
        assert!(keys
            .verify(&keys.sign(&claims(now - 120)).unwrap())
            .is_err());
    }

    #[test]
    fn lifetimes_count_from_the_earlier_of_iat_and_now() {
        let day = 86_400;
        let now = 1_000_000;
        assert!(lifetime_fits(Some(now), now + day, now, day));
        assert!(!lifetime_fits(Some(now), now + day + 1, now, day));
        // Dated ahead: refused beyond the leeway; within it, the life counts from now.
        assert!(!lifetime_fits(Some(now + 3600), now + 3600 + day, now, day));
        assert!(!lifetime_fits(Some(now + 30), now + 30 + day, now, day));
        assert!(lifetime_fits(Some(now + 30), now + day, now, day));
        // No iat: from now.
        assert!(lifetime_fits(None, now + day, now, day));
        assert!(!lifetime_fits(None, now + day + 5, now, day));
    }

    #[test]
    fn roles_parse_by_their_token_names() {
        assert_eq!(
            "provider-admin".parse::<Role>().unwrap(),
            Role::ProviderAdmin
        );
        assert!("root".parse::<Role>().is_err());
    }
}
