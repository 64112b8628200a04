-- TCPA: the referrer's attestation that the friend agreed to a text, kept as evidence:
-- who attested, when, the exact words, the number, and where from.
CREATE TABLE sms_consents (
    id          uuid PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals(id),
    referrer_id uuid NOT NULL,
    phone       text NOT NULL,
    wording     text NOT NULL,
    ip_address  inet,
    user_agent  text,
    attested_at timestamptz NOT NULL
);
CREATE INDEX idx_sms_consents_referral ON sms_consents(referral_id);
-- Who sends a program's SMS invitations: the platform, or the patient's own phone.
ALTER TABLE referral_programs ADD COLUMN sms_delivery text NOT NULL DEFAULT 'platform';
-- An SMS invitation the patient sends from their own phone (nothing is sent by the platform).
ALTER TABLE referrals ADD COLUMN sms_on_device boolean NOT NULL DEFAULT false;
