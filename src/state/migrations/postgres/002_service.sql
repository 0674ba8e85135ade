-- The service (issue 4): schedules with compare-and-set claims, service-wide settings, an index
-- for run-history retention. Append-only: never edit a released migration, add a new file.

-- One row per scheduled sync. Every instance's tick loop claims a due tick by moving next_run_at
-- forward with `UPDATE … WHERE sync = $1 AND next_run_at = $due`: exactly one instance wins each
-- tick, however many run. Rows are kept in step with the config and the runtime switches.
CREATE TABLE IF NOT EXISTS tributary_schedules (
  sync             text PRIMARY KEY,
  -- The effective schedule: a cron expression (optionally prefixed "TZ=Area/City ") or "every 30m".
  spec             text NOT NULL,
  next_run_at      timestamptz NOT NULL,
  last_tick_at     timestamptz,
  last_job_id      text,
  -- Ticks that found the sync still running (or disabled at startup) are skipped and counted.
  skip_count       integer NOT NULL DEFAULT 0,
  last_skip_at     timestamptz,
  last_skip_reason text,
  updated_at       timestamptz NOT NULL
);

-- Service-wide switches shared by every instance (e.g. scheduler.running).
CREATE TABLE IF NOT EXISTS tributary_settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Retention deletes finished runs by age.
CREATE INDEX IF NOT EXISTS tributary_runs_finished ON tributary_runs (finished_at);
