-- See the PostgreSQL migration of the same name.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    url                   TEXT NOT NULL,
    events                TEXT NOT NULL,
    description           TEXT,
    enabled               BOOLEAN NOT NULL DEFAULT true,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TEXT,
    failing_since         TEXT,
    disabled_reason       TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX idx_outbox_recipient ON outbox(recipient, created_at) WHERE kind = 'webhook';
