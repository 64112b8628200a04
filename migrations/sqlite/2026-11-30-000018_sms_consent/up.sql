-- See the PostgreSQL migration of the same name.
CREATE TABLE sms_consents (
    id          TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    referrer_id TEXT NOT NULL,
    phone       TEXT NOT NULL,
    wording     TEXT NOT NULL,
    ip_address  TEXT,
    user_agent  TEXT,
    attested_at TEXT NOT NULL
);
CREATE INDEX idx_sms_consents_referral ON sms_consents(referral_id);
ALTER TABLE referral_programs ADD COLUMN sms_delivery TEXT NOT NULL DEFAULT 'platform';
ALTER TABLE referrals ADD COLUMN sms_on_device BOOLEAN NOT NULL DEFAULT false;
