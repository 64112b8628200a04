ALTER TABLE referral_programs DROP COLUMN public_name;
DROP TABLE IF EXISTS confirmation_sends;
DELETE FROM registration_verifications WHERE share_link_id IS NOT NULL;
DROP INDEX IF EXISTS idx_registration_verifications_share_link;
ALTER TABLE registration_verifications DROP COLUMN share_link_id;
DROP INDEX IF EXISTS idx_referral_rewards_release_due;
DROP INDEX IF EXISTS idx_referral_rewards_patient_released;
ALTER TABLE referral_rewards DROP COLUMN release_notified_at;
ALTER TABLE referral_rewards DROP COLUMN released_at;
