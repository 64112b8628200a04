//! Who is looking at a page: the same JWT as the API, carried in a secure, HttpOnly,
//! SameSite cookie; and the CSRF token of the visit (a double-submit cookie whose value
//! every form posts back).

use crate::auth::{Caller, JwtKeys, Role, ADMINS, PORTAL_ADMINS};
use crate::call::Call;
use crate::pages::PageError;
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};

// Cookies are always `Secure`: browsers keep such cookies on http://127.0.0.1 and
// http://localhost (development), and everywhere else the site must be served over HTTPS.

/// The session cookie: the caller's JWT.
pub const SESSION_COOKIE: &str = "referral_session";
/// The CSRF cookie: a random value that forms post back.
pub const CSRF_COOKIE: &str = "referral_csrf";
/// The language a person chose with a page's switch (`?lang=`), kept for their next pages.
pub const LANG_COOKIE: &str = "referral_lang";

/// A page request: the signed-in caller (if any), the visit's CSRF token and the path.
#[derive(Debug, Clone)]
pub struct Visit {
    /// The caller of a valid session cookie.
    pub caller: Option<Caller>,
    /// The CSRF token of this visit.
    pub csrf: String,
    /// Whether the CSRF cookie must be set on the response (first visit).
    pub csrf_is_new: bool,
    /// The path and query asked for, to come back to after signing in.
    pub here: String,
    /// The `Origin` header, when the browser sent one.
    origin: Option<String>,
    /// The `Host` header.
    host: Option<String>,
    /// The time zone pages show times in (`--display-time-zone`); `None`: the browser's.
    pub time_zone: Option<String>,
    /// The language of the person's pages: `?lang=`, else the one they chose before (a
    /// cookie), else their browser's `Accept-Language`.
    pub locale: referral_domain::Locale,
    /// A language chosen with `?lang=` on this request, to remember in the cookie.
    pub chosen_locale: Option<referral_domain::Locale>,
    /// The client's address and user agent, for the audit rows of the page's use cases.
    client: crate::state::Origin,
    /// The service's state, for the page's use cases.
    state: Option<web::Data<crate::state::AppState>>,
}

impl Visit {
    fn of(req: &HttpRequest) -> Visit {
        let caller = req.cookie(SESSION_COOKIE).and_then(|cookie| {
            req.app_data::<web::Data<JwtKeys>>()
                .and_then(|keys| keys.verify(cookie.value()).ok())
                .map(|claims| Caller { claims })
        });
        let existing = req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let (csrf, csrf_is_new) = match existing {
            Some(token) => (token, false),
            None => (random_token(), true),
        };
        let headers = req.headers();
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let host = text(header::HOST);
        let chosen_locale =
            web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| {
                    q.get("lang")
                        .and_then(|l| referral_domain::Locale::from_tag(l))
                });
        let remembered = req
            .cookie(LANG_COOKIE)
            .and_then(|c| referral_domain::Locale::from_tag(c.value()));
        let locale = chosen_locale.or(remembered).unwrap_or_else(|| {
            referral_domain::Locale::negotiate(None, text(header::ACCEPT_LANGUAGE).as_deref())
        });
        Visit {
            locale,
            chosen_locale,
            time_zone: req
                .app_data::<web::Data<crate::state::AppState>>()
                .and_then(|s| s.site.display_time_zone.clone()),
            caller,
            csrf,
            csrf_is_new,
            here: req
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            origin: text(header::ORIGIN),
            host,
            client: crate::state::Origin::of(req),
            state: req.app_data::<web::Data<crate::state::AppState>>().cloned(),
        }
    }

    /// The page's use-case call by a signed-in user of the provider portal.
    ///
    /// # Errors
    /// As [`Visit::portal_admin`].
    pub fn admin_call(&self) -> Result<Call, PageError> {
        self.call_by(self.portal_admin()?)
    }

    /// The page's use-case call by a signed-in patient.
    ///
    /// # Errors
    /// As [`Visit::patient`].
    pub fn patient_call(&self) -> Result<Call, PageError> {
        self.call_by(self.patient()?)
    }

    fn call_by(&self, caller: &Caller) -> Result<Call, PageError> {
        let state = self
            .state
            .as_ref()
            .ok_or(crate::error::ApiError::Internal)?;
        Ok(Call::new(state, caller, &self.client))
    }

    /// The signed-in caller, or a redirect to the sign-in page.
    ///
    /// # Errors
    /// [`PageError::SignIn`].
    pub fn signed_in(&self) -> Result<&Caller, PageError> {
        self.caller.as_ref().ok_or_else(|| PageError::SignIn {
            next: self.here.clone(),
        })
    }

    /// A signed-in patient.
    ///
    /// # Errors
    /// Sign in first; [`PageError::Forbidden`] for other roles.
    pub fn patient(&self) -> Result<&Caller, PageError> {
        let caller = self.signed_in()?;
        caller.require(&[Role::Patient])?;
        Ok(caller)
    }

    /// A signed-in user of the provider portal (admin roles).
    ///
    /// # Errors
    /// Sign in first; [`PageError::Forbidden`] for other roles.
    pub fn portal_admin(&self) -> Result<&Caller, PageError> {
        let caller = self.signed_in()?;
        caller.require(PORTAL_ADMINS)?;
        Ok(caller)
    }

    /// Whether the caller may approve rewards and read the outbox.
    pub fn is_admin(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| ADMINS.contains(&c.role()))
    }

    /// Checks a posted form's CSRF token against the visit's cookie, and the `Origin` of the
    /// post (when the browser sends one) against the host.
    ///
    /// # Errors
    /// [`PageError::Csrf`].
    pub fn check_csrf(&self, posted: &str) -> Result<(), PageError> {
        if self.csrf_is_new
            || !referral_store::keyring::same_bytes(posted.as_bytes(), self.csrf.as_bytes())
        {
            return Err(PageError::Csrf);
        }
        // `null` is what a browser sends when it will not say (privacy settings, some
        // redirects); the token above is the defence then.
        let origin = self.origin.as_deref().filter(|o| *o != "null");
        if let (Some(origin), Some(host)) = (origin, &self.host) {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            if origin_host != host {
                return Err(PageError::Csrf);
            }
        }
        Ok(())
    }

    /// The CSRF cookie to set on a first visit.
    pub fn csrf_cookie(&self) -> Option<Cookie<'static>> {
        self.csrf_is_new.then(|| {
            Cookie::build(CSRF_COOKIE, self.csrf.clone())
                .path("/")
                .http_only(true)
                .secure(true)
                .same_site(SameSite::Strict)
                .finish()
        })
    }

    /// The cookie that remembers a language chosen on this request, if one was.
    pub fn lang_cookie(&self) -> Option<Cookie<'static>> {
        self.chosen_locale.map(|locale| {
            Cookie::build(LANG_COOKIE, locale.as_str())
                .path("/")
                .http_only(true)
                .secure(true)
                .same_site(SameSite::Lax)
                .max_age(time::Duration::days(365))
                .finish()
        })
    }

    /// The session cookie holding `token`, for `seconds`.
    pub fn session_cookie(&self, token: String, seconds: i64) -> Cookie<'static> {
        Cookie::build(SESSION_COOKIE, token)
            .path("/")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(seconds.max(0)))
            .finish()
    }

    /// A cookie that removes the session.
    pub fn signed_out_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.session_cookie(String::new(), 0);
        cookie.make_removal();
        cookie
    }
}

impl FromRequest for Visit {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Visit::of(req)))
    }
}

/// 128 random bits as 32 hex digits.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // A failing system generator leaves zeros: the token then matches nothing posted by
    // another visit's form either, since it is only ever compared with this cookie.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `next` is a path of this site (no open redirect to elsewhere).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?;
    // Checked as written and once percent-decoded: a browser strips tabs and newlines,
    // reads `\` as `/`, and some proxies decode before the browser sees the Location.
    let plain_path = |text: &str| {
        text.starts_with('/')
            && !text.starts_with("//")
            && !text
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    };
    if next.len() > 2048 || !plain_path(next) || !plain_path(&percent_decode(next)) {
        return None;
    }
    // And as a URL parser resolves it against this site: it must stay here.
    let base = url::Url::parse("https://this-site.invalid/").ok()?;
    let resolved = base.join(next).ok()?;
    (resolved.host_str() == Some("this-site.invalid") && resolved.scheme() == "https")
        .then(|| next.to_owned())
}

/// `%XX` sequences decoded (repeatedly, so double encoding is seen through); invalid ones
/// kept as they are.
fn percent_decode(text: &str) -> String {
    let mut current = text.to_owned();
    for _ in 0..3 {
        let bytes = current.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        let decoded = String::from_utf8_lossy(&out).into_owned();
        if decoded == current {
            break;
        }
        current = decoded;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/patient/referrals")).as_deref(),
            Some("/patient/referrals")
        );
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("https://evil.example/")), None);
        assert_eq!(safe_next(Some("/\\evil.example")), None);
    }

    #[test]
    fn next_refuses_what_a_browser_would_read_as_another_host() {
        for attack in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%2f/evil.example",
            "/%2F%2Fevil.example",
            "%2F%2Fevil.example",
            "/%5cevil.example",
            "/%255c/evil.example",
            "\\/evil.example",
            "/\\/evil.example",
            " /evil",
            "javascript:alert(1)",
            "/ /evil.example",
        ] {
            assert_eq!(safe_next(Some(attack)), None, "{attack:?}");
        }
        for fine in ["/portal/referrals?tab=1", "/patient/referrals/abc#x", "/"] {
            assert_eq!(safe_next(Some(fine)).as_deref(), Some(fine));
        }
    }
}
