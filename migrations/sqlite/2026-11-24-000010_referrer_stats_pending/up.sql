-- A conversion queues one row here instead of bumping `referrer_stats` itself; the rows are
-- added in batches and before any read of `referrer_stats` (see the PostgreSQL migration).
CREATE TABLE referrer_stats_pending (
    id           TEXT PRIMARY KEY,
    program_id   TEXT NOT NULL,
    referrer_id  TEXT NOT NULL
);
