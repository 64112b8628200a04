-- The suppression list keeps a keyed hash of each address that unsubscribed, never the
-- address itself. The plain-text table it replaces was never released, so nothing is carried
-- over.
DROP TABLE unsubscribes;
CREATE TABLE suppressions (
    recipient_hash  varchar(64) PRIMARY KEY,   -- hex HMAC-SHA256 of the normalised address
    created_at      timestamptz NOT NULL
);
