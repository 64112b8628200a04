-- Shows the plans of the three hot reads on PostgreSQL against realistic volumes.
-- Run: psql "$TEST_DATABASE_URL" -f docs/explain.sql   (or: just explain)
-- Works in a scratch schema inside a transaction that is rolled back: nothing is left.
\set ON_ERROR_STOP on
BEGIN;
CREATE SCHEMA explain_scratch;
SET LOCAL search_path = explain_scratch;
\i migrations/postgres/2026-11-24-000001_initial/up.sql
\i migrations/postgres/2026-11-24-000009_write_path_indexes/up.sql

-- 20,000 patients, 2 programs, 200,000 referrals, 100,000 rewards.
INSERT INTO patients (id, email, created_at, updated_at)
SELECT md5('p' || g)::uuid, 'p' || g || '@example.com', now(), now() FROM generate_series(1, 20000) g;
INSERT INTO referral_programs (id, name, created_at, updated_at)
SELECT md5('prog' || g)::uuid, 'Program ' || g, now(), now() FROM generate_series(1, 2) g;
INSERT INTO referrals (id, referral_code, referrer_id, referee_email, program_id, status, expires_at, created_at, updated_at)
SELECT md5('r' || g)::uuid,
       upper(substr(md5('c' || g), 1, 6) || '-' || substr(md5('c' || g), 7, 6) || '-' || substr(md5('c' || g), 13, 6)),
       md5('p' || (g % 20000 + 1))::uuid, 'friend' || g || '@example.com', md5('prog' || (g % 2 + 1))::uuid,
       (ARRAY['pending','registered','converted','expired'])[g % 4 + 1],
       now() + interval '30 days', now() - (g || ' seconds')::interval, now()
FROM generate_series(1, 200000) g;
INSERT INTO referral_rewards (id, referral_id, patient_id, party, reward_type, reward_amount_cents, status, expires_at, created_at, updated_at)
SELECT md5('w' || g)::uuid, md5('r' || g)::uuid, md5('p' || (g % 20000 + 1))::uuid,
       CASE WHEN g % 2 = 0 THEN 'referrer' ELSE 'referee' END, 'credit', 2500,
       (ARRAY['available','used','expired','cancelled'])[g % 4 + 1],
       now() + interval '90 days', now() - (g || ' seconds')::interval, now()
FROM generate_series(1, 100000) g;
ANALYZE;

\echo '--- 1. find a referral by its code (GET /api/referrals/{code}, click, register)'
EXPLAIN (COSTS OFF) SELECT * FROM referrals WHERE referral_code = 'ABCDEF-GHJKMN-PQRSTV' LIMIT 1;

\echo '--- 2. a referrer''s referrals, newest first (GET /api/patients/me/referrals)'
EXPLAIN (COSTS OFF) SELECT * FROM referrals WHERE referrer_id = md5('p42')::uuid
ORDER BY created_at DESC, id DESC LIMIT 50 OFFSET 0;

\echo '--- 3. a patient''s available rewards (GET /api/patients/me/rewards?status=available)'
EXPLAIN (COSTS OFF) SELECT * FROM referral_rewards
WHERE patient_id = md5('p42')::uuid AND status = 'available' AND (expires_at IS NULL OR expires_at > now())
ORDER BY created_at DESC, id DESC LIMIT 50 OFFSET 0;

ROLLBACK;
