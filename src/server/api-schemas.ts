import { z } from 'zod';
import type { RunStatus } from '../core/types.ts';

/**
 * The HTTP API's request and response shapes (DESIGN "HTTP API"), in one place: routes validate
 * requests with them, responses are serialised through them (so nothing undeclared, such as a
 * secret, can leak into a response), and /openapi.json is generated from them. The dashboard
 * reads the same types.
 */

export const errorSchema = z.object({
  error: z.object({
    /** Stable, machine-readable: not_found, invalid_request, unauthorized, sync_busy, … */
    code: z.string(),
    message: z.string(),
  }),
});
export type ApiError = z.infer<typeof errorSchema>;

const cursor = z.union([z.string(), z.number()]).nullable();
const counts = {
  read: z.number(),
  inserted: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  deleted: z.number(),
  quarantined: z.number(),
};
export const countsSchema = z.object(counts);

const RUN_STATUSES = [
  'queued',
  'running',
  'succeeded',
  'partial',
  'failed',
  'cancelled',
  'interrupted',
] as const satisfies readonly RunStatus[];
export const runStatusSchema = z.enum(RUN_STATUSES);

export const runSchema = z.object({
  id: z.number(),
  sync: z.string(),
  trigger: z.string(),
  status: runStatusSchema,
  fullRefresh: z.boolean(),
  /** When it started; for a queued run, when it was queued. */
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  ...counts,
  batches: z.number(),
  error: z.string().nullable(),
  errorCode: z.string().nullable(),
  instance: z.string().nullable(),
  checkpoint: z.record(z.string(), z.unknown()).nullable(),
  cursorStart: cursor,
  cursorEnd: cursor,
  metadata: z.record(z.string(), z.unknown()).nullable(),
  heartbeatAt: z.string().nullable(),
  cancelRequestedAt: z.string().nullable(),
});
export type ApiRun = z.infer<typeof runSchema>;

export const syncStatusSchema = z.object({
  cursor,
  /** A pass is open: the next run resumes it from its checkpoint. */
  passOpen: z.boolean(),
  lastRunId: z.number().nullable(),
  lastStatus: runStatusSchema.nullable(),
  lastError: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  successCount: z.number(),
  failureCount: z.number(),
  lastRecordCount: z.number().nullable(),
});

export const syncScheduleSchema = z.object({
  schedule: z.string().nullable(),
  enabled: z.boolean(),
  nextRunAt: z.string().nullable(),
  lastTickAt: z.string().nullable(),
  skipCount: z.number(),
  lastSkipAt: z.string().nullable(),
  lastSkipReason: z.string().nullable(),
  problem: z.string().nullable(),
});

export const syncSummarySchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  /** Source type and where it reads (URLs without credentials or query). */
  source: z.string(),
  table: z.string(),
  mode: z.enum(['incremental', 'full']),
  enabled: z.boolean(),
  /** Effective schedule (runtime override, else config); null: manual only. */
  schedule: z.string().nullable(),
  /** Whether the schedule or switch comes from a runtime override rather than the config. */
  overridden: z.object({ enabled: z.boolean(), schedule: z.boolean() }),
  nextRunAt: z.string().nullable(),
  running: z.boolean(),
  status: syncStatusSchema.nullable(),
});

export const syncListSchema = z.object({ syncs: z.array(syncSummarySchema) });

export const syncDetailSchema = syncSummarySchema.extend({
  scheduler: syncScheduleSchema,
  /** The sync's configuration, secrets redacted. */
  config: z.unknown(),
  recentRuns: z.array(runSchema),
});

export const syncNameParams = z.object({ name: z.string().min(1).max(200) });
export const runIdParams = z.object({ id: z.coerce.number().int().positive() });

export const patchSyncBody = z
  .strictObject({
    /** true / false switch the schedule on or off at runtime; null returns to the config's value. */
    enabled: z.boolean().nullable().optional(),
    /** A cron expression, "every 30m", "off", or null to return to the config's schedule. */
    schedule: z.string().min(1).max(200).nullable().optional(),
  })
  .refine((b) => b.enabled !== undefined || b.schedule !== undefined, 'give enabled and/or schedule');

export const startRunBody = z
  .strictObject({
    /** Ignore the stored cursor and read everything. */
    full: z.boolean().optional(),
    /** Stop after this many records; the next run continues the pass. */
    limit: z.number().int().positive().max(1_000_000_000).optional(),
  })
  .default({});

export const runListSchema = z.object({ runs: z.array(runSchema) });

export const runAcceptedSchema = z.object({ runId: z.number() });

export const checkResultSchema = z.object({ ok: z.boolean(), message: z.string() });

export const listRunsQuery = z.object({
  sync: z.string().min(1).max(200).optional(),
  status: runStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const cancelResultSchema = z.object({
  runId: z.number(),
  /** cancelled: it had not started; cancelling: it stops after its current batch. */
  status: z.enum(['cancelled', 'cancelling']),
});

export const quarantineQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
export const quarantineSchema = z.object({
  records: z.array(
    z.object({
      id: z.number(),
      runId: z.number(),
      sync: z.string(),
      recordKey: z.string().nullable(),
      reasonCode: z.string(),
      message: z.string(),
      payload: z.unknown(),
      createdAt: z.string(),
    }),
  ),
});

export const schedulerStateSchema = z.object({
  running: z.boolean(),
  local: z.boolean(),
  timezone: z.string(),
  syncs: z.array(syncScheduleSchema.extend({ sync: z.string() })),
});

const totals = z.object({
  runs: z.number(),
  byStatus: z.record(z.string(), z.number()),
  rows: countsSchema,
});
export const statsSchema = z.object({
  syncs: z.number(),
  running: z.number(),
  queued: z.number(),
  last24h: totals,
  allTime: totals,
  bySync: z.array(
    z.object({
      sync: z.string(),
      runs: z.number(),
      byStatus: z.record(z.string(), z.number()),
      rows: countsSchema,
    }),
  ),
});

export const dataParams = z.object({ table: z.string().min(1).max(63) });
export const dataQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  /** COLUMN=VALUE filters, repeatable. */
  where: z.union([z.string(), z.array(z.string())]).optional(),
});
export const dataSchema = z.object({
  rows: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))),
});

export const eventsQuery = z.object({
  /** Only events of this sync. */
  sync: z.string().min(1).max(200).optional(),
  /** Resume after this event id (the Last-Event-ID header does the same and wins). */
  lastEventId: z.string().max(100).optional(),
});

export const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  instance: z.string(),
  uptimeSeconds: z.number(),
  database: z.object({
    ok: z.boolean(),
    engine: z.string(),
    latencyMs: z.number().nullable(),
    error: z.string().nullable(),
  }),
  scheduler: z.object({ running: z.boolean().nullable(), local: z.boolean() }),
  queue: z.object({ kind: z.string(), depth: z.number().nullable() }),
  runsInProgress: z.number(),
});
