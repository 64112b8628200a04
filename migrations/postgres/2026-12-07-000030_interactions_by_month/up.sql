-- Interactions partitioned by month (#33), with pg_partman 4.7 on PostgreSQL's native
-- partitioning: its maintenance makes the months ahead (the worker's daily retention run
-- calls it, through `referral_interactions_maintain`) and retention drops whole months
-- instead of deleting rows one by one. SQLite keeps one table.
--
-- PostgreSQL requires every unique key of a partitioned table to hold the partition key:
-- the primary key becomes (id, created_at). Nothing references an interaction by its id.
-- A populated table is copied into its months in this migration's transaction: the bench
-- database's 5.2 M rows (960 MB) took 66 s on the 2-core bench machine (bench/NOTES.md),
-- during which clicks wait on the table's lock.
DO $migration$
DECLARE
    s text := current_schema();
    pm text;
    version text;
    start_month timestamptz;
BEGIN
    -- Schemas of one database migrate side by side (the tests): one installs the extension.
    PERFORM pg_advisory_xact_lock(hashtext('referral pg_partman'));
    SELECT extnamespace::regnamespace::text, extversion INTO pm, version
      FROM pg_extension WHERE extname = 'pg_partman';
    IF pm IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_partman') THEN
            RAISE EXCEPTION 'pg_partman 4.7 is required on PostgreSQL and is not installed on this server'
                USING HINT = 'Install it (Debian: apt-get install postgresql-15-partman), then migrate again.';
        END IF;
        BEGIN
            CREATE SCHEMA IF NOT EXISTS partman;
            CREATE EXTENSION pg_partman SCHEMA partman;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'pg_partman is on this server but not in this database, and the migrating role may not create it'
                USING HINT = 'As a superuser, in this database: CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman; then migrate again.';
        END;
        SELECT extnamespace::regnamespace::text, extversion INTO pm, version
          FROM pg_extension WHERE extname = 'pg_partman';
    END IF;
    IF split_part(version, '.', 1) <> '4' THEN
        RAISE EXCEPTION 'pg_partman % is installed; this migration is written for 4.7', version;
    END IF;

    ALTER TABLE referral_interactions RENAME TO referral_interactions_unpartitioned;
    ALTER TABLE referral_interactions_unpartitioned
        RENAME CONSTRAINT referral_interactions_pkey TO referral_interactions_unpartitioned_pkey;
    ALTER TABLE referral_interactions_unpartitioned
        RENAME CONSTRAINT referral_interactions_referral_id_fkey TO referral_interactions_unpartitioned_referral_id_fkey;
    ALTER INDEX idx_referral_interactions_referral RENAME TO idx_referral_interactions_unpartitioned;

    CREATE TABLE referral_interactions (
        id                uuid NOT NULL,
        referral_id       uuid NOT NULL,
        interaction_type  varchar(50) NOT NULL,
        ip_address        inet,
        user_agent        text,
        source            varchar(100),
        metadata          jsonb,
        created_at        timestamptz NOT NULL,
        CONSTRAINT referral_interactions_pkey PRIMARY KEY (id, created_at),
        CONSTRAINT referral_interactions_referral_id_fkey
            FOREIGN KEY (referral_id) REFERENCES referrals(id) ON DELETE CASCADE
    ) PARTITION BY RANGE (created_at);
    -- A referral's clicks are counted from this index alone (migration 000011).
    CREATE INDEX idx_referral_interactions_referral
        ON referral_interactions(referral_id, interaction_type, created_at);

    -- Months from the oldest row (or a year back, where demo data and imports land), and
    -- four ahead; months older than that go to the default partition, which retention
    -- empties row by row.
    SELECT date_trunc('month', least(coalesce(min(created_at), now()), now() - interval '1 year'))
      INTO start_month FROM referral_interactions_unpartitioned;
    EXECUTE format(
        'SELECT %I.create_parent(p_parent_table => %L, p_control => %L, p_type => %L, '
        'p_interval => %L, p_premake => 4, p_start_partition => %L, p_jobmon => false)',
        pm, s || '.referral_interactions', 'created_at', 'native', 'monthly',
        to_char(start_month, 'YYYY-MM-DD HH24:MI:SSOF'));
    -- The months ahead are made even while no click comes (partman's default waits for data).
    EXECUTE format('UPDATE %I.part_config SET infinite_time_partitions = true WHERE parent_table = %L',
                   pm, s || '.referral_interactions');

    INSERT INTO referral_interactions
        (id, referral_id, interaction_type, ip_address, user_agent, source, metadata, created_at)
    SELECT id, referral_id, interaction_type, ip_address, user_agent, source, metadata, created_at
      FROM referral_interactions_unpartitioned;
    DROP TABLE referral_interactions_unpartitioned;

    -- What the worker calls: partman's maintenance for this table (the months ahead), then
    -- the months wholly before `keep_since` dropped; answers how many were dropped. It runs
    -- with the owner's rights, so the service's role (which may not create or drop tables)
    -- can call it and nothing more. Dropping a month locks the table for a moment: past
    -- 5 s of waiting for that lock (behind a long query) the run gives up and the next
    -- day's tries again, instead of holding every click behind it.
    EXECUTE format($f$
        CREATE FUNCTION %1$I.referral_interactions_maintain(keep_since timestamptz)
        RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = %1$I, pg_catalog SET lock_timeout = '5s' AS $body$
        BEGIN
            PERFORM %2$I.run_maintenance(p_parent_table => %3$L, p_analyze => false, p_jobmon => false);
            RETURN %2$I.drop_partition_time(%3$L, p_retention => interval '0 days',
                p_keep_table => false, p_keep_index => false, p_reference_timestamp => keep_since);
        END
        $body$ $f$, s, pm, s || '.referral_interactions');
    EXECUTE format('REVOKE ALL ON FUNCTION %I.referral_interactions_maintain(timestamptz) FROM PUBLIC', s);
END
$migration$;
