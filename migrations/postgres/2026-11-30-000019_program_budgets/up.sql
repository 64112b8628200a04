-- A program's reward budget (#23): a total and a monthly amount, each optional.
ALTER TABLE referral_programs ADD COLUMN budget_total_cents bigint;
ALTER TABLE referral_programs ADD COLUMN budget_monthly_cents bigint;
