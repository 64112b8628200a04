DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.row_hash IS NOT NULL
          AND NEW.id IS OLD.id AND NEW.actor_id IS OLD.actor_id
          AND NEW.actor_role IS OLD.actor_role AND NEW.action IS OLD.action
          AND NEW.resource_type IS OLD.resource_type AND NEW.resource_id IS OLD.resource_id
          AND NEW.outcome IS OLD.outcome AND NEW.ip_address IS OLD.ip_address
          AND NEW.user_agent IS OLD.user_agent AND NEW.created_at IS OLD.created_at)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
ALTER TABLE audit_log DROP COLUMN key_id;
ALTER TABLE audit_log DROP COLUMN mac;
