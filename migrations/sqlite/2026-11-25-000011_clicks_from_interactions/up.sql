-- A referral's clicks are counted from its interaction rows when it is read; the referral
-- keeps only when it was first clicked, for the funnel. See the PostgreSQL migration.
ALTER TABLE referrals ADD COLUMN first_clicked_at TEXT;
UPDATE referrals SET first_clicked_at = coalesce(
        (SELECT min(i.created_at) FROM referral_interactions i
          WHERE i.referral_id = referrals.id AND i.interaction_type = 'click'),
        last_clicked_at, updated_at)
 WHERE clicks > 0;
ALTER TABLE referrals DROP COLUMN clicks;
ALTER TABLE referrals DROP COLUMN last_clicked_at;

DROP INDEX idx_referral_interactions_referral;
CREATE INDEX idx_referral_interactions_referral
    ON referral_interactions(referral_id, interaction_type, created_at);
