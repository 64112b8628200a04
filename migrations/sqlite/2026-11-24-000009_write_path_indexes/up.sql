-- Every referral write that is not HOT (a conversion, a registration) updates each index of
-- `referrals`. These two earned nothing for it: `idx_referrals_code` repeats the unique
-- index on `referral_code`, and `status` alone has five values, so no query reads through
-- it (listings by status walk `idx_referrals_created`; the expiry sweep has its own
-- partial index).
DROP INDEX IF EXISTS idx_referrals_code;
DROP INDEX IF EXISTS idx_referrals_status;
