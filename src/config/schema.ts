import { z } from 'zod';
import { COLUMN_TYPES } from '../core/types.ts';
import { isDuration } from '../core/duration.ts';
import { checkCleanOptions } from '../pipeline/clean.ts';
import { scheduleProblem } from '../scheduler/schedule.ts';
import type { RawRecord } from '../core/types.ts';
import type { SqlExecutor } from '../destinations/destination.ts';

/**
 * The config file's shape (DESIGN.md "Config file"). Every option is documented where it is
 * declared; defaults live in DEFAULTS so there is one place to read them.
 */
export const DEFAULTS = {
  database: 'sqlite:./data/tributary.db',
  blobsDir: './data/blobs',
  port: 3000,
  write: 'merge',
  deletes: 'none',
  errorThreshold: 0.1,
  /** Values read as NULL in every column unless a column sets its own `nullIf`. */
  nullIf: [] as string[],
} as const;

/** SQL identifiers we create: letters, digits, underscores; not starting with a digit; ≤ 63 bytes (PostgreSQL's limit). */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const identifier = z
  .string()
  .regex(
    IDENTIFIER,
    'must be a plain SQL name: letters, digits and _, not starting with a digit, at most 63 characters',
  )
  .refine((s) => !s.toLowerCase().startsWith('tributary_') && !s.toLowerCase().startsWith('_tributary'), {
    message: 'names starting with tributary_ or _tributary are reserved for Tributary',
  });

/** A name that must be a plain SQL identifier, reserved prefixes allowed (references to our own tables are checked later). */
const identifierText = z
  .string()
  .regex(
    IDENTIFIER,
    'must be a plain SQL name: letters, digits and _, not starting with a digit, at most 63 characters',
  );

const duration = z.string().refine(isDuration, 'must be a duration such as 30s, 5m, 2h or 1d');

/**
 * Numbers and booleans may also be written as text, because `${VAR}` interpolation always yields
 * text: `port: ${PORT:-3000}` must work in YAML.
 */
const NUMBER_TEXT = /^\s*[+-]?\d+(?:\.\d+)?\s*$/;
export const numberOrText = <T extends z.ZodType<number, number>>(schema: T) =>
  z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      if (typeof v === 'number') return v;
      if (NUMBER_TEXT.test(v)) return Number(v);
      ctx.addIssue({ code: 'custom', message: `expected a number, got "${v}"` });
      return z.NEVER;
    })
    .pipe(schema);
const booleanOrText = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  const t = v.trim().toLowerCase();
  if (t === 'true') return true;
  if (t === 'false') return false;
  ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` });
  return z.NEVER;
});

export const columnTypeSchema = z.enum(COLUMN_TYPES);

export const columnObjectSchema = z
  .strictObject({
    /** Declared type; values are converted to it or the record is quarantined. */
    type: columnTypeSchema,
    /** Field name or dotted path in the source record (default: the column name). */
    from: z.string().min(1).optional(),
    /** Source strings that mean "no value" (compared after trimming, case-insensitive). */
    nullIf: z.array(z.string()).optional(),
    /** Input format for date / timestamptz, e.g. "DD/MM/YYYY" or "MM/DD/YYYY HH:mm". */
    format: z.string().optional(),
    /** What an unconvertible value does: quarantine the record (default) or become NULL. */
    onInvalid: z.enum(['quarantine', 'null']).optional(),
    /** Trim surrounding whitespace of string values (default true). */
    trim: z.boolean().optional(),
    /** Reject the record when the value is NULL after cleaning. Primary-key columns are always required. */
    required: z.boolean().optional(),
    /**
     * The column holds the key of a row in another table of the same sync (`target` or `related`),
     * whose primary key is one column. That table is written first in each batch, and the column
     * is indexed. When the referenced table is the sync's own `target`, this table is the record's
     * child: its rows for a record are replaced whenever the record is read again.
     */
    references: identifierText.optional(),
    /** Used when the source has no value (absent or null), e.g. `default: false` for a checkbox Airtable leaves out when unticked. */
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    /** A constant instead of a source field, e.g. `value: chatbot` for a lead's source. */
    value: z.union([z.string(), z.number(), z.boolean()]).optional(),
  })
  .superRefine((c, ctx) => {
    // Same check the mapper makes at compile time, so a bad format is a config error, not a failed run.
    const problem = checkCleanOptions(c);
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['format'], message: problem });
  });
export const columnSchema = z.union([columnTypeSchema, columnObjectSchema]);

export const targetSchema = z.strictObject({
  /** Destination table (created if absent). */
  table: identifier,
  /** Natural key: one column or several. Required for merge writes and deletes. */
  primaryKey: z.union([identifier, z.array(identifier).min(1)]).optional(),
  /** Declared columns, in table order. */
  columns: z
    .record(identifier, columnSchema)
    .refine((c) => Object.keys(c).length > 0, 'declare at least one column'),
  /** Sentinels read as NULL in every column (a column's own nullIf replaces this list). */
  nullIf: z.array(z.string()).optional(),
});

/**
 * A condition on the source record (after `transform`), for `related` tables whose rows exist
 * only for some records. Exactly one test besides `field`; values compare as trimmed text
 * (`equals: true` matches a checkbox that is ticked, `equals: "Yes"` the text Yes).
 */
export const conditionSchema = z
  .strictObject({
    /** Field name or dotted path, as in a column's `from`. */
    field: z.string().min(1),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    notEquals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    in: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional(),
    /** Substring match on the value's text, e.g. `contains: "2025"`. */
    contains: z.string().min(1).optional(),
    /** Regular expression (JavaScript syntax) tested against the value's text. */
    matches: z
      .string()
      .min(1)
      .refine((re) => {
        try {
          new RegExp(re);
          return true;
        } catch {
          return false;
        }
      }, 'is not a valid regular expression')
      .optional(),
    /** true: the field has a non-empty value; false: it is absent or empty. */
    present: z.boolean().optional(),
  })
  .refine(
    (c) => ['equals', 'notEquals', 'in', 'contains', 'matches', 'present'].filter((k) => k in c).length === 1,
    'give exactly one of equals, notEquals, in, contains, matches, present',
  );
export type Condition = z.output<typeof conditionSchema>;

/**
 * A further table each source record feeds (DESIGN: one record → several tables). Rows are
 * merged on the primary key; a row whose key is empty is not written (a conversation without a
 * customer has no customer row), and a row with an invalid value rejects the whole record.
 */
export const relatedTableSchema = z.strictObject({
  primaryKey: z.union([identifier, z.array(identifier).min(1)]),
  columns: targetSchema.shape.columns,
  nullIf: z.array(z.string()).optional(),
  /** Only records meeting this condition (or all of these) produce a row. */
  when: z.union([conditionSchema, z.array(conditionSchema).min(1)]).optional(),
});
export type RelatedTableConfig = z.output<typeof relatedTableSchema>;

/**
 * SQL run when a pass completes, inside the run's final transaction: plain statements, or a
 * derived table rebuilt from a query and swapped in atomically (readers see the old table or the
 * new one, never a missing or half-built one). A TS config may also give a function.
 */
export const afterRunStepSchema = z.union([
  z.strictObject({ sql: z.string().min(1) }),
  z.strictObject({ table: identifier, query: z.string().min(1) }),
  z.custom<AfterRunFunction>(
    (v) => typeof v === 'function',
    'must be { sql }, { table, query } or a function',
  ),
]);

const bound = numberOrText(z.number()).optional();
/**
 * A check run after each completed pass, its result stored with the run and shown by
 * `tributary status`. `rows`, `rate` and `sql` compare a number with `min` / `max`; `unique` and
 * `notNull` count offending rows and pass at zero. `required: true` fails the run when the check
 * fails; otherwise a failure is a warning.
 */
export const expectationSchema = z
  .strictObject({
    /** Rows in this table (soft-deleted rows excluded). */
    rows: identifier.optional(),
    /** Rows of the first table divided by rows of the second, e.g. [bookings, conversations]. */
    rate: z.tuple([identifier, identifier]).optional(),
    /** No two rows share these columns' values. */
    unique: z.strictObject({ table: identifier, columns: z.array(identifier).min(1) }).optional(),
    /** No row has NULL in these columns. */
    notNull: z.strictObject({ table: identifier, columns: z.array(identifier).min(1) }).optional(),
    /** A query returning one number (first column of the first row). */
    sql: z.string().min(1).optional(),
    min: bound,
    max: bound,
    required: booleanOrText.optional(),
    description: z.string().optional(),
  })
  .superRefine((e, ctx) => {
    const kinds = (['rows', 'rate', 'unique', 'notNull', 'sql'] as const).filter((k) => e[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of rows, rate, unique, notNull, sql' });
      return;
    }
    const measured = kinds[0] === 'rows' || kinds[0] === 'rate' || kinds[0] === 'sql';
    if (measured && e.min === undefined && e.max === undefined) {
      ctx.addIssue({ code: 'custom', message: `${kinds[0]} needs min, max or both` });
    }
    if (!measured && (e.min !== undefined || e.max !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: `${kinds[0]} passes when no row offends; min and max do not apply`,
      });
    }
    if (e.min !== undefined && e.max !== undefined && e.min > e.max) {
      ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${e.min} is above max ${e.max}` });
    }
  });
export type ExpectationConfig = z.output<typeof expectationSchema>;

/** What hooks and after-run functions of a TS config receive. */
export interface HookContext {
  sync: string;
  runId: number;
  /** SQL in the batch's (or the final) transaction; placeholders are $1, $2, … on every database. */
  tx: SqlExecutor;
}
export interface BatchHookContext extends HookContext {
  /** 1-based number of the batch within the run. */
  batch: number;
  /** Records in the batch (rejected ones included). */
  records: number;
  /** Rows to be written (before) or written (after), per table. */
  rows: Record<string, number>;
}
export type AfterRunFunction = (ctx: HookContext) => unknown;
export type RecordValidator = (record: RawRecord) => string | string[] | null | undefined | void;
export type RecordTransform = (record: RawRecord) => RawRecord;
export type BatchHook = (ctx: BatchHookContext) => unknown;

const fn = <T>(what: string) =>
  z.custom<T>(
    (v) => typeof v === 'function',
    `must be a function (${what}); functions need a tributary.config.ts`,
  );

export const incrementalSchema = z.strictObject({
  /** Column (declared in target.columns) holding the high-water mark, e.g. last_modified. */
  cursor: identifier,
  /** Re-read this far behind the stored cursor, for clock skew and late writers (default 0). */
  lookback: duration.optional(),
});

/** Source blocks are validated by their own factory's schema (sources/registry.ts). */
export const sourceBlockSchema = z.looseObject({ type: z.string().min(1) });

const syncSchemaBase = z.strictObject({
  /** Shown in status and the dashboard. */
  description: z.string().optional(),
  source: sourceBlockSchema,
  target: targetSchema,
  /** merge (default with a primaryKey) | append | replace. */
  write: z.enum(['merge', 'append', 'replace']).optional(),
  /** none | soft | hard: remove rows a complete full pass did not see. Full-refresh syncs only. */
  deletes: z.enum(['none', 'soft', 'hard']).optional(),
  /** Omit for full refresh. */
  incremental: incrementalSchema.optional(),
  /** Cron expression or "every 30m"; omit for manual only (used by `tributary serve`). */
  schedule: z
    .string()
    .superRefine((v, ctx) => {
      const problem = scheduleProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** Run once when the service starts. */
  runOnStart: booleanOrText.optional(),
  /** Records per transaction (default: the destination's capability). */
  batchSize: numberOrText(z.number().int().positive().max(1_000_000)).optional(),
  /** Fail the run once more than this share of records is rejected (0..1, default 0.1). */
  errorThreshold: numberOrText(z.number().min(0).max(1)).optional(),
  /** Start disabled; `tributary enable` switches it on at runtime. */
  enabled: booleanOrText.optional(),
  /** Webhooks for this sync's finished runs, in addition to `service.webhooks` (see serviceSchema). */
  webhooks: z.array(z.lazy(() => webhookSchema)).optional(),
  /** Further tables each record feeds, by table name (parents such as customers, children such as bookings). */
  related: z.record(identifier, relatedTableSchema).optional(),
  /** TS config: returns a message (or several) to reject a source record, nothing to accept it. Runs first. */
  validate: fn<RecordValidator>('record => message | undefined').optional(),
  /** TS config: reshapes a source record before every table's columns read it (computed keys, normalised names). */
  transform: fn<RecordTransform>('record => record').optional(),
  /** TS config: runs inside each batch's transaction before its rows are written. */
  beforeBatch: fn<BatchHook>('ctx => void').optional(),
  /** TS config: runs inside each batch's transaction after its rows are written. */
  afterBatch: fn<BatchHook>('ctx => void').optional(),
  /** Run when a pass completes, in order, in the run's final transaction. */
  afterRun: z.array(afterRunStepSchema).optional(),
  /** Checks after each completed pass, by name. */
  expect: z.record(z.string().min(1), expectationSchema).optional(),
});
export const syncSchema = syncSchemaBase.superRefine((s, ctx) => {
  const write = s.write ?? (s.target.primaryKey ? 'merge' : 'append');
  if (write === 'merge' && !s.target.primaryKey) {
    ctx.addIssue({
      code: 'custom',
      path: ['target', 'primaryKey'],
      message: 'write: merge needs a primaryKey',
    });
  }
  const pk = s.target.primaryKey === undefined ? [] : [s.target.primaryKey].flat();
  for (const [i, col] of pk.entries()) {
    if (!(col in s.target.columns)) {
      ctx.addIssue({
        code: 'custom',
        path: ['target', 'primaryKey', ...(Array.isArray(s.target.primaryKey) ? [i] : [])],
        message: `primary key column "${col}" is not declared in target.columns`,
      });
    }
  }
  if (s.incremental && !(s.incremental.cursor in s.target.columns)) {
    ctx.addIssue({
      code: 'custom',
      path: ['incremental', 'cursor'],
      message: `cursor column "${s.incremental.cursor}" is not declared in target.columns`,
    });
  }
  checkTables(s, write, ctx);
  const deletes = s.deletes ?? 'none';
  if (deletes !== 'none') {
    if (s.incremental) {
      ctx.addIssue({
        code: 'custom',
        path: ['deletes'],
        message:
          'deletes need a full-refresh sync: an incremental pass cannot tell a deleted record from an unchanged one',
      });
    }
    if (pk.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['deletes'], message: 'deletes need a primaryKey' });
    }
    if (write !== 'merge') {
      ctx.addIssue({
        code: 'custom',
        path: ['deletes'],
        message: `deletes apply to write: merge, not ${write}`,
      });
    }
  }
});

type SyncInput = z.output<typeof syncSchemaBase>;

/** References between the sync's tables: each names a table of the sync keyed by one column of the same type; no cycles. */
function checkTables(s: SyncInput, write: string, ctx: z.RefinementCtx): void {
  const tables = new Map<
    string,
    { pk: string[]; columns: Record<string, z.output<typeof columnSchema>>; path: (string | number)[] }
  >();
  tables.set(s.target.table, {
    pk: s.target.primaryKey === undefined ? [] : [s.target.primaryKey].flat(),
    columns: s.target.columns,
    path: ['target'],
  });
  for (const [name, t] of Object.entries(s.related ?? {})) {
    if (tables.has(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['related', name],
        message: `"${name}" is already the sync's target table`,
      });
      continue;
    }
    tables.set(name, { pk: [t.primaryKey].flat(), columns: t.columns, path: ['related', name] });
    for (const [i, col] of [t.primaryKey].flat().entries()) {
      if (!(col in t.columns)) {
        ctx.addIssue({
          code: 'custom',
          path: ['related', name, 'primaryKey', ...(Array.isArray(t.primaryKey) ? [i] : [])],
          message: `primary key column "${col}" is not declared in columns`,
        });
      }
    }
  }
  if (s.related && write === 'replace') {
    ctx.addIssue({
      code: 'custom',
      path: ['related'],
      message: 'related tables need write: merge or append on the target, not replace',
    });
  }
  const edges = new Map<string, string[]>();
  for (const [table, t] of tables) {
    for (const [col, declared] of Object.entries(t.columns)) {
      if (typeof declared === 'string' || declared.references === undefined) continue;
      const path = [...t.path, 'columns', col, 'references'];
      const parent = tables.get(declared.references);
      if (!parent) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `"${declared.references}" is not a table of this sync; tables: ${[...tables.keys()].join(', ')}`,
        });
        continue;
      }
      if (parent.pk.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `table "${declared.references}" needs a one-column primaryKey to be referenced`,
        });
        continue;
      }
      const parentColumn = parent.columns[parent.pk[0]!];
      const parentType =
        parentColumn === undefined
          ? undefined
          : typeof parentColumn === 'string'
            ? parentColumn
            : parentColumn.type;
      if (parentType !== undefined && parentType !== declared.type) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `column is ${declared.type} but ${declared.references}.${parent.pk[0]} is ${parentType}; make them the same type`,
        });
      }
      if (declared.references !== table) edges.set(table, [...(edges.get(table) ?? []), declared.references]);
    }
  }
  // A cycle would leave no table to write first.
  const state = new Map<string, 'open' | 'done'>();
  const visit = (t: string, trail: string[]): boolean => {
    if (state.get(t) === 'done') return true;
    if (state.get(t) === 'open') {
      ctx.addIssue({
        code: 'custom',
        path: ['related'],
        message: `tables reference each other in a cycle: ${[...trail, t].slice(trail.indexOf(t)).join(' → ')}`,
      });
      return false;
    }
    state.set(t, 'open');
    for (const p of edges.get(t) ?? []) if (!visit(p, [...trail, t])) return false;
    state.set(t, 'done');
    return true;
  };
  for (const t of tables.keys()) if (!visit(t, [])) break;
}

// ── The service (tributary serve / worker): time zone, concurrency, run history, webhooks ──────

/**
 * POSTs a JSON summary of each finished run to `url`. The body is signed: header
 * `X-Tributary-Signature: sha256=<hex HMAC-SHA256 of "<X-Tributary-Timestamp>.<body>" keyed by secret>`.
 * Failed deliveries (network errors, 429, 5xx) are retried with backoff.
 */
export const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** HMAC key; read it from the environment (`secret: ${WEBHOOK_SECRET}`). Without one, deliveries are unsigned. */
  secret: z.string().min(1).optional(),
  /** Final run statuses that fire it (default: succeeded, partial, failed). */
  on: z
    .array(z.enum(['succeeded', 'partial', 'failed', 'cancelled', 'interrupted']))
    .min(1)
    .optional(),
});

export const serviceSchema = z.strictObject({
  /** Time zone of cron schedules written without a TZ= prefix (default UTC, so all instances agree). */
  timezone: z
    .string()
    .refine(
      (tz) => scheduleProblem(`TZ=${tz} 0 0 * * *`) === null,
      'must be an IANA time zone such as Europe/Berlin',
    )
    .optional(),
  /** Runs one instance executes at once (different syncs; default 4). */
  concurrency: numberOrText(z.number().int().min(1).max(64)).optional(),
  /** Finished runs (and their quarantined records) older than this are deleted (default 90d; "off" keeps all). */
  historyRetention: z.union([z.literal('off'), duration]).optional(),
  /** Webhooks for every sync's finished runs. */
  webhooks: z.array(webhookSchema).optional(),
});

export const configSchema = z.strictObject({
  /** sqlite:PATH or postgres://… ; DATABASE_URL overrides it. */
  database: z.string().default(DEFAULTS.database),
  blobs: z.looseObject({ type: z.enum(['local', 's3']) }).optional(),
  server: z
    .strictObject({
      /** Port of `tributary serve` (default 3000). */
      port: numberOrText(z.number().int().min(0).max(65535)).optional(),
      /** Interface to bind; without TRIBUTARY_TOKEN only loopback is allowed. */
      host: z.string().optional(),
    })
    .optional(),
  /** `tributary serve` and `tributary worker` settings (serviceSchema). */
  service: serviceSchema.optional(),
  syncs: z.record(identifier, syncSchema),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type SyncConfig = z.output<typeof syncSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type ColumnConfig = z.output<typeof columnSchema>;
export type ColumnObjectConfig = z.output<typeof columnObjectSchema>;

/** Identity helper for `tributary.config.ts`, so editors type-check the config. */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}
