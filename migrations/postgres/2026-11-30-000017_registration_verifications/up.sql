-- An anonymous registration waits here until its address is confirmed through the
-- single-use link emailed to it (#22: no address takeover). Only the link's hash is kept.
CREATE TABLE registration_verifications (
    id                  uuid PRIMARY KEY,
    token_hash          text NOT NULL UNIQUE,
    referral_id         uuid NOT NULL REFERENCES referrals(id),
    email               text NOT NULL,
    name                text,
    phone               text,
    share_with_referrer boolean NOT NULL DEFAULT false,
    expires_at          timestamptz NOT NULL,
    used_at             timestamptz,
    created_at          timestamptz NOT NULL
);
CREATE INDEX idx_registration_verifications_referral ON registration_verifications(referral_id);
