-- A conversion no longer adds to `referrer_stats` itself: it queues one row here, and the
-- rows are added in batches (every second by each instance, and by any read of
-- `referrer_stats` first, so a read is never behind a committed conversion). The two
-- `referrer_stats` rows a conversion bumped were not HOT updates (the top-referrers index
-- holds `converted`), and they were a fifth of a conversion's time under load. The queued
-- row's id is the conversion's interaction id.
CREATE TABLE referrer_stats_pending (
    id           uuid PRIMARY KEY,
    program_id   uuid NOT NULL,
    referrer_id  uuid NOT NULL
);

-- referral_conversion_apply's new body: crates/referral-store/sql/functions/.

