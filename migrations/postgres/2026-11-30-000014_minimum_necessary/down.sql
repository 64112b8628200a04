DROP INDEX uq_referrals_open_referee;
CREATE UNIQUE INDEX uq_referrals_open_referee ON referrals(program_id, referee_email)
    WHERE status IN ('pending', 'registered');
ALTER TABLE referrals DROP COLUMN invitation_withheld;
ALTER TABLE referrals DROP COLUMN referee_share_consent_wording;
ALTER TABLE referrals DROP COLUMN referee_share_consent_at;
ALTER TABLE referrals DROP COLUMN referee_shares_with_referrer;
