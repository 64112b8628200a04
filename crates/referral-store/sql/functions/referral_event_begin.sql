-- referral_event_begin: records a consultation or order event once and reads, under the
-- referrer's lock, the facts a conversion is decided on (events.rs: begin_by_statements
-- is the same on SQLite). Applied with CREATE OR REPLACE by the functions migration
-- (migrate.rs) whenever this file changes.
-- Records the event once (by its id); for a converting event, takes the referrer's lock
-- (through the referee's referral) and answers, as JSON text: {"duplicate": bool,
-- "referral": row, and for a registered referral "program", "referrer", "uncounted" (the
-- referrer's converted referrals in the program not yet counted towards a batch, oldest
-- first) and "granted_this_year_cents"}.
-- The SQL states no rule of its own: the domain's sets arrive as arguments (events.rs,
-- `RuleSets`): the referral status a conversion starts from, the status and mirror of a
-- conversion not yet counted towards a batch, and, for the yearly caps, the counted
-- statuses and the types counted at face value (the others count what they gave).
DROP FUNCTION IF EXISTS referral_event_begin(
    text, uuid, uuid, bigint, timestamptz, timestamptz, boolean, timestamptz, timestamptz);
CREATE OR REPLACE FUNCTION referral_event_begin(
    p_event_type text, p_event_id uuid, p_patient_id uuid, p_amount_cents bigint,
    p_occurred_at timestamptz, p_now timestamptz, p_converts boolean,
    p_year_start timestamptz, p_year_end timestamptz,
    p_convertible_status text, p_uncounted_status text, p_uncounted_mirror text,
    p_cap_statuses text[], p_face_value_types text[]
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_referral referrals%ROWTYPE;
    v_program referral_programs%ROWTYPE;
    v_referrer patients%ROWTYPE;
    v_uncounted uuid[];
    v_granted bigint;
BEGIN
    INSERT INTO processed_events (event_type, event_id, processed_at)
    VALUES (p_event_type, p_event_id, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN '{"duplicate": true}';
    END IF;
    IF p_event_type = 'consultation' THEN
        INSERT INTO consultations (id, patient_id, occurred_at, created_at)
        VALUES (p_event_id, p_patient_id, p_occurred_at, p_now)
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO orders (id, patient_id, amount_cents, occurred_at, created_at)
        VALUES (p_event_id, p_patient_id, p_amount_cents, p_occurred_at, p_now)
        ON CONFLICT DO NOTHING;
    END IF;
    IF NOT p_converts THEN
        RETURN '{"duplicate": false}';
    END IF;

    -- The referrer's row lock (FOR UPDATE: a lock without writing a new row version, which
    -- the statement path's lock_version bump does; the two conflict, so they serialise the
    -- same way).
    PERFORM 1 FROM patients
    WHERE id = (SELECT referrer_id FROM referrals WHERE referee_patient_id = p_patient_id)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN '{"duplicate": false}';
    END IF;
    -- Read after the lock: the referral as the lock holder left it.
    SELECT * INTO v_referral FROM referrals WHERE referee_patient_id = p_patient_id LIMIT 1;
    IF NOT FOUND THEN
        RETURN '{"duplicate": false}';
    END IF;
    IF v_referral.status <> p_convertible_status THEN
        RETURN json_build_object('duplicate', false, 'referral', row_to_json(v_referral))::text;
    END IF;

    SELECT * INTO v_program FROM referral_programs WHERE id = v_referral.program_id;
    SELECT * INTO v_referrer FROM patients WHERE id = v_referral.referrer_id;
    -- With a threshold of one, a pending carrier completes its batch alone and counts no
    -- older conversion: the list is not needed (`reads_uncounted` in events.rs).
    IF v_program.reward_threshold > 1 OR v_referral.referrer_reward_status <> p_uncounted_mirror THEN
        SELECT coalesce(array_agg(id ORDER BY converted_at, id), '{}') INTO v_uncounted
        FROM referrals
        WHERE referrer_id = v_referral.referrer_id AND program_id = v_referral.program_id
          AND status = p_uncounted_status AND referrer_reward_status = p_uncounted_mirror;
    ELSE
        v_uncounted := '{}';
    END IF;
    v_granted := referral_granted_cents(v_referral.referrer_id, p_year_start, p_year_end,
                                        p_cap_statuses, p_face_value_types);
    RETURN json_build_object(
        'duplicate', false,
        'referral', row_to_json(v_referral),
        'program', row_to_json(v_program),
        'referrer', row_to_json(v_referrer),
        'uncounted', v_uncounted,
        'granted_this_year_cents', v_granted,
        -- The friend's reported payer (null: never reported), for the anti-kickback rule.
        'referee_payer', (SELECT CASE WHEN payer_reported THEN federal_payer END
                          FROM patients WHERE id = p_patient_id),
        -- And their reported state, for the states where rewards are excluded.
        'referee_state', (SELECT state FROM patients WHERE id = p_patient_id),
        -- A fraud signal sends the reward to review.
        'flagged', EXISTS (SELECT 1 FROM referral_signals WHERE referral_id = v_referral.id),
        -- A refund or cancellation that arrived before this event.
        'refunded_cents', CASE WHEN p_event_type = 'order' THEN
            (SELECT coalesce(sum(amount_cents), 0) FROM refunds WHERE order_id = p_event_id)
            ELSE 0 END,
        'cancelled', p_event_type = 'consultation' AND EXISTS (
            SELECT 1 FROM consultation_cancellations WHERE consultation_id = p_event_id))::text;
END;
$$;
