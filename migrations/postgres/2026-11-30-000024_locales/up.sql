-- The language of a referral's messages (#24). Only referrals not in English have a row
-- (the referrals table is at Diesel's 32 columns, and English is the default), and a
-- registration awaiting confirmation keeps the language of the page it was made on.
CREATE TABLE referral_locales (
    referral_id uuid PRIMARY KEY REFERENCES referrals(id),
    locale      varchar(5) NOT NULL CHECK (locale IN ('es'))
);
ALTER TABLE registration_verifications ADD COLUMN locale varchar(5)
    CHECK (locale IS NULL OR locale IN ('en', 'es'));
