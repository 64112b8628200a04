-- Adds what is queued to referrer_stats, then drops the queue.
INSERT INTO referrer_stats (referrer_id, program_id, referrals, converted)
SELECT * FROM (
    SELECT referrer_id, program_id, 0, count(*) FROM referrer_stats_pending GROUP BY 1, 2
    UNION ALL
    SELECT referrer_id, '00000000-0000-0000-0000-000000000000', 0, count(*)
    FROM referrer_stats_pending GROUP BY 1
) WHERE true
ON CONFLICT (program_id, referrer_id) DO UPDATE SET converted = converted + excluded.converted;
DROP TABLE referrer_stats_pending;
