DROP TABLE suppressions;
CREATE TABLE unsubscribes (
    recipient   varchar(254) PRIMARY KEY,
    created_at  timestamptz NOT NULL
);
