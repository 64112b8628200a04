-- Reward integrity (#23): holding periods, reviews, reversals and the evidence of signals.
ALTER TABLE referral_signals ADD COLUMN evidence text NOT NULL DEFAULT '{}';
ALTER TABLE referral_programs ADD COLUMN reward_hold_days integer NOT NULL DEFAULT 0
    CHECK (reward_hold_days >= 0);
ALTER TABLE referral_programs ADD COLUMN min_order_amount_cents bigint;
-- A held reward's end of hold; why a granted reward was cancelled later.
ALTER TABLE referral_rewards ADD COLUMN hold_until timestamptz;
ALTER TABLE referral_rewards ADD COLUMN cancel_reason text;
CREATE INDEX idx_referral_rewards_held ON referral_rewards(hold_until) WHERE status = 'held';
CREATE INDEX idx_referral_rewards_review ON referral_rewards(created_at, id) WHERE status = 'in_review';
-- Where the first step of a visitor's registration came from (same_network).
ALTER TABLE registration_verifications ADD COLUMN ip_address inet;
ALTER TABLE registration_verifications ADD COLUMN user_agent text;
-- An admin's review decision on a flagged reward, with the reason they gave.
CREATE TABLE reward_reviews (
    reward_id  uuid PRIMARY KEY REFERENCES referral_rewards(id),
    approved   boolean NOT NULL,
    reason     text NOT NULL,
    decided_by uuid,
    decided_at timestamptz NOT NULL
);
-- Refunds and cancellations the platform reports (each once: processed_events).
CREATE TABLE refunds (
    id           uuid PRIMARY KEY,
    order_id     uuid NOT NULL,
    patient_id   uuid NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX idx_refunds_order ON refunds(order_id);
CREATE TABLE consultation_cancellations (
    id              uuid PRIMARY KEY,
    consultation_id uuid NOT NULL,
    patient_id      uuid NOT NULL,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX idx_consultation_cancellations_consultation ON consultation_cancellations(consultation_id);
-- Why and when a converted referral was reversed.
CREATE TABLE referral_reversals (
    referral_id uuid PRIMARY KEY REFERENCES referrals(id),
    reason      text NOT NULL,
    event_id    uuid NOT NULL,
    reversed_at timestamptz NOT NULL
);
-- A reward used or paid before its conversion was reversed: for the admins to recover.
CREATE TABLE reward_clawbacks (
    reward_id    uuid PRIMARY KEY REFERENCES referral_rewards(id),
    referral_id  uuid NOT NULL REFERENCES referrals(id),
    patient_id   uuid NOT NULL,
    amount_cents bigint,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX idx_referrals_referrer_registered ON referrals(referrer_id, referee_registered_at);
