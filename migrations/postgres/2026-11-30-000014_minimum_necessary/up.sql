-- Minimum necessary disclosure (#22). The friend decides at registration whether the
-- referrer may know that they joined; the answer is kept with its time and wording.
ALTER TABLE referrals ADD COLUMN referee_shares_with_referrer boolean NOT NULL DEFAULT false;
ALTER TABLE referrals ADD COLUMN referee_share_consent_at timestamptz;
ALTER TABLE referrals ADD COLUMN referee_share_consent_wording text;
-- An invitation to someone who is already a patient is recorded like any other (no
-- membership oracle) but nothing is sent.
ALTER TABLE referrals ADD COLUMN invitation_withheld boolean NOT NULL DEFAULT false;
-- Only the caller's own open invitation to an address is a duplicate: two referrers may
-- each invite the same person.
DROP INDEX uq_referrals_open_referee;
CREATE UNIQUE INDEX uq_referrals_open_referee ON referrals(program_id, referrer_id, referee_email)
    WHERE status IN ('pending', 'registered');
