-- Co-browse for Messenger (src/messenger): each fact stored once (its key
-- within its session), and each session's state folded from its facts in
-- the same transaction. Facts never hold message text: the gateway reads
-- the co-browse events of messages and drops the rest before storing.
CREATE TABLE messenger_facts (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT    NOT NULL,
    fact_key    TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (session_id, fact_key)
);

CREATE TABLE messenger_sessions (
    session_id      TEXT    PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    -- What history and statistics filter and group by.
    queue_id        TEXT,
    user_id         TEXT,
    channel         TEXT,
    -- 'offered', 'active' or 'ended' as of the last fact; an offered one
    -- is over from over_ms (its offer's end) whatever comes.
    state           TEXT    NOT NULL,
    -- The listing order, ascending: minus the start (else the offer) in
    -- epoch ms; the largest integer when neither is known.
    rank_ms         INTEGER NOT NULL,
    -- When it ended, was answered without starting, or its offer ends.
    over_ms         INTEGER,
    updated_at      INTEGER NOT NULL,
    body            TEXT    NOT NULL
);
CREATE INDEX messenger_sessions_in_order ON messenger_sessions (rank_ms, session_id);
CREATE INDEX messenger_sessions_by_conversation ON messenger_sessions (conversation_id);
CREATE INDEX messenger_sessions_by_over ON messenger_sessions (state, over_ms);
CREATE INDEX messenger_sessions_by_queue ON messenger_sessions (queue_id, rank_ms);
CREATE INDEX messenger_sessions_by_user ON messenger_sessions (user_id, rank_ms);
