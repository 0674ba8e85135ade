-- Webhook deliveries (issue 4): an outbox, so a delivery survives the process that made it.
-- See the PostgreSQL migration for the columns. Times are ISO 8601 UTC text.
CREATE TABLE IF NOT EXISTS tributary_webhook_deliveries (
  id              TEXT PRIMARY KEY,
  sync            TEXT NOT NULL,
  run_id          INTEGER,
  hook            TEXT NOT NULL,
  body            TEXT NOT NULL,
  state           TEXT NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  claimed_by      TEXT,
  claimed_until   TEXT,
  last_status     INTEGER,
  last_error      TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS tributary_webhook_deliveries_due
  ON tributary_webhook_deliveries (state, next_attempt_at);
