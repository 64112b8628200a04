-- Outbound webhook endpoints (#24, Standard Webhooks). Deliveries are outbox messages of
-- kind 'webhook' whose recipient is the endpoint's id.
CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY,
    url                   text NOT NULL,
    events                text[] NOT NULL,
    description           text,
    enabled               boolean NOT NULL DEFAULT true,
    secret                text NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    failing_since         timestamptz,
    disabled_reason       text,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX idx_outbox_recipient ON outbox(recipient, created_at) WHERE kind = 'webhook';
