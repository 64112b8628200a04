-- The SMS consent's proof (#30): the number as a keyed hash (made by the service, which
-- holds the key; rows written before hold it in `phone` until the retention worker hashes
-- them), and, after --consent-retention-days, no number, address or user agent at all.
ALTER TABLE sms_consents ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE sms_consents ADD COLUMN phone_hash text;
ALTER TABLE sms_consents ADD COLUMN proof_erased_at timestamptz;
CREATE INDEX idx_sms_consents_attested ON sms_consents (attested_at);
-- Contact details are now erased by the invitation's date whatever became of it (#30), so
-- a registered referral may be erased too: erased rows are not open invitations to anyone.
DROP INDEX uq_referrals_open_referee;
CREATE UNIQUE INDEX uq_referrals_open_referee ON referrals(program_id, referrer_id, referee_email)
    WHERE status IN ('pending', 'registered') AND referee_email <> 'erased@erased.invalid';
