DROP INDEX IF EXISTS idx_registration_verifications_share_link;
DELETE FROM registration_verifications WHERE share_link_id IS NOT NULL;
ALTER TABLE registration_verifications DROP CONSTRAINT registration_verifications_one_target;
ALTER TABLE registration_verifications DROP COLUMN share_link_id;
ALTER TABLE registration_verifications ALTER COLUMN referral_id SET NOT NULL;
DROP INDEX IF EXISTS idx_referral_rewards_release_due;
DROP INDEX IF EXISTS idx_referral_rewards_patient_released;
ALTER TABLE referral_rewards DROP COLUMN release_notified_at;
ALTER TABLE referral_rewards DROP COLUMN released_at;
