-- Leases: one replica at a time holds each (the Genesys notification
-- listener is `notifications`). A holder renews its lease well before it
-- expires; another replica takes it only once it has expired, by the
-- database's clock.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL
);
