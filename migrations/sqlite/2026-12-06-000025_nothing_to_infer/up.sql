-- See the PostgreSQL migration of the same name.
ALTER TABLE referral_rewards ADD COLUMN released_at TEXT;
ALTER TABLE referral_rewards ADD COLUMN release_notified_at TEXT;
UPDATE referral_rewards SET released_at = created_at, release_notified_at = created_at
    WHERE party = 'referrer'
      AND (withheld_reason IS NULL OR withheld_reason <> 'federal_payer_referee')
      AND status NOT IN ('held', 'in_review');
-- The friend's own rewards are theirs from the start.
UPDATE referral_rewards SET released_at = created_at, release_notified_at = created_at
    WHERE party = 'referee';
CREATE INDEX idx_referral_rewards_patient_released ON referral_rewards (patient_id, released_at);
CREATE INDEX idx_referral_rewards_release_due ON referral_rewards (released_at)
    WHERE party = 'referrer' AND release_notified_at IS NULL AND released_at IS NOT NULL;
-- SQLite cannot drop a NOT NULL: the table is made again.
CREATE TABLE registration_verifications_new (
    id                  TEXT PRIMARY KEY,
    token_hash          TEXT NOT NULL UNIQUE,
    referral_id         TEXT REFERENCES referrals(id),
    email               TEXT NOT NULL,
    name                TEXT,
    phone               TEXT,
    share_with_referrer BOOLEAN NOT NULL DEFAULT false,
    expires_at          TEXT NOT NULL,
    used_at             TEXT,
    created_at          TEXT NOT NULL,
    ip_address          TEXT,
    user_agent          TEXT,
    locale              varchar(5) CHECK (locale IS NULL OR locale IN ('en', 'es')),
    share_link_id       TEXT REFERENCES share_links(id),
    CHECK ((referral_id IS NULL) <> (share_link_id IS NULL))
);
INSERT INTO registration_verifications_new (id, token_hash, referral_id, email, name, phone,
    share_with_referrer, expires_at, used_at, created_at, ip_address, user_agent, locale)
SELECT id, token_hash, referral_id, email, name, phone, share_with_referrer, expires_at,
    used_at, created_at, ip_address, user_agent, locale FROM registration_verifications;
DROP TABLE registration_verifications;
ALTER TABLE registration_verifications_new RENAME TO registration_verifications;
CREATE INDEX idx_registration_verifications_referral ON registration_verifications(referral_id);
CREATE INDEX idx_registration_verifications_share_link
    ON registration_verifications (share_link_id) WHERE share_link_id IS NOT NULL;
-- Confirmation emails sent, by a keyed hash of the address (never the address): at most
-- three a day to one address, whichever instance sends them. Rows older than a day go.
CREATE TABLE confirmation_sends (
    address_key text NOT NULL,
    sent_at     TEXT NOT NULL
);
CREATE INDEX idx_confirmation_sends_key ON confirmation_sends (address_key, sent_at);
-- A program's name for visitors and friends, apart from its internal name (which may name
-- the condition it targets).
ALTER TABLE referral_programs ADD COLUMN public_name TEXT;
