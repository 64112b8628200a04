ALTER TABLE referral_programs DROP COLUMN excluded_states;
