-- Zoom Cobrowse webhook events, each stored once (digest of its canonical
-- JSON), and the folded state of each session, kept in step in the same
-- transaction. The state can always be rebuilt from the events.
CREATE TABLE zoom_events (
    id          INTEGER PRIMARY KEY,
    digest      BLOB    NOT NULL UNIQUE,
    account_id  TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    event_ts    INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX zoom_events_by_session ON zoom_events (account_id, session_id);

CREATE TABLE zoom_sessions (
    account_id  TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    ended       INTEGER NOT NULL,
    start_ms    INTEGER,
    end_ms      INTEGER,
    updated_at  INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    PRIMARY KEY (account_id, session_id)
);
CREATE INDEX zoom_sessions_by_start ON zoom_sessions (start_ms);
CREATE INDEX zoom_sessions_by_end ON zoom_sessions (ended, end_ms);

-- One row that /readyz writes to prove the store is writable.
CREATE TABLE store_health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at INTEGER NOT NULL
);
