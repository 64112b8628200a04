DROP TABLE audit_chain_head;
DROP INDEX uq_audit_log_seq;
ALTER TABLE audit_log DROP COLUMN row_hash;
ALTER TABLE audit_log DROP COLUMN prev_hash;
ALTER TABLE audit_log DROP COLUMN seq;
