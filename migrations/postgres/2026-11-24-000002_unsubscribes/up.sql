-- Recipients who followed the unsubscribe link of a message: no more email or SMS to them.
CREATE TABLE unsubscribes (
    recipient   varchar(254) PRIMARY KEY,   -- normalised email or E.164 phone
    created_at  timestamptz NOT NULL
);
