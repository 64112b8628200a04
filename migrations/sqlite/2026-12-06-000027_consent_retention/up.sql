-- See the PostgreSQL migration of the same name (SQLite rebuilds the table to let `phone`
-- be empty).
CREATE TABLE sms_consents_new (
    id              TEXT PRIMARY KEY,
    referral_id     TEXT NOT NULL REFERENCES referrals(id),
    referrer_id     TEXT NOT NULL,
    phone           TEXT,
    wording         TEXT NOT NULL,
    ip_address      TEXT,
    user_agent      TEXT,
    attested_at     TEXT NOT NULL,
    phone_hash      TEXT,
    proof_erased_at TEXT
);
INSERT INTO sms_consents_new (id, referral_id, referrer_id, phone, wording, ip_address, user_agent, attested_at)
    SELECT id, referral_id, referrer_id, phone, wording, ip_address, user_agent, attested_at FROM sms_consents;
DROP TABLE sms_consents;
ALTER TABLE sms_consents_new RENAME TO sms_consents;
CREATE INDEX idx_sms_consents_referral ON sms_consents(referral_id);
CREATE INDEX idx_sms_consents_attested ON sms_consents(attested_at);
-- Contact details are now erased by the invitation's date whatever became of it (#30), so
-- a registered referral may be erased too: erased rows are not open invitations to anyone.
DROP INDEX uq_referrals_open_referee;
CREATE UNIQUE INDEX uq_referrals_open_referee ON referrals(program_id, referrer_id, referee_email)
    WHERE status IN ('pending', 'registered') AND referee_email <> 'erased@erased.invalid';
