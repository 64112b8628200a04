ALTER TABLE referral_rewards DROP COLUMN applied_amount_cents;
