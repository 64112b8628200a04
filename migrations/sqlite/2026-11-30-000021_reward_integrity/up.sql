-- See the PostgreSQL migration of the same name.
ALTER TABLE referral_signals ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';
ALTER TABLE referral_programs ADD COLUMN reward_hold_days INTEGER NOT NULL DEFAULT 0
    CHECK (reward_hold_days >= 0);
ALTER TABLE referral_programs ADD COLUMN min_order_amount_cents BIGINT;
-- A held reward's end of hold; why a granted reward was cancelled later.
ALTER TABLE referral_rewards ADD COLUMN hold_until TEXT;
ALTER TABLE referral_rewards ADD COLUMN cancel_reason TEXT;
CREATE INDEX idx_referral_rewards_held ON referral_rewards(hold_until) WHERE status = 'held';
CREATE INDEX idx_referral_rewards_review ON referral_rewards(created_at, id) WHERE status = 'in_review';
-- Where the first step of a visitor's registration came from (same_network).
ALTER TABLE registration_verifications ADD COLUMN ip_address TEXT;
ALTER TABLE registration_verifications ADD COLUMN user_agent TEXT;
-- An admin's review decision on a flagged reward, with the reason they gave.
CREATE TABLE reward_reviews (
    reward_id  TEXT PRIMARY KEY REFERENCES referral_rewards(id),
    approved   BOOLEAN NOT NULL,
    reason     TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT NOT NULL
);
-- Refunds and cancellations the platform reports (each once: processed_events).
CREATE TABLE refunds (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    patient_id   TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 0),
    occurred_at  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX idx_refunds_order ON refunds(order_id);
CREATE TABLE consultation_cancellations (
    id              TEXT PRIMARY KEY,
    consultation_id TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX idx_consultation_cancellations_consultation ON consultation_cancellations(consultation_id);
-- Why and when a converted referral was reversed.
CREATE TABLE referral_reversals (
    referral_id TEXT PRIMARY KEY REFERENCES referrals(id),
    reason      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    reversed_at TEXT NOT NULL
);
-- A reward used or paid before its conversion was reversed: for the admins to recover.
CREATE TABLE reward_clawbacks (
    reward_id    TEXT PRIMARY KEY REFERENCES referral_rewards(id),
    referral_id  TEXT NOT NULL REFERENCES referrals(id),
    patient_id   TEXT NOT NULL,
    amount_cents BIGINT,
    reason       TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX idx_referrals_referrer_registered ON referrals(referrer_id, referee_registered_at);
