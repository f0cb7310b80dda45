-- The first botman schema (issue #9). Timestamps are INTEGER microseconds
-- since the Unix epoch; durations INTEGER milliseconds.

-- The marker that says the file is a botman store: SqliteStore refuses a
-- SQLite file with tables but without this row.
CREATE TABLE botman_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO botman_meta (key, value) VALUES ('application', 'botman');

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot TEXT NOT NULL,
    trigger TEXT NOT NULL
        CHECK (trigger IN ('scheduled', 'manual', 'catch_up', 'recovery')),
    scheduled_at INTEGER,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    -- NULL while the run is in flight.
    outcome TEXT CHECK (outcome IN (
        'success', 'failure', 'soft_failure', 'timed_out', 'interrupted',
        'skipped', 'missed'
    )),
    -- Why a fire was skipped or missed (SkipReason, MissReason).
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    node TEXT,
    session TEXT,
    claimed INTEGER NOT NULL DEFAULT 0 CHECK (claimed IN (0, 1)),
    -- For the PostgreSQL store's leases; NULL in SQLite.
    lease_until INTEGER,
    exit_code INTEGER,
    stdout_tail TEXT,
    stderr_tail TEXT
);

-- A fire is claimed once: the insert of a second claim row is ignored.
CREATE UNIQUE INDEX runs_claim ON runs (bot, scheduled_at) WHERE claimed = 1;

-- Two processes recording the same skipped or missed fire make one row.
CREATE UNIQUE INDEX runs_not_run ON runs (bot, scheduled_at, outcome)
    WHERE claimed = 0 AND scheduled_at IS NOT NULL
        AND outcome IN ('skipped', 'missed');

-- History pages and pruning.
CREATE INDEX runs_history ON runs (bot, id);

-- Recovery: the runs a session left in flight.
CREATE INDEX runs_in_flight ON runs (session) WHERE finished_at IS NULL;

CREATE TABLE bot_state (
    bot TEXT PRIMARY KEY,
    -- Only ever moves forward.
    last_scheduled INTEGER,
    cool_down_until INTEGER,
    cool_down_len_ms INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER
);

-- The processes that have the file open; each holds a lock file in
-- `<database file name>-sessions/<id>.lock` while it lives.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL
);

-- For operators at the sqlite3 prompt: the runs with readable times
-- (UTC, RFC 3339) and durations, newest first by id.
CREATE VIEW runs_readable AS
SELECT
    id,
    bot,
    trigger,
    strftime('%Y-%m-%dT%H:%M:%fZ', scheduled_at / 1e6, 'unixepoch') AS scheduled,
    strftime('%Y-%m-%dT%H:%M:%fZ', started_at / 1e6, 'unixepoch') AS started,
    strftime('%Y-%m-%dT%H:%M:%fZ', finished_at / 1e6, 'unixepoch') AS finished,
    round((finished_at - started_at) / 1e3, 3) AS duration_ms,
    coalesce(outcome, 'in flight') AS outcome,
    reason,
    attempts,
    error,
    node,
    exit_code
FROM runs;
