-- The analytics rollups recomputed from the tables ([rollups::rebuild]): migration 000005's
-- backfill, as of the current schema (a referral's first click is its first_clicked_at).
-- {created_day} is the referral's UTC day as text, written per database by rollups.rs.
-- First, the first clicks of a process that stopped before marking them.
UPDATE referrals SET first_clicked_at = (
        SELECT min(i.created_at) FROM referral_interactions i
         WHERE i.referral_id = referrals.id AND i.interaction_type = 'click')
 WHERE first_clicked_at IS NULL
   AND EXISTS (SELECT 1 FROM referral_interactions i
                WHERE i.referral_id = referrals.id AND i.interaction_type = 'click');
INSERT INTO referral_daily_stats (program_id, day, variant, referrals, clicked, registered, converted,
    rewards_granted, rewards_withheld, reward_value_cents, rewards_paid_cents, revenue_cents)
SELECT r.program_id, {created_day}, COALESCE(r.variant, ''),
       count(*),
       count(*) FILTER (WHERE r.first_clicked_at IS NOT NULL),
       count(*) FILTER (WHERE r.referee_registered_at IS NOT NULL),
       count(*) FILTER (WHERE r.status = 'converted'),
       COALESCE(sum(w.granted), 0), COALESCE(sum(w.withheld), 0), COALESCE(sum(w.value), 0),
       COALESCE(sum(w.paid), 0), COALESCE(sum(o.revenue), 0)
FROM referrals r
LEFT JOIN (
    SELECT referral_id,
           count(*) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval', 'held', 'in_review')
                            AND reward_type <> 'discount') AS granted,
           count(*) FILTER (WHERE withheld_reason IS NOT NULL) AS withheld,
           sum(reward_amount_cents) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval', 'held', 'in_review')
                                            AND reward_type <> 'discount') AS value,
           sum(reward_amount_cents) FILTER (WHERE reward_type <> 'discount'
                                            AND (status = 'used' OR (reward_type = 'cash' AND status = 'available'))) AS paid
    FROM referral_rewards GROUP BY referral_id
) w ON w.referral_id = r.id
LEFT JOIN (SELECT patient_id, sum(amount_cents) AS revenue FROM orders GROUP BY patient_id) o
    ON o.patient_id = r.referee_patient_id AND r.status = 'converted'
GROUP BY 1, 2, 3;

INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT referrer_id, program_id, count(*), count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY referrer_id, program_id;
INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT referrer_id, '00000000-0000-0000-0000-000000000000', count(*), count(*) FILTER (WHERE status = 'converted')
FROM referrals GROUP BY referrer_id;
