-- Back to one table, with every row.
DO $migration$
DECLARE
    s text := current_schema();
    pm text;
    template text;
BEGIN
    SELECT extnamespace::regnamespace::text INTO pm FROM pg_extension WHERE extname = 'pg_partman';
    DROP FUNCTION referral_interactions_maintain(timestamptz);
    CREATE TABLE referral_interactions_unpartitioned (
        id                uuid PRIMARY KEY,
        referral_id       uuid NOT NULL REFERENCES referrals(id) ON DELETE CASCADE,
        interaction_type  varchar(50) NOT NULL,
        ip_address        inet,
        user_agent        text,
        source            varchar(100),
        metadata          jsonb,
        created_at        timestamptz NOT NULL
    );
    INSERT INTO referral_interactions_unpartitioned SELECT
        id, referral_id, interaction_type, ip_address, user_agent, source, metadata, created_at
      FROM referral_interactions;
    EXECUTE format('SELECT template_table FROM %I.part_config WHERE parent_table = %L',
                   pm, s || '.referral_interactions') INTO template;
    EXECUTE format('DELETE FROM %I.part_config WHERE parent_table = %L', pm, s || '.referral_interactions');
    IF template IS NOT NULL THEN
        EXECUTE format('DROP TABLE IF EXISTS %s', template);
    END IF;
    DROP TABLE referral_interactions;
    ALTER TABLE referral_interactions_unpartitioned RENAME TO referral_interactions;
    ALTER TABLE referral_interactions
        RENAME CONSTRAINT referral_interactions_unpartitioned_pkey TO referral_interactions_pkey;
    ALTER TABLE referral_interactions
        RENAME CONSTRAINT referral_interactions_unpartitioned_referral_id_fkey TO referral_interactions_referral_id_fkey;
    CREATE INDEX idx_referral_interactions_referral
        ON referral_interactions(referral_id, interaction_type, created_at);
END
$migration$;
