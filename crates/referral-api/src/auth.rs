//! Authentication (HS256 JWT with a required `exp`) and the role matrix of the contract.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::future::{ready, Ready};
use std::path::Path;
use std::str::FromStr;
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

/// The claims of a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The caller's UUID.
    pub sub: Uuid,
    /// The caller's role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Patients: email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Patients: name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys(<secret>)")
    }
}

impl JwtKeys {
    /// Keys for an HS256 secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// Signs `claims`.
    ///
    /// # Errors
    /// When signing fails.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Checks a token: HS256 only, `exp` required and not past (60 s leeway).
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`].
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_exp = true;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthenticated)
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
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Caller::from_http(req))
    }
}

impl Caller {
    /// The caller of a request, from its `Authorization: Bearer` header.
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`] for a missing, malformed, forged or expired token.
    pub fn from_http(req: &HttpRequest) -> Result<Caller, ApiError> {
        caller_of(req)
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

fn caller_of(req: &HttpRequest) -> Result<Caller, ApiError> {
    let keys = req
        .app_data::<web::Data<JwtKeys>>()
        .ok_or(ApiError::Internal)?;
    let token = bearer_token(req.headers()).ok_or(ApiError::Unauthenticated)?;
    Ok(Caller {
        claims: keys.verify(token)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::new_v4(),
            role: Role::Patient,
            exp,
            email: None,
            name: None,
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
    fn roles_parse_by_their_token_names() {
        assert_eq!(
            "provider-admin".parse::<Role>().unwrap(),
            Role::ProviderAdmin
        );
        assert!("root".parse::<Role>().is_err());
    }
}
