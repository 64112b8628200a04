-- See the PostgreSQL migration of the same name.
CREATE TABLE referral_locales (
    referral_id TEXT PRIMARY KEY REFERENCES referrals(id),
    locale      varchar(5) NOT NULL CHECK (locale IN ('es'))
);
ALTER TABLE registration_verifications ADD COLUMN locale varchar(5)
    CHECK (locale IS NULL OR locale IN ('en', 'es'));
