-- The messaging conversations whose co-browse messages the gateway read to
-- their end (the agent leg over): the back-fill from analytics reads each
-- once. Kept as long as sessions are (store.retention, by when it ended).
CREATE TABLE messenger_reads (
    conversation_id TEXT   PRIMARY KEY,
    at_ms           INTEGER NOT NULL
);
CREATE INDEX messenger_reads_by_at ON messenger_reads (at_ms);
