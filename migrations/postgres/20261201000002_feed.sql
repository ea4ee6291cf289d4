-- The change feed: every change replicas must hear of, numbered without
-- gaps in commit order. A writer takes the next number from feed_head in
-- the transaction of its change (the row lock orders writers by commit),
-- inserts the change, and notifies `cobrowse_feed` (delivered at commit).
-- Followers read `seq > last` in order; NOTIFY only wakes them.
CREATE TABLE feed_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL
);
INSERT INTO feed_head (id, seq) VALUES (1, 0);

-- kind 'zoom': a stored Zoom event (scope: the account, subject: the
-- session, event: its name); kind 'conversation': a mutation changed a
-- PureCloud conversation (subject: its id), so every replica forgets it;
-- kind 'purecloud': what the listener heard (event: the notice, as JSON);
-- kind 'lagged': changes were lost on their way (event: why). scope is the
-- writing replica for the last three.
CREATE TABLE feed (
    seq     BIGINT PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    scope   TEXT   NOT NULL,
    subject TEXT   NOT NULL,
    event   TEXT   NOT NULL
);
CREATE INDEX feed_by_time ON feed (at_ms);
