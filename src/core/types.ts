/**
 * Tributary's vocabulary (see DESIGN.md):
 *
 * - source:      where data comes from, with its connection settings (a file, an API base).
 * - stream:      one collection inside a source; has a primary key and maybe a cursor field.
 * - sync:        a named, configured job: one source stream → mapping → a destination table.
 * - run:         one execution of a sync.
 * - page:        what a source yields at a time; carries an opaque checkpoint (resume position).
 * - batch:       rows written in one database transaction together with the checkpoint and counters.
 * - cursor:      the high-water mark of an incremental sync (e.g. last modified time).
 * - quarantine:  records that were rejected, each with a reason code, message and payload.
 * - instance:    one running Tributary process.
 */

/** Column types a user can declare. Each maps to a native type per destination. */
export const COLUMN_TYPES = [
  'text',
  'integer',
  'bigint',
  'numeric',
  'boolean',
  'date',
  'timestamptz',
  'json',
] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/**
 * A cleaned cell value, in one canonical form per column type, so that hashing, COPY encoding
 * and comparisons are the same everywhere:
 * text → string; integer → number (safe integer); bigint → string of digits; numeric → string
 * (canonical decimal, no exponent); boolean → boolean; date → 'YYYY-MM-DD';
 * timestamptz → ISO 8601 UTC 'YYYY-MM-DDTHH:MM:SS.sssZ'; json → JSON text.
 */
export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

/** A record as a source delivers it, before mapping. */
export type RawRecord = Record<string, unknown>;

/** Opaque resume position. Only the stream that produced it interprets it. Must be JSON. */
export type Checkpoint = Record<string, unknown>;

/** A cursor high-water mark, in the cursor column's canonical Cell form. */
export type CursorValue = string | number;

export type WriteMode = 'merge' | 'append' | 'replace';
export type DeleteMode = 'none' | 'soft' | 'hard';

export type RunTrigger = 'manual' | 'schedule' | 'startup' | 'api' | 'cli';
export type RunStatus =
  'queued' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled' | 'interrupted';

export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = [
  'succeeded',
  'partial',
  'failed',
  'cancelled',
  'interrupted',
];

/** Exact per-run (and per-batch) counters. read = inserted + updated + unchanged + quarantined. */
export interface RunCounts {
  read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  quarantined: number;
}

/** Just the counters of anything that carries them (a run row, a result). */
export const countsOf = (c: RunCounts): RunCounts => ({
  read: c.read,
  inserted: c.inserted,
  updated: c.updated,
  unchanged: c.unchanged,
  deleted: c.deleted,
  quarantined: c.quarantined,
});

export const zeroCounts = (): RunCounts => ({
  read: 0,
  inserted: 0,
  updated: 0,
  unchanged: 0,
  deleted: 0,
  quarantined: 0,
});

/** A record that could not be turned into a row. Stored in tributary_quarantine. */
export interface Rejection {
  /** Stable machine-readable reason, e.g. 'invalid_value', 'missing_primary_key', 'malformed_line'. */
  code: string;
  /** What a person needs: the column, the value, what was expected, where (line N). */
  message: string;
  /** The primary-key value(s) when known, joined with '|'. */
  recordKey: string | null;
  /** The original record (or raw line) so nothing is lost. */
  payload: unknown;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
