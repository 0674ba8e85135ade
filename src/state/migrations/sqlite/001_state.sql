-- Tributary state tables (SQLite). Append-only: never edit a released migration, add a new file.
-- Times are ISO 8601 UTC text; JSON is text.

CREATE TABLE IF NOT EXISTS tributary_sync_status (
  sync              TEXT PRIMARY KEY,
  cursor            TEXT,
  pass              TEXT,
  last_run_id       INTEGER,
  last_status       TEXT,
  last_error        TEXT,
  last_attempt_at   TEXT,
  last_success_at   TEXT,
  success_count     INTEGER NOT NULL DEFAULT 0,
  failure_count     INTEGER NOT NULL DEFAULT 0,
  last_record_count INTEGER,
  enabled           INTEGER,
  schedule          TEXT,
  updated_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS tributary_runs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  sync          TEXT NOT NULL,
  trigger       TEXT NOT NULL,
  status        TEXT NOT NULL,
  full_refresh  INTEGER NOT NULL DEFAULT 0,
  started_at    TEXT NOT NULL,
  finished_at   TEXT,
  duration_ms   INTEGER,
  read          INTEGER NOT NULL DEFAULT 0,
  inserted      INTEGER NOT NULL DEFAULT 0,
  updated       INTEGER NOT NULL DEFAULT 0,
  unchanged     INTEGER NOT NULL DEFAULT 0,
  deleted       INTEGER NOT NULL DEFAULT 0,
  quarantined   INTEGER NOT NULL DEFAULT 0,
  batches       INTEGER NOT NULL DEFAULT 0,
  error         TEXT,
  error_code    TEXT,
  instance      TEXT,
  checkpoint    TEXT,
  cursor_start  TEXT,
  cursor_end    TEXT,
  metadata      TEXT,
  heartbeat_at  TEXT,
  cancel_requested_at TEXT
);
CREATE INDEX IF NOT EXISTS tributary_runs_sync_started ON tributary_runs (sync, started_at DESC);
CREATE INDEX IF NOT EXISTS tributary_runs_status ON tributary_runs (status);

CREATE TABLE IF NOT EXISTS tributary_quarantine (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id      INTEGER NOT NULL,
  sync        TEXT NOT NULL,
  record_key  TEXT,
  reason_code TEXT NOT NULL,
  message     TEXT NOT NULL,
  payload     TEXT,
  created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tributary_quarantine_sync ON tributary_quarantine (sync, id DESC);
CREATE INDEX IF NOT EXISTS tributary_quarantine_run ON tributary_quarantine (run_id);

CREATE TABLE IF NOT EXISTS tributary_leases (
  sync        TEXT PRIMARY KEY,
  run_id      INTEGER,
  instance    TEXT NOT NULL,
  host        TEXT NOT NULL,
  pid         INTEGER NOT NULL,
  acquired_at TEXT NOT NULL,
  expires_at  TEXT NOT NULL
);
