//! Referral programs: validation of what a provider enters, the status lifecycle, whether a
//! program accepts referrals on a day, and which referrers it targets.
//!
//! One concept: a program's rules. Over 500 of its lines are the validation and its tests.

use crate::error::{DomainError, FieldError, ValidationErrors};
use crate::experiment::{Variant, VariantDraft};
use crate::facts::UsState;
use crate::locale::Locale;
use crate::money::Money;
use crate::referral::MAX_EXPIRY_DAYS;
use crate::status::SmsDelivery;
use crate::status::{ProgramStatus, ProgramType, RewardType};
use bigdecimal::BigDecimal;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Longest program name (the seed's `VARCHAR(200)`).
pub const MAX_NAME_CHARS: usize = 200;

/// Oldest age a program may target (`min_age` and `max_age` lie in 0 to this).
pub const MAX_TARGET_AGE: u32 = 130;
/// A program's offer as the referrer reads it on their dashboard: what the friend gets and
/// what they get, in the domain's words ("Give 20% off a consultation, get a $25.00 account
/// credit"). `None` when the program gives neither.
pub fn offer_words(referee: Option<&RewardSpec>, referrer: Option<&RewardSpec>) -> Option<String> {
    offer_words_in(Locale::En, referee, referrer)
}

/// [`offer_words`] in `locale`: in Spanish "Regala 20% de descuento en una consulta,
/// recibe $25.00 de crédito en tu cuenta".
pub fn offer_words_in(
    locale: Locale,
    referee: Option<&RewardSpec>,
    referrer: Option<&RewardSpec>,
) -> Option<String> {
    let give = referee.map(|r| r.description_in(locale));
    let get = referrer.map(|r| r.description_in(locale));
    match (locale, give, get) {
        (_, None, None) => None,
        (Locale::En, Some(give), Some(get)) => {
            Some(format!("Give {give}, get {}", with_article(&get)))
        }
        (Locale::En, Some(give), None) => Some(format!("Give your friends {give}")),
        (Locale::En, None, Some(get)) => Some(format!(
            "Get {} for each friend who joins",
            with_article(&get)
        )),
        (Locale::Es, Some(give), Some(get)) => Some(format!("Regala {give}, recibe {get}")),
        (Locale::Es, Some(give), None) => Some(format!("Regala a tus amigos {give}")),
        (Locale::Es, None, Some(get)) => Some(format!("Recibe {get} por cada amigo que se una")),
    }
}

/// "a $25.00 account credit"; "$10.00 cash", "20% off a consultation" as they are.
fn with_article(words: &str) -> String {
    if words.ends_with("account credit") {
        format!("a {words}")
    } else {
        words.to_owned()
    }
}

/// Longest booking page address a program may set.
pub const MAX_BOOKING_URL_CHARS: usize = 500;

/// The schema pattern of a booking page, or nothing: what [`is_booking_url`] accepts,
/// spaces around allowed.
pub const BOOKING_URL_PATTERN: &str = concat!(
    "^[",
    space_class!(),
    "]*([hH][tT][tT][pP][sS]://[!-\\x22\\x24-\\x2e\\x30-\\x3e\\x41-\\x7e]+([/?#][!-~]*)?)?[",
    space_class!(),
    "]*$"
);

/// Whether `url` can be a program's booking page: `https://`, a host, no spaces or control
/// characters, at most [`MAX_BOOKING_URL_CHARS`]. (Patients follow it from an email: a plain
/// `http://` link would let anyone on their network change where it leads.)
pub fn is_booking_url(url: &str) -> bool {
    let Some(rest) = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url.chars().count() <= MAX_BOOKING_URL_CHARS
        && !host.is_empty()
        && !host.contains('@')
        && url.chars().all(|c| c.is_ascii_graphic())
}

/// Days a granted reward stays available when the program does not say.
pub const DEFAULT_REWARD_VALIDITY_DAYS: i64 = 90;
/// Days a referral stays open when the program does not say (the seed's default).
pub const DEFAULT_EXPIRY_DAYS: i64 = 30;

/// What a provider submits to create or replace a program, before validation.
///
/// Numbers are wide and values are raw decimals so that every out-of-range input reaches
/// [`ProgramDraft::validate`] and gets a field error, instead of failing to deserialize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramDraft {
    /// Internal name, 1 to 200 characters: admins and providers see it.
    pub name: String,
    /// The name visitors and invited friends see, at most 100 characters. Without one, a
    /// program that targets conditions shows [`GENERIC_PUBLIC_NAME`] (its internal name
    /// may name the condition); another shows its internal name.
    #[serde(default)]
    pub public_name: Option<String>,
    /// Where the program's new patients book their first consultation: an `https://`
    /// address of at most [`MAX_BOOKING_URL_CHARS`] characters. Without one, the platform's.
    #[serde(default)]
    pub booking_url: Option<String>,
    /// Free text shown to patients.
    #[serde(default)]
    pub description: Option<String>,
    /// Kind of campaign.
    #[serde(default = "default_program_type")]
    pub program_type: ProgramType,
    /// What the referrer earns per completed batch.
    #[serde(default)]
    pub referrer_reward_type: Option<RewardType>,
    /// Amount (or percentage, for a discount) of the referrer reward.
    #[serde(default)]
    pub referrer_reward_value: Option<BigDecimal>,
    /// What the referee gets on registering.
    #[serde(default)]
    pub referee_reward_type: Option<RewardType>,
    /// Amount (or percentage, for a discount) of the referee reward.
    #[serde(default)]
    pub referee_reward_value: Option<BigDecimal>,
    /// Referrals a patient may make in the program; `None` is unlimited.
    #[serde(default)]
    pub max_referrals_per_patient: Option<i64>,
    /// Converted referrals needed for one referrer reward.
    #[serde(default = "default_threshold")]
    pub reward_threshold: i64,
    /// Days a referral stays open for the referee to register.
    #[serde(default = "default_expiry_days")]
    pub expiry_days: i64,
    /// Days a granted reward stays available.
    #[serde(default = "default_reward_validity_days")]
    pub reward_validity_days: i64,
    /// First day (UTC) the program accepts referrals; `None` is open.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// Last day (UTC) the program accepts referrals; `None` is open.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// Conditions the referrer must have one of; empty is everyone.
    #[serde(default)]
    pub target_conditions: Vec<String>,
    /// Age range and states the referrer must be in; empty is everyone.
    #[serde(default)]
    pub target_demographics: Demographics,
    /// Experiment variants (none, or 2 to 10); referrers are assigned one each.
    #[serde(default)]
    pub variants: Vec<VariantDraft>,
    /// States whose residents get no reward from this program, as referrer or as friend
    /// (state patient-brokering and fee-splitting laws), on top of the service's
    /// `--excluded-states`.
    #[serde(default)]
    pub excluded_states: Vec<String>,
    /// Who sends SMS invitations: the platform (default) or the patient's own phone.
    #[serde(default)]
    pub sms_delivery: Option<SmsDelivery>,
    /// Most reward value the program may ever give; `None` is no limit.
    #[serde(default)]
    pub budget_total: Option<BigDecimal>,
    /// Most reward value the program may give in a calendar month; `None` is no limit.
    #[serde(default)]
    pub budget_monthly: Option<BigDecimal>,
    /// Days a new referrer reward stays `held` (not usable) before it becomes available,
    /// so that a refund or cancellation in that time can still reverse it; 0 (default) is
    /// no hold.
    #[serde(default)]
    pub reward_hold_days: i64,
    /// The smallest order that keeps a conversion: a partial refund that leaves less paid
    /// reverses it as a full one would. `None` (default): only a full refund does.
    #[serde(default)]
    pub min_order_amount: Option<BigDecimal>,
}

/// The longest holding period a program may set, in days.
pub const MAX_HOLD_DAYS: u32 = 365;

fn platform_sms() -> SmsDelivery {
    SmsDelivery::Platform
}

fn default_program_type() -> ProgramType {
    ProgramType::Standard
}
fn default_threshold() -> i64 {
    1
}
fn default_expiry_days() -> i64 {
    DEFAULT_EXPIRY_DAYS
}
fn default_reward_validity_days() -> i64 {
    DEFAULT_REWARD_VALIDITY_DAYS
}

/// A reward a program gives: its type and value.
///
/// For a `discount` the value is a percentage in (0, 100]; for the other types it is an
/// amount of money (for `free_consultation`, what the consultation is worth).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardSpec {
    /// What the reward gives.
    pub reward_type: RewardType,
    /// The amount or percentage.
    pub value: Money,
}

impl RewardSpec {
    /// The reward in words, the one wording every message, page and ledger row uses:
    /// `20% off a consultation`, `$25.00 account credit`, `$25.00 cash`,
    /// `a free consultation (worth $50.00)`.
    pub fn description(&self) -> String {
        self.description_in(Locale::En)
    }

    /// The reward in words in `locale`: in Spanish `20% de descuento en una consulta`,
    /// `$25.00 de crédito en tu cuenta`, `$25.00 en efectivo`,
    /// `una consulta gratis (valorada en $50.00)`.
    pub fn description_in(&self, locale: Locale) -> String {
        let value = &self.value;
        match (locale, self.reward_type) {
            (_, RewardType::Discount) => {
                let percent = value.to_string();
                let percent = percent.trim_end_matches(".00");
                match locale {
                    Locale::En => format!("{percent}% off a consultation"),
                    Locale::Es => format!("{percent}% de descuento en una consulta"),
                }
            }
            (Locale::En, RewardType::Credit) => format!("{} account credit", value.usd()),
            (Locale::Es, RewardType::Credit) => format!("{} de crédito en tu cuenta", value.usd()),
            (Locale::En, RewardType::Cash) => format!("{} cash", value.usd()),
            (Locale::Es, RewardType::Cash) => format!("{} en efectivo", value.usd()),
            (Locale::En, RewardType::FreeConsultation) => {
                format!("a free consultation (worth {})", value.usd())
            }
            (Locale::Es, RewardType::FreeConsultation) => {
                format!("una consulta gratis (valorada en {})", value.usd())
            }
        }
    }
}

/// Longest public name, in characters.
pub const MAX_PUBLIC_NAME_CHARS: usize = 100;

/// What visitors and friends see of a condition-targeted program without a public name.
pub const GENERIC_PUBLIC_NAME: &str = "our referral program";

/// The name a visitor or an invited friend sees: the public name when there is one;
/// otherwise, for a program that targets conditions, [`GENERIC_PUBLIC_NAME`] (its internal
/// name may name the condition, and whoever holds a code would learn that the referrer
/// has it); otherwise the internal name.
pub fn public_name_of<'a>(
    name: &'a str,
    public_name: Option<&'a str>,
    target_conditions: &[String],
) -> &'a str {
    match public_name {
        Some(public) => public,
        None if !target_conditions.is_empty() => GENERIC_PUBLIC_NAME,
        None => name,
    }
}

/// Whether a program offers personal share links: not when it targets conditions (a link
/// posted anywhere would say its owner has one); its invitations go one to one.
pub fn offers_share_links(target_conditions: &[String]) -> bool {
    target_conditions.is_empty()
}

/// The validated rules of a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidProgram {
    /// Trimmed name.
    pub name: String,
    /// Trimmed public name, `None` when empty.
    #[serde(default)]
    pub public_name: Option<String>,
    /// Trimmed booking page, `None` when empty.
    #[serde(default)]
    pub booking_url: Option<String>,
    /// Trimmed description, `None` when empty.
    pub description: Option<String>,
    /// Kind of campaign.
    pub program_type: ProgramType,
    /// Reward of the referrer per completed batch, if any.
    pub referrer_reward: Option<RewardSpec>,
    /// Reward of the referee on registering, if any.
    pub referee_reward: Option<RewardSpec>,
    /// Referral limit per patient; `None` is unlimited.
    pub max_referrals_per_patient: Option<u32>,
    /// Converted referrals per referrer reward (≥ 1).
    pub reward_threshold: u32,
    /// Days a referral stays open (1..=3650).
    pub expiry_days: u32,
    /// Days a reward stays available (1..=3650).
    pub reward_validity_days: u32,
    /// First day of the program.
    pub start_date: Option<NaiveDate>,
    /// Last day of the program.
    pub end_date: Option<NaiveDate>,
    /// Who may refer.
    pub targeting: Targeting,
    /// Experiment variants (empty: no experiment).
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// States whose residents get no reward from this program (USPS codes, no repeats).
    #[serde(default)]
    pub excluded_states: Vec<UsState>,
    /// Who sends SMS invitations.
    #[serde(default = "platform_sms")]
    pub sms_delivery: SmsDelivery,
    /// The reward budget (none by default).
    #[serde(default)]
    pub budget: crate::budget::Budget,
    /// Days a new referrer reward is held (0: none).
    #[serde(default)]
    pub reward_hold_days: u32,
    /// The smallest order a partial refund may leave without reversing the conversion.
    #[serde(default)]
    pub min_order_amount: Option<Money>,
}

impl ProgramDraft {
    /// Checks every field and returns the program rules, or every field error at once.
    ///
    /// # Errors
    /// [`DomainError::Validation`] listing a [`FieldError`] for each field out of range.
    pub fn validate(&self) -> Result<ValidProgram, DomainError> {
        let mut errors = Vec::new();

        let name = self.name.trim();
        if name.is_empty() {
            errors.push(FieldError::NameMissing);
        } else if name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::NameTooLong);
        }

        let referrer_reward = reward_spec(
            "referrer_reward_value",
            self.referrer_reward_type,
            self.referrer_reward_value.as_ref(),
            &mut errors,
        );
        let referee_reward = reward_spec(
            "referee_reward_value",
            self.referee_reward_type,
            self.referee_reward_value.as_ref(),
            &mut errors,
        );

        let max_referrals_per_patient = match self.max_referrals_per_patient {
            None => None,
            Some(n) => match u32::try_from(n) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    errors.push(FieldError::MaxReferralsBelowOne);
                    None
                }
            },
        };
        let reward_threshold = at_least_one(
            self.reward_threshold,
            FieldError::RewardThresholdBelowOne,
            &mut errors,
        );
        let expiry_days = days(
            self.expiry_days,
            FieldError::ExpiryDaysOutOfRange,
            &mut errors,
        );
        let reward_validity_days = days(
            self.reward_validity_days,
            FieldError::RewardValidityOutOfRange,
            &mut errors,
        );

        if let (Some(start), Some(end)) = (self.start_date, self.end_date) {
            if end < start {
                errors.push(FieldError::EndBeforeStart);
            }
        }

        let targeting = match Targeting::new(&self.target_conditions, &self.target_demographics) {
            Ok(t) => t,
            Err(mut field_errors) => {
                errors.append(&mut field_errors);
                Targeting::default()
            }
        };

        let mut excluded_states: Vec<UsState> = Vec::new();
        for text in &self.excluded_states {
            match UsState::parse(text) {
                Ok(state) if !excluded_states.contains(&state) => excluded_states.push(state),
                Ok(_) => {}
                Err(_) => {
                    errors.push(FieldError::ExcludedStateUnknown);
                    break;
                }
            }
        }

        let mut budget_amount = |field: &'static str, value: &Option<BigDecimal>| {
            value.as_ref().and_then(|v| {
                Money::from_decimal(v)
                    .map_err(|_| errors.push(FieldError::BudgetMalformed(field)))
                    .ok()
            })
        };
        let budget = crate::budget::Budget {
            total: budget_amount("budget_total", &self.budget_total),
            monthly: budget_amount("budget_monthly", &self.budget_monthly),
        };
        let min_order_amount = budget_amount("min_order_amount", &self.min_order_amount);
        let reward_hold_days = match u32::try_from(self.reward_hold_days) {
            Ok(days) if days <= MAX_HOLD_DAYS => days,
            _ => {
                errors.push(FieldError::HoldDaysOutOfRange);
                0
            }
        };

        let variants = crate::experiment::validate_variants(
            &self.variants,
            |referrer, value, errors| {
                let (field, spec) = if referrer {
                    ("variants.referrer_reward_value", &referrer_reward)
                } else {
                    ("variants.referee_reward_value", &referee_reward)
                };
                let Some(spec) = spec else {
                    errors.push(FieldError::VariantReward(field));
                    return None;
                };
                let mut value_errors = Vec::new();
                let parsed = reward_spec(
                    field,
                    Some(spec.reward_type),
                    Some(value),
                    &mut value_errors,
                );
                if !value_errors.is_empty() {
                    errors.push(FieldError::VariantReward(field));
                }
                parsed.map(|s| s.value)
            },
            &mut errors,
        );

        let public_name = self
            .public_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        if public_name.is_some_and(|n| {
            n.chars().count() > MAX_PUBLIC_NAME_CHARS || crate::text::check_visible(n).is_err()
        }) {
            errors.push(FieldError::PublicNameInvalid);
        }

        let booking_url = self
            .booking_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if booking_url.is_some_and(|u| !is_booking_url(u)) {
            errors.push(FieldError::BookingUrlInvalid);
        }

        if !errors.is_empty() {
            return Err(DomainError::Validation(ValidationErrors(errors)));
        }
        Ok(ValidProgram {
            name: name.to_owned(),
            public_name: public_name.map(str::to_owned),
            booking_url: booking_url.map(str::to_owned),
            description: self
                .description
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            program_type: self.program_type,
            referrer_reward,
            referee_reward,
            max_referrals_per_patient,
            reward_threshold,
            expiry_days,
            reward_validity_days,
            start_date: self.start_date,
            end_date: self.end_date,
            targeting,
            variants,
            excluded_states,
            sms_delivery: self.sms_delivery.unwrap_or(SmsDelivery::Platform),
            budget,
            reward_hold_days,
            min_order_amount,
        })
    }
}

fn at_least_one(value: i64, error: FieldError, errors: &mut Vec<FieldError>) -> u32 {
    match u32::try_from(value) {
        Ok(n) if n >= 1 => n,
        _ => {
            errors.push(error);
            1
        }
    }
}

fn days(value: i64, error: FieldError, errors: &mut Vec<FieldError>) -> u32 {
    match u32::try_from(value) {
        Ok(n) if (1..=MAX_EXPIRY_DAYS).contains(&n) => n,
        _ => {
            errors.push(error);
            1
        }
    }
}

fn reward_spec(
    field: &'static str,
    reward_type: Option<RewardType>,
    value: Option<&BigDecimal>,
    errors: &mut Vec<FieldError>,
) -> Option<RewardSpec> {
    let (reward_type, value) = match (reward_type, value) {
        (None, None) => return None,
        (Some(t), Some(v)) => (t, v),
        _ => {
            errors.push(FieldError::RewardIncomplete(field));
            return None;
        }
    };
    let money = match Money::from_decimal(value) {
        Ok(m) => m,
        Err(DomainError::InvalidMoney("must not be negative")) => {
            errors.push(FieldError::RewardValueNegative(field));
            return None;
        }
        Err(_) => {
            errors.push(FieldError::RewardValueMalformed(field));
            return None;
        }
    };
    if reward_type == RewardType::Discount && (money.is_zero() || money.cents() > 10_000) {
        errors.push(FieldError::DiscountOutOfRange(field));
        return None;
    }
    Some(RewardSpec {
        reward_type,
        value: money,
    })
}

impl ProgramStatus {
    /// The status after a provider asks for `to`.
    ///
    /// `active` ⇄ `paused`, and either may end; asking for the current status is a no-op.
    /// `paused → ended` is allowed because a program manager closing a paused campaign
    /// should not have to resume it first.
    ///
    /// # Errors
    /// [`DomainError::ProgramAlreadyEnded`] for any change of an ended program.
    pub fn transition_to(self, to: ProgramStatus) -> Result<ProgramStatus, DomainError> {
        match (self, to) {
            (ProgramStatus::Ended, ProgramStatus::Ended) => Ok(ProgramStatus::Ended),
            (ProgramStatus::Ended, _) => Err(DomainError::ProgramAlreadyEnded),
            (_, to) => Ok(to),
        }
    }
}

/// The status and dates of a program: what decides whether it accepts referrals today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramSchedule {
    /// Current status.
    pub status: ProgramStatus,
    /// First day (UTC), inclusive.
    pub start_date: Option<NaiveDate>,
    /// Last day (UTC), inclusive.
    pub end_date: Option<NaiveDate>,
}

impl ProgramSchedule {
    /// Whether the program accepts a new referral on `today` (UTC): it must be active and
    /// `today` within `[start_date, end_date]`.
    ///
    /// # Errors
    /// [`DomainError::ProgramNotActive`], [`DomainError::ProgramNotStarted`] or
    /// [`DomainError::ProgramFinished`].
    pub fn accepts_referrals(&self, today: NaiveDate) -> Result<(), DomainError> {
        if self.status != ProgramStatus::Active {
            return Err(DomainError::ProgramNotActive(self.status));
        }
        if self.start_date.is_some_and(|start| today < start) {
            return Err(DomainError::ProgramNotStarted);
        }
        if self.end_date.is_some_and(|end| today > end) {
            return Err(DomainError::ProgramFinished);
        }
        Ok(())
    }

    /// The status as an admin should read it on `today`: an active program whose start
    /// date is ahead is `scheduled`, one whose end date has passed `finished`; otherwise its
    /// status.
    pub fn shown_status(&self, today: NaiveDate) -> &'static str {
        match self.accepts_referrals(today) {
            Err(DomainError::ProgramNotStarted) => "scheduled",
            Err(DomainError::ProgramFinished) => "finished",
            _ => self.status.as_str(),
        }
    }
}

/// The seed's `target_demographics`: an age range and a list of states.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Demographics {
    /// Youngest age admitted, in whole years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<i64>,
    /// Oldest age admitted, in whole years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// Two-letter state codes admitted; empty is every state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<String>,
}

/// Who may refer in a program. An empty target admits everyone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Targeting {
    /// Lower-cased conditions; the referrer needs at least one of them.
    pub conditions: Vec<String>,
    /// Age range and states, normalised (states upper-case).
    pub demographics: Demographics,
}

/// What the store knows of a referrer, for targeting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReferrerProfile {
    /// Date of birth, if known.
    pub date_of_birth: Option<NaiveDate>,
    /// Two-letter state of residence, if known.
    pub state: Option<String>,
    /// Conditions on record.
    pub conditions: Vec<String>,
}

impl Targeting {
    /// Normalises and checks a target.
    ///
    /// # Errors
    /// The field errors of the target: empty conditions, ages outside 0..=130, `min_age`
    /// above `max_age`, states that are not two letters.
    pub fn new(
        conditions: &[String],
        demographics: &Demographics,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut normalised_conditions = Vec::new();
        for condition in conditions {
            let c = condition.trim().to_lowercase();
            if c.is_empty() {
                errors.push(FieldError::ConditionEmpty);
                break;
            }
            if !normalised_conditions.contains(&c) {
                normalised_conditions.push(c);
            }
        }
        for (field, age) in [
            ("target_demographics.min_age", demographics.min_age),
            ("target_demographics.max_age", demographics.max_age),
        ] {
            if age.is_some_and(|a| !(0..=i64::from(MAX_TARGET_AGE)).contains(&a)) {
                errors.push(FieldError::AgeOutOfRange(field));
            }
        }
        if let (Some(min), Some(max)) = (demographics.min_age, demographics.max_age) {
            if min > max {
                errors.push(FieldError::MinAgeAboveMaxAge);
            }
        }
        let mut states = Vec::new();
        for state in &demographics.states {
            let s = state.trim().to_ascii_uppercase();
            if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
                errors.push(FieldError::StateMalformed);
                break;
            }
            if !states.contains(&s) {
                states.push(s);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            conditions: normalised_conditions,
            demographics: Demographics {
                min_age: demographics.min_age,
                max_age: demographics.max_age,
                states,
            },
        })
    }

    /// Whether the target is empty (everyone may refer).
    pub fn is_open(&self) -> bool {
        self.conditions.is_empty()
            && self.demographics.min_age.is_none()
            && self.demographics.max_age.is_none()
            && self.demographics.states.is_empty()
    }

    /// Whether `referrer` may refer in the program on `today`.
    ///
    /// A referrer whose date of birth or state is unknown does not meet an age or state
    /// restriction: the program manager asked for it, and we cannot show it holds.
    ///
    /// # Errors
    /// [`DomainError::NotEligible`] with the first rule not met.
    pub fn admits(&self, referrer: &ReferrerProfile, today: NaiveDate) -> Result<(), DomainError> {
        if !self.conditions.is_empty() {
            let has_one = referrer
                .conditions
                .iter()
                .any(|c| self.conditions.contains(&c.trim().to_lowercase()));
            if !has_one {
                return Err(DomainError::NotEligible("no targeted condition"));
            }
        }
        let demo = &self.demographics;
        if demo.min_age.is_some() || demo.max_age.is_some() {
            let Some(age) = referrer.date_of_birth.and_then(|dob| age_on(dob, today)) else {
                return Err(DomainError::NotEligible("age unknown"));
            };
            if demo.min_age.is_some_and(|min| age < min) {
                return Err(DomainError::NotEligible("below the minimum age"));
            }
            if demo.max_age.is_some_and(|max| age > max) {
                return Err(DomainError::NotEligible("above the maximum age"));
            }
        }
        if !demo.states.is_empty() {
            let in_state = referrer
                .state
                .as_deref()
                .is_some_and(|s| demo.states.contains(&s.trim().to_ascii_uppercase()));
            if !in_state {
                return Err(DomainError::NotEligible("outside the targeted states"));
            }
        }
        Ok(())
    }
}

/// Age in whole years on `today` of someone born on `date_of_birth`; `None` when born after
/// `today`.
///
/// ```
/// use chrono::NaiveDate;
/// use referral_domain::program::age_on;
/// let dob = NaiveDate::from_ymd_opt(2000, 6, 15).unwrap();
/// assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 6, 14).unwrap()), Some(25));
/// assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 6, 15).unwrap()), Some(26));
/// ```
pub fn age_on(date_of_birth: NaiveDate, today: NaiveDate) -> Option<i64> {
    if date_of_birth > today {
        return None;
    }
    let mut years = i64::from(today.year() - date_of_birth.year());
    if (today.month(), today.day()) < (date_of_birth.month(), date_of_birth.day()) {
        years -= 1;
    }
    Some(years)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    proptest::proptest! {
        /// The document's booking-page pattern and [`is_booking_url`] agree both ways.
        #[test]
        fn the_booking_url_pattern_says_what_the_rule_does(
            text in proptest::string::string_regex(&BOOKING_URL_PATTERN[1..BOOKING_URL_PATTERN.len() - 1]).unwrap(),
            other in "[hH]?[tT]{0,2}[pPs]{0,2}:?/{0,2}[a-z@/?# \\x00\\u{85}]{0,8}",
        ) {
            let schema = regex::Regex::new(BOOKING_URL_PATTERN).unwrap();
            let url = text.trim();
            proptest::prop_assume!(url.chars().count() <= MAX_BOOKING_URL_CHARS);
            proptest::prop_assert!(url.is_empty() || is_booking_url(url), "{:?}", text);
            if is_booking_url(other.trim()) {
                proptest::prop_assert!(schema.is_match(&other), "{:?}", other);
            }
        }
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn dec(s: &str) -> BigDecimal {
        BigDecimal::from_str(s).unwrap()
    }

    fn draft() -> ProgramDraft {
        serde_json::from_value(serde_json::json!({
            "name": "Spring referrals",
            "referrer_reward_type": "credit",
            "referrer_reward_value": "25.00",
            "referee_reward_type": "discount",
            "referee_reward_value": "20",
        }))
        .unwrap()
    }

    fn field_errors(draft: &ProgramDraft) -> Vec<FieldError> {
        match draft.validate() {
            Err(DomainError::Validation(v)) => v.0,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_draft_gets_the_seed_defaults() {
        let p = draft().validate().unwrap();
        assert_eq!(p.name, "Spring referrals");
        assert_eq!(p.program_type, ProgramType::Standard);
        assert_eq!(p.reward_threshold, 1);
        assert_eq!(p.expiry_days, 30);
        assert_eq!(p.reward_validity_days, 90);
        assert_eq!(p.max_referrals_per_patient, None);
        assert_eq!(
            p.referrer_reward,
            Some(RewardSpec {
                reward_type: RewardType::Credit,
                value: Money::parse("25").unwrap()
            })
        );
        assert!(p.targeting.is_open());
    }

    #[test]
    fn a_program_that_starts_later_reads_scheduled() {
        let schedule = |status, start, end| ProgramSchedule {
            status,
            start_date: start,
            end_date: end,
        };
        let today = d(2026, 12, 7);
        let next_week = Some(d(2026, 12, 14));
        let last_week = Some(d(2026, 11, 30));
        assert_eq!(
            schedule(ProgramStatus::Active, next_week, None).shown_status(today),
            "scheduled"
        );
        assert_eq!(
            schedule(ProgramStatus::Active, None, last_week).shown_status(today),
            "finished"
        );
        assert_eq!(
            schedule(ProgramStatus::Active, last_week, next_week).shown_status(today),
            "active"
        );
        assert_eq!(
            schedule(ProgramStatus::Paused, next_week, None).shown_status(today),
            "paused"
        );
    }

    #[test]
    fn the_offer_reads_as_people_say_it() {
        let spec = |reward_type, cents| RewardSpec {
            reward_type,
            value: Money::from_cents(cents).unwrap(),
        };
        let give = spec(RewardType::Discount, 2000);
        let get = spec(RewardType::Credit, 2500);
        assert_eq!(
            offer_words(Some(&give), Some(&get)).as_deref(),
            Some("Give 20% off a consultation, get a $25.00 account credit")
        );
        assert_eq!(
            offer_words(None, Some(&spec(RewardType::Cash, 1_000_000))).as_deref(),
            Some("Get $10,000.00 cash for each friend who joins")
        );
        assert_eq!(offer_words(None, None), None);
        assert_eq!(
            offer_words_in(Locale::Es, Some(&give), Some(&get)).as_deref(),
            Some("Regala 20% de descuento en una consulta, recibe $25.00 de crédito en tu cuenta")
        );
        for locale in Locale::ALL {
            assert_eq!(offer_words_in(locale, None, None), None);
            assert!(offer_words_in(locale, None, Some(&get)).is_some());
        }
    }

    #[test]
    fn a_booking_page_is_an_https_address_people_can_follow() {
        for good in [
            "https://book.example.com",
            "HTTPS://book.example.com/first?visit=1#top",
        ] {
            assert!(is_booking_url(good), "{good}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_BOOKING_URL_CHARS));
        for bad in [
            "http://book.example.com",
            "https://",
            "https:///path",
            "https://user@evil.example",
            "https://book.example.com/a b",
            "javascript:alert(1)",
            "https://bóok.example.com",
            long.as_str(),
        ] {
            assert!(!is_booking_url(bad), "{bad}");
        }
        let mut d = draft();
        d.booking_url = Some("  https://book.example.com  ".into());
        assert_eq!(
            d.validate().unwrap().booking_url.as_deref(),
            Some("https://book.example.com")
        );
        d.booking_url = Some("ftp://x".into());
        assert!(d.validate().is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_booking_page_never_holds_spaces_or_controls(url in "https://[ -~\\t\\n]{0,40}") {
            if is_booking_url(&url) {
                proptest::prop_assert!(url.chars().all(|c| c.is_ascii_graphic()));
            }
        }
    }

    #[test]
    fn condition_programs_show_a_public_name_and_offer_no_share_links() {
        let conditions = vec!["diabetes".to_owned()];
        assert_eq!(
            public_name_of("Diabetes outreach", None, &conditions),
            GENERIC_PUBLIC_NAME
        );
        assert_eq!(
            public_name_of("Diabetes outreach", Some("Healthy together"), &conditions),
            "Healthy together"
        );
        assert_eq!(public_name_of("Friends", None, &[]), "Friends");
        assert!(!offers_share_links(&conditions));
        assert!(offers_share_links(&[]));
        let mut d = draft();
        d.public_name = Some("Line\nbreak".into());
        assert!(d.validate().is_err());
        d.public_name = Some("  Healthy together ".into());
        assert_eq!(
            d.validate().unwrap().public_name.as_deref(),
            Some("Healthy together")
        );
    }

    #[test]
    fn each_field_out_of_range_has_its_own_error() {
        let mut bad = draft();
        bad.name = "   ".into();
        bad.reward_threshold = 0;
        bad.expiry_days = -3;
        bad.reward_validity_days = 0;
        bad.max_referrals_per_patient = Some(0);
        bad.referrer_reward_value = Some(dec("-1"));
        bad.referee_reward_value = Some(dec("100.01"));
        bad.start_date = Some(d(2026, 5, 1));
        bad.end_date = Some(d(2026, 4, 30));
        let errors = field_errors(&bad);
        for expected in [
            FieldError::NameMissing,
            FieldError::RewardThresholdBelowOne,
            FieldError::ExpiryDaysOutOfRange,
            FieldError::RewardValidityOutOfRange,
            FieldError::MaxReferralsBelowOne,
            FieldError::RewardValueNegative("referrer_reward_value"),
            FieldError::DiscountOutOfRange("referee_reward_value"),
            FieldError::EndBeforeStart,
        ] {
            assert!(
                errors.contains(&expected),
                "missing {expected:?} in {errors:?}"
            );
        }
        assert_eq!(errors.len(), 8);
        let fields: Vec<&str> = errors.iter().map(FieldError::field).collect();
        assert!(fields.contains(&"reward_threshold"));
        assert!(fields.contains(&"referee_reward_value"));
    }

    #[test]
    fn reward_values_need_two_places_and_both_halves() {
        let mut bad = draft();
        bad.referrer_reward_value = Some(dec("1.005"));
        bad.referee_reward_type = None;
        assert_eq!(
            field_errors(&bad),
            vec![
                FieldError::RewardValueMalformed("referrer_reward_value"),
                FieldError::RewardIncomplete("referee_reward_value"),
            ]
        );
        let mut zero_discount = draft();
        zero_discount.referee_reward_value = Some(dec("0"));
        assert_eq!(
            field_errors(&zero_discount),
            vec![FieldError::DiscountOutOfRange("referee_reward_value")]
        );
        let mut full_discount = draft();
        full_discount.referee_reward_value = Some(dec("100"));
        assert!(full_discount.validate().is_ok());
        let mut free_credit = draft();
        free_credit.referrer_reward_value = Some(dec("0"));
        assert!(
            free_credit.validate().is_ok(),
            "a zero credit is allowed (>= 0)"
        );
    }

    #[test]
    fn long_names_and_bad_targets_are_refused() {
        let mut bad = draft();
        bad.name = "x".repeat(201);
        bad.target_conditions = vec!["diabetes".into(), " ".into()];
        bad.target_demographics = Demographics {
            min_age: Some(70),
            max_age: Some(18),
            states: vec!["California".into()],
        };
        let errors = field_errors(&bad);
        assert_eq!(
            errors,
            vec![
                FieldError::NameTooLong,
                FieldError::ConditionEmpty,
                FieldError::MinAgeAboveMaxAge,
                FieldError::StateMalformed,
            ]
        );
        let mut ages = draft();
        ages.target_demographics.min_age = Some(-1);
        ages.target_demographics.max_age = Some(131);
        assert_eq!(
            field_errors(&ages),
            vec![
                FieldError::AgeOutOfRange("target_demographics.min_age"),
                FieldError::AgeOutOfRange("target_demographics.max_age"),
            ]
        );
    }

    #[test]
    fn status_lifecycle_ends_for_good() {
        use ProgramStatus::*;
        assert_eq!(Active.transition_to(Paused), Ok(Paused));
        assert_eq!(Paused.transition_to(Active), Ok(Active));
        assert_eq!(Active.transition_to(Ended), Ok(Ended));
        assert_eq!(Paused.transition_to(Ended), Ok(Ended));
        assert_eq!(Active.transition_to(Active), Ok(Active));
        assert_eq!(Ended.transition_to(Ended), Ok(Ended));
        assert_eq!(
            Ended.transition_to(Active),
            Err(DomainError::ProgramAlreadyEnded)
        );
        assert_eq!(
            Ended.transition_to(Paused),
            Err(DomainError::ProgramAlreadyEnded)
        );
    }

    #[test]
    fn programs_accept_referrals_only_when_active_and_in_dates() {
        let schedule = ProgramSchedule {
            status: ProgramStatus::Active,
            start_date: Some(d(2026, 3, 1)),
            end_date: Some(d(2026, 3, 31)),
        };
        assert_eq!(
            schedule.accepts_referrals(d(2026, 2, 28)),
            Err(DomainError::ProgramNotStarted)
        );
        assert_eq!(schedule.accepts_referrals(d(2026, 3, 1)), Ok(()));
        assert_eq!(schedule.accepts_referrals(d(2026, 3, 31)), Ok(()));
        assert_eq!(
            schedule.accepts_referrals(d(2026, 4, 1)),
            Err(DomainError::ProgramFinished)
        );
        let paused = ProgramSchedule {
            status: ProgramStatus::Paused,
            ..schedule
        };
        assert_eq!(
            paused.accepts_referrals(d(2026, 3, 10)),
            Err(DomainError::ProgramNotActive(ProgramStatus::Paused))
        );
        let open = ProgramSchedule {
            status: ProgramStatus::Active,
            start_date: None,
            end_date: None,
        };
        assert_eq!(open.accepts_referrals(d(1999, 1, 1)), Ok(()));
        let ended = ProgramSchedule {
            status: ProgramStatus::Ended,
            ..open
        };
        assert_eq!(
            ended.accepts_referrals(d(2026, 3, 10)).unwrap_err().code(),
            "program_not_active"
        );
    }

    #[test]
    fn targeting_checks_conditions_age_and_state() {
        let target = Targeting::new(
            &["Diabetes".into(), "hypertension".into()],
            &Demographics {
                min_age: Some(18),
                max_age: Some(65),
                states: vec!["ca".into(), "NY".into()],
            },
        )
        .unwrap();
        let today = d(2026, 6, 1);
        let ok = ReferrerProfile {
            date_of_birth: Some(d(1990, 1, 1)),
            state: Some("ca".into()),
            conditions: vec!["DIABETES".into()],
        };
        assert_eq!(target.admits(&ok, today), Ok(()));

        let no_condition = ReferrerProfile {
            conditions: vec!["asthma".into()],
            ..ok.clone()
        };
        assert_eq!(
            target.admits(&no_condition, today),
            Err(DomainError::NotEligible("no targeted condition"))
        );
        let young = ReferrerProfile {
            date_of_birth: Some(d(2008, 6, 2)),
            ..ok.clone()
        };
        assert_eq!(
            target.admits(&young, today),
            Err(DomainError::NotEligible("below the minimum age"))
        );
        let just_adult = ReferrerProfile {
            date_of_birth: Some(d(2008, 6, 1)),
            ..ok.clone()
        };
        assert_eq!(target.admits(&just_adult, today), Ok(()));
        let old = ReferrerProfile {
            date_of_birth: Some(d(1950, 1, 1)),
            ..ok.clone()
        };
        assert_eq!(
            target.admits(&old, today),
            Err(DomainError::NotEligible("above the maximum age"))
        );
        let unknown_age = ReferrerProfile {
            date_of_birth: None,
            ..ok.clone()
        };
        assert_eq!(
            target.admits(&unknown_age, today),
            Err(DomainError::NotEligible("age unknown"))
        );
        let elsewhere = ReferrerProfile {
            state: Some("TX".into()),
            ..ok.clone()
        };
        assert_eq!(
            target.admits(&elsewhere, today),
            Err(DomainError::NotEligible("outside the targeted states"))
        );
        let no_state = ReferrerProfile { state: None, ..ok };
        assert!(target.admits(&no_state, today).is_err());

        assert!(Targeting::default()
            .admits(&ReferrerProfile::default(), today)
            .is_ok());
    }

    #[test]
    fn age_counts_whole_years_and_leap_days() {
        assert_eq!(age_on(d(2000, 2, 29), d(2026, 2, 28)), Some(25));
        assert_eq!(age_on(d(2000, 2, 29), d(2026, 3, 1)), Some(26));
        assert_eq!(age_on(d(2030, 1, 1), d(2026, 1, 1)), None);
    }
}
