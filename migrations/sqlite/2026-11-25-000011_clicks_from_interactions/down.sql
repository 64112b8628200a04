DROP INDEX idx_referral_interactions_referral;
CREATE INDEX idx_referral_interactions_referral ON referral_interactions(referral_id, created_at);

ALTER TABLE referrals ADD COLUMN clicks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE referrals ADD COLUMN last_clicked_at TEXT;
UPDATE referrals SET
    clicks = (SELECT count(*) FROM referral_interactions i
               WHERE i.referral_id = referrals.id AND i.interaction_type = 'click'),
    last_clicked_at = (SELECT max(created_at) FROM referral_interactions i
               WHERE i.referral_id = referrals.id AND i.interaction_type = 'click');
ALTER TABLE referrals DROP COLUMN first_clicked_at;
