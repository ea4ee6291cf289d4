-- The listener's holder says at each renewal whether its live index may be
-- served now (listening, or polled and fresh); the other replicas serve
-- their copies of it, kept from the feed, only while it does.
ALTER TABLE leases ADD COLUMN serving BOOLEAN NOT NULL DEFAULT FALSE;
