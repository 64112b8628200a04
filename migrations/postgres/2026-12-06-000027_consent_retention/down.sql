DROP INDEX uq_referrals_open_referee;
CREATE UNIQUE INDEX uq_referrals_open_referee ON referrals(program_id, referrer_id, referee_email)
    WHERE status IN ('pending', 'registered');
DROP INDEX idx_sms_consents_attested;
ALTER TABLE sms_consents DROP COLUMN proof_erased_at;
ALTER TABLE sms_consents DROP COLUMN phone_hash;
UPDATE sms_consents SET phone = '' WHERE phone IS NULL;
ALTER TABLE sms_consents ALTER COLUMN phone SET NOT NULL;
