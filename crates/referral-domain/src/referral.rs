//! The referral lifecycle: whether a referral may be created, when it expires, and the
//! transitions `pending → registered → converted`, `pending → expired`, `pending → declined`.
//!
//! ```text
//! pending ──register──▶ registered ──first consultation or paid order──▶ converted
//!    ├──expires_at passes──▶ expired
//!    └──declined──▶ declined
//! ```
//!
//! One concept: the referral's lifecycle; half of its 600 lines are its property tests.
//!
//! One concept: the referral's state machine, with its property tests (about half the
//! file).

use crate::contact::Email;
use crate::error::DomainError;
use crate::status::{ReferralSource, ReferralStatus};
use chrono::{DateTime, Duration, Utc};

/// Longest referral validity accepted, so that `created_at + expiry_days` never overflows.
pub const MAX_EXPIRY_DAYS: u32 = 3650;

/// Longest name a person gives for themselves or for the friend they refer.
pub const MAX_PERSON_NAME_CHARS: usize = 200;

/// The facts the store gathers, inside its transaction, before creating a referral.
#[derive(Debug, Clone, Copy)]
pub struct CreationFacts<'a> {
    /// The referrer's own email, when known.
    pub referrer_email: Option<&'a Email>,
    /// The referee's email.
    pub referee_email: &'a Email,
    /// Whether a patient with the referee's email exists.
    pub referee_is_patient: bool,
    /// Whether this referrer already has a pending or registered referral in the program
    /// to the same inbox ([`Email::inbox`]). Another referrer's invitation to the same
    /// person does not count: telling the caller about it would disclose it.
    pub referrer_already_invited_referee: bool,
    /// The referrer's referrals in the program that count towards the limit (every status
    /// but `expired` and `declined`).
    pub referrer_open_referrals_in_program: u32,
    /// The program's `max_referrals_per_patient`; `None` is unlimited.
    pub max_referrals_per_patient: Option<u32>,
}

/// Why a referral may not be created (an alias kept for readers of the rules: the reasons
/// are the [`DomainError`] variants `SelfReferral`, `DuplicateReferee` and
/// `ReferralLimitReached`).
pub type CreationRefusal = DomainError;

/// What to do with a referral that may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationDecision {
    /// Create it and send the invitation the referrer chose.
    Invite,
    /// The referee is already a patient: create it so that the referrer gets the same
    /// answer as for anyone else (no membership oracle), but send nothing. It can never
    /// register (the address is taken), so it never converts and expires as invited.
    RecordWithoutSending,
}

impl CreationDecision {
    /// Whether an invitation goes out.
    pub const fn sends(self) -> bool {
        matches!(self, CreationDecision::Invite)
    }
}

impl CreationFacts<'_> {
    /// Decides whether the referral may be created and whether its invitation is sent.
    /// The checks run in the order a referrer would want to hear them: referring yourself
    /// first (by inbox, so `me+friend@` is still me), then their own open invitation to
    /// the same inbox, then the limit. Whether the referee is already a patient never
    /// changes the answer, only whether anything is sent.
    ///
    /// # Errors
    /// [`DomainError::SelfReferral`], [`DomainError::DuplicateReferee`] or
    /// [`DomainError::ReferralLimitReached`].
    pub fn decide(&self) -> Result<CreationDecision, CreationRefusal> {
        if self
            .referrer_email
            .is_some_and(|own| own.inbox() == self.referee_email.inbox())
        {
            return Err(DomainError::SelfReferral);
        }
        if self.referrer_already_invited_referee {
            return Err(DomainError::DuplicateReferee);
        }
        if let Some(max) = self.max_referrals_per_patient {
            if self.referrer_open_referrals_in_program >= max {
                return Err(DomainError::ReferralLimitReached);
            }
        }
        Ok(if self.referee_is_patient {
            CreationDecision::RecordWithoutSending
        } else {
            CreationDecision::Invite
        })
    }
}

/// When a referral created at `created_at` expires: `expiry_days` later.
///
/// # Errors
/// [`DomainError::InvalidExpiryDays`] when `expiry_days` is 0 or above [`MAX_EXPIRY_DAYS`].
pub fn expires_at(
    created_at: DateTime<Utc>,
    expiry_days: u32,
) -> Result<DateTime<Utc>, DomainError> {
    if expiry_days == 0 || expiry_days > MAX_EXPIRY_DAYS {
        return Err(DomainError::InvalidExpiryDays);
    }
    created_at
        .checked_add_signed(Duration::days(i64::from(expiry_days)))
        .ok_or(DomainError::InvalidExpiryDays)
}

/// The status a reader should see at `now`: a pending referral past `expires_at` is expired
/// even if no sweep has stored that yet.
pub fn effective_status(
    stored: ReferralStatus,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ReferralStatus {
    if stored == ReferralStatus::Pending && now >= expires_at {
        ReferralStatus::Expired
    } else {
        stored
    }
}

/// How long a referrer who made `made` referrals in the 24 hours before `now` waits for
/// their next one under a daily `limit` (invitations go out in the platform's name, so one
/// account cannot send them without bound): `None` while under it, else the time until the
/// oldest of them (`oldest`) is a day old, at least a second.
pub fn daily_limit_wait(
    made: i64,
    limit: u32,
    oldest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if made < i64::from(limit) {
        return None;
    }
    let frees_at = oldest.unwrap_or(now) + Duration::hours(24);
    Some((frees_at - now).max(Duration::seconds(1)))
}

/// The stored statuses of a referral that always count towards the referrer's limit per
/// program; a `pending` one counts too while it has not expired ([`counts_toward_limit`]).
/// Declined and expired referrals free their place.
pub const LIMIT_COUNTED_STATUSES: [ReferralStatus; 2] =
    [ReferralStatus::Registered, ReferralStatus::Converted];

/// Whether a referral stored as `status`, open until `expires_at`, counts at `now` towards
/// the referrer's `max_referrals_per_patient`.
pub fn counts_toward_limit(
    status: ReferralStatus,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    LIMIT_COUNTED_STATUSES.contains(&status)
        || (status == ReferralStatus::Pending && expires_at > now)
}

/// Checks that the referee can be reached the way the referrer chose: an SMS invitation
/// needs a phone number.
///
/// # Errors
/// [`DomainError::InvalidPhone`] for `sms` without a phone.
pub fn check_reachable(source: Option<ReferralSource>, has_phone: bool) -> Result<(), DomainError> {
    if source == Some(ReferralSource::Sms) && !has_phone {
        return Err(DomainError::InvalidPhone);
    }
    Ok(())
}

/// Whether a referral with `uncounted_conversions` converted referrals not yet counted
/// towards a referrer reward (this one included) completes a batch of `threshold`.
///
/// The store serialises the conversions of one referrer and program, so the count never
/// skips past the threshold; `>=` keeps a batch from being lost if it ever did.
pub const fn completes_batch(uncounted_conversions: u32, threshold: u32) -> bool {
    threshold >= 1 && uncounted_conversions >= threshold
}

/// What converted a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionTrigger {
    /// The referee's first consultation.
    Consultation,
    /// The referee's first paid order.
    Order,
}

/// The result of a conversion event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionOutcome {
    /// This event converted the referral.
    Converted,
    /// The referral had converted before; nothing changed.
    AlreadyConverted,
}

impl ConversionOutcome {
    /// Whether this event changed the referral.
    pub const fn is_new(self) -> bool {
        matches!(self, ConversionOutcome::Converted)
    }
}

/// The state of one referral, with its legal transitions. Every method either applies the
/// transition or returns an error and leaves the state as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralLifecycle {
    status: ReferralStatus,
    expires_at: DateTime<Utc>,
    registered_at: Option<DateTime<Utc>>,
    converted_at: Option<DateTime<Utc>>,
    converted_by: Option<ConversionTrigger>,
}

impl ReferralLifecycle {
    /// A new pending referral created at `created_at`.
    ///
    /// # Errors
    /// As [`expires_at`].
    pub fn new(created_at: DateTime<Utc>, expiry_days: u32) -> Result<Self, DomainError> {
        Ok(Self {
            status: ReferralStatus::Pending,
            expires_at: expires_at(created_at, expiry_days)?,
            registered_at: None,
            converted_at: None,
            converted_by: None,
        })
    }

    /// A referral as stored, to apply a transition to it.
    pub fn from_stored(
        status: ReferralStatus,
        expires_at: DateTime<Utc>,
        registered_at: Option<DateTime<Utc>>,
        converted_at: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            status,
            expires_at,
            registered_at,
            converted_at,
            converted_by: None,
        }
    }

    /// The stored status (see [`ReferralLifecycle::effective_status`] for reads).
    pub fn status(&self) -> ReferralStatus {
        self.status
    }

    /// The status at `now`, treating a pending referral past its expiry as expired.
    pub fn effective_status(&self, now: DateTime<Utc>) -> ReferralStatus {
        effective_status(self.status, self.expires_at, now)
    }

    /// When the referral expires if nobody registers.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// When the referee registered.
    pub fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.registered_at
    }

    /// When the referee converted.
    pub fn converted_at(&self) -> Option<DateTime<Utc>> {
        self.converted_at
    }

    /// What converted the referral, when this value applied the conversion.
    pub fn converted_by(&self) -> Option<ConversionTrigger> {
        self.converted_by
    }

    /// The referee registers with the code at `now`.
    ///
    /// # Errors
    /// [`DomainError::AlreadyRegistered`] once registered or converted,
    /// [`DomainError::ReferralExpired`] past `expires_at`, [`DomainError::ReferralDeclined`]
    /// when declined.
    pub fn register(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.effective_status(now) {
            ReferralStatus::Pending => {
                self.status = ReferralStatus::Registered;
                self.registered_at = Some(now);
                Ok(())
            }
            ReferralStatus::Registered | ReferralStatus::Converted | ReferralStatus::Reversed => {
                Err(DomainError::AlreadyRegistered)
            }
            ReferralStatus::Expired => Err(DomainError::ReferralExpired),
            ReferralStatus::Declined => Err(DomainError::ReferralDeclined),
        }
    }

    /// The referee's first consultation or paid order, at `now`. A second event is a
    /// no-op that answers [`ConversionOutcome::AlreadyConverted`].
    ///
    /// # Errors
    /// [`DomainError::ConvertNotRegistered`] while pending, [`DomainError::ConvertExpired`]
    /// or [`DomainError::ConvertDeclined`] for a closed referral.
    pub fn convert(
        &mut self,
        now: DateTime<Utc>,
        trigger: ConversionTrigger,
    ) -> Result<ConversionOutcome, DomainError> {
        match self.effective_status(now) {
            ReferralStatus::Registered => {
                self.status = ReferralStatus::Converted;
                // An event stamped before the registration (clock skew between services)
                // must not put the conversion before it.
                let at = self.registered_at.map_or(now, |r| r.max(now));
                self.converted_at = Some(at);
                self.converted_by = Some(trigger);
                Ok(ConversionOutcome::Converted)
            }
            // A reversed referral stays reversed: a later order does not earn its reward again.
            ReferralStatus::Converted | ReferralStatus::Reversed => {
                Ok(ConversionOutcome::AlreadyConverted)
            }
            ReferralStatus::Pending => Err(DomainError::ConvertNotRegistered),
            ReferralStatus::Expired => Err(DomainError::ConvertExpired),
            ReferralStatus::Declined => Err(DomainError::ConvertDeclined),
        }
    }

    /// The referee (or an admin) declines a pending referral.
    ///
    /// # Errors
    /// [`DomainError::ReferralExpired`] past `expires_at`, or
    /// [`DomainError::DeclineNotPending`] in any other status than pending.
    pub fn decline(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.effective_status(now) {
            ReferralStatus::Pending => {
                self.status = ReferralStatus::Declined;
                Ok(())
            }
            ReferralStatus::Expired if self.status == ReferralStatus::Pending => {
                Err(DomainError::ReferralExpired)
            }
            other => Err(DomainError::DeclineNotPending(other)),
        }
    }

    /// An admin ends a pending referral now, before its `expires_at`: the code stops
    /// accepting registrations at once.
    ///
    /// # Errors
    /// [`DomainError::ExpireNotPending`] when the referral is not (effectively) pending.
    pub fn expire_now(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        match self.effective_status(now) {
            ReferralStatus::Pending => {
                self.status = ReferralStatus::Expired;
                self.expires_at = now;
                Ok(())
            }
            other => Err(DomainError::ExpireNotPending(other)),
        }
    }

    /// The converting order was refunded (in full, see
    /// [`crate::reversal::refund_reverses`]) or the converting consultation cancelled: the
    /// referral becomes `reversed`, for good.
    ///
    /// # Errors
    /// [`DomainError::ReverseNotConverted`] unless converted.
    pub fn reverse(&mut self) -> Result<(), DomainError> {
        match self.status {
            ReferralStatus::Converted => {
                self.status = ReferralStatus::Reversed;
                Ok(())
            }
            other => Err(DomainError::ReverseNotConverted(other)),
        }
    }

    /// The expiry sweep stores the expiry of a pending referral past `expires_at`.
    ///
    /// # Errors
    /// [`DomainError::ExpireTooEarly`] before `expires_at`, or
    /// [`DomainError::ExpireNotPending`] when not pending.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if self.status != ReferralStatus::Pending {
            return Err(DomainError::ExpireNotPending(self.status));
        }
        if now < self.expires_at {
            return Err(DomainError::ExpireTooEarly);
        }
        self.status = ReferralStatus::Expired;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap()
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn facts<'a>(referrer: &'a Email, referee: &'a Email) -> CreationFacts<'a> {
        CreationFacts {
            referrer_email: Some(referrer),
            referee_email: referee,
            referee_is_patient: false,
            referrer_already_invited_referee: false,
            referrer_open_referrals_in_program: 0,
            max_referrals_per_patient: Some(3),
        }
    }

    #[test]
    fn creation_refuses_self_own_duplicates_and_over_limit() {
        let alice = email("alice@example.com");
        let bob = email("bob@example.com");
        assert_eq!(facts(&alice, &bob).decide(), Ok(CreationDecision::Invite));

        // Self-referral by inbox: case, spaces and sub-addressing.
        for me in [" ALICE@example.com", "alice+friend@example.com"] {
            let alice_again = email(me);
            let mut f = facts(&alice, &alice_again);
            f.referee_is_patient = true; // the referrer is a patient too; self wins
            assert_eq!(f.decide(), Err(DomainError::SelfReferral), "{me}");
        }
        let gmail = email("a.lice@gmail.com");
        assert_eq!(
            facts(&gmail, &email("alice+x@googlemail.com")).decide(),
            Err(DomainError::SelfReferral)
        );

        let mut f = facts(&alice, &bob);
        f.referrer_already_invited_referee = true;
        assert_eq!(f.decide().unwrap_err().code(), "duplicate_referee");

        let mut f = facts(&alice, &bob);
        f.referrer_open_referrals_in_program = 2;
        assert_eq!(f.decide(), Ok(CreationDecision::Invite));
        f.referrer_open_referrals_in_program = 3;
        assert_eq!(f.decide(), Err(DomainError::ReferralLimitReached));
        f.max_referrals_per_patient = None;
        f.referrer_open_referrals_in_program = 10_000;
        assert_eq!(f.decide(), Ok(CreationDecision::Invite));

        let mut unknown_referrer = facts(&alice, &bob);
        unknown_referrer.referrer_email = None;
        assert_eq!(unknown_referrer.decide(), Ok(CreationDecision::Invite));
    }

    proptest! {
        /// Under the limit nobody waits; at it the wait ends when the oldest referral of
        /// the day turns a day old, and never exceeds a day.
        #[test]
        fn the_daily_limit_frees_a_place_a_day_after_the_oldest(
            made in 0_i64..50,
            limit in 1_u32..40,
            age_minutes in 0_i64..(24 * 60),
        ) {
            let now = Utc::now();
            let oldest = now - Duration::minutes(age_minutes);
            let wait = daily_limit_wait(made, limit, Some(oldest), now);
            if made < i64::from(limit) {
                prop_assert!(wait.is_none());
            } else {
                let wait = wait.unwrap();
                prop_assert!(wait >= Duration::seconds(1) && wait <= Duration::hours(24));
                prop_assert!(oldest + Duration::hours(24) <= now + wait);
            }
        }

        /// No membership oracle: whether the referee is already a patient never changes
        /// the answer the referrer gets, only whether an invitation is sent.
        #[test]
        fn an_existing_patient_changes_nothing_but_the_sending(
            own_duplicate in any::<bool>(),
            open in 0u32..6,
            max in proptest::option::of(1u32..6),
            same_person in any::<bool>(),
        ) {
            let alice = email("alice@example.com");
            let bob = if same_person { email("alice+x@example.com") } else { email("bob@example.com") };
            let mut f = facts(&alice, &bob);
            f.referrer_already_invited_referee = own_duplicate;
            f.referrer_open_referrals_in_program = open;
            f.max_referrals_per_patient = max;
            let stranger = f.decide();
            f.referee_is_patient = true;
            let patient = f.decide();
            if let Ok(decision) = patient {
                prop_assert!(!decision.sends());
            }
            prop_assert_eq!(stranger.err(), patient.err());
        }
    }

    #[test]
    fn expiry_is_created_plus_days_and_applies_without_a_sweep() {
        let r = ReferralLifecycle::new(t0(), 30).unwrap();
        assert_eq!(r.expires_at(), t0() + Duration::days(30));
        assert_eq!(
            r.effective_status(t0() + Duration::days(30) - Duration::seconds(1)),
            ReferralStatus::Pending
        );
        assert_eq!(
            r.effective_status(t0() + Duration::days(30)),
            ReferralStatus::Expired
        );
        assert_eq!(r.status(), ReferralStatus::Pending);
        assert_eq!(
            ReferralLifecycle::new(t0(), 0).unwrap_err(),
            DomainError::InvalidExpiryDays
        );
        assert_eq!(
            expires_at(t0(), MAX_EXPIRY_DAYS + 1).unwrap_err(),
            DomainError::InvalidExpiryDays
        );
        // Only pending referrals turn into expired ones.
        assert_eq!(
            effective_status(ReferralStatus::Registered, t0(), t0() + Duration::days(99)),
            ReferralStatus::Registered
        );
    }

    #[test]
    fn register_then_convert_once() {
        let mut r = ReferralLifecycle::new(t0(), 30).unwrap();
        assert_eq!(
            r.convert(t0(), ConversionTrigger::Order),
            Err(DomainError::ConvertNotRegistered)
        );
        r.register(t0() + Duration::days(1)).unwrap();
        assert_eq!(r.status(), ReferralStatus::Registered);
        assert_eq!(r.registered_at(), Some(t0() + Duration::days(1)));
        assert_eq!(
            r.register(t0() + Duration::days(2)),
            Err(DomainError::AlreadyRegistered)
        );

        // Conversion is allowed after the referral's own expiry: the referee registered in time.
        let later = t0() + Duration::days(45);
        assert_eq!(
            r.convert(later, ConversionTrigger::Consultation),
            Ok(ConversionOutcome::Converted)
        );
        assert_eq!(r.converted_at(), Some(later));
        assert_eq!(r.converted_by(), Some(ConversionTrigger::Consultation));
        let before = r.clone();
        assert_eq!(
            r.convert(later + Duration::days(1), ConversionTrigger::Order),
            Ok(ConversionOutcome::AlreadyConverted)
        );
        assert_eq!(r, before, "a second conversion changes nothing");
        assert_eq!(r.register(later), Err(DomainError::AlreadyRegistered));
    }

    #[test]
    fn conversion_never_precedes_registration() {
        let mut r = ReferralLifecycle::new(t0(), 30).unwrap();
        r.register(t0() + Duration::hours(5)).unwrap();
        r.convert(t0() + Duration::hours(4), ConversionTrigger::Order)
            .unwrap();
        assert_eq!(r.converted_at(), Some(t0() + Duration::hours(5)));
    }

    #[test]
    fn expired_and_declined_referrals_are_closed() {
        let mut r = ReferralLifecycle::new(t0(), 1).unwrap();
        let late = t0() + Duration::days(2);
        assert_eq!(r.register(late), Err(DomainError::ReferralExpired));
        assert_eq!(r.decline(late), Err(DomainError::ReferralExpired));
        assert_eq!(
            r.convert(late, ConversionTrigger::Order),
            Err(DomainError::ConvertExpired)
        );
        assert_eq!(r.expire(t0()), Err(DomainError::ExpireTooEarly));
        r.expire(late).unwrap();
        assert_eq!(r.status(), ReferralStatus::Expired);
        assert_eq!(
            r.expire(late),
            Err(DomainError::ExpireNotPending(ReferralStatus::Expired))
        );
        assert_eq!(
            r.decline(late),
            Err(DomainError::DeclineNotPending(ReferralStatus::Expired))
        );

        let mut d = ReferralLifecycle::new(t0(), 30).unwrap();
        d.decline(t0()).unwrap();
        assert_eq!(d.status(), ReferralStatus::Declined);
        assert_eq!(d.register(t0()), Err(DomainError::ReferralDeclined));
        assert_eq!(
            d.convert(t0(), ConversionTrigger::Order),
            Err(DomainError::ConvertDeclined)
        );
        assert_eq!(
            d.decline(t0()),
            Err(DomainError::DeclineNotPending(ReferralStatus::Declined))
        );
        assert_eq!(
            d.expire(t0() + Duration::days(31)),
            Err(DomainError::ExpireNotPending(ReferralStatus::Declined))
        );

        let mut registered = ReferralLifecycle::new(t0(), 30).unwrap();
        registered.register(t0()).unwrap();
        assert_eq!(
            registered.decline(t0()),
            Err(DomainError::DeclineNotPending(ReferralStatus::Registered))
        );
        assert_eq!(
            registered.expire(t0() + Duration::days(31)),
            Err(DomainError::ExpireNotPending(ReferralStatus::Registered))
        );
    }

    #[test]
    fn a_batch_completes_at_the_threshold() {
        assert!(!completes_batch(1, 2));
        assert!(completes_batch(2, 2));
        assert!(completes_batch(1, 1));
        assert!(!completes_batch(5, 0));
        // 20 conversions one after another, threshold 2: ten batches.
        let mut uncounted = 0;
        let mut batches = 0;
        for _ in 0..20 {
            uncounted += 1;
            if completes_batch(uncounted, 2) {
                batches += 1;
                uncounted = 0;
            }
        }
        assert_eq!(batches, 10);
    }

    #[derive(Debug, Clone)]
    enum Event {
        Register,
        Convert,
        Decline,
        Expire,
        Wait(i64),
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::Register),
            Just(Event::Convert),
            Just(Event::Decline),
            Just(Event::Expire),
            (1i64..20).prop_map(Event::Wait),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_events_reaches_an_illegal_state(
            expiry_days in 1u32..15,
            events in proptest::collection::vec(event(), 0..30),
        ) {
            let mut now = t0();
            let mut r = ReferralLifecycle::new(now, expiry_days).unwrap();
            let mut conversions = 0;
            for e in events {
                let before = r.clone();
                let result = match e {
                    Event::Register => r.register(now),
                    Event::Convert => r.convert(now, ConversionTrigger::Order).map(|o| {
                        if o.is_new() { conversions += 1; }
                    }),
                    Event::Decline => r.decline(now),
                    Event::Expire => r.expire(now),
                    Event::Wait(days) => { now += Duration::days(days); Ok(()) }
                };
                if result.is_err() {
                    prop_assert_eq!(&r, &before, "a refused transition changed the state");
                }
                // The invariants of every reachable state.
                match r.status() {
                    ReferralStatus::Pending | ReferralStatus::Expired | ReferralStatus::Declined => {
                        prop_assert!(r.registered_at().is_none());
                        prop_assert!(r.converted_at().is_none());
                    }
                    ReferralStatus::Registered => {
                        prop_assert!(r.registered_at().is_some());
                        prop_assert!(r.converted_at().is_none());
                    }
                    ReferralStatus::Converted | ReferralStatus::Reversed => {
                        let (reg, conv) = (r.registered_at().unwrap(), r.converted_at().unwrap());
                        prop_assert!(reg <= conv);
                        prop_assert!(reg < r.expires_at(), "registered after expiry");
                    }
                }
            }
            prop_assert!(conversions <= 1, "converted {} times", conversions);
        }

        #[test]
        fn conversion_is_idempotent(extra in 1usize..10) {
            let mut r = ReferralLifecycle::new(t0(), 30).unwrap();
            r.register(t0()).unwrap();
            prop_assert_eq!(r.convert(t0(), ConversionTrigger::Consultation).unwrap(), ConversionOutcome::Converted);
            let converted = r.clone();
            for i in 0..extra {
                let at = t0() + Duration::hours(i as i64);
                prop_assert_eq!(r.convert(at, ConversionTrigger::Order).unwrap(), ConversionOutcome::AlreadyConverted);
                prop_assert_eq!(&r, &converted);
            }
        }
    }
}
