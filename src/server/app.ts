import fastifySwagger from '@fastify/swagger';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger as Pino } from 'pino';
import { redactConfig } from '../config/load.ts';
import type { SyncConfig } from '../config/schema.ts';
import { TributaryError, errorMessage } from '../core/errors.ts';
import type { EventBus } from '../scheduler/event-bus.ts';
import { deterministicUuid, type JobQueue } from '../scheduler/job-queue.ts';
import type { RunExecutor } from '../scheduler/run-executor.ts';
import { scheduleProblem } from '../scheduler/schedule.ts';
import { effectiveSchedule, type Scheduler, type SyncScheduleState } from '../scheduler/scheduler.ts';
import type { RunRow, SyncStatusRow } from '../state/state-store.ts';
import type { Tributary } from '../tributary.ts';
import * as api from './api-schemas.ts';
import { bearerMatches, needsAuth } from './auth.ts';
import type { EventHub } from './event-hub.ts';
import type { ServiceMetrics } from './metrics.ts';

/** Everything the routes use; built by service.ts (and by tests, with real parts). */
export interface ServiceContext {
  t: Tributary;
  scheduler: Scheduler;
  queue: JobQueue;
  executor: RunExecutor;
  bus: EventBus;
  hub: EventHub;
  metrics: ServiceMetrics;
  instance: string;
  version: string;
  /** TRIBUTARY_TOKEN, or null: then only loopback may connect (service.ts refuses other binds). */
  token: string | null;
  startedAt: number;
}

export const APP_DEFAULTS = {
  /** Request bodies are tiny JSON objects; anything larger is refused with 413. */
  bodyLimit: 64 * 1024,
} as const;

/** HTTP status of each error code the engine throws. */
const STATUS_OF: Record<string, number | undefined> = {
  sync_not_found: 404,
  run_not_found: 404,
  not_found: 404,
  usage: 400,
  invalid_request: 400,
  config_invalid: 400,
  sync_busy: 409,
  run_not_active: 409,
  unauthorized: 401,
  auth_failed: 502,
  source_unavailable: 502,
  destination_unavailable: 503,
};

class ApiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = STATUS_OF[code] ?? 500,
  ) {
    super(message);
  }
}

export async function buildApp(
  ctx: ServiceContext,
  options: { logger: Pino; bodyLimit?: number },
): Promise<FastifyInstance> {
  const loggerInstance: FastifyBaseLogger = options.logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: options.bodyLimit ?? APP_DEFAULTS.bodyLimit,
    // SSE streams stay open: on close, idle keep-alive sockets are closed at once, streams are
    // ended by the hub before the server closes.
    forceCloseConnections: 'idle',
    // Per-request lines would drown the log under an SSE load; failures are logged below.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.addHook('onRequest', async (req, reply) => {
    if (ctx.token && needsAuth(req.url) && !bearerMatches(req.headers.authorization, ctx.token)) {
      void reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: {
            code: 'unauthorized',
            message: 'this route needs Authorization: Bearer <TRIBUTARY_TOKEN>',
          },
        });
      return reply;
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode >= 500)
      req.log.warn(
        { method: req.method, path: req.routeOptions.url, status: reply.statusCode },
        'request failed',
      );
  });

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.code(400).send({ error: { code: 'invalid_request', message: err.message } });
    }
    if (err instanceof ApiFailure)
      return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    if (err instanceof TributaryError) {
      const status = STATUS_OF[err.code] ?? 500;
      if (status >= 500) req.log.error({ code: err.code, err: err.message }, 'request failed');
      return reply.code(status).send({ error: { code: err.code, message: err.message } });
    }
    const fe = err as FastifyError;
    if (fe.statusCode && fe.statusCode < 500) {
      const code =
        fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'body_too_large'
          : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? 'unsupported_media_type'
            : 'invalid_request';
      return reply.code(fe.statusCode).send({ error: { code, message: fe.message } });
    }
    req.log.error({ err: errorMessage(err) }, 'unexpected error');
    return reply
      .code(500)
      .send({ error: { code: 'internal', message: 'internal error; see the service log' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tributary',
        version: ctx.version,
        description:
          'Imports from APIs and files into PostgreSQL or SQLite: syncs, runs, live events, scheduler.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  const r = app.withTypeProvider<ZodTypeProvider>();
  const errors = { 400: api.errorSchema, 401: api.errorSchema, 404: api.errorSchema, 409: api.errorSchema };

  r.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  r.get(
    '/health',
    { schema: { security: [], response: { 200: api.healthSchema, 503: api.healthSchema } } },
    async (_req, reply) => {
      const started = Date.now();
      let db: { ok: boolean; latencyMs: number | null; error: string | null };
      try {
        await ctx.t.dest.query('SELECT 1 AS ok');
        db = { ok: true, latencyMs: Date.now() - started, error: null };
      } catch (err) {
        db = { ok: false, latencyMs: null, error: errorMessage(err) };
      }
      const running = db.ok ? await ctx.scheduler.isRunning().catch(() => null) : null;
      const depth = await ctx.queue.depth().catch(() => null);
      const body = {
        status: db.ok ? ('ok' as const) : ('degraded' as const),
        version: ctx.version,
        instance: ctx.instance,
        uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
        database: { ...db, engine: ctx.t.dest.kind },
        scheduler: { running, local: ctx.scheduler.local },
        queue: { kind: ctx.queue.kind, depth },
        runsInProgress: ctx.executor.running.length,
      };
      return reply.code(db.ok ? 200 : 503).send(body);
    },
  );

  r.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const text = await ctx.metrics.registry.metrics();
    return reply.header('content-type', ctx.metrics.registry.contentType).send(text);
  });

  // ── syncs ────────────────────────────────────────────────────────────────

  const scheduleStates = async () => new Map((await ctx.scheduler.state()).syncs.map((s) => [s.sync, s]));

  const summary = (
    name: string,
    status: SyncStatusRow | null,
    sched: SyncScheduleState | undefined,
    running: boolean,
  ) => {
    const sync = ctx.t.syncConfig(name);
    const eff = effectiveSchedule(sync, status);
    return {
      name,
      description: sync.description ?? null,
      source: describeSourceSafely(sync),
      table: sync.target.table,
      mode: sync.incremental ? ('incremental' as const) : ('full' as const),
      enabled: eff.enabled,
      schedule: eff.spec,
      overridden: { enabled: status?.enabled != null, schedule: status?.schedule != null },
      nextRunAt: sched?.nextRunAt ?? null,
      running,
      status: status ? statusView(status) : null,
    };
  };

  r.get('/api/syncs', { schema: { response: { 200: api.syncListSchema } } }, async () => {
    const statuses = new Map((await ctx.t.state.listStatuses()).map((s) => [s.sync, s]));
    const scheds = await scheduleStates();
    const syncs = [];
    for (const n of ctx.t.syncNames) {
      // Running anywhere: a live lease, whichever instance holds it.
      syncs.push(
        summary(n, statuses.get(n) ?? null, scheds.get(n), (await ctx.t.state.liveLease(n)) !== null),
      );
    }
    return { syncs };
  });

  const detail = async (name: string) => {
    ctx.t.syncConfig(name);
    const status = await ctx.t.state.getStatus(name);
    const sched = (await scheduleStates()).get(name)!;
    const config = (redactConfig(ctx.t.config) as { syncs: Record<string, unknown> }).syncs[name];
    const { sync: _sync, ...scheduler } = sched;
    return {
      ...summary(name, status, sched, (await ctx.t.state.liveLease(name)) !== null),
      scheduler,
      config,
      recentRuns: (await ctx.t.state.listRuns({ sync: name, limit: 10 })).map(runView),
    };
  };

  r.get(
    '/api/syncs/:name',
    { schema: { params: api.syncNameParams, response: { 200: api.syncDetailSchema, ...errors } } },
    async (req) => detail(req.params.name),
  );

  r.patch(
    '/api/syncs/:name',
    {
      schema: {
        params: api.syncNameParams,
        body: api.patchSyncBody,
        response: { 200: api.syncDetailSchema, ...errors },
      },
    },
    async (req) => {
      const { name } = req.params;
      ctx.t.syncConfig(name);
      const { enabled, schedule } = req.body;
      if (typeof schedule === 'string') {
        const problem = scheduleProblem(schedule, ctx.scheduler.options.timezone);
        if (problem) throw new ApiFailure('invalid_request', problem);
      }
      if (enabled !== undefined) await ctx.t.state.setEnabled(name, enabled);
      if (schedule !== undefined)
        await ctx.t.state.setSchedule(name, schedule === null ? null : schedule.trim());
      req.log.info({ sync: name, enabled, schedule }, 'sync switches changed');
      return detail(name);
    },
  );

  r.post(
    '/api/syncs/:name/runs',
    {
      schema: {
        params: api.syncNameParams,
        body: api.startRunBody.optional(),
        response: { 202: api.runAcceptedSchema, ...errors },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      ctx.t.syncConfig(name);
      const body = req.body ?? {};
      const lease = await ctx.t.state.liveLease(name);
      if (lease) {
        throw new ApiFailure(
          'sync_busy',
          `sync "${name}" is already running${lease.runId ? ` (run ${lease.runId})` : ''}; cancel it with POST /api/runs/${lease.runId ?? 'ID'}/cancel`,
        );
      }
      const queued = await ctx.t.state.listRuns({ sync: name, status: 'queued', limit: 1 });
      if (queued[0])
        throw new ApiFailure('sync_busy', `a run of "${name}" is already queued (run ${queued[0].id})`);
      const runId = await ctx.t.state.createQueuedRun({
        sync: name,
        trigger: 'api',
        metadata: body.full || body.limit ? { requested: { full: body.full, limit: body.limit } } : undefined,
      });
      ctx.bus.publish({
        type: 'run.queued',
        runId,
        sync: name,
        trigger: 'api',
        at: new Date().toISOString(),
      });
      await ctx.queue.send({
        id: deterministicUuid(`run|${runId}`),
        sync: name,
        trigger: 'api',
        runId,
        full: body.full,
        limit: body.limit,
      });
      return reply.code(202).send({ runId });
    },
  );

  r.post(
    '/api/syncs/:name/check',
    { schema: { params: api.syncNameParams, response: { 200: api.checkResultSchema, ...errors } } },
    async (req) => {
      ctx.t.syncConfig(req.params.name);
      try {
        return await ctx.t.check(req.params.name);
      } catch (err) {
        return { ok: false, message: errorMessage(err) };
      }
    },
  );

  // ── runs ─────────────────────────────────────────────────────────────────

  r.get(
    '/api/runs',
    { schema: { querystring: api.listRunsQuery, response: { 200: api.runListSchema, ...errors } } },
    async (req) => ({ runs: (await ctx.t.state.listRuns(req.query)).map(runView) }),
  );

  const getRun = async (id: number): Promise<RunRow> => {
    const run = await ctx.t.state.getRun(id);
    if (!run) throw new ApiFailure('run_not_found', `no run with id ${id}`);
    return run;
  };

  r.get(
    '/api/runs/:id',
    { schema: { params: api.runIdParams, response: { 200: api.runSchema, ...errors } } },
    async (req) => runView(await getRun(req.params.id)),
  );

  r.post(
    '/api/runs/:id/cancel',
    { schema: { params: api.runIdParams, response: { 202: api.cancelResultSchema, ...errors } } },
    async (req, reply) => {
      const run = await getRun(req.params.id);
      if (
        run.status === 'queued' &&
        (await ctx.t.state.abandonQueuedRun(run.id, 'cancelled', 'cancelled before it started', 'cancelled'))
      ) {
        ctx.bus.publish({
          type: 'run.finished',
          runId: run.id,
          sync: run.sync,
          status: 'cancelled',
          counts: { read: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, quarantined: 0 },
          durationMs: 0,
          error: 'cancelled before it started',
          at: new Date().toISOString(),
        });
        return reply.code(202).send({ runId: run.id, status: 'cancelled' as const });
      }
      // Running here or on any other instance: the run sees the flag at its next batch or heartbeat.
      if (await ctx.t.state.requestCancel(run.id))
        return reply.code(202).send({ runId: run.id, status: 'cancelling' as const });
      throw new ApiFailure(
        'run_not_active',
        `run ${run.id} is ${run.status}; only queued or running runs can be cancelled`,
      );
    },
  );

  r.get(
    '/api/runs/:id/quarantine',
    {
      schema: {
        params: api.runIdParams,
        querystring: api.quarantineQuery,
        response: { 200: api.quarantineSchema, ...errors },
      },
    },
    async (req) => {
      await getRun(req.params.id);
      return { records: await ctx.t.state.listQuarantine({ runId: req.params.id, limit: req.query.limit }) };
    },
  );

  // ── live events ──────────────────────────────────────────────────────────

  r.get('/api/events', { schema: { querystring: api.eventsQuery } }, (req, reply) => {
    if (req.query.sync) ctx.t.syncConfig(req.query.sync);
    const header = req.headers['last-event-id'];
    const lastEventId = (Array.isArray(header) ? header[0] : header) ?? req.query.lastEventId;
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    ctx.hub.attach({ res: reply.raw, sync: req.query.sync }, lastEventId);
  });

  // ── scheduler ────────────────────────────────────────────────────────────

  r.get('/api/scheduler', { schema: { response: { 200: api.schedulerStateSchema } } }, () =>
    ctx.scheduler.state(),
  );
  for (const action of ['start', 'stop'] as const) {
    r.post(
      `/api/scheduler/${action}`,
      { schema: { response: { 200: api.schedulerStateSchema } } },
      async (req) => {
        await ctx.scheduler.setRunning(action === 'start');
        req.log.info({ action }, `scheduler ${action} requested`);
        return ctx.scheduler.state();
      },
    );
  }

  // ── stats and data ───────────────────────────────────────────────────────

  r.get('/api/stats', { schema: { response: { 200: api.statsSchema } } }, async () => {
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const [all, recent] = await Promise.all([ctx.t.state.runTotals(), ctx.t.state.runTotals(since)]);
    const fold = (rows: typeof all) => {
      const out = { runs: 0, byStatus: {} as Record<string, number>, rows: zero() };
      for (const r of rows) {
        out.runs += r.runs;
        out.byStatus[r.status] = (out.byStatus[r.status] ?? 0) + r.runs;
        for (const k of Object.keys(out.rows) as (keyof typeof out.rows)[]) out.rows[k] += r.counts[k];
      }
      return out;
    };
    const allTime = fold(all);
    return {
      syncs: ctx.t.syncNames.length,
      running: allTime.byStatus.running ?? 0,
      queued: allTime.byStatus.queued ?? 0,
      last24h: fold(recent),
      allTime,
      bySync: ctx.t.syncNames.map((sync) => ({ sync, ...fold(all.filter((r) => r.sync === sync)) })),
    };
  });

  r.get(
    '/api/data/:table',
    {
      schema: {
        params: api.dataParams,
        querystring: api.dataQuery,
        response: { 200: api.dataSchema, ...errors },
      },
    },
    async (req) => {
      const where: Record<string, string> = {};
      for (const w of [req.query.where ?? []].flat()) {
        const eq = w.indexOf('=');
        if (eq <= 0) throw new ApiFailure('invalid_request', `where "${w}" must look like COLUMN=VALUE`);
        where[w.slice(0, eq)] = w.slice(eq + 1);
      }
      return { rows: await ctx.t.data(req.params.table, { where, limit: req.query.limit }) };
    },
  );

  return app;
}

const zero = () => ({ read: 0, inserted: 0, updated: 0, unchanged: 0, deleted: 0, quarantined: 0 });

function statusView(s: SyncStatusRow) {
  return {
    cursor: s.cursor,
    passOpen: s.pass !== null,
    lastRunId: s.lastRunId,
    lastStatus: s.lastStatus,
    lastError: s.lastError,
    lastAttemptAt: s.lastAttemptAt,
    lastSuccessAt: s.lastSuccessAt,
    successCount: s.successCount,
    failureCount: s.failureCount,
    lastRecordCount: s.lastRecordCount,
  };
}

function runView(r: RunRow) {
  return r;
}

/**
 * Source type and location for the API: a URL keeps only its origin and path, never user info
 * or query parameters (where an API key may hide).
 */
export function describeSourceSafely(sync: SyncConfig): string {
  const s = sync.source as Record<string, unknown>;
  const parts: string[] = [sync.source.type];
  for (const key of ['path', 'baseId', 'table', 'url', 'endpoint']) {
    const v = s[key];
    if (typeof v !== 'string' || v === '') continue;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
      try {
        const u = new URL(v);
        parts.push(`${u.protocol}//${u.host}${u.pathname}`);
      } catch {
        parts.push('<url>');
      }
    } else {
      parts.push(v);
    }
  }
  return parts.join(' ');
}
