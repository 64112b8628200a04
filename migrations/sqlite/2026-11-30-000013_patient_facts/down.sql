ALTER TABLE patients DROP COLUMN facts_reported_at;
ALTER TABLE patients DROP COLUMN payer_reported;
