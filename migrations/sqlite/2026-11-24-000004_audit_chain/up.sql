-- A tamper-evident chain over the audit log: each row carries the HMAC-SHA256 of the previous
-- row's hash and its own content, in `seq` order. The key is the service's, so someone who
-- can write to the database cannot forge a consistent chain. Rows written before this
-- migration have no seq and are reported as unchained by `referral-api audit verify`.
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash varchar(64);
ALTER TABLE audit_log ADD COLUMN row_hash varchar(64);
CREATE UNIQUE INDEX uq_audit_log_seq ON audit_log(seq);

-- The chain's head: appends take its row lock, so the chain never forks, and verification
-- notices rows cut from the end.
CREATE TABLE audit_chain_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq   INTEGER NOT NULL,
    last_hash  varchar(64) NOT NULL
);
INSERT INTO audit_chain_head (id, last_seq, last_hash) VALUES (1, 0, '');
