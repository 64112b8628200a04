-- referral_conversion_apply: writes a conversion the domain decided (events.rs:
-- apply_by_statements is the same on SQLite). Applied with CREATE OR REPLACE by the
-- functions migration (migrate.rs) whenever this file changes.
-- Writes a decided conversion (JSON text, see `writes_json` in events.rs); false, writing
-- nothing, when the referral is no longer registered.
CREATE OR REPLACE FUNCTION referral_conversion_apply(p_writes text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    w jsonb := p_writes::jsonb;
    v_referral_id uuid := w->>'referral_id';
    v_converted_at timestamptz := w->>'converted_at';
    v_first_consultation_id uuid := w->>'first_consultation_id';
    v_first_order_id uuid := w->>'first_order_id';
    v_now timestamptz := w->>'now';
    v_program_id uuid := w->>'program_id';
    v_referrer_id uuid := w->>'referrer_id';
    v_referrer_reward_status text := w->>'referrer_reward_status';
    r jsonb := w->'reward';
    v_reward_id uuid := r->>'id';
    v_reward_created_at timestamptz := r->>'created_at';
    n jsonb := w->'notice';
    a jsonb := w->'audit';
BEGIN
    UPDATE referrals SET
        status = 'converted',
        converted_at = v_converted_at,
        first_consultation_id = v_first_consultation_id,
        first_order_id = v_first_order_id,
        updated_at = v_now,
        referrer_reward_status = coalesce(v_referrer_reward_status, referrer_reward_status),
        referrer_reward_earned_at = CASE WHEN v_reward_id IS NULL
            THEN referrer_reward_earned_at ELSE v_reward_created_at END,
        referrer_reward_amount_cents = CASE WHEN v_reward_id IS NULL
            THEN referrer_reward_amount_cents ELSE (r->>'mirror_amount_cents')::bigint END
    WHERE id = v_referral_id AND status = 'registered';
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    INSERT INTO referral_daily_stats AS s (program_id, day, variant, converted, rewards_granted,
        rewards_withheld, reward_value_cents, revenue_cents)
    VALUES (v_program_id, w->>'day', w->>'variant', (w->>'converted')::bigint,
        (w->>'rewards_granted')::bigint, (w->>'rewards_withheld')::bigint,
        (w->>'reward_value_cents')::bigint, (w->>'revenue_cents')::bigint)
    ON CONFLICT (program_id, day, variant) DO UPDATE SET
        converted = s.converted + excluded.converted,
        rewards_granted = s.rewards_granted + excluded.rewards_granted,
        rewards_withheld = s.rewards_withheld + excluded.rewards_withheld,
        reward_value_cents = s.reward_value_cents + excluded.reward_value_cents,
        revenue_cents = s.revenue_cents + excluded.revenue_cents;
    -- Queued for referrer_stats (folded in batches, and before it is read): see up.sql's head.
    INSERT INTO referrer_stats_pending (id, program_id, referrer_id)
    VALUES ((w->>'interaction_id')::uuid, v_program_id, v_referrer_id);
    INSERT INTO referral_interactions (id, referral_id, interaction_type, created_at)
    VALUES ((w->>'interaction_id')::uuid, v_referral_id, 'conversion', v_now);

    IF jsonb_array_length(w->'counted') > 0 THEN
        UPDATE referrals SET referrer_reward_status = 'counted', updated_at = v_now
        WHERE id IN (SELECT jsonb_array_elements_text(w->'counted')::uuid);
    END IF;
    IF v_reward_id IS NOT NULL THEN
        INSERT INTO referral_rewards (id, referral_id, patient_id, party, reward_type,
            reward_amount_cents, reward_description, status, withheld_reason, expires_at,
            hold_until, released_at, created_at, updated_at)
        VALUES (v_reward_id, v_referral_id, (r->>'patient_id')::uuid, r->>'party',
            r->>'reward_type', (r->>'reward_amount_cents')::bigint, r->>'reward_description',
            r->>'status', r->>'withheld_reason', (r->>'expires_at')::timestamptz,
            (r->>'hold_until')::timestamptz, (r->>'released_at')::timestamptz,
            v_reward_created_at, v_reward_created_at);
    END IF;
    IF jsonb_typeof(n) = 'object' THEN
        INSERT INTO outbox (id, kind, idempotency_key, recipient, template, payload, status,
            attempts, next_attempt_at, created_at, updated_at)
        VALUES ((n->>'id')::uuid, n->>'kind', n->>'idempotency_key', n->>'recipient',
            n->>'template', n->'payload', 'queued', 0, v_reward_created_at,
            v_reward_created_at, v_reward_created_at)
        ON CONFLICT DO NOTHING;
    END IF;
    IF jsonb_typeof(a) = 'object' THEN
        INSERT INTO audit_log (id, actor_id, actor_role, action, resource_type, resource_id,
            outcome, ip_address, user_agent, created_at)
        VALUES ((a->>'id')::uuid, (a->>'actor_id')::uuid, a->>'actor_role', a->>'action',
            a->>'resource_type', a->>'resource_id', a->>'outcome', (a->>'ip_address')::inet,
            a->>'user_agent', (a->>'created_at')::timestamptz);
    END IF;
    RETURN true;
END;
$$;
