import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Config } from '../config/schema.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger, RunStatus } from '../core/types.ts';
import type { ServiceEvent } from '../scheduler/event-bus.ts';

/**
 * Webhooks on finished runs (config `service.webhooks` and per sync `webhooks`). Only the instance
 * that executed a run delivers its webhooks, so each fires once however many instances run.
 *
 * The request: POST, JSON body `{id, type: "run.finished", at, run: {...}}`, headers
 * `X-Tributary-Event`, `X-Tributary-Delivery` (the id, the same on every retry),
 * `X-Tributary-Timestamp` (Unix seconds) and `X-Tributary-Signature: sha256=<hex>`, the
 * HMAC-SHA256 of `<timestamp>.<body>` keyed by the webhook's secret. Receivers recompute it and
 * reject old timestamps, which stops replays.
 *
 * Delivery is retried on network errors, timeouts, 429 and 5xx with exponential backoff, in
 * memory: a process that stops mid-retry drops the remaining attempts (the run row stays the
 * record of truth).
 */
export const WEBHOOK_DEFAULTS = {
  on: ['succeeded', 'partial', 'failed'] as RunStatus[],
  attempts: 5,
  /** Backoff before retry n (1-based): baseDelayMs · 2^(n-1), with ±25% jitter. */
  baseDelayMs: 1000,
  timeoutMs: 10_000,
  /** Response bodies are drained, never read into memory beyond this. */
  maxResponseBytes: 64 * 1024,
};

export interface Webhook {
  url: string;
  secret?: string;
  on?: RunStatus[];
}

export interface WebhookDelivery {
  url: string;
  status: number | null;
  attempts: number;
  ok: boolean;
  error: string | null;
}

export class Webhooks {
  readonly #pending = new Set<Promise<WebhookDelivery>>();

  constructor(
    readonly config: Pick<Config, 'service' | 'syncs'>,
    readonly logger: Logger,
    readonly options: typeof WEBHOOK_DEFAULTS = WEBHOOK_DEFAULTS,
  ) {}

  /** The webhooks that fire for a run of `sync` ending in `status`. */
  targets(sync: string, status: RunStatus): Webhook[] {
    const all = [...(this.config.service?.webhooks ?? []), ...(this.config.syncs[sync]?.webhooks ?? [])];
    return all.filter((w) => (w.on ?? this.options.on).includes(status));
  }

  /** Feeds events of runs this instance executed; deliveries run in the background. */
  observe(event: ServiceEvent): Promise<WebhookDelivery>[] {
    if (event.type !== 'run.finished') return [];
    const body = JSON.stringify({
      id: randomUUID(),
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
    return this.targets(event.sync, event.status).map((hook) => {
      const p = this.deliver(hook, body, event.sync);
      this.#pending.add(p);
      void p.finally(() => this.#pending.delete(p));
      return p;
    });
  }

  /** Waits for deliveries in flight (shutdown), at most `ms`. */
  async drain(ms = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#pending]),
      new Promise((r) => {
        timer = setTimeout(r, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  async deliver(hook: Webhook, body: string, sync: string): Promise<WebhookDelivery> {
    const delivery = JSON.parse(body) as { id: string };
    let last: WebhookDelivery = {
      url: redactUrl(hook.url),
      status: null,
      attempts: 0,
      ok: false,
      error: null,
    };
    for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'tributary-webhook',
        'x-tributary-event': 'run.finished',
        'x-tributary-delivery': delivery.id,
        'x-tributary-timestamp': timestamp,
      };
      if (hook.secret) headers['x-tributary-signature'] = `sha256=${sign(hook.secret, timestamp, body)}`;
      try {
        const status = await post(hook.url, headers, body, this.options);
        last = { ...last, status, attempts: attempt, ok: status >= 200 && status < 300, error: null };
        if (last.ok) return last;
        last.error = `answered ${status}`;
        if (status !== 429 && status < 500) break; // the receiver refuses it: retrying will not help
      } catch (err) {
        last = { ...last, attempts: attempt, error: errorMessage(err) };
      }
      if (attempt < this.options.attempts) {
        const delay = this.options.baseDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
    this.logger.warn(`webhook ${last.url} failed after ${last.attempts} attempts: ${last.error}`, { sync });
    return last;
  }
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
