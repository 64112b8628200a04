-- See the PostgreSQL migration of the same name.
CREATE TABLE registration_verifications (
    id                  TEXT PRIMARY KEY,
    token_hash          TEXT NOT NULL UNIQUE,
    referral_id         TEXT NOT NULL REFERENCES referrals(id),
    email               TEXT NOT NULL,
    name                TEXT,
    phone               TEXT,
    share_with_referrer BOOLEAN NOT NULL DEFAULT false,
    expires_at          TEXT NOT NULL,
    used_at             TEXT,
    created_at          TEXT NOT NULL
);
CREATE INDEX idx_registration_verifications_referral ON registration_verifications(referral_id);
