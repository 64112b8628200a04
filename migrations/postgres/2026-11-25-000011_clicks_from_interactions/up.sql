-- A referral's clicks are counted from its interaction rows when it is read, instead of
-- being added to a counter on the referral: with clicks spread over many codes, that
-- counter cost one more row update per click (on a random page of the largest table), and
-- the click ran at 0.52-0.62 of pgbench's rate for its own insert (bench/load.sh; 0.71-0.80
-- without the counter). The referral keeps only when it was first clicked, written once,
-- for the funnel's "clicked" step.
ALTER TABLE referrals ADD COLUMN first_clicked_at timestamptz;
UPDATE referrals r SET first_clicked_at = coalesce(
        (SELECT min(i.created_at) FROM referral_interactions i
          WHERE i.referral_id = r.id AND i.interaction_type = 'click'),
        r.last_clicked_at, r.updated_at)
 WHERE r.clicks > 0;
ALTER TABLE referrals DROP COLUMN clicks, DROP COLUMN last_clicked_at;

-- The count and the last click of a referral come from this index alone.
DROP INDEX idx_referral_interactions_referral;
CREATE INDEX idx_referral_interactions_referral
    ON referral_interactions(referral_id, interaction_type, created_at);
