-- The webhook event store on PostgreSQL: the same tables as SQLite's
-- (migrations/sqlite), in one step. Zoom Cobrowse webhook events, each
-- stored once (digest of its canonical JSON), and each session's state in
-- parts (src/zoom/parts.rs): its head, its people and its connections, kept
-- in step with the events in the same transaction and always rebuildable
-- from them.
CREATE TABLE zoom_events (
    id          BIGSERIAL PRIMARY KEY,
    digest      BYTEA   NOT NULL UNIQUE,
    account_id  TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    event_ts    BIGINT  NOT NULL,
    body        TEXT    NOT NULL,
    received_at BIGINT  NOT NULL
);
CREATE INDEX zoom_events_by_session ON zoom_events (account_id, session_id);

CREATE TABLE zoom_sessions (
    id         BIGSERIAL PRIMARY KEY,
    account_id TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    ended      BOOLEAN NOT NULL,
    -- The listing order, ascending: minus the start in epoch ms (newest
    -- first); the largest integer when the start is unknown (listed last).
    rank_ms    BIGINT  NOT NULL,
    end_ms     BIGINT,
    updated_at BIGINT  NOT NULL,
    head       TEXT    NOT NULL,
    UNIQUE (account_id, session_id)
);
CREATE INDEX zoom_sessions_in_order ON zoom_sessions (rank_ms, session_id, account_id);
CREATE INDEX zoom_sessions_by_state ON zoom_sessions (ended, rank_ms, session_id, account_id);
CREATE INDEX zoom_sessions_by_id ON zoom_sessions (session_id);
CREATE INDEX zoom_sessions_by_end ON zoom_sessions (ended, end_ms);

CREATE TABLE zoom_people (
    session BIGINT NOT NULL REFERENCES zoom_sessions (id) ON DELETE CASCADE,
    user_id TEXT   NOT NULL,
    state   TEXT   NOT NULL,
    PRIMARY KEY (session, user_id)
);

CREATE TABLE zoom_links (
    session       BIGINT NOT NULL REFERENCES zoom_sessions (id) ON DELETE CASCADE,
    user_id       TEXT   NOT NULL,
    connection_id TEXT   NOT NULL,
    -- The agent's name while this user is a named agent (the Engage agent
    -- limit counts an agent's sessions by name).
    agent         TEXT,
    join_ms       BIGINT,
    leave_ms      BIGINT,
    state         TEXT   NOT NULL,
    PRIMARY KEY (session, user_id, connection_id)
);
CREATE INDEX zoom_links_by_agent ON zoom_links (agent, join_ms) WHERE agent IS NOT NULL;

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row that /readyz writes, as large as the largest webhook, to prove
-- the store takes writes.
CREATE TABLE store_health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at BIGINT  NOT NULL,
    pad        BYTEA
);
