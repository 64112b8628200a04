-- referral_granted_cents: what a patient's rewards created in [p_from, p_to) count for
-- against the yearly caps, in cents: the domain's `counted_cents` over the rows in one of
-- `p_statuses` (CAP_COUNTED_STATUSES): a type in `p_face_value_types` counts its amount,
-- any other what it gave when used. Rust's `rewards::granted_this_year` is the same sum on
-- SQLite; a property test compares the two on random ledgers. Applied by the functions
-- migration (migrate.rs), before referral_event_begin, which calls it.
CREATE OR REPLACE FUNCTION referral_granted_cents(
    p_patient_id uuid, p_from timestamptz, p_to timestamptz,
    p_statuses text[], p_face_value_types text[]
) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
-- PL/pgSQL binds late: the function is created by the functions migration, which sorts
-- before the versioned migrations that added some of these columns.
BEGIN
    RETURN (SELECT coalesce(sum(CASE WHEN reward_type = ANY(p_face_value_types)
                                     THEN coalesce(reward_amount_cents, 0)
                                     ELSE coalesce(applied_amount_cents, 0) END), 0)::bigint
            FROM referral_rewards
            WHERE patient_id = p_patient_id AND status = ANY(p_statuses)
              AND created_at >= p_from AND created_at < p_to);
END;
$$;
