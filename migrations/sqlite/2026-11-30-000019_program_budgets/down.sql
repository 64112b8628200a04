ALTER TABLE referral_programs DROP COLUMN budget_monthly_cents;
ALTER TABLE referral_programs DROP COLUMN budget_total_cents;
