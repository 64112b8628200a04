-- The PostgreSQL role `serve` and `worker` run as, apart from the owner that runs the
-- migrations (docs/operations.md, "Database roles"). Run as the owner, after migrating:
--
--   psql "$OWNER_URL" -v role=referral_app -v schema=public -f crates/referral-store/sql/service_role.sql
--
-- The role reads and writes the service's tables, and may only append to the audit log
-- and seal its rows (set seq, prev_hash and row_hash, once, as the trigger allows): it
-- cannot delete, truncate, alter, disable the triggers of, or drop the audit log or its
-- chain head, because only the owner may alter or drop a table and no DELETE or TRUNCATE
-- is granted on them. Run it again after a migration adds a table.
GRANT USAGE ON SCHEMA :"schema" TO :"role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO :"role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO :"role";
REVOKE UPDATE, DELETE, TRUNCATE ON :"schema".audit_log FROM :"role";
GRANT UPDATE (seq, prev_hash, row_hash) ON :"schema".audit_log TO :"role";
REVOKE DELETE, TRUNCATE ON :"schema".audit_chain_head FROM :"role";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON :"schema".__diesel_schema_migrations FROM :"role";
-- The worker's daily retention run makes and drops the interactions' monthly partitions
-- through this function alone, with the owner's rights (migration 000030).
GRANT EXECUTE ON FUNCTION :"schema".referral_interactions_maintain(timestamptz) TO :"role";
