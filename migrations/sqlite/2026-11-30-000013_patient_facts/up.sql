-- See the PostgreSQL migration of the same name.
ALTER TABLE patients ADD COLUMN payer_reported BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE patients ADD COLUMN facts_reported_at TEXT;
