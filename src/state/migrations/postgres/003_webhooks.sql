-- Webhook deliveries (issue 4): an outbox, so a delivery survives the process that made it. The
-- instance that executed a run inserts one row per webhook; any instance delivers due rows,
-- claiming each with a compare-and-set on claimed_until, and records every attempt.
-- Append-only: never edit a released migration, add a new file.
CREATE TABLE IF NOT EXISTS tributary_webhook_deliveries (
  -- The delivery id (X-Tributary-Delivery), the same on every attempt.
  id              text PRIMARY KEY,
  sync            text NOT NULL,
  run_id          bigint,
  -- SHA-256 of the webhook's URL. URLs may carry tokens, so they stay in the config; a delivery
  -- whose webhook left the config fails with that reason.
  hook            text NOT NULL,
  body            text NOT NULL,
  -- pending | delivered | failed
  state           text NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- An instance attempting the delivery holds it until then; a dead one's claim simply expires.
  claimed_by      text,
  claimed_until   timestamptz,
  last_status     integer,
  last_error      text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS tributary_webhook_deliveries_due
  ON tributary_webhook_deliveries (state, next_attempt_at);
