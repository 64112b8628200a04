//! Platform events: consultations and orders reported by other services. Each event is
//! processed once (by its own id); the first consultation or paid order of a referred patient
//! converts their referral, and every `reward_threshold` conversions of a referrer in a
//! program earn the referrer a reward.
//!
//! One concept over about 700 lines: the event's one transaction, on both paths (PostgreSQL's
//! two function calls and SQLite's statements), side by side so they stay the same.

use crate::audit::NewAuditEntry;
use crate::keyring::Keyring;

/// The caller's audit row and the keyring that signs it, for a use case that writes the
/// row in its own transaction.
pub type AuditWith<'a> = (&'a NewAuditEntry, &'a Keyring);
use crate::conn::{insert_new, write_transaction, DbConnection};
use crate::error::StoreError;
use crate::outbox;
use crate::patients::{self, Patient, PatientRow};
use crate::programs::{self, Program, ProgramRow};
use crate::referrals::{self, Referral, ReferralRow};
use crate::rewards::{self, Grant, Party, Reward};
use crate::rollups::{self, Cohort, Delta};
use crate::schema::{consultations, orders, processed_events, referrals as referrals_table};
use crate::sql_types::{DbTime, DbUuid};
use chrono::SubsecRound;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use referral_domain::conversion;
use referral_domain::policy::calendar_year_of;
use referral_domain::{
    ConsultationId, ConversionTrigger, InducementPolicy, InteractionType, Money, OrderId,
    PartyRewardStatus, PatientId, ReferralId, ReferralStatus, RewardRefusal,
};
use serde::Serialize;

/// A consultation the platform reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationEvent {
    /// The patient.
    pub patient_id: PatientId,
    /// The consultation (the event's own id).
    pub consultation_id: ConsultationId,
    /// When it happened; `None` is now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// An order the platform reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// The patient.
    pub patient_id: PatientId,
    /// The order (the event's own id).
    pub order_id: OrderId,
    /// Amount paid; an order of 0.00 is not a paid order and converts nothing.
    pub amount: Money,
    /// When it happened; `None` is now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
// The conversion is the common outcome on the hot path: kept inline rather than boxed.
#[allow(clippy::large_enum_variant)]
pub enum EventOutcome {
    /// The same event was processed before; nothing changed.
    Duplicate,
    /// Recorded; the patient was not referred (or the order was not paid).
    Recorded,
    /// Recorded; the patient's referral had converted before.
    AlreadyConverted {
        /// The referral.
        referral_id: ReferralId,
    },
    /// This event converted the patient's referral.
    Converted {
        /// The referral.
        referral_id: ReferralId,
        /// The referrer reward this conversion earned, if it completed a batch.
        referrer_reward: Option<Reward>,
    },
}

/// Records a consultation; converts the patient's referral if it is their first.
///
/// `audit` is the caller's audit row, written in the same transaction with outcome
/// `success` (and the referral as its resource, when there is one): the change and its
/// record commit together.
///
/// # Errors
/// Database errors.
pub fn record_consultation(
    conn: &mut DbConnection,
    event: &ConsultationEvent,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<EventOutcome, StoreError> {
    let record = EventRecord {
        kind: EventKind::Consultation(event.consultation_id),
        patient_id: event.patient_id,
        amount_cents: None,
        occurred: event.occurred_at.unwrap_or(now),
        now,
    };
    write_transaction(conn, |conn| record_event(conn, &record, policy, audit))
}

/// Records an order; converts the patient's referral if it is their first paid one. A paid
/// order of a converted referee counts as revenue of their referral's cohort. `audit` as
/// for [`record_consultation`].
///
/// # Errors
/// Database errors.
pub fn record_order(
    conn: &mut DbConnection,
    event: &OrderEvent,
    policy: &InducementPolicy,
    now: DateTime<Utc>,
    audit: Option<AuditWith<'_>>,
) -> Result<EventOutcome, StoreError> {
    let record = EventRecord {
        kind: EventKind::Order(event.order_id),
        patient_id: event.patient_id,
        amount_cents: Some(event.amount.cents()),
        occurred: event.occurred_at.unwrap_or(now),
        now,
    };
    write_transaction(conn, |conn| record_event(conn, &record, policy, audit))
}

/// The event being recorded.
struct EventRecord {
    kind: EventKind,
    patient_id: PatientId,
    /// Orders only.
    amount_cents: Option<i64>,
    occurred: DateTime<Utc>,
    now: DateTime<Utc>,
}

#[derive(Clone, Copy)]
enum EventKind {
    Consultation(ConsultationId),
    Order(OrderId),
}

impl EventRecord {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            EventKind::Consultation(_) => "consultation",
            EventKind::Order(_) => "order",
        }
    }

    fn event_id(&self) -> uuid::Uuid {
        match self.kind {
            EventKind::Consultation(id) => id.as_uuid(),
            EventKind::Order(id) => id.as_uuid(),
        }
    }

    /// Whether the event converts a referral (the domain's rule: unpaid orders do not).
    fn converts(&self) -> bool {
        match self.kind {
            EventKind::Consultation(_) => true,
            EventKind::Order(_) => conversion::order_converts(self.amount_cents),
        }
    }

    fn revenue_cents(&self) -> i64 {
        self.amount_cents.unwrap_or(0)
    }
}

/// What a conversion decides on, read under the referrer's lock.
struct ConversionFacts {
    /// The patient's referral, registered.
    referral: Referral,
    program: Program,
    referrer: Patient,
    /// The referrer's converted referrals in the program not yet counted towards a batch,
    /// oldest first (this one not among them yet).
    uncounted: Vec<DbUuid>,
    /// What the referrer was granted this calendar year (for the yearly cap).
    granted_this_year: Money,
    /// The friend's reported payer (`None`: never reported).
    referee_payer: Option<bool>,
    /// The friend's reported state (`None`: never reported).
    referee_state: Option<String>,
    /// The referral raised a fraud signal: its reward waits for review.
    flagged: bool,
    /// What was refunded of this order before its event arrived (refunds may come first).
    refunded_cents: i64,
    /// This consultation was cancelled before its event arrived.
    cancelled: bool,
}

/// How far recording an event got before anything was decided.
enum Begun {
    /// The same event was processed before.
    Duplicate,
    /// Recorded; the patient was not referred, or the event does not convert.
    Recorded,
    /// Recorded; the patient's referral is not registered (converted before, or never
    /// registered).
    NotRegistered(Box<Referral>),
    /// Recorded; the patient's registered referral may convert.
    Convertible(Box<ConversionFacts>),
}

/// The event's whole transaction: record it, read the facts, decide, write the decision.
fn record_event(
    conn: &mut DbConnection,
    record: &EventRecord,
    policy: &InducementPolicy,
    audit: Option<AuditWith<'_>>,
) -> Result<EventOutcome, StoreError> {
    let now = record.now;
    let outcome = match begin(conn, record)? {
        Begun::Duplicate => EventOutcome::Duplicate,
        Begun::Recorded => EventOutcome::Recorded,
        Begun::NotRegistered(referral) if referral.status == ReferralStatus::Converted => {
            if record.revenue_cents() > 0 {
                let delta = Delta {
                    revenue_cents: record.revenue_cents(),
                    ..Delta::default()
                };
                rollups::bump(conn, &referral.cohort(), delta)?;
            }
            EventOutcome::AlreadyConverted {
                referral_id: referral.id,
            }
        }
        // Only registered referrals link a patient; anything else is left as it is.
        Begun::NotRegistered(_) => EventOutcome::Recorded,
        Begun::Convertible(facts) => {
            // A budgeted program decides one conversion at a time, under its lock.
            let budget =
                rewards::program_budget(conn, facts.program.id, &facts.program.budget, now)?;
            let Some(mut writes) = decide(&facts, &budget, record, policy) else {
                return finish(conn, EventOutcome::Recorded, audit, now);
            };
            writes.audit = audit.map(|(entry, _)| success(entry, Some(facts.referral.id)));
            if let Some(grant) = writes.reward.as_mut() {
                grant.localize_from(conn)?;
            }
            if !apply(conn, &writes, audit.map(|(_, keyring)| keyring))? {
                // Not reachable under the referrer's lock; said plainly if it ever is.
                return finish(
                    conn,
                    EventOutcome::AlreadyConverted {
                        referral_id: facts.referral.id,
                    },
                    audit,
                    now,
                );
            }
            // The platform's webhooks, in the same transaction.
            let mut converted = facts.referral.clone();
            converted.status = ReferralStatus::Converted;
            let mut events = vec![(
                referral_domain::webhook::WebhookEventType::ReferralConverted,
                crate::webhooks::referral_data(&converted),
            )];
            if let Some(grant) = &writes.reward {
                events.extend(crate::webhooks::reward_granted(&grant.reward));
            }
            crate::webhooks::emit_all(conn, &events, now)?;
            return Ok(EventOutcome::Converted {
                referral_id: facts.referral.id,
                referrer_reward: writes.reward.map(|grant| grant.reward),
            });
        }
    };
    finish(conn, outcome, audit, now)
}

/// Writes the audit row of an outcome that wrote no conversion.
fn finish(
    conn: &mut DbConnection,
    outcome: EventOutcome,
    audit: Option<AuditWith<'_>>,
    now: DateTime<Utc>,
) -> Result<EventOutcome, StoreError> {
    if let Some((entry, keyring)) = audit {
        let referral = match &outcome {
            EventOutcome::AlreadyConverted { referral_id }
            | EventOutcome::Converted { referral_id, .. } => Some(*referral_id),
            EventOutcome::Duplicate | EventOutcome::Recorded => None,
        };
        crate::audit::append(conn, keyring, &success(entry, referral), now)?;
    }
    Ok(outcome)
}

/// The caller's audit row with outcome `success`, naming the referral when it did not name
/// a resource itself.
fn success(entry: &NewAuditEntry, referral: Option<ReferralId>) -> NewAuditEntry {
    let mut entry = entry.clone();
    entry.outcome = "success".into();
    if entry.resource_id.is_none() {
        entry.resource_id = referral.map(|id| id.to_string());
    }
    entry
}

/// Records the event (once: by its id) and reads what a conversion decides on, taking the
/// referrer's lock first so that one referrer's conversions are decided one at a time: two
/// conversions never complete the same batch and none is lost.
fn begin(conn: &mut DbConnection, record: &EventRecord) -> Result<Begun, StoreError> {
    match conn {
        DbConnection::Pg(c) => begin_in_postgres(c, record),
        DbConnection::Sqlite(_) => begin_by_statements(conn, record),
    }
}

fn begin_by_statements(conn: &mut DbConnection, record: &EventRecord) -> Result<Begun, StoreError> {
    let now = record.now;
    let event_id = DbUuid(record.event_id());
    let processed = insert_new!(
        conn,
        diesel::insert_into(processed_events::table).values((
            processed_events::event_type.eq(record.kind_name()),
            processed_events::event_id.eq(event_id),
            processed_events::processed_at.eq(DbTime(now)),
        ))
    )?;
    if !processed {
        return Ok(Begun::Duplicate);
    }
    let patient = DbUuid::from(record.patient_id);
    match record.kind {
        EventKind::Consultation(_) => insert_new!(
            conn,
            diesel::insert_into(consultations::table).values((
                consultations::id.eq(event_id),
                consultations::patient_id.eq(patient),
                consultations::occurred_at.eq(DbTime(record.occurred)),
                consultations::created_at.eq(DbTime(now)),
            ))
        )?,
        EventKind::Order(_) => insert_new!(
            conn,
            diesel::insert_into(orders::table).values((
                orders::id.eq(event_id),
                orders::patient_id.eq(patient),
                orders::amount_cents.eq(record.revenue_cents()),
                orders::occurred_at.eq(DbTime(record.occurred)),
                orders::created_at.eq(DbTime(now)),
            ))
        )?,
    };
    if !record.converts() {
        return Ok(Begun::Recorded);
    }
    if !patients::lock_referrer_of(conn, record.patient_id)? {
        return Ok(Begun::Recorded);
    }
    let row: Option<ReferralRow> = referrals_table::table
        .filter(referrals_table::referee_patient_id.eq(Some(patient)))
        .select(ReferralRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else {
        return Ok(Begun::Recorded);
    };
    let referral = row.into_referral(now)?;
    if referral.status != ReferralStatus::Registered {
        return Ok(Begun::NotRegistered(Box::new(referral)));
    }
    let program = programs::get(conn, referral.program_id)?;
    let referrer = patients::get(conn, referral.referrer_id)?;
    let uncounted: Vec<DbUuid> = if !reads_uncounted(&program, &referral) {
        Vec::new()
    } else {
        referrals_table::table
            .filter(referrals_table::referrer_id.eq(DbUuid::from(referral.referrer_id)))
            .filter(referrals_table::program_id.eq(DbUuid::from(referral.program_id)))
            .filter(referrals_table::status.eq(ReferralStatus::Converted.as_str()))
            .filter(referrals_table::referrer_reward_status.eq(PartyRewardStatus::Pending.as_str()))
            .order((
                referrals_table::converted_at.asc(),
                referrals_table::id.asc(),
            ))
            .select(referrals_table::id)
            .load(conn)?
    };
    let granted_this_year = rewards::granted_this_year(conn, referral.referrer_id, now)?;
    let referee = patients::get(conn, record.patient_id)?;
    let (referee_payer, referee_state) = (referee.payer_fact(), referee.state);
    let flagged = referrals::is_flagged(conn, referral.id)?;
    let (refunded_cents, cancelled) = reversed_before(conn, record)?;
    Ok(Begun::Convertible(Box::new(ConversionFacts {
        referral,
        program,
        referrer,
        uncounted,
        granted_this_year,
        referee_payer,
        referee_state,
        flagged,
        refunded_cents,
        cancelled,
    })))
}

/// What was refunded of the event's order, and whether its consultation was cancelled,
/// before the event itself arrived (`referral_event_begin` answers the same).
fn reversed_before(
    conn: &mut DbConnection,
    record: &EventRecord,
) -> Result<(i64, bool), StoreError> {
    use crate::schema::{consultation_cancellations, refunds};
    match record.kind {
        EventKind::Order(order) => {
            let amounts: Vec<i64> = refunds::table
                .filter(refunds::order_id.eq(DbUuid::from(order)))
                .select(refunds::amount_cents)
                .load(conn)?;
            Ok((amounts.into_iter().fold(0i64, i64::saturating_add), false))
        }
        EventKind::Consultation(consultation) => {
            let cancellations: i64 = consultation_cancellations::table
                .filter(consultation_cancellations::consultation_id.eq(DbUuid::from(consultation)))
                .count()
                .get_result(conn)?;
            Ok((0, cancellations > 0))
        }
    }
}

/// With a threshold of one, a pending carrier completes its batch alone and no older
/// conversion is counted with it: the list is not needed (`referral_event_begin` skips it
/// the same way).
fn reads_uncounted(program: &Program, referral: &Referral) -> bool {
    program.reward_threshold > 1 || referral.referrer_reward_status != PartyRewardStatus::Pending
}

diesel::define_sql_function! {
    /// `referral_event_begin` (migration 000008): [`begin_by_statements`] in one round trip.
    #[allow(clippy::too_many_arguments)]
    fn referral_event_begin(
        event_type: diesel::sql_types::Text,
        event_id: diesel::sql_types::Uuid,
        patient_id: diesel::sql_types::Uuid,
        amount_cents: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        occurred_at: diesel::sql_types::Timestamptz,
        now: diesel::sql_types::Timestamptz,
        converts: diesel::sql_types::Bool,
        year_start: diesel::sql_types::Timestamptz,
        year_end: diesel::sql_types::Timestamptz,
        convertible_status: diesel::sql_types::Text,
        uncounted_status: diesel::sql_types::Text,
        uncounted_mirror: diesel::sql_types::Text,
        cap_statuses: diesel::sql_types::Array<diesel::sql_types::Text>,
        face_value_types: diesel::sql_types::Array<diesel::sql_types::Text>,
    ) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    /// `referral_granted_cents`: [`rewards::granted_this_year`]'s sum, in PostgreSQL.
    fn referral_granted_cents(
        patient_id: diesel::sql_types::Uuid,
        from: diesel::sql_types::Timestamptz,
        to: diesel::sql_types::Timestamptz,
        statuses: diesel::sql_types::Array<diesel::sql_types::Text>,
        face_value_types: diesel::sql_types::Array<diesel::sql_types::Text>,
    ) -> diesel::sql_types::BigInt;
}

/// The domain's sets the PostgreSQL functions filter on: they state no rule of their own.
fn cap_statuses() -> Vec<&'static str> {
    referral_domain::policy::CAP_COUNTED_STATUSES
        .iter()
        .map(|s| s.as_str())
        .collect()
}

fn face_value_types() -> Vec<&'static str> {
    referral_domain::RewardType::codes_where(referral_domain::RewardType::has_face_value)
}

/// What a patient's rewards of `now`'s calendar year count for against the caps, summed by
/// PostgreSQL's `referral_granted_cents` with the domain's sets: the path
/// `referral_event_begin` takes. (For the test that compares it with
/// [`rewards::granted_this_year`].)
///
/// # Errors
/// Database errors.
pub fn granted_this_year_in_postgres(
    c: &mut diesel::PgConnection,
    patient: PatientId,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let (start, end) = calendar_year_of(now);
    Ok(diesel::select(referral_granted_cents(
        patient.as_uuid(),
        start,
        end,
        cap_statuses(),
        face_value_types(),
    ))
    .get_result(c)?)
}

diesel::define_sql_function! {
    /// `referral_conversion_apply` (migration 000008): [`apply_by_statements`] in one
    /// round trip; `false` when the referral was no longer registered.
    fn referral_conversion_apply(writes: diesel::sql_types::Text) -> diesel::sql_types::Bool;
}

/// What `referral_event_begin` answers, as JSON: the rows as PostgreSQL's `row_to_json`
/// writes them.
#[derive(serde::Deserialize)]
struct BegunJson {
    duplicate: bool,
    referral: Option<ReferralRow>,
    program: Option<ProgramRow>,
    referrer: Option<PatientRow>,
    #[serde(default)]
    uncounted: Vec<DbUuid>,
    #[serde(default)]
    granted_this_year_cents: i64,
    #[serde(default)]
    referee_payer: Option<bool>,
    #[serde(default)]
    referee_state: Option<String>,
    #[serde(default)]
    flagged: bool,
    #[serde(default)]
    refunded_cents: i64,
    #[serde(default)]
    cancelled: bool,
}

fn begin_in_postgres(
    c: &mut diesel::PgConnection,
    record: &EventRecord,
) -> Result<Begun, StoreError> {
    let (year_start, year_end) = calendar_year_of(record.now);
    let answer: String = diesel::select(referral_event_begin(
        record.kind_name(),
        record.event_id(),
        record.patient_id.as_uuid(),
        record.amount_cents,
        record.occurred,
        record.now,
        record.converts(),
        year_start,
        year_end,
        ReferralStatus::Registered.as_str(),
        ReferralStatus::Converted.as_str(),
        PartyRewardStatus::Pending.as_str(),
        cap_statuses(),
        face_value_types(),
    ))
    .get_result(c)?;
    let begun: BegunJson = serde_json::from_str(&answer)
        .map_err(|e| StoreError::Corrupt(format!("referral_event_begin answered {e}")))?;
    if begun.duplicate {
        return Ok(Begun::Duplicate);
    }
    let Some(row) = begun.referral else {
        return Ok(Begun::Recorded);
    };
    let referral = row.into_referral(record.now)?;
    let (Some(program), Some(referrer)) = (begun.program, begun.referrer) else {
        return Ok(Begun::NotRegistered(Box::new(referral)));
    };
    Ok(Begun::Convertible(Box::new(ConversionFacts {
        referral,
        program: Program::try_from(program)?,
        referrer: Patient::try_from(referrer)?,
        uncounted: begun.uncounted,
        granted_this_year: Money::from_cents(begun.granted_this_year_cents)
            .map_err(|_| StoreError::Corrupt("yearly reward total".into()))?,
        referee_payer: begun.referee_payer,
        referee_state: begun.referee_state,
        flagged: begun.flagged,
        refunded_cents: begun.refunded_cents,
        cancelled: begun.cancelled,
    })))
}

/// Everything a conversion writes, decided before the first write.
struct ConversionWrites {
    referral_id: ReferralId,
    converted_at: DateTime<Utc>,
    trigger: EventKind,
    now: DateTime<Utc>,
    cohort: Cohort,
    /// The cohort's rollup change: the conversion, the reward, the order's revenue.
    delta: Delta,
    /// Older conversions that this one's batch counts.
    counted: Vec<DbUuid>,
    /// This referral's referrer mirror status, when the batch is complete.
    referrer_reward_status: Option<PartyRewardStatus>,
    /// The referrer reward this conversion carries.
    reward: Option<Grant>,
    interaction_id: uuid::Uuid,
    /// The caller's audit row, written with the conversion.
    audit: Option<NewAuditEntry>,
}

/// The domain's decision on the facts ([`referral_domain::conversion::decide`]), as the
/// writes it takes; `None` when the referral cannot convert.
fn decide(
    facts: &ConversionFacts,
    budget: &referral_domain::conversion::ProgramBudget,
    record: &EventRecord,
    policy: &InducementPolicy,
) -> Option<ConversionWrites> {
    let referral = &facts.referral;
    // A refund or cancellation reported before the event itself: it converts nothing.
    let reversed = match record.kind {
        EventKind::Consultation(_) => facts.cancelled,
        EventKind::Order(_) => {
            facts.refunded_cents > 0
                && referral_domain::reversal::refund_reverses(
                    &Money::from_cents(record.revenue_cents()).ok()?,
                    &Money::from_cents(facts.refunded_cents).ok()?,
                    facts.program.min_order_amount.as_ref(),
                )
        }
    };
    if reversed {
        return None;
    }
    // The program's excluded states join the service's for this decision.
    let policy = &facts.program.policy(policy);
    let carrier = DbUuid::from(referral.id);
    let referrer_reward = facts
        .program
        .referrer_reward_in(referral.variant.as_deref());
    let gathered = conversion::ConversionFacts {
        lifecycle: referral_domain::ReferralLifecycle::from_stored(
            referral.status,
            referral.expires_at,
            referral.referee_registered_at,
            referral.converted_at,
        ),
        uncounted_itself: referral.referrer_reward_status == PartyRewardStatus::Pending,
        uncounted: facts
            .uncounted
            .iter()
            .copied()
            .filter(|id| *id != carrier)
            .collect(),
        reward_threshold: facts.program.reward_threshold,
        referrer_reward,
        reward_validity_days: facts.program.reward_validity_days,
        referrer: facts
            .referrer
            .standing(policy, facts.granted_this_year.clone()),
        referee_federal_payer: policy.unknown_payer.is_federal(facts.referee_payer),
        referee_state: facts
            .referee_state
            .as_deref()
            .and_then(|s| referral_domain::UsState::parse(s).ok()),
        program_budget: budget.clone(),
    };
    let event = conversion::ConversionEvent {
        trigger: match record.kind {
            EventKind::Consultation(_) => ConversionTrigger::Consultation,
            EventKind::Order(_) => ConversionTrigger::Order,
        },
        occurred_at: record.occurred,
        // Stored times have microseconds: the reward's times are what a read returns.
        now: record.now.trunc_subsecs(6),
    };
    let decision = conversion::decide(&gathered, &event, policy).ok()?;
    let mut delta = Delta {
        converted: 1,
        revenue_cents: record.revenue_cents(),
        ..Delta::default()
    };
    // A flagged referral's reward waits for review; the program's hold keeps it held.
    let gate = referral_domain::Gate {
        flagged: facts.flagged,
        hold_until: referral_domain::reward::hold_until(event.now, facts.program.reward_hold_days),
    };
    let reward = decision.referrer_reward.as_ref().map(|reward| {
        rewards::grant_of(
            referral.reward_for(),
            &facts.referrer,
            Party::Referrer,
            &reward.spec,
            &reward
                .outcome
                .clone()
                .gated(gate, reward.spec.reward_type, event.now),
            policy.referrer_cadence,
            event.now,
        )
    });
    if let Some(grant) = &reward {
        delta = delta.plus(grant.delta);
    }
    Some(ConversionWrites {
        referral_id: referral.id,
        converted_at: decision.converted_at,
        trigger: record.kind,
        now: record.now,
        cohort: referral.cohort(),
        delta,
        counted: decision.counted.clone(),
        referrer_reward_status: decision.referrer_mirror(),
        reward,
        interaction_id: crate::conn::new_row_id(),
        audit: None,
    })
}

/// Writes a decided conversion; `false` (and nothing written) when the referral was no
/// longer registered.
fn apply(
    conn: &mut DbConnection,
    writes: &ConversionWrites,
    keyring: Option<&Keyring>,
) -> Result<bool, StoreError> {
    let applied = match conn {
        DbConnection::Pg(c) => {
            let json = writes_json(writes).to_string();
            diesel::select(referral_conversion_apply(json)).get_result(c)?
        }
        DbConnection::Sqlite(_) => apply_by_statements(conn, writes)?,
    };
    // The audit row carries a MAC only the service can make, so it is written here, in
    // the same transaction, rather than by the SQL function.
    if let (true, Some(audit), Some(keyring)) = (applied, &writes.audit, keyring) {
        crate::audit::append(conn, keyring, audit, writes.now)?;
    }
    Ok(applied)
}

fn apply_by_statements(
    conn: &mut DbConnection,
    writes: &ConversionWrites,
) -> Result<bool, StoreError> {
    let now = writes.now;
    let (consultation, order) = match writes.trigger {
        EventKind::Consultation(c) => (Some(DbUuid::from(c)), None),
        EventKind::Order(o) => (None, Some(DbUuid::from(o))),
    };
    let target = referrals_table::table.find(DbUuid::from(writes.referral_id));
    let updated = diesel::update(
        target.filter(referrals_table::status.eq(ReferralStatus::Registered.as_str())),
    )
    .set((
        referrals_table::status.eq(ReferralStatus::Converted.as_str()),
        referrals_table::converted_at.eq(Some(DbTime(writes.converted_at))),
        referrals_table::first_consultation_id.eq(consultation),
        referrals_table::first_order_id.eq(order),
        referrals_table::updated_at.eq(DbTime(now)),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Ok(false);
    }
    if let Some(mirror) = writes.referrer_reward_status {
        match &writes.reward {
            Some(grant) => diesel::update(target)
                .set((
                    referrals_table::referrer_reward_status.eq(mirror.as_str()),
                    referrals_table::referrer_reward_earned_at
                        .eq(Some(DbTime(grant.reward.created_at))),
                    referrals_table::referrer_reward_amount_cents.eq(grant.reward.amount_granted()),
                ))
                .execute(conn)?,
            None => diesel::update(target)
                .set(referrals_table::referrer_reward_status.eq(mirror.as_str()))
                .execute(conn)?,
        };
    }
    rollups::bump(conn, &writes.cohort, writes.delta)?;
    rollups::queue_referrer_conversion(conn, writes.interaction_id, &writes.cohort)?;
    referrals::insert_interaction(
        conn,
        writes.interaction_id,
        writes.referral_id,
        InteractionType::Conversion,
        &referrals::RequestOrigin::default(),
        None,
        now,
    )?;
    if !writes.counted.is_empty() {
        diesel::update(referrals_table::table.filter(referrals_table::id.eq_any(&writes.counted)))
            .set((
                referrals_table::referrer_reward_status.eq(PartyRewardStatus::Counted.as_str()),
                referrals_table::updated_at.eq(DbTime(now)),
            ))
            .execute(conn)?;
    }
    if let Some(grant) = &writes.reward {
        rewards::insert(conn, &grant.reward)?;
        if let Some(notice) = &grant.notice {
            outbox::enqueue(conn, notice, grant.reward.created_at)?;
        }
    }
    Ok(true)
}

/// The writes as `referral_conversion_apply` reads them.
fn writes_json(writes: &ConversionWrites) -> serde_json::Value {
    use serde_json::json;
    let (consultation, order) = match writes.trigger {
        EventKind::Consultation(c) => (Some(c.as_uuid()), None),
        EventKind::Order(o) => (None, Some(o.as_uuid())),
    };
    let d = writes.delta;
    let reward = writes.reward.as_ref().map(|grant| {
        let r = &grant.reward;
        json!({
            "id": r.id,
            "patient_id": r.patient_id,
            "party": r.party.as_str(),
            "reward_type": r.reward_type.as_str(),
            "reward_amount_cents": r.reward_amount.as_ref().map(Money::cents),
            "mirror_amount_cents": r.amount_granted(),
            "reward_description": r.reward_description,
            "status": r.status.as_str(),
            "withheld_reason": r.withheld_reason.map(RewardRefusal::as_str),
            "expires_at": r.expires_at,
            "hold_until": r.hold_until,
            "released_at": r.released_at,
            "created_at": r.created_at,
        })
    });
    let notice = writes
        .reward
        .as_ref()
        .and_then(|grant| grant.notice.as_ref())
        .map(|n| {
            json!({
                "id": crate::conn::new_row_id(),
                "kind": n.kind.as_str(),
                "idempotency_key": n.idempotency_key,
                "recipient": n.recipient,
                "template": n.message.template(),
                "payload": n.message.payload(),
            })
        });
    // Written by `apply` with its MAC; the SQL function writes none.
    let audit: Option<serde_json::Value> = None;
    json!({
        "referral_id": writes.referral_id,
        "converted_at": writes.converted_at,
        "first_consultation_id": consultation,
        "first_order_id": order,
        "now": writes.now,
        "program_id": writes.cohort.program_id.0,
        "day": writes.cohort.day,
        "variant": writes.cohort.variant,
        "referrer_id": writes.cohort.referrer_id.0,
        "converted": d.converted,
        "rewards_granted": d.rewards_granted,
        "rewards_withheld": d.rewards_withheld,
        "reward_value_cents": d.reward_value_cents,
        "revenue_cents": d.revenue_cents,
        "counted": writes.counted.iter().map(|id| id.0).collect::<Vec<_>>(),
        "referrer_reward_status": writes.referrer_reward_status.map(PartyRewardStatus::as_str),
        "interaction_id": writes.interaction_id,
        "reward": reward,
        "notice": notice,
        "audit": audit,
    })
}
