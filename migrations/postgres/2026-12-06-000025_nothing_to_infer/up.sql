-- Nothing to infer (#30).
-- A referrer's reward reaches them at the end of a cadence period (released_at), never at
-- the moment of the friend's care; one notice a period tells them (release_notified_at).
-- Rewards made before this migration were shown and told at once: they count as released.
-- Every list of a patient's rewards reads released_at <= now, newest release first.
ALTER TABLE referral_rewards ADD COLUMN released_at timestamptz;
ALTER TABLE referral_rewards ADD COLUMN release_notified_at timestamptz;
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
-- A visitor of a personal share link waits here with the link, not with a referral: the
-- referral is made only when the confirmation link comes back.
ALTER TABLE registration_verifications ALTER COLUMN referral_id DROP NOT NULL;
ALTER TABLE registration_verifications ADD COLUMN share_link_id uuid REFERENCES share_links(id);
ALTER TABLE registration_verifications ADD CONSTRAINT registration_verifications_one_target
    CHECK ((referral_id IS NULL) <> (share_link_id IS NULL));
CREATE INDEX idx_registration_verifications_share_link
    ON registration_verifications (share_link_id) WHERE share_link_id IS NOT NULL;
-- Confirmation emails sent, by a keyed hash of the address (never the address): at most
-- three a day to one address, whichever instance sends them. Rows older than a day go.
CREATE TABLE confirmation_sends (
    address_key text NOT NULL,
    sent_at     timestamptz NOT NULL
);
CREATE INDEX idx_confirmation_sends_key ON confirmation_sends (address_key, sent_at);
-- A program's name for visitors and friends, apart from its internal name (which may name
-- the condition it targets).
ALTER TABLE referral_programs ADD COLUMN public_name text;
