//! Fraud signals: facts about a registration that make its rewards worth a second look.
//! The store gathers the facts; this module decides which signals they raise, each with a
//! stable code, a sentence an admin can act on, and the [`Evidence`] that raised it (ids,
//! counts and network sizes only: no address, no personal data).
//!
//! A reward on a referral that raised any signal waits for an admin's review
//! ([`crate::Gate`]).
//!
//! One concept: which signals a registration's facts raise. About 260 of its lines are the
//! tests of each signal.

use crate::contact::Email;
use crate::ids::PatientId;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::OnceLock;

/// How far back the referrer's own addresses count for `same_network`, in days.
pub const NETWORK_WINDOW_DAYS: i64 = 30;
/// How far back referrals count for `ring`, in days.
pub const RING_WINDOW_DAYS: i64 = 30;
/// The default of the `velocity` setting: more registrations than this through one
/// referrer's codes in 24 hours raise the signal.
pub const DEFAULT_VELOCITY_PER_DAY: u32 = 10;

/// A signal's stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The registration came from the referrer's network or device.
    SameNetwork,
    /// The friend's address is at a disposable-mail domain.
    DisposableEmail,
    /// The friend's address is the referrer's inbox, or differs only by a number.
    AliasOfReferrer,
    /// More registrations through the referrer's codes in 24 hours than the setting allows.
    Velocity,
    /// The friend and the referrer refer each other, or share the person who referred them.
    Ring,
    /// The friend registered with another address than the invited one.
    InvitedAddressMismatch,
}

impl Signal {
    /// The snake_case code, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::SameNetwork => "same_network",
            Signal::DisposableEmail => "disposable_email",
            Signal::AliasOfReferrer => "alias_of_referrer",
            Signal::Velocity => "velocity",
            Signal::Ring => "ring",
            Signal::InvitedAddressMismatch => "invited_address_mismatch",
        }
    }

    /// Every signal.
    pub const ALL: [Signal; 6] = [
        Signal::SameNetwork,
        Signal::DisposableEmail,
        Signal::AliasOfReferrer,
        Signal::Velocity,
        Signal::Ring,
        Signal::InvitedAddressMismatch,
    ];

    /// Parses a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Signal::ALL.into_iter().find(|s| s.as_str() == code)
    }

    /// What it means, for the admin reviewing the reward.
    pub const fn explanation(self) -> &'static str {
        match self {
            Signal::SameNetwork => {
                "The friend registered from the referrer's own network or device (the same address block the referrer used in the last 30 days)."
            }
            Signal::DisposableEmail => {
                "The friend registered with a throwaway address from a disposable-mail service."
            }
            Signal::AliasOfReferrer => {
                "The friend's address looks like another address of the referrer (same inbox, or the same name with a number)."
            }
            Signal::Velocity => {
                "Unusually many people registered through this referrer's invitations in 24 hours."
            }
            Signal::Ring => {
                "The friend and the referrer refer each other, or were both invited by the same person within 30 days."
            }
            Signal::InvitedAddressMismatch => {
                "The friend registered with a different address from the one the referrer invited."
            }
        }
    }
}

/// Why a signal was raised: what an admin needs to weigh it, and nothing personal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `same_network`: what matched, `ipv4_24`, `ipv6_48` or `device` (the same network as
    /// the audit log keeps it, see [`audit_network`], and the same user agent). Rows raised
    /// before the audit log kept networks only may say `ipv6_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `same_network`: which step matched, `registration` or `verification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// `disposable_email`: the domain on the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `velocity`: registrations in the 24 hours, this one included, and the setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrations_24h: Option<u32>,
    /// `velocity`: the setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `ring`: the patient who invited both, or the friend who had referred the referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_patient_id: Option<PatientId>,
}

/// One raised signal and its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raised {
    /// The signal.
    pub signal: Signal,
    /// What raised it.
    pub evidence: Evidence,
}

/// Where one request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The client's address.
    pub ip: IpAddr,
    /// Its user agent.
    pub user_agent: Option<String>,
}

/// A step of the friend's registration, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationStep {
    /// `registration` (the form) or `verification` (the confirmation link).
    pub step: &'static str,
    /// Where it came from.
    pub origin: Origin,
}

/// What the store knows about a registration, for the assessment.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationFacts<'a> {
    /// The referrer's address.
    pub referrer_email: &'a Email,
    /// The address the referrer invited.
    pub invited_email: &'a Email,
    /// The address the friend registered with.
    pub registered_email: &'a Email,
    /// Where the friend's registration steps came from (none for a platform service's
    /// registration, whose address is the service's own).
    pub steps: &'a [RegistrationStep],
    /// The addresses the referrer used in the last [`NETWORK_WINDOW_DAYS`].
    pub referrer_origins: &'a [Origin],
    /// Registrations through the referrer's codes in the last 24 hours, this one included.
    pub registrations_last_day: u32,
    /// The `velocity` setting.
    pub velocity_per_day: u32,
    /// Who referred the referrer, if they registered within [`RING_WINDOW_DAYS`].
    pub referrer_referred_by: Option<PatientId>,
    /// Whom that person invited within [`RING_WINDOW_DAYS`].
    pub invited_by_referrers_referrer: &'a [Email],
    /// The friend's patient id (a platform service may register someone it knows).
    pub friend_id: PatientId,
}

/// The signals a registration raises, in code order, without repeats.
pub fn assess(facts: &RegistrationFacts<'_>) -> Vec<Raised> {
    let mut raised = Vec::new();
    let mut raise = |signal, evidence| raised.push(Raised { signal, evidence });
    if let Some(evidence) = same_network(facts.steps, facts.referrer_origins) {
        raise(Signal::SameNetwork, evidence);
    }
    if let Some(domain) = disposable_domain(facts.registered_email) {
        raise(
            Signal::DisposableEmail,
            Evidence {
                domain: Some(domain),
                ..Evidence::default()
            },
        );
    }
    if is_alias(facts.referrer_email, facts.registered_email) {
        raise(Signal::AliasOfReferrer, Evidence::default());
    }
    if facts.registrations_last_day > facts.velocity_per_day {
        raise(
            Signal::Velocity,
            Evidence {
                registrations_24h: Some(facts.registrations_last_day),
                limit: Some(facts.velocity_per_day),
                ..Evidence::default()
            },
        );
    }
    if let Some(via) = ring(facts) {
        raise(
            Signal::Ring,
            Evidence {
                via_patient_id: Some(via),
                ..Evidence::default()
            },
        );
    }
    if facts.invited_email.inbox() != facts.registered_email.inbox() {
        raise(Signal::InvitedAddressMismatch, Evidence::default());
    }
    raised
}

/// The first step that came from the referrer's device (same network and user agent) or
/// network (IPv4 /24, IPv6 /48: what the audit log keeps of the referrer's addresses). Only public addresses count: a loopback, private or
/// link-local address is a proxy's or a test's, not a person's (behind a load balancer the
/// service must be told `--trusted-proxies` to see people's own addresses).
fn same_network(steps: &[RegistrationStep], referrer: &[Origin]) -> Option<Evidence> {
    let referrer: Vec<&Origin> = referrer.iter().filter(|o| is_public(o.ip)).collect();
    let hit = |network: &str, step: &RegistrationStep| Evidence {
        network: Some(network.to_owned()),
        step: Some(step.step.to_owned()),
        ..Evidence::default()
    };
    for step in steps.iter().filter(|s| is_public(s.origin.ip)) {
        if referrer.iter().any(|o| {
            audit_network(o.ip) == audit_network(step.origin.ip)
                && o.user_agent.is_some()
                && o.user_agent == step.origin.user_agent
        }) {
            return Some(hit("device", step));
        }
        if let Some(o) = referrer.iter().find(|o| same_block(o.ip, step.origin.ip)) {
            let network = match audit_network(o.ip) {
                IpAddr::V4(_) => "ipv4_24",
                IpAddr::V6(_) => "ipv6_48",
            };
            return Some(hit(network, step));
        }
    }
    None
}

/// Whether `ip` can be a person's own address on the internet: not unspecified, loopback,
/// private (RFC 1918, RFC 6598 shared, IPv6 unique local) or link-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(a == 0 // 0.0.0.0/8, "this network"
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGN)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 224) // multicast, 240.0.0.0/4 reserved, broadcast
        }
        IpAddr::V6(v6) => {
            // Every form that carries an IPv4 address is judged by that address.
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first & 0xffc0) == 0xfec0 // site local (deprecated)
                || (first & 0xff00) == 0xff00) // multicast
        }
    }
}

/// The IPv4 address an IPv6 address carries, in any of the forms that reach one: mapped
/// (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`), 6to4
/// (`2002:AABB:CCDD::/48`) and Teredo (`2001:0::/32`, the client's address inverted).
pub fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let from = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_unspecified() && !v6.is_loopback() {
        return Some(from(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(from(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(from(s[1], s[2]));
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(from(!s[6], !s[7]));
    }
    None
}

/// Whether two addresses share an IPv4 /24 or an IPv6 /48 (an IPv4-mapped IPv6 address
/// counts as its IPv4 address): whether their [`audit_network`]s are the same.
pub fn same_block(a: IpAddr, b: IpAddr) -> bool {
    audit_network(a) == audit_network(b)
}

/// An address as the audit log keeps it: its IPv4 /24 or IPv6 /48 network, the rest zero
/// (an IPv4-mapped IPv6 address as its IPv4 network). Enough to see that two requests came
/// from one network, not enough to name a household's line; the fraud signals compare
/// addresses at this precision.
pub fn audit_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => audit_network(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
    }
}

/// The domain (or parent domain) of `email` on the disposable-mail list, if any.
///
/// The list is `mailchecker`'s (FGRibreau/mailchecker: tens of thousands of domains, updated
/// with each release of the crate, so `cargo update -p mailchecker` refreshes it).
pub fn disposable_domain(email: &Email) -> Option<String> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let list = LIST.get_or_init(|| mailchecker::blacklist().into_iter().collect());
    let (_, domain) = email.as_str().rsplit_once('@')?;
    let domain = domain.to_ascii_lowercase();
    // `mail.mailinator.com` is as disposable as `mailinator.com`.
    let mut candidate = domain.as_str();
    loop {
        if list.contains(candidate) {
            return Some(candidate.to_owned());
        }
        match candidate.split_once('.') {
            Some((_, rest)) if rest.contains('.') => candidate = rest,
            _ => return None,
        }
    }
}

/// The person through whom the friend and the referrer form a ring: the friend, when they
/// had referred the referrer; or whoever referred the referrer and also invited the friend.
fn ring(facts: &RegistrationFacts<'_>) -> Option<PatientId> {
    let via = facts.referrer_referred_by?;
    if via == facts.friend_id {
        return Some(via);
    }
    let friend = [facts.registered_email.inbox(), facts.invited_email.inbox()];
    facts
        .invited_by_referrers_referrer
        .iter()
        .any(|e| friend.contains(&e.inbox()))
        .then_some(via)
}

/// Whether `other` is `own`'s inbox, or the same local part with digits added or taken
/// away at its end, at the same domain (`alice@x`, `alice2@x`, `alice1987@x`).
fn is_alias(own: &Email, other: &Email) -> bool {
    let (own, other) = (own.inbox(), other.inbox());
    if own == other {
        return true;
    }
    let split = |inbox: &str| -> Option<(String, String)> {
        let (local, domain) = inbox.rsplit_once('@')?;
        Some((
            local
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_owned(),
            domain.to_owned(),
        ))
    };
    match (split(own.as_str()), split(other.as_str())) {
        (Some((a, da)), Some((b, db))) => !a.is_empty() && a == b && da == db,
        _ => false,
    }
}

#[cfg(test)]
mod embedded_tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn forms(v4: Ipv4Addr) -> Vec<Ipv6Addr> {
        let [a, b, c, d] = v4.octets();
        let hi = u16::from_be_bytes([a, b]);
        let lo = u16::from_be_bytes([c, d]);
        vec![
            v4.to_ipv6_mapped(),
            Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo),
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
            Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, !hi, !lo),
        ]
    }

    #[test]
    fn private_and_special_addresses_are_not_public_in_any_form() {
        for v4 in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "100.64.0.1",
        ] {
            let v4: Ipv4Addr = v4.parse().unwrap();
            assert!(!is_public(IpAddr::V4(v4)), "{v4}");
            for v6 in forms(v4) {
                assert!(!is_public(IpAddr::V6(v6)), "{v6} carries {v4}");
            }
        }
        for v6 in ["fec0::1", "ff02::1", "fd00::1", "fe80::1", "::1", "::"] {
            assert!(!is_public(v6.parse().unwrap()), "{v6}");
        }
        assert!(is_public("93.184.216.34".parse().unwrap()));
        assert!(is_public(
            "2606:2800:220:1:248:1893:25c8:1946".parse().unwrap()
        ));
    }

    proptest! {
        /// An IPv6 form that carries an IPv4 address is exactly as public as the address.
        #[test]
        fn embedded_addresses_are_judged_by_their_ipv4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            for v6 in forms(v4) {
                prop_assert_eq!(embedded_ipv4(v6), Some(v4), "{}", v6);
                prop_assert_eq!(is_public(IpAddr::V6(v6)), is_public(IpAddr::V4(v4)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn origin(ip: &str, ua: &str) -> Origin {
        Origin {
            ip: ip.parse().unwrap(),
            user_agent: Some(ua.to_owned()),
        }
    }

    /// Facts with nothing suspicious but what the caller sets.
    fn quiet<'a>(
        referrer: &'a Email,
        invited: &'a Email,
        registered: &'a Email,
    ) -> RegistrationFacts<'a> {
        RegistrationFacts {
            referrer_email: referrer,
            invited_email: invited,
            registered_email: registered,
            steps: &[],
            referrer_origins: &[],
            registrations_last_day: 1,
            velocity_per_day: DEFAULT_VELOCITY_PER_DAY,
            referrer_referred_by: None,
            invited_by_referrers_referrer: &[],
            friend_id: PatientId::new_random(),
        }
    }

    fn codes(raised: Vec<Raised>) -> Vec<Signal> {
        raised.into_iter().map(|r| r.signal).collect()
    }

    #[test]
    fn aliases_and_mismatches_are_raised() {
        let alice = e("alice@example.com");
        let facts = |invited: &Email, registered: &Email| {
            codes(assess(&quiet(&alice, invited, registered)))
        };
        let bob = e("bob@example.com");
        assert!(facts(&bob, &bob).is_empty());
        assert_eq!(facts(&bob, &e("BOB+x@example.com")), []);
        assert_eq!(
            facts(&bob, &e("robert@example.com")),
            [Signal::InvitedAddressMismatch]
        );
        let alias = e("alice2@example.com");
        assert_eq!(facts(&alias, &alias), [Signal::AliasOfReferrer]);
        assert_eq!(
            facts(&bob, &e("alice1987@example.com")),
            [Signal::AliasOfReferrer, Signal::InvitedAddressMismatch]
        );
        // Another domain, or another name, is not an alias.
        assert!(facts(&e("alice2@other.org"), &e("alice2@other.org")).is_empty());
        assert!(facts(&e("alicia@example.com"), &e("alicia@example.com")).is_empty());
        assert_eq!(Signal::AliasOfReferrer.as_str(), "alias_of_referrer");
        for s in Signal::ALL {
            assert_eq!(Signal::from_code(s.as_str()), Some(s));
            assert!(s.explanation().ends_with('.'));
        }
    }

    #[test]
    fn the_referrers_network_and_device_are_raised() {
        let (alice, bob) = (e("alice@example.com"), e("bob@example.org"));
        let referrer = [
            origin("203.0.113.7", "Firefox"),
            origin("2001:db8:1:2::9", "Safari"),
        ];
        let step = |ip: &str, ua: &str| RegistrationStep {
            step: "verification",
            origin: origin(ip, ua),
        };
        let assess_steps = |steps: &[RegistrationStep]| {
            let mut f = quiet(&alice, &bob, &bob);
            f.steps = steps;
            f.referrer_origins = &referrer;
            assess(&f)
        };
        let near = assess_steps(&[step("203.0.113.200", "Chrome")]);
        assert_eq!(near[0].signal, Signal::SameNetwork);
        assert_eq!(near[0].evidence.network.as_deref(), Some("ipv4_24"));
        assert_eq!(near[0].evidence.step.as_deref(), Some("verification"));
        let same = assess_steps(&[step("203.0.113.7", "Firefox")]);
        assert_eq!(same[0].evidence.network.as_deref(), Some("device"));
        let v6 = assess_steps(&[step("2001:db8:1:3:ffff::1", "Chrome")]);
        assert_eq!(v6[0].evidence.network.as_deref(), Some("ipv6_48"));
        assert!(assess_steps(&[step("203.0.114.7", "Firefox")]).is_empty());
        assert!(assess_steps(&[step("2001:db8:2::9", "Safari")]).is_empty());
        // The referrer's addresses as the audit log keeps them still match.
        let kept = [
            origin("203.0.113.0", "Firefox"),
            origin("2001:db8:1::", "Safari"),
        ];
        let mut f = quiet(&alice, &bob, &bob);
        let steps = [step("203.0.113.7", "Firefox")];
        f.steps = &steps;
        f.referrer_origins = &kept;
        assert_eq!(assess(&f)[0].evidence.network.as_deref(), Some("device"));
        assert_eq!(
            audit_network("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            audit_network("::ffff:198.51.100.77".parse().unwrap()),
            "198.51.100.0".parse::<IpAddr>().unwrap()
        );
        assert!(same_block(
            "::ffff:203.0.113.9".parse().unwrap(),
            "203.0.113.1".parse().unwrap()
        ));
        // A proxy's or a test's address says nothing about the person.
        let local = [
            origin("127.0.0.1", "Firefox"),
            origin("10.0.0.8", "Firefox"),
        ];
        let mut f = quiet(&alice, &bob, &bob);
        let steps = [step("127.0.0.1", "Firefox"), step("10.0.0.9", "Firefox")];
        f.steps = &steps;
        f.referrer_origins = &local;
        assert!(assess(&f).is_empty());
        for private in [
            "192.168.1.1",
            "172.16.0.1",
            "100.64.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        assert!(
            is_public("203.0.113.7".parse().unwrap()) && is_public("2001:db8::1".parse().unwrap())
        );
    }

    #[test]
    fn disposable_domains_velocity_and_rings_are_raised() {
        let alice = e("alice@example.com");
        let throwaway = e("x7@mailinator.com");
        let raised = assess(&quiet(&alice, &throwaway, &throwaway));
        assert_eq!(codes(raised.clone()), [Signal::DisposableEmail]);
        assert_eq!(raised[0].evidence.domain.as_deref(), Some("mailinator.com"));
        assert_eq!(
            disposable_domain(&e("a@mx.mailinator.com")).as_deref(),
            Some("mailinator.com")
        );
        assert_eq!(disposable_domain(&e("a@gmail.com")), None);
        assert_eq!(disposable_domain(&e("a@example.com")), None);

        let bob = e("bob@example.org");
        let mut busy = quiet(&alice, &bob, &bob);
        busy.registrations_last_day = DEFAULT_VELOCITY_PER_DAY;
        assert!(assess(&busy).is_empty());
        busy.registrations_last_day = DEFAULT_VELOCITY_PER_DAY + 1;
        let raised = assess(&busy);
        assert_eq!(codes(raised.clone()), [Signal::Velocity]);
        assert_eq!(raised[0].evidence.limit, Some(DEFAULT_VELOCITY_PER_DAY));

        let carol = PatientId::new_random();
        let invited = [e("BOB+x@example.org")];
        let mut ring = quiet(&alice, &bob, &bob);
        ring.referrer_referred_by = Some(carol);
        assert!(assess(&ring).is_empty());
        ring.invited_by_referrers_referrer = &invited;
        let raised = assess(&ring);
        assert_eq!(codes(raised.clone()), [Signal::Ring]);
        assert_eq!(raised[0].evidence.via_patient_id, Some(carol));
        let mut mutual = quiet(&alice, &bob, &bob);
        mutual.referrer_referred_by = Some(mutual.friend_id);
        assert_eq!(codes(assess(&mutual)), [Signal::Ring]);
    }

    proptest! {
        /// A friend who registers with the invited address, not the referrer's, from
        /// elsewhere, raises nothing; the referrer's own inbox always raises
        /// `alias_of_referrer`.
        #[test]
        fn honest_registrations_raise_nothing(name in "[a-z]{2,10}", tag in "[a-z0-9]{0,6}", octet in 0u8..=255) {
            let alice = e("alice@example.com");
            let friend = e(&format!("{name}x@example.org"));
            let own = e(&format!("alice+{tag}@example.com"));
            let referrer = [origin("198.51.100.4", "Firefox")];
            let steps = [RegistrationStep { step: "registration", origin: origin(&format!("192.0.2.{octet}"), "Firefox") }];
            let mut honest = quiet(&alice, &friend, &friend);
            honest.steps = &steps;
            honest.referrer_origins = &referrer;
            prop_assert!(assess(&honest).is_empty());
            let farmed = codes(assess(&quiet(&alice, &own, &own)));
            prop_assert_eq!(farmed, vec![Signal::AliasOfReferrer]);
        }
    }
}
