ALTER TABLE registration_verifications DROP COLUMN locale;
DROP TABLE referral_locales;
