DROP INDEX idx_referral_interactions_referral;
CREATE INDEX idx_referral_interactions_referral ON referral_interactions(referral_id, created_at);

ALTER TABLE referrals ADD COLUMN clicks integer NOT NULL DEFAULT 0,
                      ADD COLUMN last_clicked_at timestamptz;
UPDATE referrals r SET clicks = c.clicks, last_clicked_at = c.last_clicked_at
  FROM (SELECT referral_id, count(*)::integer AS clicks, max(created_at) AS last_clicked_at
          FROM referral_interactions WHERE interaction_type = 'click'
         GROUP BY referral_id) c
 WHERE c.referral_id = r.id;
ALTER TABLE referrals DROP COLUMN first_clicked_at;
