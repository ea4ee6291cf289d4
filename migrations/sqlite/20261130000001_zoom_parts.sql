-- A session's state in parts (src/zoom/parts.rs), so that storing an event
-- touches a few small rows instead of re-reading the session's history:
-- one row per session (its head), per user and per connection, each merged
-- in place when an event arrives. Like the state before them, the parts can
-- always be rebuilt from zoom_events; the store does so at start-up when
-- `store_meta.parts` is not the version it writes.
DROP TABLE zoom_sessions;

CREATE TABLE zoom_sessions (
    id         INTEGER PRIMARY KEY,
    account_id TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    ended      INTEGER NOT NULL,
    -- The listing order, ascending: minus the start in epoch ms (newest
    -- first); the largest integer when the start is unknown (listed last).
    rank_ms    INTEGER NOT NULL,
    end_ms     INTEGER,
    updated_at INTEGER NOT NULL,
    head       TEXT    NOT NULL,
    UNIQUE (account_id, session_id)
);
CREATE INDEX zoom_sessions_in_order ON zoom_sessions (rank_ms, session_id, account_id);
CREATE INDEX zoom_sessions_by_state ON zoom_sessions (ended, rank_ms, session_id, account_id);
CREATE INDEX zoom_sessions_by_id ON zoom_sessions (session_id);
CREATE INDEX zoom_sessions_by_end ON zoom_sessions (ended, end_ms);

CREATE TABLE zoom_people (
    session INTEGER NOT NULL REFERENCES zoom_sessions (id) ON DELETE CASCADE,
    user_id TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    PRIMARY KEY (session, user_id)
);

CREATE TABLE zoom_links (
    session       INTEGER NOT NULL REFERENCES zoom_sessions (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    connection_id TEXT    NOT NULL,
    -- The agent's name while this user is a named agent (the Engage agent
    -- limit counts an agent's sessions by name).
    agent         TEXT,
    join_ms       INTEGER,
    leave_ms      INTEGER,
    state         TEXT    NOT NULL,
    PRIMARY KEY (session, user_id, connection_id)
);
CREATE INDEX zoom_links_by_agent ON zoom_links (agent, join_ms) WHERE agent IS NOT NULL;

CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The readiness probe writes a row as large as the largest webhook.
ALTER TABLE store_health ADD COLUMN pad BLOB;
