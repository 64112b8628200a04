-- As on PostgreSQL (#33): limits counted in the database. A SQLite database serves one
-- instance, which counts in memory; the table keeps the two schemas alike.
CREATE TABLE rate_limit_hits (
    key TEXT NOT NULL,
    window_start TEXT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
