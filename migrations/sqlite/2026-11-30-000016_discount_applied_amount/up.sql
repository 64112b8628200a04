-- See the PostgreSQL migration of the same name.
ALTER TABLE referral_rewards ADD COLUMN applied_amount_cents BIGINT;
