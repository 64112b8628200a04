-- The public, per-address and per-service request limits, counted where every instance
-- sees them (#33): one row a limit key and window. UNLOGGED: a hit writes no WAL, so it
-- costs no fsync and is not replicated; a crash or a failover empties the table, which
-- forgets at most the current minute's counts. Keys are keyed hashes (the keyring's
-- rate-limit purpose), never an address or a token subject.
CREATE UNLOGGED TABLE rate_limit_hits (
    key TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
