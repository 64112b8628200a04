CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.row_hash IS NOT NULL
       AND (NEW.id, NEW.actor_id, NEW.actor_role, NEW.action, NEW.resource_type, NEW.resource_id,
            NEW.outcome, NEW.ip_address, NEW.user_agent, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.actor_id, OLD.actor_role, OLD.action, OLD.resource_type, OLD.resource_id,
            OLD.outcome, OLD.ip_address, OLD.user_agent, OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
ALTER TABLE audit_log DROP COLUMN key_id;
ALTER TABLE audit_log DROP COLUMN mac;
