DROP INDEX idx_outbox_recipient;
DROP TABLE webhook_endpoints;
