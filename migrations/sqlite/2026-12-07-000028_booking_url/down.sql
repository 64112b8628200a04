ALTER TABLE referral_programs DROP COLUMN booking_url;
