import diagnosticsChannel from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunCounts } from '../core/types.ts';
import type { ServiceEvent } from '../scheduler/event-bus.ts';

/**
 * Prometheus metrics of one instance (each instance is scraped on its own). Run metrics count the
 * runs this instance executed; the queue depth is the shared queue's.
 *
 *   tributary_runs_total{sync,status}               runs finished, by final status
 *   tributary_rows_total{sync,op}                   rows by operation: read, inserted, updated, unchanged, deleted, quarantined
 *   tributary_run_duration_seconds{sync,status}     histogram of run durations
 *   tributary_runs_in_progress{sync}                runs executing in this instance now
 *   tributary_source_http_requests_total{host,status}  HTTP requests sources made, by response status
 *   tributary_queue_depth                           jobs waiting to start
 *   tributary_sse_clients                           connected event-stream clients
 *   tributary_webhook_deliveries{state}             the shared webhook outbox: pending, delivered, failed
 * plus Node's process metrics with the tributary_ prefix.
 */
export interface MetricsSources {
  runsInProgress(): string[];
  queueDepth(): Promise<number>;
  sseClients(): number;
  /** Webhook deliveries in the outbox, by state. */
  webhookDeliveries(): Promise<Record<string, number>>;
}

const OPS = ['read', 'inserted', 'updated', 'unchanged', 'deleted', 'quarantined'] as const;

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly #runs: Counter<'sync' | 'status'>;
  readonly #rows: Counter<'sync' | 'op'>;
  readonly #duration: Histogram<'sync' | 'status'>;
  readonly #http: Counter<'host' | 'status'>;
  /** Cumulative counts last seen per run, so each batch adds only its delta. */
  readonly #seen = new Map<number, RunCounts>();
  readonly #onHeaders: (message: unknown) => void;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tributary_' });
    this.#runs = new Counter({
      name: 'tributary_runs_total',
      help: 'Runs finished, by final status',
      labelNames: ['sync', 'status'],
      registers,
    });
    this.#rows = new Counter({
      name: 'tributary_rows_total',
      help: 'Rows by operation',
      labelNames: ['sync', 'op'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'tributary_run_duration_seconds',
      help: 'Run duration',
      labelNames: ['sync', 'status'],
      // From a quick incremental poll to a multi-hour first load.
      buckets: [0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600],
      registers,
    });
    this.#http = new Counter({
      name: 'tributary_source_http_requests_total',
      help: 'HTTP requests made by sources, by response status',
      labelNames: ['host', 'status'],
      registers,
    });
    new Gauge({
      name: 'tributary_runs_in_progress',
      help: 'Runs executing in this instance',
      labelNames: ['sync'],
      registers,
      collect() {
        this.reset();
        for (const sync of sources.runsInProgress()) this.inc({ sync });
      },
    });
    new Gauge({
      name: 'tributary_queue_depth',
      help: 'Jobs waiting to start',
      registers,
      async collect() {
        this.set(await sources.queueDepth().catch(() => -1));
      },
    });
    new Gauge({
      name: 'tributary_webhook_deliveries',
      help: 'Webhook deliveries in the shared outbox, by state (failed ones need a look)',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const counts = await sources.webhookDeliveries().catch((): Record<string, number> => ({}));
        for (const state of ['pending', 'delivered', 'failed']) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: 'tributary_sse_clients',
      help: 'Connected event-stream clients',
      registers,
      collect() {
        this.set(sources.sseClients());
      },
    });
    // Sources talk HTTP through undici; its diagnostics channel reports every response without
    // any hook in the connectors.
    this.#onHeaders = (message) => {
      const { request, response } = message as {
        request: { origin?: string };
        response: { statusCode: number };
      };
      let host = 'unknown';
      try {
        host = new URL(request.origin ?? '').host;
      } catch {
        /* keep unknown */
      }
      this.#http.inc({ host, status: String(response.statusCode) });
    };
    diagnosticsChannel.subscribe('undici:request:headers', this.#onHeaders);
  }

  /** Feeds run events executed by this instance. */
  observe(event: ServiceEvent): void {
    if (event.type === 'batch.written' || event.type === 'run.finished') {
      const before = this.#seen.get(event.runId);
      for (const op of OPS) {
        const delta = event.counts[op] - (before?.[op] ?? 0);
        if (delta > 0) this.#rows.inc({ sync: event.sync, op }, delta);
      }
      if (event.type === 'batch.written') this.#seen.set(event.runId, { ...event.counts });
    }
    if (event.type === 'run.finished') {
      this.#seen.delete(event.runId);
      this.#runs.inc({ sync: event.sync, status: event.status });
      this.#duration.observe({ sync: event.sync, status: event.status }, event.durationMs / 1000);
    }
  }

  close(): void {
    diagnosticsChannel.unsubscribe('undici:request:headers', this.#onHeaders);
  }
}
