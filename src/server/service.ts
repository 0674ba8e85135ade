import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { errorMessage } from '../core/errors.ts';
import { Housekeeping } from '../scheduler/housekeeping.ts';
import { deterministicUuid } from '../scheduler/job-queue.ts';
import { createCoordination } from '../scheduler/coordination.ts';
import { RunExecutor } from '../scheduler/run-executor.ts';
import { SCHEDULER_DEFAULTS, Scheduler } from '../scheduler/scheduler.ts';
import { ScheduleStore } from '../scheduler/schedule-store.ts';
import { INSTANCE } from '../state/state-store.ts';
import { Tributary, type OpenOptions } from '../tributary.ts';
import { buildApp, type ServiceContext } from './app.ts';
import { assertBindAllowed } from './auth.ts';
import { EVENT_HUB_DEFAULTS, EventHub } from './event-hub.ts';
import { ServiceMetrics } from './metrics.ts';
import { createServicePino, engineLogger } from './service-logger.ts';
import { Webhooks } from './webhooks.ts';

/**
 * `tributary serve` and `tributary worker`: the library API plus a scheduler, a run queue, an
 * executor, live events and the HTTP API, composed here and shut down in reverse order.
 */
export interface ServiceOptions extends Pick<OpenOptions, 'configFile' | 'cwd' | 'env'> {
  /** Build the HTTP API (serve) or not (worker). Default true. */
  http?: boolean;
  /** Bind a port (default true); false builds the app for in-process requests (`app.inject()`, tests). */
  listen?: boolean;
  /** Default: config `server.port`, else 3000. 0 picks a free port. */
  port?: number;
  /** Default: config `server.host`, else 127.0.0.1. */
  host?: string;
  /** Run this instance's schedule tick loop and runOnStart runs. Default true (serve --no-scheduler: false). */
  scheduler?: boolean;
  /** Take runs from the queue in this instance. Default true. */
  worker?: boolean;
  /** Bearer token for /api and /metrics; default $TRIBUTARY_TOKEN (empty means none). */
  token?: string | null;
  /** Where JSON log lines go (default stdout) and from which level (default $TRIBUTARY_LOG_LEVEL or info). */
  logStream?: DestinationStream;
  logLevel?: string;
  /** Tuning, mostly for tests. */
  tickMs?: number;
  heartbeatMs?: number;
  concurrency?: number;
}

export const SERVICE_DEFAULTS = {
  host: '127.0.0.1',
  port: 3000,
  /** Runs one instance executes at once (different syncs; one sync never runs twice at once). */
  concurrency: 4,
} as const;

const VERSION = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

export interface RunningService {
  /** http://host:port, or null for a worker. */
  url: string | null;
  app: FastifyInstance | null;
  ctx: ServiceContext;
  /** Graceful stop: runs end after their current batch (interrupted, resumable), then everything closes. */
  close(): Promise<void>;
}

export async function startService(options: ServiceOptions = {}): Promise<RunningService> {
  const env = options.env ?? process.env;
  const token = options.token === undefined ? env.TRIBUTARY_TOKEN || null : options.token || null;
  const pinoLogger = createServicePino({
    level: options.logLevel ?? env.TRIBUTARY_LOG_LEVEL,
    stream: options.logStream,
  });
  const logger = engineLogger(pinoLogger);

  // Refuse an unauthenticated public bind before touching anything (again below for a host from the config).
  const serving = options.http !== false && options.listen !== false;
  if (serving && options.host !== undefined) assertBindAllowed(options.host, token);
  const t = await Tributary.open({ configFile: options.configFile, cwd: options.cwd, env, logger });
  const host = options.host ?? t.config.server?.host ?? SERVICE_DEFAULTS.host;
  const port = options.port ?? t.config.server?.port ?? SERVICE_DEFAULTS.port;
  const closers: (() => Promise<void> | void)[] = [() => t.close()];
  const closeAll = async () => {
    for (const c of closers.reverse())
      await Promise.resolve(c()).catch((err: unknown) => logger.warn(`shutdown: ${errorMessage(err)}`));
  };
  try {
    if (serving) assertBindAllowed(host, token);
    const instance = INSTANCE.id;
    const { queue, bus } = await createCoordination(t.config.database, instance, logger);
    closers.push(
      () => bus.close(),
      () => queue.close(),
    );

    const store = new ScheduleStore(t.dest);
    const executor = new RunExecutor(t, store, bus, logger);
    const scheduler = new Scheduler(t, store, queue, executor, {
      timezone: t.config.service?.timezone ?? SCHEDULER_DEFAULTS.timezone,
      tickMs: options.tickMs ?? SCHEDULER_DEFAULTS.tickMs,
      sweepEveryTicks: SCHEDULER_DEFAULTS.sweepEveryTicks,
      logger,
    });
    const hub = new EventHub({
      ...EVENT_HUB_DEFAULTS,
      heartbeatMs: options.heartbeatMs ?? EVENT_HUB_DEFAULTS.heartbeatMs,
    });
    const webhooks = new Webhooks(t.config, t.dest, instance, logger);
    const metrics = new ServiceMetrics({
      runsInProgress: () => executor.running,
      queueDepth: () => queue.depth(),
      sseClients: () => hub.clientCount,
      webhookDeliveries: () => webhooks.counts(),
    });
    webhooks.start();
    closers.push(
      () => metrics.close(),
      () => hub.closeAll(),
      // After the runs stop (closers run in reverse), so their run.finished deliveries are stored.
      () => webhooks.stop(),
    );
    bus.onGap((reason) => hub.gap(reason));
    bus.subscribe((event, origin, id) => {
      hub.push(event, origin, id);
      if (origin !== instance) return;
      // Counted and announced by the instance that executed the run, so once across instances.
      metrics.observe(event);
      webhooks
        .observe(event)
        .catch((err: unknown) => logger.warn(`webhooks: could not store a delivery: ${errorMessage(err)}`));
    });

    const ctx: ServiceContext = {
      t,
      scheduler,
      queue,
      executor,
      bus,
      hub,
      metrics,
      instance,
      version: VERSION,
      token,
      startedAt: Date.now(),
    };

    // Queued API runs whose job was lost with a stopped process are sent again; claiming the row
    // is a compare-and-set, so a run sent twice still runs once.
    for (const run of await t.state.listRuns({ status: 'queued', limit: 500 })) {
      if (!t.syncNames.includes(run.sync)) continue;
      await queue.send({
        id: deterministicUuid(`run|${run.id}|${instance}`),
        sync: run.sync,
        trigger: run.trigger,
        runId: run.id,
      });
    }

    if (options.worker !== false) {
      await queue.work(
        executor.handle,
        options.concurrency ?? t.config.service?.concurrency ?? SERVICE_DEFAULTS.concurrency,
      );
    }
    let app: FastifyInstance | null = null;
    let url: string | null = null;
    if (options.http !== false) {
      const built = await buildApp(ctx, { logger: pinoLogger });
      app = built;
      closers.push(async () => {
        hub.closeAll();
        await built.close();
      });
    }
    // Closed before the server (closers run in reverse): runs stop after their current batch and
    // their run.finished (interrupted) events still reach connected clients.
    if (options.worker !== false) {
      closers.push(async () => {
        await executor.shutdown();
        await queue.stopWorking();
      });
    }
    if (options.scheduler !== false) {
      await scheduler.start();
      const housekeeping = new Housekeeping(t.state, t.config.service?.historyRetention, logger);
      housekeeping.start();
      closers.push(
        () => scheduler.stop(),
        () => housekeeping.stop(),
      );
    }
    if (app && options.listen !== false) {
      await app.listen({ host, port });
      const built = app;
      const address = built.server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
    }
    logger.info(`tributary ${VERSION} started`, {
      instance,
      url: url ?? undefined,
      queue: queue.kind,
      scheduler: options.scheduler !== false,
      worker: options.worker !== false,
    });

    let closing: Promise<void> | null = null;
    return {
      url,
      app,
      ctx,
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
