//! What the referrer may learn about the person they invited (HIPAA minimum necessary).
//!
//! That a friend registered, and anything about their care, is the friend's information.
//! The referrer sees a referral as `invited` until it expires, unless the friend chose at
//! registration to let them know they joined; then it reads `joined`. Nothing the referrer
//! sees ever tells a registration from a conversion, and the friend is named only with
//! consent, by the name the referrer typed.
//!
//! One concept: the referrer's view of a friend. About 270 of its lines are the property
//! tests that two friends who differ only in what they did privately read the same.

use crate::policy::RewardRefusal;
use crate::status::{InteractionType, RewardStatus};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The consent question shown to the friend at registration, stored with their answer.
pub const SHARE_CONSENT_WORDING: &str = "Let the person who invited me know that I joined. \
     They will see only that I joined, under the name they gave me, and nothing about my care.";

/// The consent question in Spanish, stored with the answer when the friend registered
/// on the Spanish page.
pub const SHARE_CONSENT_WORDING_ES: &str = "Avisar a la persona que me invitó que me uní. \
     Solo verá que me uní, con el nombre que me dio, y nada sobre mi atención médica.";

/// The consent question in `locale`, the exact words shown and stored.
pub fn share_consent_wording(locale: crate::Locale) -> &'static str {
    match locale {
        crate::Locale::En => SHARE_CONSENT_WORDING,
        crate::Locale::Es => SHARE_CONSENT_WORDING_ES,
    }
}

/// What the invited friend is told before registering and in the confirmation email: the
/// person who invited them may be rewarded for their first visit or order, and learns
/// nothing of their care (the friend's notice, HIPAA and the FTC's endorsement rule).
pub const FRIEND_REWARD_NOTICE: &str = "The person who invited you may receive a reward once \
     you have your first visit or order with us. They will not learn anything about your care.";

/// The friend's notice in Spanish.
pub const FRIEND_REWARD_NOTICE_ES: &str = "La persona que te invitó puede recibir una \
     recompensa cuando tengas tu primera consulta o pedido con nosotros. No sabrá nada de tu \
     atención médica.";

/// The friend's notice in `locale`.
pub fn friend_reward_notice(locale: crate::Locale) -> &'static str {
    match locale {
        crate::Locale::En => FRIEND_REWARD_NOTICE,
        crate::Locale::Es => FRIEND_REWARD_NOTICE_ES,
    }
}

/// How the referrer's list names someone who joined through their personal share link and
/// agreed to let them know: the referrer never typed their details, so none are shown.
pub const FRIEND_WHO_JOINED: &str = "a friend who joined";

/// How a referrer's reward names the friend without their consent.
pub const UNNAMED_FRIEND: &str = "a friend you invited";

/// A referral's status as its referrer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferrerStatus {
    /// Sent and still open, or the friend joined without telling the referrer.
    Invited,
    /// The friend joined and agreed to let the referrer know.
    Joined,
    /// Nobody joined before it expired, or it was declined.
    Expired,
}

impl ReferrerStatus {
    /// Every value, in order.
    pub const ALL: [ReferrerStatus; 3] = [
        ReferrerStatus::Invited,
        ReferrerStatus::Joined,
        ReferrerStatus::Expired,
    ];

    /// What the referrer sees of a referral at `now`: `joined` when the friend agreed to
    /// let them know (which only a registration records), otherwise `invited` until the
    /// invitation's own date and `expired` from then on. Nothing the friend did without
    /// consent (registering, converting, a reversal, declining) moves it: the answer
    /// depends only on the consent, the date the referrer was given, and the clock.
    pub fn seen(shared: bool, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if shared {
            ReferrerStatus::Joined
        } else if now >= expires_at {
            ReferrerStatus::Expired
        } else {
            ReferrerStatus::Invited
        }
    }

    /// What a store filters on to list the referrals seen as `self`: the friend's consent,
    /// and whether the invitation's date has passed (`None`: either).
    pub const fn filter(self) -> ReferrerFilter {
        match self {
            ReferrerStatus::Joined => ReferrerFilter {
                shared: true,
                lapsed: None,
            },
            ReferrerStatus::Invited => ReferrerFilter {
                shared: false,
                lapsed: Some(false),
            },
            ReferrerStatus::Expired => ReferrerFilter {
                shared: false,
                lapsed: Some(true),
            },
        }
    }

    /// The snake_case text, as sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReferrerStatus::Invited => "invited",
            ReferrerStatus::Joined => "joined",
            ReferrerStatus::Expired => "expired",
        }
    }
}

/// The stored facts a referrer-status filter selects on (see [`ReferrerStatus::filter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferrerFilter {
    /// Whether the friend let the referrer know they joined.
    pub shared: bool,
    /// Whether the invitation's date (`expires_at`) has passed; `None` for either.
    pub lapsed: Option<bool>,
}

impl fmt::Display for ReferrerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReferrerStatus {
    type Err = crate::status::UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReferrerStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| crate::status::UnknownVariant {
                kind: "referrer status",
                value: s.to_owned(),
            })
    }
}

/// Whether the referrer may see an interaction of the referral's timeline: the link's
/// clicks are the referrer's own sharing; the registration only with the friend's consent;
/// a conversion never (it is the friend's care). Whether an invitation was delivered is
/// not shown either: it depends on the friend's address (already a patient, unsubscribed,
/// bouncing), which is not the referrer's to know.
pub const fn referrer_sees(interaction: InteractionType, shared: bool) -> bool {
    match interaction {
        InteractionType::Click => true,
        InteractionType::EmailSent | InteractionType::SmsSent => false,
        InteractionType::Registration => shared,
        InteractionType::Conversion => false,
    }
}

/// How the referrer's side names the friend: the name the referrer typed, with consent;
/// otherwise [`UNNAMED_FRIEND`].
pub fn friend_label(shared: bool, typed_name: Option<&str>) -> &str {
    match typed_name {
        Some(name) if shared && !name.trim().is_empty() => name,
        _ => UNNAMED_FRIEND,
    }
}

/// What anyone holding a referral's code learns of it (the public lookup, the registration
/// page, an anonymous registration): `pending` until the invitation's date, `expired` from
/// then on. Whether the friend used or declined it is not said: the code's holder may be
/// the referrer. (The friend learns it at confirmation, having proved their address.)
pub fn public_code_status(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> &'static str {
    if now >= expires_at {
        "expired"
    } else {
        "pending"
    }
}

/// Whether the registration page of a referral may name who invited the friend: only when
/// the service itself sent the friend an invitation (an email, or a text to a number the
/// referrer gave), which named the referrer already. A code handed on any other way (a link
/// the referrer shares themselves, a QR code) may reach anyone, and being a patient here is
/// the referrer's own health information.
pub fn page_names_inviter(source: Option<crate::ReferralSource>, has_phone: bool) -> bool {
    matches!(
        (source, has_phone),
        (Some(crate::ReferralSource::Email), _) | (Some(crate::ReferralSource::Sms), true)
    )
}

/// How often a referrer's new rewards reach them (`--referrer-reward-cadence`). A reward
/// that appeared the moment the friend was seen would date the friend's first visit; one
/// released with everything else of its period dates nothing finer than the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardCadence {
    /// At midnight UTC, for the day before.
    Daily,
    /// On Mondays at midnight UTC, for the week before (the default).
    #[default]
    Weekly,
    /// On the first of the month at midnight UTC, for the month before.
    Monthly,
}

impl RewardCadence {
    /// Every value.
    pub const ALL: [RewardCadence; 3] = [
        RewardCadence::Daily,
        RewardCadence::Weekly,
        RewardCadence::Monthly,
    ];

    /// The snake_case name, as configured.
    pub const fn as_str(self) -> &'static str {
        match self {
            RewardCadence::Daily => "daily",
            RewardCadence::Weekly => "weekly",
            RewardCadence::Monthly => "monthly",
        }
    }

    /// The end of the period that holds `at`: when a reward that became usable at `at`
    /// reaches its referrer. Always later than `at`, and the same for every `at` of one
    /// period.
    pub fn release_at(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let next: NaiveDate = match self {
            RewardCadence::Daily => day + Duration::days(1),
            RewardCadence::Weekly => {
                day + Duration::days(7 - i64::from(day.weekday().num_days_from_monday()))
            }
            RewardCadence::Monthly => {
                let (y, m) = if day.month() == 12 {
                    (day.year() + 1, 1)
                } else {
                    (day.year(), day.month() + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(day + Duration::days(31))
            }
        };
        Utc.from_utc_datetime(&next.and_time(chrono::NaiveTime::MIN))
    }
}

impl RewardCadence {
    /// The latest release at or before `at`: the start of the period that holds `at`.
    /// What a referrer reads between two releases changes only at one.
    pub fn last_release(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let start: NaiveDate = match self {
            RewardCadence::Daily => day,
            RewardCadence::Weekly => {
                day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
            RewardCadence::Monthly => day.with_day(1).unwrap_or(day),
        };
        Utc.from_utc_datetime(&start.and_time(chrono::NaiveTime::MIN))
    }
}

/// How many more friends a referrer needs for their next reward under a program that
/// rewards every `threshold` conversions, from `converted` (their friends' conversions up to
/// the last release, [`RewardCadence::last_release`]: a count that moves only when rewards
/// are released, so it never dates a friend's visit). `None` when every conversion earns
/// a reward (`threshold` ≤ 1): there is no progress to show.
pub fn friends_to_next_reward(threshold: u32, converted: u64) -> Option<u32> {
    if threshold <= 1 {
        return None;
    }
    let done = u32::try_from(converted % u64::from(threshold)).unwrap_or(0);
    Some(threshold - done)
}

impl fmt::Display for RewardCadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RewardCadence {
    type Err = crate::status::UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RewardCadence::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| crate::status::UnknownVariant {
                kind: "reward cadence",
                value: s.to_owned(),
            })
    }
}

/// When a referrer's reward, written at `now` with `status` (after its gate) and
/// `withheld`, reaches the referrer: at the end of the cadence's period in which it became
/// usable (its hold's end, if held). `None` while it waits for review (the decision sets
/// it, see [`release_after_review`]) and for ever when the refusal is a fact of the friend's.
pub fn referrer_release(
    status: RewardStatus,
    withheld: Option<RewardRefusal>,
    hold_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    cadence: RewardCadence,
) -> Option<DateTime<Utc>> {
    if withheld.is_some_and(RewardRefusal::concerns_friend) || status == RewardStatus::InReview {
        return None;
    }
    Some(cadence.release_at(hold_until.map_or(now, |until| until.max(now))))
}

/// When a referrer's reward approved on review at `now` reaches the referrer.
pub fn release_after_review(
    hold_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    cadence: RewardCadence,
) -> DateTime<Utc> {
    cadence.release_at(hold_until.map_or(now, |until| until.max(now)))
}

/// Whether a reward cancelled at `now` (a reversal, a rejection) keeps what the referrer
/// was shown: once released it reads as cancelled; before, it is withdrawn whole and the
/// referrer never learns there was one.
pub fn withdrawn_unseen(released_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    released_at.is_none_or(|at| at > now)
}

/// Whether the referrer sees a reward released at `released_at` when reading at `now`.
pub fn referrer_sees_reward(released_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    released_at.is_some_and(|at| at <= now)
}

/// Whether a referral's own page shows its referrer a reward of it: only when the friend
/// agreed to share (which referral earned a reward tells that the friend converted), only
/// the referrer's own reward (`own`), and only once released.
pub fn referrer_sees_referral_reward(
    shares_with_referrer: bool,
    own: bool,
    released_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    shares_with_referrer && own && referrer_sees_reward(released_at, now)
}

/// A released referrer's reward in plain words, as its referrer reads it: their own
/// refusal's reason, or a cancellation said as any other (never why: a reversal would
/// tell of the friend's care).
pub fn referrer_reward_words(
    status: RewardStatus,
    withheld: Option<RewardRefusal>,
) -> Option<&'static str> {
    match (status, withheld) {
        (_, Some(reason)) if !reason.concerns_friend() => Some(reason.explanation()),
        (RewardStatus::Cancelled, _) => Some("This reward is no longer available."),
        (RewardStatus::PendingApproval, _) => {
            Some("This cash reward is waiting for approval before it is paid.")
        }
        _ => None,
    }
}

/// How a referrer's reward reads to them once released: the release's day stands for
/// every time of it (granted, usable from, valid until), and why it was cancelled is not
/// said (a reversal would tell of the friend's care).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferrerRewardView {
    /// The day it reached the referrer.
    pub released_on: NaiveDate,
    /// Its status as of the read.
    pub status: RewardStatus,
    /// The referrer's own refusal, if any (never one of the friend's).
    pub withheld: Option<RewardRefusal>,
}

impl ReferrerRewardView {
    /// What the referrer sees of a reward at `now`: nothing before its release.
    pub fn of(
        released_at: Option<DateTime<Utc>>,
        status: RewardStatus,
        withheld: Option<RewardRefusal>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        let released = released_at.filter(|at| *at <= now)?;
        Some(ReferrerRewardView {
            released_on: released.date_naive(),
            status: match status {
                // Held and in review end before a release; read as what they become.
                RewardStatus::Held | RewardStatus::InReview => RewardStatus::Available,
                other => other,
            },
            withheld: withheld.filter(|w| !w.concerns_friend()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn progress_counts_down_to_each_reward_and_not_without_a_threshold() {
        assert_eq!(friends_to_next_reward(1, 7), None);
        assert_eq!(friends_to_next_reward(0, 7), None);
        assert_eq!(friends_to_next_reward(3, 0), Some(3));
        assert_eq!(friends_to_next_reward(3, 2), Some(1));
        assert_eq!(friends_to_next_reward(3, 3), Some(3));
        assert_eq!(friends_to_next_reward(3, 4), Some(2));
    }

    proptest! {
        /// A referral's page shows a reward only with the friend's agreement, only the
        /// referrer's own and only once released: dropping any condition hides it.
        #[test]
        fn a_referrals_page_shows_only_the_referrers_own_released_reward_with_agreement(
            shares: bool,
            own: bool,
            offset_hours in proptest::option::of(-100_i64..100),
        ) {
            let now = Utc::now();
            let released = offset_hours.map(|h| now + Duration::hours(h));
            prop_assert_eq!(
                referrer_sees_referral_reward(shares, own, released, now),
                shares && own && released.is_some_and(|r| r <= now)
            );
        }

        /// The last release is never after `at`, the next is after it, and every moment of
        /// one period reads the same last release.
        #[test]
        fn a_period_reads_one_last_release(hours in 0i64..24 * 400, cadence in 0usize..3) {
            let cadence = RewardCadence::ALL[cadence];
            let at = day(0) + Duration::hours(hours);
            let last = cadence.last_release(at);
            prop_assert!(last <= at);
            prop_assert!(cadence.release_at(at) > at);
            prop_assert_eq!(cadence.last_release(last), last);
            prop_assert_eq!(cadence.last_release(cadence.release_at(at) - Duration::seconds(1)), last);
        }

        #[test]
        fn progress_is_between_one_and_the_threshold(threshold in 2u32..50, converted in 0u64..10_000) {
            let left = friends_to_next_reward(threshold, converted).unwrap();
            prop_assert!((1..=threshold).contains(&left));
        }
    }

    #[test]
    fn only_an_invitation_the_service_sent_lets_the_page_name_the_referrer() {
        use crate::ReferralSource as S;
        for &source in S::ALL.iter() {
            for has_phone in [false, true] {
                let expected = match source {
                    S::Email => true,
                    S::Sms => has_phone,
                    _ => false,
                };
                assert_eq!(
                    page_names_inviter(Some(source), has_phone),
                    expected,
                    "{source:?}"
                );
            }
        }
        assert!(!page_names_inviter(None, true));
    }

    fn day(n: i64) -> DateTime<Utc> {
        // A Monday, 09:00 UTC.
        Utc.with_ymd_and_hms(2026, 12, 14, 9, 0, 0).unwrap() + Duration::hours(n)
    }

    /// What a friend did, privately: hours after the invitation (a Monday morning).
    #[derive(Debug, Clone)]
    struct History {
        registered: bool,
        federal: bool,
        state_excluded: bool,
        flagged: bool,
        converted: Option<i64>,
        reviewed: Option<(i64, bool)>,
        reversed: Option<i64>,
    }

    /// Everything the referrer's view model holds at `now`, for an invitation open until
    /// `expires`, without the friend's consent.
    fn view(
        h: &History,
        cadence: RewardCadence,
        expires: i64,
        now: i64,
    ) -> (ReferrerStatus, Option<ReferrerRewardView>) {
        let status = ReferrerStatus::seen(false, day(expires), day(now));
        let mut reward: Option<(Option<DateTime<Utc>>, RewardStatus, Option<RewardRefusal>)> = None;
        if let (true, Some(at)) = (h.registered, h.converted) {
            if at <= now {
                let (status, withheld) = if h.federal {
                    (
                        RewardStatus::Cancelled,
                        Some(RewardRefusal::FederalPayerReferee),
                    )
                } else if h.state_excluded {
                    (
                        RewardStatus::Cancelled,
                        Some(RewardRefusal::RefereeStateExcluded),
                    )
                } else if h.flagged {
                    (RewardStatus::InReview, None)
                } else {
                    (RewardStatus::Available, None)
                };
                let released = referrer_release(status, withheld, None, day(at), cadence);
                reward = Some((released, status, withheld));
            }
        }
        if let (Some((released, status, _)), Some((at, approve))) = (reward.as_mut(), h.reviewed) {
            if *status == RewardStatus::InReview && at <= now {
                if approve {
                    *status = RewardStatus::Available;
                    *released = Some(release_after_review(None, day(at), cadence));
                } else {
                    *status = RewardStatus::Cancelled;
                }
            }
        }
        if let (Some((released, status, withheld)), Some(at)) = (reward.as_mut(), h.reversed) {
            if at <= now && withheld.is_none() && *status != RewardStatus::Cancelled {
                if withdrawn_unseen(*released, day(at)) {
                    *released = None;
                }
                *status = RewardStatus::Cancelled;
            }
        }
        let seen = reward.and_then(|(released, status, withheld)| {
            ReferrerRewardView::of(released, status, withheld, day(now))
        });
        (status, seen)
    }

    fn any_history() -> impl Strategy<Value = History> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(0i64..400),
            proptest::option::of((0i64..400, any::<bool>())),
            proptest::option::of(0i64..400),
        )
            .prop_map(
                |(registered, federal, state_excluded, flagged, converted, reviewed, reversed)| {
                    History {
                        registered,
                        federal,
                        state_excluded,
                        flagged,
                        converted,
                        reviewed: reviewed.map(|(d, a)| (converted.unwrap_or(0) + d, a)),
                        reversed: reversed.map(|d| converted.unwrap_or(0) + d),
                    }
                },
            )
    }

    proptest! {
        /// Without consent, whatever the friend did privately (registering, their payer
        /// and state, when in the period they converted, a review on their side, a
        /// reversal before the release), the referrer's view at every moment is that of
        /// one of two plain histories: a friend who never joined, or a clean conversion
        /// at the start of the same release period (cancelled when the real one was,
        /// once released). Nothing finer than the period, and nothing of why.
        #[test]
        fn the_referrer_learns_only_a_released_reward_and_its_period(
            h in any_history(),
            cadence in proptest::sample::select(RewardCadence::ALL.to_vec()),
            expires in 1i64..900,
        ) {
            // The plain history the referrer cannot tell from `h`.
            let released = (0..1200).find_map(|now| view(&h, cadence, expires, now).1.map(|v| (now, v)));
            let plain = match &released {
                None => History { registered: false, federal: false, state_excluded: false,
                    flagged: false, converted: None, reviewed: None, reversed: None },
                Some((_, v)) => {
                    let start = (0..1200).find(|n| cadence.release_at(day(*n)).date_naive() == v.released_on).unwrap();
                    let reversed_after = h.reversed.filter(|at| {
                        (0..=*at).any(|n| view(&h, cadence, expires, n).1.is_some())
                    });
                    History { registered: true, federal: false, state_excluded: false,
                        flagged: false, converted: Some(start), reviewed: None,
                        reversed: reversed_after }
                }
            };
            for now in (0..1200).step_by(7) {
                prop_assert_eq!(view(&h, cadence, expires, now), view(&plain, cadence, expires, now), "at {}", now);
            }
        }

        /// A release comes after the reward became usable, within one period, and every
        /// moment of a period releases together.
        #[test]
        fn releases_end_the_period(hours in 0i64..20_000, later in 0i64..24,
                                   cadence in proptest::sample::select(RewardCadence::ALL.to_vec())) {
            let at = day(hours);
            let release = cadence.release_at(at);
            prop_assert!(release > at);
            prop_assert!(release - at <= Duration::days(31));
            prop_assert_eq!(release.time(), chrono::NaiveTime::MIN);
            let same_day = Utc.from_utc_datetime(&at.date_naive().and_hms_opt(u32::try_from(later).unwrap(), 0, 0).unwrap());
            prop_assert_eq!(cadence.release_at(same_day), release);
            prop_assert!(cadence.release_at(release) > release);
        }

        /// The referrer's status depends on consent and the invitation's date only.
        #[test]
        fn the_status_is_consent_and_date(shared in any::<bool>(), expires in 0i64..900, now in 0i64..900) {
            let seen = ReferrerStatus::seen(shared, day(expires), day(now));
            let f = seen.filter();
            prop_assert_eq!(f.shared, shared);
            if let Some(lapsed) = f.lapsed {
                prop_assert_eq!(lapsed, now >= expires);
            }
        }

        #[test]
        fn no_name_without_consent(name in "\\PC{0,20}") {
            prop_assert_eq!(friend_label(false, Some(&name)), UNNAMED_FRIEND);
        }
    }

    #[test]
    fn statuses_read_and_print() {
        for v in ReferrerStatus::ALL {
            assert_eq!(v.as_str().parse::<ReferrerStatus>(), Ok(v));
        }
        for c in RewardCadence::ALL {
            assert_eq!(c.as_str().parse::<RewardCadence>(), Ok(c));
        }
        assert!("registered".parse::<ReferrerStatus>().is_err());
        assert_eq!(friend_label(true, Some("Bob")), "Bob");
        assert_eq!(friend_label(true, None), UNNAMED_FRIEND);
        assert!(referrer_sees(InteractionType::Registration, true));
        assert!(!referrer_sees(InteractionType::Registration, false));
        assert!(!referrer_sees(InteractionType::Conversion, true));
        assert!(!SHARE_CONSENT_WORDING.contains("visit"));
    }

    #[test]
    fn weekly_releases_are_mondays() {
        // Tuesday and Sunday of one week release the next Monday.
        let tuesday = Utc.with_ymd_and_hms(2026, 12, 15, 10, 0, 0).unwrap();
        let sunday = Utc.with_ymd_and_hms(2026, 12, 20, 23, 59, 59).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 12, 21, 0, 0, 0).unwrap();
        assert_eq!(RewardCadence::Weekly.release_at(tuesday), monday);
        assert_eq!(RewardCadence::Weekly.release_at(sunday), monday);
        assert_eq!(
            RewardCadence::Monthly.release_at(tuesday),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            RewardCadence::Daily.release_at(tuesday),
            Utc.with_ymd_and_hms(2026, 12, 16, 0, 0, 0).unwrap()
        );
    }
}
