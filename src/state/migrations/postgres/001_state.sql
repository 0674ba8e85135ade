-- Tributary state tables (PostgreSQL). Append-only: never edit a released migration, add a new file.

CREATE TABLE IF NOT EXISTS tributary_sync_status (
  sync              text PRIMARY KEY,
  -- JSON of the committed incremental high-water mark (string or number), NULL before the first pass.
  cursor            text,
  -- The pass in progress (JSON): run that started it, mode, checkpoint, cursor bounds. NULL when no
  -- pass is open. A new run resumes from here after a crash (DESIGN guarantee 2).
  pass              jsonb,
  last_run_id       bigint,
  last_status       text,
  last_error        text,
  last_attempt_at   timestamptz,
  last_success_at   timestamptz,
  success_count     integer NOT NULL DEFAULT 0,
  failure_count     integer NOT NULL DEFAULT 0,
  last_record_count bigint,
  -- Runtime switches (NULL = as configured), set by `tributary enable|disable|schedule`.
  enabled           boolean,
  schedule          text,
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS tributary_runs (
  id            bigserial PRIMARY KEY,
  sync          text NOT NULL,
  trigger       text NOT NULL,
  status        text NOT NULL,
  full_refresh  boolean NOT NULL DEFAULT false,
  started_at    timestamptz NOT NULL,
  finished_at   timestamptz,
  duration_ms   bigint,
  read          bigint NOT NULL DEFAULT 0,
  inserted      bigint NOT NULL DEFAULT 0,
  updated       bigint NOT NULL DEFAULT 0,
  unchanged     bigint NOT NULL DEFAULT 0,
  deleted       bigint NOT NULL DEFAULT 0,
  quarantined   bigint NOT NULL DEFAULT 0,
  batches       integer NOT NULL DEFAULT 0,
  error         text,
  error_code    text,
  instance      text,
  checkpoint    jsonb,
  cursor_start  text,
  cursor_end    text,
  metadata      jsonb,
  heartbeat_at  timestamptz,
  cancel_requested_at timestamptz
);
CREATE INDEX IF NOT EXISTS tributary_runs_sync_started ON tributary_runs (sync, started_at DESC);
CREATE INDEX IF NOT EXISTS tributary_runs_status ON tributary_runs (status);

CREATE TABLE IF NOT EXISTS tributary_quarantine (
  id          bigserial PRIMARY KEY,
  run_id      bigint NOT NULL,
  sync        text NOT NULL,
  record_key  text,
  reason_code text NOT NULL,
  message     text NOT NULL,
  payload     jsonb,
  created_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tributary_quarantine_sync ON tributary_quarantine (sync, id DESC);
CREATE INDEX IF NOT EXISTS tributary_quarantine_run ON tributary_quarantine (run_id);

-- One active run per sync across processes and machines (DESIGN guarantee 4).
CREATE TABLE IF NOT EXISTS tributary_leases (
  sync        text PRIMARY KEY,
  run_id      bigint,
  instance    text NOT NULL,
  host        text NOT NULL,
  pid         integer NOT NULL,
  acquired_at timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
