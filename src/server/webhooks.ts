import { createHash, createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Config } from '../config/schema.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger, RunStatus } from '../core/types.ts';
import type { SqlExecutor } from '../destinations/destination.ts';
import type { ServiceEvent } from '../scheduler/event-bus.ts';

/**
 * Webhooks on finished runs (config `service.webhooks` and per sync `webhooks`).
 *
 * The request: POST, JSON body `{id, type: "run.finished", at, run: {...}}`, headers
 * `X-Tributary-Event`, `X-Tributary-Delivery` (the id, the same on every retry),
 * `X-Tributary-Timestamp` (Unix seconds) and `X-Tributary-Signature: sha256=<hex>`, the
 * HMAC-SHA256 of `<timestamp>.<body>` keyed by the webhook's secret. Receivers recompute it and
 * reject old timestamps, which stops replays.
 *
 * Deliveries go through an outbox, `tributary_webhook_deliveries` (migration 003). The instance
 * that executed a run inserts one row per webhook, so each fires once however many instances
 * run. Any instance delivers due rows: it claims a row with a compare-and-set on
 * `claimed_until`, makes one attempt, and records it. Network errors, timeouts, 429 and 5xx are
 * retried with exponential backoff; other answers end the delivery as failed. A process that
 * stops mid-retry loses nothing: the row stays due, and a dead instance's claim expires.
 * URLs and secrets are not stored (a URL may carry a token): rows name their webhook by a hash of
 * its URL and the secret is read from the config at each attempt.
 */
export const WEBHOOK_DEFAULTS = {
  on: ['succeeded', 'partial', 'failed'] as RunStatus[],
  attempts: 5,
  /** Backoff before retry n (1-based): baseDelayMs · 2^(n-1), with ±25% jitter. */
  baseDelayMs: 1000,
  timeoutMs: 10_000,
  /** Response bodies are drained, never read into memory beyond this. */
  maxResponseBytes: 64 * 1024,
  /** How often each instance looks for due deliveries (new ones start at once on their instance). */
  pollMs: 1000,
  /** Delivered and failed rows are deleted after this long. */
  keepMs: 7 * 86_400_000,
};

export interface Webhook {
  url: string;
  secret?: string;
  on?: RunStatus[];
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: string;
  sync: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
}

interface DueRow {
  id: string;
  sync: string;
  hook: string;
  body: string;
  attempts: number;
}

const TABLE = 'tributary_webhook_deliveries';

export class Webhooks {
  readonly #inFlight = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<number> | null = null;
  #again = false;
  #stopped = true;
  #passes = 0;

  constructor(
    readonly config: Pick<Config, 'service' | 'syncs'>,
    readonly db: SqlExecutor,
    readonly instance: string,
    readonly logger: Logger,
    readonly options: typeof WEBHOOK_DEFAULTS = WEBHOOK_DEFAULTS,
  ) {}

  /** The webhooks that fire for a run of `sync` ending in `status`. */
  targets(sync: string, status: RunStatus): Webhook[] {
    return this.#all(sync).filter((w) => (w.on ?? this.options.on).includes(status));
  }

  /** Whether the config has any webhook at all. */
  get #configured(): boolean {
    return (
      (this.config.service?.webhooks?.length ?? 0) > 0 ||
      Object.values(this.config.syncs).some((s) => (s.webhooks?.length ?? 0) > 0)
    );
  }

  #all(sync: string): Webhook[] {
    return [...(this.config.service?.webhooks ?? []), ...(this.config.syncs[sync]?.webhooks ?? [])];
  }

  /**
   * Records the deliveries a finished run owes (events of runs this instance executed) and starts
   * them. Resolves with their ids once they are stored.
   */
  observe(event: ServiceEvent): Promise<string[]> {
    if (event.type !== 'run.finished') return Promise.resolve([]);
    const p = this.#record(event);
    this.#inFlight.add(p);
    void p.catch(() => {}).finally(() => this.#inFlight.delete(p));
    return p;
  }

  async #record(event: Extract<ServiceEvent, { type: 'run.finished' }>): Promise<string[]> {
    const hooks = this.targets(event.sync, event.status);
    const now = new Date().toISOString();
    const ids: string[] = [];
    for (const hook of hooks) {
      const id = randomUUID();
      const body = JSON.stringify({
        id,
        type: 'run.finished',
        at: event.at,
        run: {
          runId: event.runId,
          sync: event.sync,
          status: event.status,
          ...event.counts,
          durationMs: event.durationMs,
          error: event.error,
        },
      });
      await this.db.execute(
        `INSERT INTO ${TABLE} (id, sync, run_id, hook, body, state, attempts, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)`,
        [id, event.sync, event.runId, hookKey(hook.url), body, now],
      );
      ids.push(id);
    }
    if (ids.length > 0) this.kick();
    return ids;
  }

  /**
   * Delivers what is due now, then every `pollMs` until stopped. Without any webhook in the
   * config there is nothing to poll for: the one pass settles rows left by an earlier config.
   */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.kick();
  }

  /** Stops looking and waits (at most `ms`) for the attempts in flight; the rest stay due. */
  async stop(ms = this.options.timeoutMs + 1000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([this.#pass, ...this.#inFlight]),
      new Promise((r) => {
        timer = setTimeout(r, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** Runs a pass now (or right after the current one). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    const pass = this.deliverDue()
      .catch((err: unknown) => {
        this.logger.warn(`webhooks: ${errorMessage(err)}`);
        return 0;
      })
      .finally(() => {
        this.#pass = null;
        if (this.#stopped) return;
        if (this.#again) {
          this.#again = false;
          this.kick();
          return;
        }
        if (!this.#configured) return;
        this.#timer = setTimeout(() => this.kick(), this.options.pollMs);
        this.#timer.unref();
      });
    this.#pass = pass;
  }

  /**
   * One pass: claims the deliveries due at `now` and makes one attempt at each, in parallel.
   * Returns the number of attempts made. Public so tests drive it.
   */
  async deliverDue(now = new Date()): Promise<number> {
    const at = now.toISOString();
    if (this.#passes++ % 600 === 0) {
      await this.db.execute(`DELETE FROM ${TABLE} WHERE state <> 'pending' AND updated_at < $1`, [
        new Date(now.getTime() - this.options.keepMs).toISOString(),
      ]);
    }
    const due = await this.db.query<Record<string, unknown>>(
      `SELECT id, sync, hook, body, attempts FROM ${TABLE}
       WHERE state = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
       ORDER BY next_attempt_at LIMIT 50`,
      [at],
    );
    const claimedUntil = new Date(now.getTime() + this.options.timeoutMs + 5000).toISOString();
    const attempts: Promise<void>[] = [];
    for (const r of due) {
      const row: DueRow = {
        id: String(r.id),
        sync: String(r.sync),
        hook: String(r.hook),
        body: String(r.body),
        attempts: Number(r.attempts),
      };
      const claimed = await this.db.execute(
        `UPDATE ${TABLE} SET claimed_by = $2, claimed_until = $3, updated_at = $4
         WHERE id = $1 AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < $4)`,
        [row.id, this.instance, claimedUntil, at],
      );
      if (claimed === 0) continue; // another instance took it
      const p = this.#attempt(row);
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
      attempts.push(p);
    }
    await Promise.all(attempts);
    return attempts.length;
  }

  /** Deliveries in the outbox by state (the metrics). */
  async counts(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ state: string; n: number | string }>(
      `SELECT state, count(*) AS n FROM ${TABLE} GROUP BY state`,
    );
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** The stored state of one delivery (tests, diagnostics). */
  async get(id: string): Promise<WebhookDelivery | null> {
    const rows = await this.db.query<{
      id: string;
      sync: string;
      state: DeliveryState;
      attempts: number | string;
      last_status: number | string | null;
      last_error: string | null;
    }>(`SELECT id, sync, state, attempts, last_status, last_error FROM ${TABLE} WHERE id = $1`, [id]);
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      sync: r.sync,
      state: r.state,
      attempts: Number(r.attempts),
      lastStatus: r.last_status === null ? null : Number(r.last_status),
      lastError: r.last_error,
    };
  }

  async #attempt(row: DueRow): Promise<void> {
    const attempt = row.attempts + 1;
    const hook = this.#all(row.sync).find((w) => hookKey(w.url) === row.hook);
    let status: number | null = null;
    let error: string | null;
    let retry = false;
    if (!hook) {
      error = 'the webhook is no longer in the config';
    } else {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'tributary-webhook',
        'x-tributary-event': 'run.finished',
        'x-tributary-delivery': row.id,
        'x-tributary-timestamp': timestamp,
      };
      if (hook.secret) headers['x-tributary-signature'] = `sha256=${sign(hook.secret, timestamp, row.body)}`;
      try {
        status = await post(hook.url, headers, row.body, this.options);
        error = status >= 200 && status < 300 ? null : `answered ${status}`;
        retry = status === 429 || status >= 500; // other answers: the receiver refuses it
      } catch (err) {
        error = errorMessage(err);
        retry = true;
      }
    }
    const now = Date.now();
    const state: DeliveryState =
      error === null ? 'delivered' : retry && attempt < this.options.attempts ? 'pending' : 'failed';
    const delay = this.options.baseDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
    await this.db.execute(
      `UPDATE ${TABLE} SET state = $3, attempts = $4, next_attempt_at = $5, last_status = $6, last_error = $7,
         claimed_by = NULL, claimed_until = NULL, updated_at = $8
       WHERE id = $1 AND claimed_by = $2`,
      [
        row.id,
        this.instance,
        state,
        attempt,
        new Date(now + (state === 'pending' ? delay : 0)).toISOString(),
        status,
        error,
        new Date(now).toISOString(),
      ],
    );
    if (state === 'failed') {
      this.logger.warn(
        `webhook ${hook ? redactUrl(hook.url) : row.hook.slice(0, 12)} for ${row.sync} failed after ${attempt} attempt(s): ${error}`,
        { sync: row.sync },
      );
    } else if (state === 'pending') {
      this.kickAfter(delay);
    }
  }

  /** A pass right when a retry falls due, rather than at the next poll. */
  kickAfter(ms: number): void {
    if (ms >= this.options.pollMs) return;
    setTimeout(() => this.kick(), ms + 1).unref();
  }
}

/** How a delivery row names its webhook: a hash of the URL, which may carry a token. */
function hookKey(url: string): string {
  return createHash('sha256').update(url).digest('hex');
}

/** The signature a receiver recomputes: hex HMAC-SHA256 of `<timestamp>.<body>`. */
export function sign(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** For logs: a URL without user info or query (where tokens may hide). */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}

/**
 * node:http rather than fetch/undici: undici's diagnostics channel feeds the sources' request
 * metrics, which webhook deliveries must not inflate.
 */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  o: { timeoutMs: number; maxResponseBytes: number },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: o.timeoutMs,
      },
      (res) => {
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > o.maxResponseBytes) res.destroy();
        });
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('close', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
