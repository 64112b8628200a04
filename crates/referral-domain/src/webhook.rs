//! Outbound webhooks (Standard Webhooks): the event types an endpoint may subscribe to,
//! which endpoint URLs are allowed (no server-side request forgery), and when an endpoint
//! that keeps failing is disabled. Payloads carry ids, types, amounts and times only:
//! never an email, phone, name or message.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The type of the event an admin sends to one endpoint to check it (from the portal). It
/// is not one of [`WebhookEventType`]: nothing subscribes to it, and a receiver should
/// answer 2xx and otherwise ignore it.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// An event an endpoint may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEventType {
    /// A referral was made (by email, SMS or through a share link).
    #[serde(rename = "referral.created")]
    ReferralCreated,
    /// The friend registered.
    #[serde(rename = "referral.registered")]
    ReferralRegistered,
    /// The friend's first consultation or paid order converted the referral.
    #[serde(rename = "referral.converted")]
    ReferralConverted,
    /// A refund or cancellation reversed the conversion.
    #[serde(rename = "referral.reversed")]
    ReferralReversed,
    /// A reward was granted (it may be held or in review).
    #[serde(rename = "reward.granted")]
    RewardGranted,
    /// The inducement policy or a budget withheld a reward.
    #[serde(rename = "reward.withheld")]
    RewardWithheld,
    /// A reward became usable (at once, after its hold, or after a review).
    #[serde(rename = "reward.available")]
    RewardAvailable,
    /// A reward was used.
    #[serde(rename = "reward.redeemed")]
    RewardRedeemed,
    /// A reward expired unused.
    #[serde(rename = "reward.expired")]
    RewardExpired,
    /// A reward was cancelled (reversal, rejected review, an admin).
    #[serde(rename = "reward.cancelled")]
    RewardCancelled,
}

impl WebhookEventType {
    /// Every event type.
    pub const ALL: [WebhookEventType; 10] = [
        WebhookEventType::ReferralCreated,
        WebhookEventType::ReferralRegistered,
        WebhookEventType::ReferralConverted,
        WebhookEventType::ReferralReversed,
        WebhookEventType::RewardGranted,
        WebhookEventType::RewardWithheld,
        WebhookEventType::RewardAvailable,
        WebhookEventType::RewardRedeemed,
        WebhookEventType::RewardExpired,
        WebhookEventType::RewardCancelled,
    ];

    /// The dotted name, as sent in `type` and subscribed to.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::ReferralCreated => "referral.created",
            WebhookEventType::ReferralRegistered => "referral.registered",
            WebhookEventType::ReferralConverted => "referral.converted",
            WebhookEventType::ReferralReversed => "referral.reversed",
            WebhookEventType::RewardGranted => "reward.granted",
            WebhookEventType::RewardWithheld => "reward.withheld",
            WebhookEventType::RewardAvailable => "reward.available",
            WebhookEventType::RewardRedeemed => "reward.redeemed",
            WebhookEventType::RewardExpired => "reward.expired",
            WebhookEventType::RewardCancelled => "reward.cancelled",
        }
    }

    /// Parses a dotted name.
    pub fn from_code(code: &str) -> Option<Self> {
        WebhookEventType::ALL
            .into_iter()
            .find(|t| t.as_str() == code)
    }
}

/// Why an endpoint URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookUrlError {
    /// Not an absolute `https://` URL (or `http://` in development).
    #[error("url: an absolute https:// URL")]
    NotHttps,
    /// A loopback, private or link-local address, or `localhost` (outside development).
    #[error("url: a public host; private, loopback and link-local addresses are refused")]
    PrivateHost,
    /// Longer than 2,000 characters, or with spaces or credentials.
    #[error("url: at most 2000 characters, without spaces or credentials")]
    Malformed,
    /// The host is not on the service's allow-list (`--webhook-hosts`).
    #[error("url: a host on this service's webhook allow-list")]
    HostNotAllowed,
}

/// The hosts webhook endpoints may name (`--webhook-hosts`): every public host when the
/// list is empty (the default); otherwise only a listed host, or a subdomain of an entry
/// written `*.example.com`. Checked with the URL at creation and again at every delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookHosts {
    /// Lower-case ASCII host names, or `.example.com` for the subdomains of one.
    entries: Vec<String>,
}

/// Why a `--webhook-hosts` entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook host {0:?}: a host name such as hooks.example.com or *.example.com (no scheme, port or path)")]
pub struct WebhookHostError(pub String);

impl WebhookHosts {
    /// Every public host (no allow-list).
    pub fn any() -> Self {
        WebhookHosts::default()
    }

    /// The allow-list of `entries` (each a host name, or `*.` and a domain), normalized as
    /// a client reads a URL's host (lower case, international names in punycode).
    ///
    /// # Errors
    /// [`WebhookHostError`] for an entry that is not a bare host name.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, WebhookHostError> {
        let mut parsed = Vec::with_capacity(entries.len());
        for entry in entries {
            let raw = entry.as_ref().trim();
            let (wildcard, name) = match raw.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            let refused = || WebhookHostError(raw.to_owned());
            if name.is_empty() || name.contains(['/', ':', '@', '*', '?', '#']) {
                return Err(refused());
            }
            let url = url::Url::parse(&format!("https://{name}/")).map_err(|_| refused())?;
            let host = match url.host() {
                Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
                Some(url::Host::Ipv4(ip)) if !wildcard => ip.to_string(),
                _ => return Err(refused()),
            };
            parsed.push(if wildcard { format!(".{host}") } else { host });
        }
        Ok(WebhookHosts { entries: parsed })
    }

    /// Whether an allow-list is set.
    pub fn is_restricted(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Whether endpoints may name `host` (as [`check_url`] returns it).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        !self.is_restricted()
            || self
                .entries
                .iter()
                .any(|entry| match entry.strip_prefix('.') {
                    Some(domain) => host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => *entry == host,
                })
    }
}

/// [`check_url`], then the allow-list: the host of an endpoint URL this service may send to.
///
/// # Errors
/// [`WebhookUrlError`], [`WebhookUrlError::HostNotAllowed`] among them.
pub fn check_endpoint(
    url: &str,
    allow_private: bool,
    hosts: &WebhookHosts,
) -> Result<String, WebhookUrlError> {
    let host = check_url(url, allow_private)?;
    if hosts.allows(&host) {
        Ok(host)
    } else {
        Err(WebhookUrlError::HostNotAllowed)
    }
}

/// The host of an allowed endpoint URL, for the delivery to check again after resolving it.
///
/// # Errors
/// [`WebhookUrlError`]. In development (`allow_private`), `http://` and private hosts are
/// allowed, so that a local receiver can be tested.
pub fn check_url(url: &str, allow_private: bool) -> Result<String, WebhookUrlError> {
    if url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(WebhookUrlError::Malformed);
    }
    // Parsed as a client parses it (the WHATWG rules of the `url` crate, which reqwest
    // uses): `http://0x7f.1/` is 127.0.0.1, `http://[::ffff:a00:1]/` is 10.0.0.1.
    let parsed = url::Url::parse(url).map_err(|_| WebhookUrlError::Malformed)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(WebhookUrlError::NotHttps),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookUrlError::Malformed);
    }
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            if !allow_private && !host_may_be_public(&d) {
                return Err(WebhookUrlError::PrivateHost);
            }
            d
        }
        Some(url::Host::Ipv4(ip)) => {
            if !address_allowed(IpAddr::V4(ip), allow_private) {
                return Err(WebhookUrlError::PrivateHost);
            }
            ip.to_string()
        }
        Some(url::Host::Ipv6(ip)) => {
            if !address_allowed(IpAddr::V6(ip), allow_private) {
                return Err(WebhookUrlError::PrivateHost);
            }
            ip.to_string()
        }
        None => return Err(WebhookUrlError::Malformed),
    };
    Ok(host)
}

/// Whether a host name may be a public one (it is checked again, address by address, once
/// resolved: see [`address_allowed`]).
fn host_may_be_public(host: &str) -> bool {
    !(host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local"))
}

/// Whether a delivery may connect to `ip`: a public address, or anything in development.
pub fn address_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || crate::signals::is_public(ip)
}

/// How long an endpoint may fail without a success before it is disabled.
pub const DISABLE_AFTER_HOURS: i64 = 24;

/// Whether an endpoint failing since `failing_since` is to be disabled at `now`.
pub fn disable_due(failing_since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    failing_since.is_some_and(|since| now - since >= Duration::hours(DISABLE_AFTER_HOURS))
}

/// Seconds a signed provider request (SendGrid's event webhook) may be from the service's
/// clock, either way: older is a replay, newer a forged or skewed clock.
pub const INBOUND_WINDOW_SECONDS: i64 = 300;

/// Whether a provider request signed at `signed_at` (Unix seconds, as its signed header
/// says) may be acted on at `now`.
pub fn inbound_fresh(signed_at: i64, now: DateTime<Utc>) -> bool {
    (now.timestamp() - signed_at).abs() <= INBOUND_WINDOW_SECONDS
}

/// How long a provider request's signature is remembered, so that a replay of it is
/// refused: while its window lasts (both sides) for a request with a signed time; for
/// Twilio, which signs no time, [`TWILIO_REPLAY_DAYS`].
pub fn remember_signature_for(signs_its_time: bool) -> Duration {
    if signs_its_time {
        Duration::seconds(2 * INBOUND_WINDOW_SECONDS)
    } else {
        Duration::days(TWILIO_REPLAY_DAYS)
    }
}

/// Days a Twilio request's signature is remembered. Twilio signs the URL and the form only,
/// not a time, so no window can be checked; a replay within these days is refused, and one
/// after them can only suppress again a number that already opted out.
pub const TWILIO_REPLAY_DAYS: i64 = 30;

/// How long a rotated-out secret still signs, beside the new one.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;

/// Consecutive failed sends to one endpoint that open its circuit.
pub const CIRCUIT_FAILURES: u32 = 3;
/// How long an open circuit holds an endpoint's events back before one is tried again.
pub const CIRCUIT_OPEN_SECONDS: i64 = 60;

/// One endpoint's circuit breaker: after [`CIRCUIT_FAILURES`] failed sends in a row its
/// events wait [`CIRCUIT_OPEN_SECONDS`] unsent (no attempt counted), so that a silent
/// endpoint costs one timeout a minute instead of one for each of its events; a success
/// closes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Circuit {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
}

impl Circuit {
    /// Until when sends wait, if the circuit is open at `now`.
    pub fn open_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.open_until.filter(|until| *until > now)
    }

    /// Records a send's result at `now`; true when this failure opened the circuit.
    pub fn record(&mut self, succeeded: bool, now: DateTime<Utc>) -> bool {
        if succeeded {
            *self = Circuit::default();
            return false;
        }
        self.failures += 1;
        if self.failures >= CIRCUIT_FAILURES {
            self.failures = 0;
            self.open_until = Some(now + chrono::Duration::seconds(CIRCUIT_OPEN_SECONDS));
            return true;
        }
        false
    }
}

#[cfg(test)]
mod circuit_tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn three_failures_in_a_row_open_it_for_a_minute_and_a_success_closes_it() {
        let mut c = Circuit::default();
        assert!(!c.record(false, at(0)));
        assert!(!c.record(false, at(1)));
        assert!(c.record(false, at(2)));
        assert_eq!(c.open_until(at(3)), Some(at(62)));
        assert_eq!(c.open_until(at(62)), None);
        c.record(true, at(63));
        assert_eq!(c, Circuit::default());
    }

    proptest! {
        /// Whatever the history, the circuit is open only after CIRCUIT_FAILURES failures
        /// with no success between, and never for longer than CIRCUIT_OPEN_SECONDS.
        #[test]
        fn it_opens_only_after_enough_failures_in_a_row(results in proptest::collection::vec(any::<bool>(), 0..60)) {
            let mut c = Circuit::default();
            let mut run = 0u32;
            for (i, ok) in results.into_iter().enumerate() {
                let now = at(i as i64);
                let opened = c.record(ok, now);
                run = if ok { 0 } else { run + 1 };
                prop_assert_eq!(opened, !ok && run.is_multiple_of(CIRCUIT_FAILURES));
                if let Some(until) = c.open_until(now) {
                    prop_assert!(until <= now + chrono::Duration::seconds(CIRCUIT_OPEN_SECONDS));
                }
            }
        }
    }
}

#[cfg(test)]
mod host_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signed_request_is_fresh_for_five_minutes_either_way() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for (at, fresh) in [
            (0, true),
            (-300, true),
            (300, true),
            (-301, false),
            (301, false),
        ] {
            assert_eq!(inbound_fresh(now.timestamp() + at, now), fresh, "{at}");
        }
        assert!(remember_signature_for(true) >= Duration::seconds(2 * INBOUND_WINDOW_SECONDS));
        assert_eq!(
            remember_signature_for(false),
            Duration::days(TWILIO_REPLAY_DAYS)
        );
    }

    #[test]
    fn the_allow_list_admits_only_its_hosts_and_their_named_subdomains() {
        let hosts =
            WebhookHosts::parse(&["hooks.example.com", "*.Partner.EXAMPLE", "BÜcher.de"]).unwrap();
        for ok in [
            "https://hooks.example.com/x",
            "https://HOOKS.example.com:8443/x",
            "https://a.partner.example/",
            "https://a.b.partner.example/",
            "https://xn--bcher-kva.de/",
            "https://bücher.de/",
        ] {
            assert!(check_endpoint(ok, false, &hosts).is_ok(), "{ok}");
        }
        for refused in [
            "https://example.com/",
            "https://evilhooks.example.com/",
            "https://hooks.example.com.evil.net/",
            "https://partner.example/",
            "https://xpartner.example/",
        ] {
            assert_eq!(
                check_endpoint(refused, false, &hosts),
                Err(WebhookUrlError::HostNotAllowed),
                "{refused}"
            );
        }
        // The allow-list never admits what the public rule refuses.
        let local = WebhookHosts::parse(&["localhost"]).unwrap();
        assert_eq!(
            check_endpoint("https://localhost/", false, &local),
            Err(WebhookUrlError::PrivateHost)
        );
        assert!(check_endpoint("https://anything.example/", false, &WebhookHosts::any()).is_ok());
    }

    #[test]
    fn an_entry_must_be_a_bare_host() {
        for bad in [
            "",
            "https://a.example",
            "a.example:443",
            "a.example/x",
            "*.",
            "a.*.example",
            "*.1.2.3.4",
        ] {
            assert!(WebhookHosts::parse(&[bad]).is_err(), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn only_public_https_endpoints_outside_development() {
        assert_eq!(
            check_url("https://hooks.example.com/referrals", false).as_deref(),
            Ok("hooks.example.com")
        );
        assert_eq!(
            check_url("https://[2001:db8::1]:8443/x", false).as_deref(),
            Ok("2001:db8::1")
        );
        for refused in [
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://10.1.2.3:8443/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://localhost:9000/",
            "https://user:pass@hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://hooks example.com/",
            // Read as a client reads them: all loopback or private in disguise.
            "https://0x7f.1/",
            "https://2130706433/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:a00:1::1]/",
            "https://0.0.0.0/",
            "https://198.18.0.1/",
            "https://240.0.0.1/",
            "https://[fec0::1]/",
        ] {
            assert!(check_url(refused, false).is_err(), "{refused}");
        }
        assert_eq!(
            check_url("http://127.0.0.1:9000/hook", true).as_deref(),
            Ok("127.0.0.1")
        );
        assert!(!address_allowed("192.168.0.1".parse().unwrap(), false));
        assert!(address_allowed("192.168.0.1".parse().unwrap(), true));
    }

    #[test]
    fn event_types_round_trip_and_failing_endpoints_are_disabled_after_a_day() {
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::from_code(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        assert!(!disable_due(None, t0));
        assert!(!disable_due(Some(t0), t0 + Duration::hours(23)));
        assert!(disable_due(Some(t0), t0 + Duration::hours(24)));
    }

    proptest! {
        /// Whatever follows the host, a private address is never let through.
        #[test]
        fn private_hosts_stay_refused(path in "[a-z0-9/?=&._-]{0,40}", octet in 0u8..=255) {
            let url = format!("https://10.0.0.{octet}/{path}");
            prop_assert_eq!(check_url(&url, false), Err(WebhookUrlError::PrivateHost));
        }
    }
}
