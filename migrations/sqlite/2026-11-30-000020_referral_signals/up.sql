-- See the PostgreSQL migration of the same name.
CREATE TABLE referral_signals (
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    signal      TEXT NOT NULL,
    raised_at   TEXT NOT NULL,
    PRIMARY KEY (referral_id, signal)
);
