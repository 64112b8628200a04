-- See the PostgreSQL migration of the same name.
ALTER TABLE referral_programs ADD COLUMN budget_total_cents BIGINT;
ALTER TABLE referral_programs ADD COLUMN budget_monthly_cents BIGINT;
