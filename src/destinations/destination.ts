import type { Cell, ColumnType, Row, WriteMode } from '../core/types.ts';

/**
 * A destination is a database that holds both the user's tables and Tributary's state tables.
 * Rows, checkpoint and run counters of one batch commit in one transaction (DESIGN guarantee 1),
 * so the state store runs its SQL through the same `Tx` as `writeBatch`.
 *
 * Code outside `destinations/<x>/` branches on `capabilities`, never on `kind`.
 */
export interface DestinationCapabilities {
  /** Streams rows through a bulk protocol (PostgreSQL COPY) rather than parameterised INSERTs. */
  bulkCopy: boolean;
  /** CREATE/ALTER TABLE roll back with the transaction. */
  transactionalDdl: boolean;
  /** Most bind parameters one statement may take. */
  maxParameters: number;
  /** Batch size that amortises per-transaction cost on this engine; used when a sync sets none. */
  defaultBatchSize: number;
}

export interface ColumnSpec {
  name: string;
  type: ColumnType;
}

/**
 * A user table as Tributary manages it. Besides `columns`, every managed table has these system
 * columns (created by ensureTable, filled by writeBatch):
 *   _tributary_hash        text        hash of the row's user columns; a row whose hash is unchanged
 *                                      is not rewritten (guarantee 6)
 *   _tributary_updated_at  timestamptz when the row was last inserted or changed (text ISO in SQLite)
 *   _deleted_at            timestamptz only when softDelete; set when a full pass no longer saw the row
 */
export interface TableSpec {
  name: string;
  columns: ColumnSpec[];
  /** Natural key columns; empty only for append-only tables. */
  primaryKey: string[];
  softDelete: boolean;
  /** Columns to index (one index each), e.g. columns referencing another table. Created if absent. */
  indexes?: string[];
}

/** Exact counts of what one write did. */
export interface WriteResult {
  inserted: number;
  updated: number;
  unchanged: number;
}

/** Runs SQL inside the current transaction. Placeholders are `$1, $2, …` on every destination. */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Returns the number of rows affected. */
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
}

export type Tx = SqlExecutor;

export interface WriteBatchOptions {
  mode: WriteMode;
  /**
   * When set, the primary keys of every row in the batch (written or unchanged) are recorded
   * in the table's seen-key set for this marker, so `applyDeletes` can later remove the rows a
   * complete pass did not see. The marker is the run id that started the pass.
   */
  trackSeen?: string;
  /** ISO time stamped into _tributary_updated_at for rows written by this batch. */
  now: string;
}

export interface ReadRowsOptions {
  where?: Record<string, string>;
  limit?: number;
  orderBy?: string[];
  /** Include system columns (_tributary_hash, _tributary_updated_at, _deleted_at). Default false. */
  includeSystem?: boolean;
}

export interface Destination {
  /** For display and logs only; never branch on it outside the destination. */
  readonly kind: string;
  readonly capabilities: DestinationCapabilities;
  /** A redacted description for `tributary config` and logs (no password). */
  readonly description: string;

  /** Runs each statement of a migration script (state tables); idempotent scripts only. */
  migrate(scripts: { name: string; sql: string }[]): Promise<void>;

  /**
   * Creates the table when absent; adds declared columns missing from an existing table; creates
   * the system columns and the primary key. A declared column whose type conflicts with the
   * existing one is a TributaryError('schema_conflict') naming the table and column.
   */
  ensureTable(spec: TableSpec): Promise<void>;

  /**
   * Runs `fn` in one database transaction; commits when it resolves, rolls back when it throws.
   * Transactions are serialised per destination where the engine needs it (SQLite).
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;

  /**
   * Writes rows (already cleaned, keys unique within `rows` for merge) and returns exact counts.
   * merge: insert new keys, update changed rows, leave unchanged rows untouched (hash compare);
   *        a soft-deleted row that reappears is revived (counted as updated).
   * append: insert every row.
   * replace: like append; the runner writes into a shadow table and swaps it in at the end.
   */
  writeBatch(tx: Tx, table: TableSpec, rows: Row[], options: WriteBatchOptions): Promise<WriteResult>;

  /**
   * After a complete full pass: soft-delete (set _deleted_at = now) or hard-delete every row whose
   * key is not in the seen set of `marker`, then clear that seen set. Returns rows deleted
   * (soft: rows newly marked).
   */
  applyDeletes(tx: Tx, table: TableSpec, marker: string, mode: 'soft' | 'hard', now: string): Promise<number>;

  /**
   * Deletes the rows of `table` whose `parentColumn` holds one of `parents` and whose key is not
   * among the keys of `keep`: the child rows that records read again no longer produce (a booking
   * cleared at the source). Returns the number of rows deleted.
   */
  deleteChildren(
    tx: Tx,
    table: TableSpec,
    parentColumn: string,
    parents: readonly Cell[],
    keep: readonly Row[],
  ): Promise<number>;

  /** Drops the seen set of `marker` (a pass that will not complete, or a new pass starting). */
  clearSeen(tx: Tx, table: TableSpec, marker: string | null): Promise<void>;

  /** Shadow-table support for write mode `replace`. */
  createShadow(table: TableSpec): Promise<TableSpec>;
  /** Atomically replaces `table` with `shadow` (readers see the old or the new table, never neither). Returns the old row count. */
  swapShadow(tx: Tx, table: TableSpec, shadow: TableSpec): Promise<number>;

  tableExists(name: string): Promise<boolean>;
  countRows(table: string): Promise<number>;
  /** Rows normalised to the canonical Cell forms (see core/types.ts), so both engines read alike. */
  readRows(table: TableSpec, options?: ReadRowsOptions): Promise<Row[]>;
  /** Columns of an existing table, as the database reports them. */
  describeTable(name: string): Promise<{ name: string; type: string }[] | null>;

  /** Runs SQL outside any explicit transaction (state-store reads). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<number>;

  close(): Promise<void>;
}
