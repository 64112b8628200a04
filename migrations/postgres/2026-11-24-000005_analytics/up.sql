-- Experiments: a program may have variants; a referral records the one it was assigned.
ALTER TABLE referral_programs ADD COLUMN variants jsonb NOT NULL DEFAULT '[]';
ALTER TABLE referrals ADD COLUMN variant varchar(50);

-- Analytics rollups, kept current in the same transactions as the changes they count, so
-- the dashboards read a few thousand small rows instead of scanning every referral.
-- One row per program, day of the referrals' creation (UTC) and variant: figures belong to
-- the cohort of referrals created that day, whenever the later steps happen.
CREATE TABLE referral_daily_stats (
    program_id          uuid NOT NULL REFERENCES referral_programs(id),
    day                 varchar(10) NOT NULL,          -- YYYY-MM-DD (UTC)
    variant             varchar(50) NOT NULL DEFAULT '',
    referrals           bigint NOT NULL DEFAULT 0,
    clicked             bigint NOT NULL DEFAULT 0,     -- referrals with at least one click
    registered          bigint NOT NULL DEFAULT 0,     -- referees who registered (converted ones too)
    converted           bigint NOT NULL DEFAULT 0,
    rewards_granted     bigint NOT NULL DEFAULT 0,     -- money rewards granted, not rejected
    rewards_withheld    bigint NOT NULL DEFAULT 0,     -- refused by the inducement policy
    reward_value_cents  bigint NOT NULL DEFAULT 0,     -- value of those granted
    rewards_paid_cents  bigint NOT NULL DEFAULT 0,     -- used, or cash approved for payout
    revenue_cents       bigint NOT NULL DEFAULT 0,     -- paid orders of converted referees
    PRIMARY KEY (program_id, day, variant)
);
CREATE INDEX idx_referral_daily_stats_day ON referral_daily_stats(day);

-- Referrers' totals, per program and (program_id all zeros) over all programs: the top
-- referrers of all time are the first rows of an index.
CREATE TABLE referrer_stats (
    referrer_id  uuid NOT NULL REFERENCES patients(id),
    program_id   uuid NOT NULL,
    referrals    bigint NOT NULL DEFAULT 0,
    converted    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (program_id, referrer_id)
);
CREATE INDEX idx_referrer_stats_top ON referrer_stats(program_id, converted DESC, referrals DESC, referrer_id);

-- Windowed figures that need single referrals (median time to convert, top referrers of a
-- period) read only converted ones, from these indexes.
CREATE INDEX idx_referrals_converted_program ON referrals(program_id, created_at, converted_at, referrer_id)
    WHERE converted_at IS NOT NULL;
CREATE INDEX idx_referrals_converted_created ON referrals(created_at, program_id, converted_at, referrer_id)
    WHERE converted_at IS NOT NULL;

-- Backfill from what is already there.
INSERT INTO referral_daily_stats (program_id, day, variant, referrals, clicked, registered, converted,
    rewards_granted, rewards_withheld, reward_value_cents, rewards_paid_cents, revenue_cents)
SELECT r.program_id, to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COALESCE(r.variant, ''),
       count(*),
       count(*) FILTER (WHERE r.clicks > 0),
       count(*) FILTER (WHERE r.referee_registered_at IS NOT NULL),
       count(*) FILTER (WHERE r.status = 'converted'),
       COALESCE(sum(w.granted), 0), COALESCE(sum(w.withheld), 0), COALESCE(sum(w.value), 0),
       COALESCE(sum(w.paid), 0), COALESCE(sum(o.revenue), 0)
FROM referrals r
LEFT JOIN (
    SELECT referral_id,
           count(*) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval')
                            AND reward_type <> 'discount') AS granted,
           count(*) FILTER (WHERE withheld_reason IS NOT NULL) AS withheld,
           sum(reward_amount_cents) FILTER (WHERE status IN ('available', 'used', 'expired', 'pending_approval')
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
