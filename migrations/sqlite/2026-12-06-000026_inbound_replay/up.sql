-- Signed provider requests already acted on (#30): a replayed SendGrid or Twilio request is
-- refused. Only a hash of the signature is kept, and only as long as a replay could be
-- accepted otherwise.
CREATE TABLE inbound_signatures (
    provider       text NOT NULL,
    signature_hash text NOT NULL,
    received_at    text NOT NULL,
    PRIMARY KEY (provider, signature_hash)
);
CREATE INDEX idx_inbound_signatures_received ON inbound_signatures (received_at);
