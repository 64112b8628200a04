//! The Diesel schema, shared by both databases through the portable SQL types.

// Written by hand to match migrations/postgres and migrations/sqlite; the portable types
// (see `sql_types`) stand for uuid, timestamptz, jsonb, text[] and inet.

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    providers (id) {
        id -> PortableUuid,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    patients (id) {
        id -> PortableUuid,
        email -> Text,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        date_of_birth -> Nullable<Date>,
        state -> Nullable<Text>,
        conditions -> PortableTextArray,
        federal_payer -> Bool,
        lock_version -> BigInt,
        created_at -> PortableTimestamptz,
        updated_at -> PortableTimestamptz,
        payer_reported -> Bool,
        facts_reported_at -> Nullable<PortableTimestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_programs (id) {
        id -> PortableUuid,
        name -> Text,
        description -> Nullable<Text>,
        program_type -> Text,
        referrer_reward_type -> Nullable<Text>,
        referrer_reward_value_cents -> Nullable<BigInt>,
        referee_reward_type -> Nullable<Text>,
        referee_reward_value_cents -> Nullable<BigInt>,
        max_referrals_per_patient -> Nullable<Integer>,
        reward_threshold -> Integer,
        expiry_days -> Integer,
        reward_validity_days -> Integer,
        status -> Text,
        start_date -> Nullable<Date>,
        end_date -> Nullable<Date>,
        target_conditions -> PortableTextArray,
        target_demographics -> PortableJson,
        created_by -> Nullable<PortableUuid>,
        variants -> PortableJson,
        created_at -> PortableTimestamptz,
        updated_at -> PortableTimestamptz,
        excluded_states -> PortableTextArray,
        sms_delivery -> Text,
        budget_total_cents -> Nullable<BigInt>,
        budget_monthly_cents -> Nullable<BigInt>,
        reward_hold_days -> Integer,
        min_order_amount_cents -> Nullable<BigInt>,
        public_name -> Nullable<Text>,
        booking_url -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    consultations (id) {
        id -> PortableUuid,
        patient_id -> PortableUuid,
        occurred_at -> PortableTimestamptz,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    orders (id) {
        id -> PortableUuid,
        patient_id -> PortableUuid,
        amount_cents -> BigInt,
        occurred_at -> PortableTimestamptz,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referrals (id) {
        id -> PortableUuid,
        referral_code -> Text,
        referrer_id -> PortableUuid,
        referee_email -> Text,
        referee_phone -> Nullable<Text>,
        referee_name -> Nullable<Text>,
        referee_patient_id -> Nullable<PortableUuid>,
        program_id -> PortableUuid,
        referral_source -> Nullable<Text>,
        referral_message -> Nullable<Text>,
        status -> Text,
        referee_registered_at -> Nullable<PortableTimestamptz>,
        first_consultation_id -> Nullable<PortableUuid>,
        first_order_id -> Nullable<PortableUuid>,
        converted_at -> Nullable<PortableTimestamptz>,
        referrer_reward_status -> Text,
        referrer_reward_earned_at -> Nullable<PortableTimestamptz>,
        referrer_reward_redeemed_at -> Nullable<PortableTimestamptz>,
        referrer_reward_amount_cents -> Nullable<BigInt>,
        referee_reward_status -> Text,
        referee_reward_redeemed_at -> Nullable<PortableTimestamptz>,
        referee_reward_amount_cents -> Nullable<BigInt>,
        expires_at -> PortableTimestamptz,
        created_at -> PortableTimestamptz,
        updated_at -> PortableTimestamptz,
        variant -> Nullable<Text>,
        first_clicked_at -> Nullable<PortableTimestamptz>,
        referee_shares_with_referrer -> Bool,
        referee_share_consent_at -> Nullable<PortableTimestamptz>,
        referee_share_consent_wording -> Nullable<Text>,
        invitation_withheld -> Bool,
        sms_on_device -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_interactions (id) {
        id -> PortableUuid,
        referral_id -> PortableUuid,
        interaction_type -> Text,
        ip_address -> Nullable<PortableInet>,
        user_agent -> Nullable<Text>,
        source -> Nullable<Text>,
        metadata -> Nullable<PortableJson>,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_rewards (id) {
        id -> PortableUuid,
        referral_id -> PortableUuid,
        patient_id -> PortableUuid,
        party -> Text,
        reward_type -> Text,
        reward_amount_cents -> Nullable<BigInt>,
        reward_description -> Nullable<Text>,
        status -> Text,
        withheld_reason -> Nullable<Text>,
        used_on_order_id -> Nullable<PortableUuid>,
        used_on_consultation_id -> Nullable<PortableUuid>,
        used_at -> Nullable<PortableTimestamptz>,
        expires_at -> Nullable<PortableTimestamptz>,
        created_at -> PortableTimestamptz,
        updated_at -> PortableTimestamptz,
        applied_amount_cents -> Nullable<BigInt>,
        hold_until -> Nullable<PortableTimestamptz>,
        cancel_reason -> Nullable<Text>,
        released_at -> Nullable<PortableTimestamptz>,
        release_notified_at -> Nullable<PortableTimestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    audit_log (id) {
        id -> PortableUuid,
        actor_id -> Nullable<PortableUuid>,
        actor_role -> Text,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        outcome -> Text,
        ip_address -> Nullable<PortableInet>,
        user_agent -> Nullable<Text>,
        created_at -> PortableTimestamptz,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        row_hash -> Nullable<Text>,
        mac -> Nullable<Text>,
        key_id -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_daily_stats (program_id, day, variant) {
        program_id -> PortableUuid,
        day -> Text,
        variant -> Text,
        referrals -> BigInt,
        clicked -> BigInt,
        registered -> BigInt,
        converted -> BigInt,
        rewards_granted -> BigInt,
        rewards_withheld -> BigInt,
        reward_value_cents -> BigInt,
        rewards_paid_cents -> BigInt,
        revenue_cents -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referrer_stats (program_id, referrer_id) {
        referrer_id -> PortableUuid,
        program_id -> PortableUuid,
        referrals -> BigInt,
        converted -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referrer_stats_pending (id) {
        id -> PortableUuid,
        program_id -> PortableUuid,
        referrer_id -> PortableUuid,
    }
}

diesel::table! {
    audit_chain_head (id) {
        id -> SmallInt,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    outbox (id) {
        id -> PortableUuid,
        kind -> Text,
        idempotency_key -> Text,
        recipient -> Text,
        template -> Text,
        payload -> PortableJson,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> PortableTimestamptz,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<PortableTimestamptz>,
        created_at -> PortableTimestamptz,
        updated_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    processed_events (event_type, event_id) {
        event_type -> Text,
        event_id -> PortableUuid,
        processed_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    registration_verifications (id) {
        id -> PortableUuid,
        token_hash -> Text,
        referral_id -> Nullable<PortableUuid>,
        email -> Text,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        share_with_referrer -> Bool,
        expires_at -> PortableTimestamptz,
        used_at -> Nullable<PortableTimestamptz>,
        created_at -> PortableTimestamptz,
        ip_address -> Nullable<PortableInet>,
        user_agent -> Nullable<Text>,
        locale -> Nullable<Text>,
        share_link_id -> Nullable<PortableUuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_locales (referral_id) {
        referral_id -> PortableUuid,
        locale -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    sms_consents (id) {
        id -> PortableUuid,
        referral_id -> PortableUuid,
        referrer_id -> PortableUuid,
        phone -> Nullable<Text>,
        phone_hash -> Nullable<Text>,
        wording -> Text,
        ip_address -> Nullable<PortableInet>,
        user_agent -> Nullable<Text>,
        attested_at -> PortableTimestamptz,
        proof_erased_at -> Nullable<PortableTimestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_signals (referral_id, signal) {
        referral_id -> PortableUuid,
        signal -> Text,
        raised_at -> PortableTimestamptz,
        evidence -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    reward_reviews (reward_id) {
        reward_id -> PortableUuid,
        approved -> Bool,
        reason -> Text,
        decided_by -> Nullable<PortableUuid>,
        decided_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    refunds (id) {
        id -> PortableUuid,
        order_id -> PortableUuid,
        patient_id -> PortableUuid,
        amount_cents -> BigInt,
        occurred_at -> PortableTimestamptz,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    consultation_cancellations (id) {
        id -> PortableUuid,
        consultation_id -> PortableUuid,
        patient_id -> PortableUuid,
        occurred_at -> PortableTimestamptz,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    referral_reversals (referral_id) {
        referral_id -> PortableUuid,
        reason -> Text,
        event_id -> PortableUuid,
        reversed_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    reward_clawbacks (reward_id) {
        reward_id -> PortableUuid,
        referral_id -> PortableUuid,
        patient_id -> PortableUuid,
        amount_cents -> Nullable<BigInt>,
        reason -> Text,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    share_links (id) {
        id -> PortableUuid,
        patient_id -> PortableUuid,
        program_id -> PortableUuid,
        referral_code -> Text,
        clicks -> BigInt,
        created_at -> PortableTimestamptz,
        retired_at -> Nullable<PortableTimestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    share_link_referrals (referral_id) {
        referral_id -> PortableUuid,
        share_link_id -> PortableUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    webhook_endpoints (id) {
        id -> PortableUuid,
        url -> Text,
        events -> PortableTextArray,
        description -> Nullable<Text>,
        enabled -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<PortableTimestamptz>,
        failing_since -> Nullable<PortableTimestamptz>,
        disabled_reason -> Nullable<Text>,
        created_at -> PortableTimestamptz,
        updated_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    confirmation_sends (address_key, sent_at) {
        address_key -> Text,
        sent_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    inbound_signatures (provider, signature_hash) {
        provider -> Text,
        signature_hash -> Text,
        received_at -> PortableTimestamptz,
    }
}

diesel::joinable!(referrals -> referral_programs (program_id));
diesel::joinable!(share_link_referrals -> share_links (share_link_id));
diesel::joinable!(referral_interactions -> referrals (referral_id));
diesel::joinable!(referral_rewards -> referrals (referral_id));
diesel::joinable!(reward_reviews -> referral_rewards (reward_id));
diesel::joinable!(reward_clawbacks -> referral_rewards (reward_id));
diesel::joinable!(referral_signals -> referrals (referral_id));
diesel::joinable!(referral_reversals -> referrals (referral_id));

diesel::allow_tables_to_appear_in_same_query!(
    confirmation_sends,
    inbound_signatures,
    providers,
    referral_locales,
    registration_verifications,
    referral_signals,
    reward_reviews,
    refunds,
    consultation_cancellations,
    referral_reversals,
    reward_clawbacks,
    share_links,
    share_link_referrals,
    webhook_endpoints,
    sms_consents,
    patients,
    referral_programs,
    consultations,
    orders,
    referrals,
    referral_interactions,
    referral_rewards,
    audit_log,
    audit_chain_head,
    referral_daily_stats,
    referrer_stats,
    referrer_stats_pending,
    outbox,
    processed_events,
    suppressions,
);

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    suppressions (recipient_hash) {
        recipient_hash -> Text,
        created_at -> PortableTimestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::sql_types::*;

    rate_limit_hits (key, window_start) {
        key -> Text,
        window_start -> PortableTimestamptz,
        hits -> BigInt,
    }
}
