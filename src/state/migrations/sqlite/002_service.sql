-- The service (issue 4): schedules with compare-and-set claims, service-wide settings, an index
-- for run-history retention. Append-only: never edit a released migration, add a new file.
-- Times are ISO 8601 UTC text.

CREATE TABLE IF NOT EXISTS tributary_schedules (
  sync             TEXT PRIMARY KEY,
  spec             TEXT NOT NULL,
  next_run_at      TEXT NOT NULL,
  last_tick_at     TEXT,
  last_job_id      TEXT,
  skip_count       INTEGER NOT NULL DEFAULT 0,
  last_skip_at     TEXT,
  last_skip_reason TEXT,
  updated_at       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS tributary_settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS tributary_runs_finished ON tributary_runs (finished_at);
