DROP INDEX uq_referrals_open_referee;
CREATE UNIQUE INDEX uq_referrals_open_referee ON referrals(program_id, referrer_id, referee_email)
    WHERE status IN ('pending', 'registered');
CREATE TABLE sms_consents_old (
    id          TEXT PRIMARY KEY,
    referral_id TEXT NOT NULL REFERENCES referrals(id),
    referrer_id TEXT NOT NULL,
    phone       TEXT NOT NULL,
    wording     TEXT NOT NULL,
    ip_address  TEXT,
    user_agent  TEXT,
    attested_at TEXT NOT NULL
);
INSERT INTO sms_consents_old SELECT id, referral_id, referrer_id, COALESCE(phone, ''), wording, ip_address, user_agent, attested_at FROM sms_consents;
DROP TABLE sms_consents;
ALTER TABLE sms_consents_old RENAME TO sms_consents;
CREATE INDEX idx_sms_consents_referral ON sms_consents(referral_id);
