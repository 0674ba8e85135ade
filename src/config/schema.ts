import { z } from 'zod';
import { COLUMN_TYPES } from '../core/types.ts';
import { isDuration } from '../core/duration.ts';
import { checkCleanOptions } from '../pipeline/clean.ts';

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
  .regex(IDENTIFIER, 'must be a plain SQL name: letters, digits and _, not starting with a digit, at most 63 characters')
  .refine((s) => !s.toLowerCase().startsWith('tributary_') && !s.toLowerCase().startsWith('_tributary'), {
    message: 'names starting with tributary_ or _tributary are reserved for Tributary',
  });

const duration = z.string().refine(isDuration, 'must be a duration such as 30s, 5m, 2h or 1d');

/**
 * Numbers and booleans may also be written as text, because `${VAR}` interpolation always yields
 * text: `port: ${PORT:-3000}` must work in YAML.
 */
const NUMBER_TEXT = /^\s*[+-]?\d+(?:\.\d+)?\s*$/;
const numberOrText = <T extends z.ZodType<number, number>>(schema: T) =>
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

export const columnObjectSchema = z.strictObject({
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
}).superRefine((c, ctx) => {
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
  columns: z.record(identifier, columnSchema).refine((c) => Object.keys(c).length > 0, 'declare at least one column'),
  /** Sentinels read as NULL in every column (a column's own nullIf replaces this list). */
  nullIf: z.array(z.string()).optional(),
});

export const incrementalSchema = z.strictObject({
  /** Column (declared in target.columns) holding the high-water mark, e.g. last_modified. */
  cursor: identifier,
  /** Re-read this far behind the stored cursor, for clock skew and late writers (default 0). */
  lookback: duration.optional(),
});

/** Source blocks are validated by their own factory's schema (sources/registry.ts). */
export const sourceBlockSchema = z.looseObject({ type: z.string().min(1) });

export const syncSchema = z
  .strictObject({
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
    schedule: z.string().optional(),
    /** Run once when the service starts. */
    runOnStart: booleanOrText.optional(),
    /** Records per transaction (default: the destination's capability). */
    batchSize: numberOrText(z.number().int().positive().max(1_000_000)).optional(),
    /** Fail the run once more than this share of records is rejected (0..1, default 0.1). */
    errorThreshold: numberOrText(z.number().min(0).max(1)).optional(),
    /** Start disabled; `tributary enable` switches it on at runtime. */
    enabled: booleanOrText.optional(),
  })
  .superRefine((s, ctx) => {
    const write = s.write ?? (s.target.primaryKey ? 'merge' : 'append');
    if (write === 'merge' && !s.target.primaryKey) {
      ctx.addIssue({ code: 'custom', path: ['target', 'primaryKey'], message: 'write: merge needs a primaryKey' });
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
    const deletes = s.deletes ?? 'none';
    if (deletes !== 'none') {
      if (s.incremental) {
        ctx.addIssue({
          code: 'custom',
          path: ['deletes'],
          message: 'deletes need a full-refresh sync: an incremental pass cannot tell a deleted record from an unchanged one',
        });
      }
      if (pk.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['deletes'], message: 'deletes need a primaryKey' });
      }
      if (write !== 'merge') {
        ctx.addIssue({ code: 'custom', path: ['deletes'], message: `deletes apply to write: merge, not ${write}` });
      }
    }
  });

export const configSchema = z.strictObject({
  /** sqlite:PATH or postgres://… ; DATABASE_URL overrides it. */
  database: z.string().default(DEFAULTS.database),
  blobs: z
    .looseObject({ type: z.enum(['local', 's3']) })
    .optional(),
  server: z
    .strictObject({
      /** Port of `tributary serve` (default 3000). */
      port: numberOrText(z.number().int().min(0).max(65535)).optional(),
      /** Interface to bind; without TRIBUTARY_TOKEN only loopback is allowed. */
      host: z.string().optional(),
    })
    .optional(),
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
