-- Each audit row carries a MAC made by the service at insert time with a data key the
-- database never holds, and the id of that key: a row inserted with plain SQL has no valid
-- MAC, and sealing and `audit verify` name it. The one update a row accepts stays its
-- sealing, with every other column, the MAC and its key id included, unchanged.
ALTER TABLE audit_log ADD COLUMN mac varchar(64);
ALTER TABLE audit_log ADD COLUMN key_id varchar(32);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.row_hash IS NOT NULL
       AND (NEW.id, NEW.actor_id, NEW.actor_role, NEW.action, NEW.resource_type, NEW.resource_id,
            NEW.outcome, NEW.ip_address, NEW.user_agent, NEW.created_at, NEW.mac, NEW.key_id)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.actor_id, OLD.actor_role, OLD.action, OLD.resource_type, OLD.resource_id,
            OLD.outcome, OLD.ip_address, OLD.user_agent, OLD.created_at, OLD.mac, OLD.key_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
