-- See the PostgreSQL migration of the same name.
ALTER TABLE referral_programs ADD COLUMN excluded_states TEXT NOT NULL DEFAULT '[]';
