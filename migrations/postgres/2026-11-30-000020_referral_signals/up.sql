-- Fraud signals a registration raised (#23), by code, for the admins' second look.
CREATE TABLE referral_signals (
    referral_id uuid NOT NULL REFERENCES referrals(id),
    signal      text NOT NULL,
    raised_at   timestamptz NOT NULL,
    PRIMARY KEY (referral_id, signal)
);
