DROP INDEX idx_referrals_converted_created;
DROP INDEX idx_referrals_converted_program;
DROP TABLE referrer_stats;
DROP TABLE referral_daily_stats;
ALTER TABLE referrals DROP COLUMN variant;
ALTER TABLE referral_programs DROP COLUMN variants;
