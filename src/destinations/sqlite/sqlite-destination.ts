import { AsyncLocalStorage } from 'node:async_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import { TributaryError, errorMessage } from '../../core/errors.ts';
import type { Cell, Row } from '../../core/types.ts';
import type {
  ColumnSpec,
  Destination,
  DestinationCapabilities,
  ReadRowsOptions,
  TableSpec,
  Tx,
  WriteBatchOptions,
  WriteResult,
} from '../destination.ts';
import { indexName, quoteIdent as q, seenTableName, shadowTableName } from '../identifiers.ts';
import { encodeRow, hashLine } from '../row-encoding.ts';
import {
  SQLITE_TYPES,
  SYSTEM_COLUMN_TYPE,
  bindValue,
  cellDecoder,
  bindsAsIs,
  cellEncoder,
  isCompatible,
  whereValue,
  type CellDecoder,
  type CellEncoder,
} from './sqlite-types.ts';

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement<unknown[], unknown>;

const HASH = '_tributary_hash';
const UPDATED_AT = '_tributary_updated_at';
const DELETED_AT = '_deleted_at';

/** SQLite's SQLITE_MAX_VARIABLE_NUMBER default since 3.32. */
const MAX_PARAMETERS = 32766;

/**
 * Most rows one multi-row INSERT carries. Measured on 200k rows × 10 bound columns: one row per
 * statement costs ~20% more CPU than multi-row statements (one N-API crossing per row); 16 to
 * 1024 rows per statement measured alike within noise. 64 keeps each statement's text and its
 * one-time prepare small.
 */
const ROWS_PER_INSERT = 64;

/**
 * Most keys one `SELECT … WHERE key IN (…)` lookup of stored hashes carries. Measured: ~1 µs per
 * absent key and ~4 µs per present key, against ~8 µs for a prepared single-key SELECT per row
 * (N-API crossing and result object per call). Between 500 and 4000 keys made no difference.
 */
const KEYS_PER_LOOKUP = 512;

const UTF16_ORDER_DIFFERS = /[\uD800-\uFFFF]/;

/** Prepared statements kept by SQL text; state-store SQL is a fixed set, table SQL per table. */
const STATEMENT_CACHE_LIMIT = 1000;

export const SQLITE_CAPABILITIES: DestinationCapabilities = {
  bulkCopy: false,
  transactionalDdl: true,
  maxParameters: MAX_PARAMETERS,
  // A commit in WAL mode with synchronous=NORMAL costs no fsync: batches of 1000, 5000 and
  // 20000 rows loaded 200k rows equally fast (measured, within noise). 5000 rows of ~8 columns
  // hold the write lock and the event loop for ~30 ms; larger batches only lengthen that.
  defaultBatchSize: 5000,
};

// ── SQL, one small function per statement ──────────────────────────────────────────────────

function columnDefinition(c: ColumnSpec, spec: TableSpec): string {
  const notNull = spec.primaryKey.includes(c.name) ? ' NOT NULL' : '';
  return `${q(c.name)} ${SQLITE_TYPES[c.type]}${notNull}`;
}

function createTableSql(spec: TableSpec): string {
  const defs = spec.columns.map((c) => columnDefinition(c, spec));
  defs.push(`${q(HASH)} ${SYSTEM_COLUMN_TYPE}`, `${q(UPDATED_AT)} ${SYSTEM_COLUMN_TYPE}`);
  if (spec.softDelete) defs.push(`${q(DELETED_AT)} ${SYSTEM_COLUMN_TYPE}`);
  if (spec.primaryKey.length > 0) defs.push(`PRIMARY KEY (${spec.primaryKey.map(q).join(', ')})`);
  return `CREATE TABLE ${q(spec.name)} (${defs.join(', ')})`;
}

function addColumnSql(table: string, column: string, declared: string): string {
  return `ALTER TABLE ${q(table)} ADD COLUMN ${q(column)} ${declared}`;
}

function tableInfoSql(): string {
  return 'SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid';
}

function tableExistsSql(): string {
  return "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE";
}

function countSql(table: string): string {
  return `SELECT count(*) FROM ${q(table)}`;
}

function dropTableSql(table: string): string {
  return `DROP TABLE IF EXISTS ${q(table)}`;
}

function renameTableSql(from: string, to: string): string {
  return `ALTER TABLE ${q(from)} RENAME TO ${q(to)}`;
}

function valuesList(width: number, rowCount: number): string {
  const tuple = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  return Array.from({ length: rowCount }, () => tuple).join(', ');
}

/** Columns every written row carries, in bind order: user columns, then hash and time. */
function writtenColumns(spec: TableSpec): string[] {
  return [...spec.columns.map((c) => c.name), HASH, UPDATED_AT];
}

function insertSql(spec: TableSpec, rowCount: number): string {
  const cols = writtenColumns(spec);
  return `INSERT INTO ${q(spec.name)} (${cols.map(q).join(', ')}) VALUES ${valuesList(cols.length, rowCount)}`;
}

/** Rows reaching this statement were classified new or changed beforehand, so no WHERE on the update. */
function upsertSql(spec: TableSpec, rowCount: number): string {
  const sets = writtenColumns(spec).map((c) => `${q(c)} = excluded.${q(c)}`);
  if (spec.softDelete) sets.push(`${q(DELETED_AT)} = NULL`);
  const conflict = spec.primaryKey.map(q).join(', ');
  return `${insertSql(spec, rowCount)} ON CONFLICT (${conflict}) DO UPDATE SET ${sets.join(', ')}`;
}

/** A soft-deleted row reads back an empty hash, which no row hashes to, so it is rewritten (revived). */
function storedHashExpr(spec: TableSpec): string {
  return spec.softDelete ? `CASE WHEN ${q(DELETED_AT)} IS NULL THEN ${q(HASH)} ELSE '' END` : q(HASH);
}

/** `key IN (?, …)`, or `(k1, k2) IN (VALUES (?, ?), …)` for a composite key: `keyCount` keys to bind. */
function keysInSql(spec: TableSpec, keyCount: number): string {
  const keys = spec.primaryKey.map(q);
  return keys.length === 1
    ? `${keys[0]} IN (${Array.from({ length: keyCount }, () => '?').join(', ')})`
    : `(${keys.join(', ')}) IN (VALUES ${valuesList(keys.length, keyCount)})`;
}

function lookupHashesSql(spec: TableSpec, keyCount: number): string {
  return `SELECT ${spec.primaryKey.map(q).join(', ')}, ${storedHashExpr(spec)} FROM ${q(spec.name)} WHERE ${keysInSql(spec, keyCount)}`;
}

function keyRangeProbeSql(spec: TableSpec): string {
  const key = q(spec.primaryKey[0]!);
  return `SELECT 1 FROM ${q(spec.name)} WHERE ${key} BETWEEN ? AND ? LIMIT 1`;
}

function createIndexSql(table: string, column: string): string {
  return `CREATE INDEX IF NOT EXISTS ${q(indexName(table, column))} ON ${q(table)} (${q(column)})`;
}

function childKeysSql(spec: TableSpec, parentColumn: string, parentCount: number): string {
  const params = Array.from({ length: parentCount }, () => '?').join(', ');
  return `SELECT ${spec.primaryKey.map(q).join(', ')} FROM ${q(spec.name)} WHERE ${q(parentColumn)} IN (${params})`;
}

function deleteKeysSql(spec: TableSpec, keyCount: number): string {
  return `DELETE FROM ${q(spec.name)} WHERE ${keysInSql(spec, keyCount)}`;
}

function createSeenTableSql(spec: TableSpec): string {
  const keyDefs = spec.primaryKey.map((k) => `${q(k)} ${SQLITE_TYPES[columnOf(spec, k).type]} NOT NULL`);
  const pk = ['marker', ...spec.primaryKey].map(q).join(', ');
  // WITHOUT ROWID: the table is nothing but its key, so store it once, in key order.
  return `CREATE TABLE IF NOT EXISTS ${q(seenTableName(spec.name))} (marker TEXT NOT NULL, ${keyDefs.join(', ')}, PRIMARY KEY (${pk})) WITHOUT ROWID`;
}

function insertSeenSql(spec: TableSpec, rowCount: number): string {
  const cols = ['marker', ...spec.primaryKey].map(q).join(', ');
  return `INSERT OR IGNORE INTO ${q(seenTableName(spec.name))} (${cols}) VALUES ${valuesList(spec.primaryKey.length + 1, rowCount)}`;
}

function notSeenSql(spec: TableSpec): string {
  const t = q(spec.name);
  const join = spec.primaryKey.map((k) => `s.${q(k)} = ${t}.${q(k)}`).join(' AND ');
  return `NOT EXISTS (SELECT 1 FROM ${q(seenTableName(spec.name))} s WHERE s.marker = ? AND ${join})`;
}

function softDeleteSql(spec: TableSpec): string {
  return `UPDATE ${q(spec.name)} SET ${q(DELETED_AT)} = ? WHERE ${q(DELETED_AT)} IS NULL AND ${notSeenSql(spec)}`;
}

function hardDeleteSql(spec: TableSpec): string {
  return `DELETE FROM ${q(spec.name)} WHERE ${notSeenSql(spec)}`;
}

function clearSeenSql(spec: TableSpec, allMarkers: boolean): string {
  return `DELETE FROM ${q(seenTableName(spec.name))}${allMarkers ? '' : ' WHERE marker = ?'}`;
}

function selectRowsSql(
  spec: TableSpec,
  columns: string[],
  where: string[],
  orderBy: string[],
  limit: boolean,
): string {
  let sql = `SELECT ${columns.map(q).join(', ')} FROM ${q(spec.name)}`;
  if (where.length > 0) sql += ` WHERE ${where.map((c) => `${q(c)} = ?`).join(' AND ')}`;
  if (orderBy.length > 0) sql += ` ORDER BY ${orderBy.map(q).join(', ')}`;
  if (limit) sql += ' LIMIT ?';
  return sql;
}

// ── helpers ────────────────────────────────────────────────────────────────────────────────

function columnOf(spec: TableSpec, name: string): ColumnSpec {
  const c = spec.columns.find((col) => col.name === name);
  if (!c) {
    throw new TributaryError(
      'config_invalid',
      `table ${spec.name}: primary key column ${name} is not a declared column`,
    );
  }
  return c;
}

/** better-sqlite3 reports SQLITE_BUSY when another process holds the write lock past busy_timeout. */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function toTributaryError(err: unknown, what: string): TributaryError {
  if (err instanceof TributaryError) return err;
  if (isBusy(err)) {
    return new TributaryError(
      'destination_unavailable',
      `SQLite database is locked by another process (${what}); retrying can help`,
      { transient: true, cause: err },
    );
  }
  return new TributaryError('destination_error', `SQLite: ${what}: ${errorMessage(err)}`, { cause: err });
}

/** A short form of a statement for error messages. */
function sqlSnippet(sql: string): string {
  const oneLine = sql.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
}

/**
 * State-store SQL is written with PostgreSQL's `$1, $2` placeholders. better-sqlite3 binds
 * anonymous `?` positionally, so each `$n` becomes `?` and `order` lists which parameter every
 * `?` takes (a `$n` may repeat or come out of order). Quoted literals are skipped.
 */
function rewritePlaceholders(sql: string): { sql: string; order: number[] } {
  const order: number[] = [];
  const rewritten = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\$(\d+)/g, (match, n: string | undefined) => {
    if (n === undefined) return match;
    order.push(Number(n) - 1);
    return '?';
  });
  return { sql: rewritten, order };
}

/** Per table spec: what writeBatch needs, computed once rather than per batch. */
interface WritePlan {
  spec: TableSpec;
  names: string[];
  encoders: CellEncoder[];
  /** Like encoders, but null where the Cell binds as it is: saves a call per cell on the hot path. */
  bindEncoders: (CellEncoder | null)[];
  /** Index in spec.columns of each primary-key column. */
  keyIndexes: number[];
  /** Bind parameters per written row. */
  width: number;
  rowsPerStatement: number;
  keysPerLookup: number;
  seenRowsPerStatement: number;
  /** This table's prepared statements by kind and row count, so no SQL text is built per batch. */
  statements: Map<string, Statement>;
  /** Set when the single key column's values can be range-checked (see allNew). */
  rangeCheck: boolean;
}

function writePlan(spec: TableSpec): WritePlan {
  const width = spec.columns.length + 2;
  return {
    spec,
    names: spec.columns.map((c) => c.name),
    encoders: spec.columns.map((c) => cellEncoder(c.type)),
    bindEncoders: spec.columns.map((c) => (bindsAsIs(c.type) ? null : cellEncoder(c.type))),
    keyIndexes: spec.primaryKey.map((k) => spec.columns.indexOf(columnOf(spec, k))),
    width,
    rowsPerStatement: Math.max(1, Math.min(ROWS_PER_INSERT, Math.floor(MAX_PARAMETERS / width))),
    keysPerLookup: Math.max(
      1,
      Math.min(KEYS_PER_LOOKUP, Math.floor(MAX_PARAMETERS / spec.primaryKey.length)),
    ),
    seenRowsPerStatement: Math.max(
      1,
      Math.min(ROWS_PER_INSERT * 4, Math.floor(MAX_PARAMETERS / (spec.primaryKey.length + 1))),
    ),
    statements: new Map(),
    rangeCheck: spec.primaryKey.length === 1 && columnOf(spec, spec.primaryKey[0]!).type !== 'boolean',
  };
}

function planKey(spec: TableSpec): string {
  return `${spec.name}\u0000${spec.columns.map((c) => `${c.name}:${c.type}`).join(',')}\u0000${spec.primaryKey.join(',')}\u0000${spec.softDelete}`;
}

/**
 * Splits `count` items into statement sizes: full chunks of `max`, then the rest in powers of
 * two, so a handful of prepared statements per table serve every batch size.
 */
function chunkSizes(count: number, max: number): number[] {
  const sizes: number[] = [];
  let rest = count;
  while (rest >= max) {
    sizes.push(max);
    rest -= max;
  }
  for (let p = 1 << 30; rest > 0; p >>= 1) {
    if (p <= rest) {
      sizes.push(p);
      rest -= p;
    }
  }
  return sizes;
}

/** The key of an encoded row (or of a looked-up row) as one string, for the hash lookup map. */
function keyString(values: readonly unknown[]): string {
  return values.length === 1 ? String(values[0]) : values.map(String).join('\u0000');
}

/** Runs synchronous driver work as a promise, so a throw becomes a rejection like on PostgreSQL. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => resolve(fn()));
}

interface TxState {
  open: boolean;
}

class SqliteTx implements Tx {
  constructor(
    private readonly dest: SqliteDestination,
    readonly state: TxState,
  ) {}

  private check(): void {
    if (!this.state.open) throw new TributaryError('internal', 'SQLite transaction used after it ended');
  }

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return settle(() => {
      this.check();
      return this.dest.runQuery<R>(sql, params);
    });
  }

  execute(sql: string, params?: readonly unknown[]): Promise<number> {
    return settle(() => {
      this.check();
      return this.dest.runExecute(sql, params);
    });
  }
}

/**
 * One better-sqlite3 connection. better-sqlite3 is synchronous while transactions here span
 * awaits (the runner writes rows, then the state store writes the checkpoint), so every
 * operation goes through one promise chain: a transaction holds it from BEGIN to COMMIT, and a
 * query from elsewhere waits instead of slipping into someone else's open transaction.
 */
export class SqliteDestination implements Destination {
  readonly kind = 'sqlite';
  readonly capabilities = SQLITE_CAPABILITIES;

  private readonly statements = new Map<string, Statement>();
  private readonly stateStatements = new Map<string, { stmt: Statement; order: number[] }>();
  private readonly plans = new Map<string, WritePlan>();
  /** Set while the current async context holds the connection (inside transaction or serialise). */
  private readonly holder = new AsyncLocalStorage<{ depth: number }>();
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly db: Database,
    readonly description: string,
  ) {}

  // ── serialisation ────────────────────────────────────────────────────────────────────────

  private serialise<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.holder.getStore()) return Promise.resolve().then(fn);
    if (this.closed) return Promise.reject(new TributaryError('internal', `${this.description} is closed`));
    const run = this.tail.then(() => this.holder.run({ depth: 0 }, fn));
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const held = this.holder.getStore();
    if (held) return this.nestedTransaction(held, fn);
    return this.serialise(async () => {
      // Lets I/O callbacks (HTTP, SSE) run between batches: the synchronous driver blocks otherwise.
      await yieldToEventLoop();
      const state: TxState = { open: true };
      this.exec('BEGIN IMMEDIATE', 'begin transaction');
      try {
        const result = await fn(new SqliteTx(this, state));
        this.exec('COMMIT', 'commit');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      } finally {
        state.open = false;
      }
    });
  }

  /** A transaction inside a transaction (same async context) is a savepoint, not a deadlock. */
  private async nestedTransaction<T>(held: { depth: number }, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const name = `tributary_sp${++held.depth}`;
    const state: TxState = { open: true };
    this.exec(`SAVEPOINT ${name}`, 'savepoint');
    try {
      const result = await fn(new SqliteTx(this, state));
      this.exec(`RELEASE ${name}`, 'release savepoint');
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      throw err;
    } finally {
      state.open = false;
      held.depth--;
    }
  }

  // ── statements ───────────────────────────────────────────────────────────────────────────

  private exec(sql: string, what: string): void {
    try {
      this.db.exec(sql);
    } catch (err) {
      throw toTributaryError(err, what);
    }
  }

  private prepare(sql: string, what: string): Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      try {
        stmt = this.db.prepare(sql);
      } catch (err) {
        throw toTributaryError(err, what);
      }
      if (this.statements.size >= STATEMENT_CACHE_LIMIT) this.statements.clear();
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private planStatement(plan: WritePlan, kind: string, size: number, sql: () => string): Statement {
    const key = `${kind}:${size}`;
    let stmt = plan.statements.get(key);
    if (!stmt) {
      try {
        stmt = this.db.prepare(sql());
      } catch (err) {
        throw toTributaryError(err, `${kind} table ${plan.spec.name}`);
      }
      plan.statements.set(key, stmt);
    }
    return stmt;
  }

  private prepareState(sql: string): { stmt: Statement; order: number[] } {
    let entry = this.stateStatements.get(sql);
    if (!entry) {
      const rewritten = rewritePlaceholders(sql);
      try {
        entry = { stmt: this.db.prepare(rewritten.sql), order: rewritten.order };
      } catch (err) {
        throw toTributaryError(err, sqlSnippet(sql));
      }
      if (this.stateStatements.size >= STATEMENT_CACHE_LIMIT) this.stateStatements.clear();
      this.stateStatements.set(sql, entry);
    }
    return entry;
  }

  private stateParams(order: number[], params: readonly unknown[] | undefined, sql: string): unknown[] {
    return order.map((i) => {
      if (!params || i >= params.length) {
        throw new TributaryError(
          'internal',
          `SQL uses $${i + 1} but ${params?.length ?? 0} parameters were given: ${sqlSnippet(sql)}`,
        );
      }
      return bindValue(params[i]);
    });
  }

  /** Runs `$n`-placeholder SQL on the connection; the caller holds it. */
  runQuery<R>(sql: string, params?: readonly unknown[]): R[] {
    const { stmt, order } = this.prepareState(sql);
    const values = this.stateParams(order, params, sql);
    try {
      if (!stmt.reader) {
        stmt.run(values);
        return [];
      }
      return stmt.safeIntegers(false).all(values) as R[];
    } catch (err) {
      throw toTributaryError(err, sqlSnippet(sql));
    }
  }

  runExecute(sql: string, params?: readonly unknown[]): number {
    const { stmt, order } = this.prepareState(sql);
    const values = this.stateParams(order, params, sql);
    try {
      return stmt.reader ? stmt.all(values).length : stmt.run(values).changes;
    } catch (err) {
      throw toTributaryError(err, sqlSnippet(sql));
    }
  }

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.serialise(() => this.runQuery<R>(sql, params));
  }

  execute(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.serialise(() => this.runExecute(sql, params));
  }

  /** Transactions of this destination only: another destination's Tx would write elsewhere. */
  private checkTx(tx: Tx): void {
    if (!(tx instanceof SqliteTx) || !tx.state.open) {
      throw new TributaryError('internal', 'writeBatch needs an open transaction of this SQLite destination');
    }
  }

  // ── schema ───────────────────────────────────────────────────────────────────────────────

  async migrate(scripts: { name: string; sql: string }[]): Promise<void> {
    for (const script of scripts) {
      await this.transaction(() => settle(() => this.exec(script.sql, `migration ${script.name}`)));
    }
  }

  private tableInfo(name: string): { name: string; type: string; pk: number }[] {
    q(name);
    return this.prepare(tableInfoSql(), `describe ${name}`).safeIntegers(false).all(name) as {
      name: string;
      type: string;
      pk: number;
    }[];
  }

  private createTable(spec: TableSpec): void {
    for (const k of spec.primaryKey) columnOf(spec, k);
    this.exec(createTableSql(spec), `create table ${spec.name}`);
  }

  async ensureTable(spec: TableSpec): Promise<void> {
    await this.transaction(() => settle(() => this.ensureTableNow(spec)));
  }

  private ensureTableNow(spec: TableSpec): void {
    this.ensureColumns(spec);
    for (const col of spec.indexes ?? []) {
      columnOf(spec, col);
      this.exec(createIndexSql(spec.name, col), `create index on ${spec.name}.${col}`);
    }
  }

  private ensureColumns(spec: TableSpec): void {
    const existing = this.tableInfo(spec.name);
    if (existing.length === 0) {
      this.createTable(spec);
      return;
    }
    const existingKey = existing
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    if (existingKey.join(',') !== spec.primaryKey.join(',')) {
      throw new TributaryError(
        'schema_conflict',
        `table ${spec.name}: the existing primary key is (${existingKey.join(', ') || 'none'}) but the config declares (${spec.primaryKey.join(', ') || 'none'})`,
      );
    }
    const byName = new Map(existing.map((c) => [c.name, c]));
    for (const col of spec.columns) {
      const found = byName.get(col.name);
      if (!found) {
        this.exec(
          addColumnSql(spec.name, col.name, SQLITE_TYPES[col.type]),
          `add column ${spec.name}.${col.name}`,
        );
      } else if (!isCompatible(found.type, col.type)) {
        throw new TributaryError(
          'schema_conflict',
          `table ${spec.name}, column ${col.name}: the existing column is ${found.type || 'untyped'} but the config declares ${col.type} (${SQLITE_TYPES[col.type]}); rename the column or migrate the table`,
        );
      }
    }
    const systemColumns = spec.softDelete ? [HASH, UPDATED_AT, DELETED_AT] : [HASH, UPDATED_AT];
    for (const name of systemColumns) {
      if (!byName.has(name))
        this.exec(addColumnSql(spec.name, name, SYSTEM_COLUMN_TYPE), `add column ${spec.name}.${name}`);
    }
  }

  async tableExists(name: string): Promise<boolean> {
    return this.serialise(() => this.prepare(tableExistsSql(), `look up ${name}`).all(name).length > 0);
  }

  async countRows(table: string): Promise<number> {
    return this.serialise(() => this.count(table));
  }

  private count(table: string): number {
    try {
      return this.prepare(countSql(table), `count ${table}`).pluck().safeIntegers(false).get() as number;
    } catch (err) {
      throw toTributaryError(err, `count rows of ${table}`);
    }
  }

  async describeTable(name: string): Promise<{ name: string; type: string }[] | null> {
    return this.serialise(() => {
      const info = this.tableInfo(name);
      return info.length === 0 ? null : info.map((c) => ({ name: c.name, type: c.type }));
    });
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────────

  private planFor(spec: TableSpec): WritePlan {
    const key = planKey(spec);
    let plan = this.plans.get(key);
    if (!plan) {
      plan = writePlan(spec);
      if (this.plans.size >= STATEMENT_CACHE_LIMIT) this.plans.clear();
      this.plans.set(key, plan);
    }
    return plan;
  }

  writeBatch(tx: Tx, table: TableSpec, rows: Row[], options: WriteBatchOptions): Promise<WriteResult> {
    return settle(() => this.writeBatchNow(tx, table, rows, options));
  }

  private writeBatchNow(tx: Tx, table: TableSpec, rows: Row[], options: WriteBatchOptions): WriteResult {
    this.checkTx(tx);
    if (rows.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
    const plan = this.planFor(table);
    try {
      const hashes = rows.map((row) => hashLine(encodeRow(row, table.columns)));
      let result: WriteResult;
      if (options.mode === 'merge') {
        if (table.primaryKey.length === 0) {
          throw new TributaryError(
            'config_invalid',
            `table ${table.name}: write mode merge needs a primary key`,
          );
        }
        result = this.merge(plan, rows, hashes, options.now);
      } else {
        this.insertRows(plan, rows, hashes, null, options.now, false);
        result = { inserted: rows.length, updated: 0, unchanged: 0 };
      }
      if (options.trackSeen !== undefined && table.primaryKey.length > 0)
        this.trackSeen(plan, rows, options.trackSeen);
      return result;
    } catch (err) {
      throw toTributaryError(err, `write to ${table.name}`);
    }
  }

  /** Looks up the stored hashes of the batch's keys, then writes only new and changed rows. */
  private merge(plan: WritePlan, rows: Row[], hashes: string[], now: string): WriteResult {
    if (this.noneExist(plan, rows)) {
      this.insertRows(plan, rows, hashes, null, now, false);
      return { inserted: rows.length, updated: 0, unchanged: 0 };
    }
    const stored = this.storedHashes(plan, rows);
    const fresh: number[] = [];
    const changed: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const previous = stored.get(this.rowKey(plan, rows[i]!));
      if (previous === undefined) fresh.push(i);
      else if (previous !== hashes[i]) changed.push(i);
    }
    // New rows go through a plain INSERT: were the lookup ever wrong, a duplicate key fails
    // loudly instead of being counted as inserted.
    if (fresh.length > 0) this.insertRows(plan, rows, hashes, fresh, now, false);
    if (changed.length > 0) this.insertRows(plan, rows, hashes, changed, now, true);
    return {
      inserted: fresh.length,
      updated: changed.length,
      unchanged: rows.length - fresh.length - changed.length,
    };
  }

  /**
   * True when no stored row has a key between the batch's smallest and largest key: one index
   * probe instead of a lookup per key. That is every batch of a first load whose keys ascend
   * (sorted files, numeric ids), the common case worth a shortcut.
   */
  private noneExist(plan: WritePlan, rows: Row[]): boolean {
    if (!plan.rangeCheck) return false;
    const i = plan.keyIndexes[0]!;
    const name = plan.spec.columns[i]!.name;
    const encode = plan.encoders[i]!;
    let min: unknown;
    let max: unknown;
    for (const row of rows) {
      const v = encode(row[name] ?? null) as string | number | bigint | null;
      // JS compares UTF-16 units and SQLite UTF-8 bytes; they agree below U+D800 only.
      if (v === null || (typeof v === 'string' && UTF16_ORDER_DIFFERS.test(v))) return false;
      if (min === undefined || v < (min as typeof v)) min = v;
      if (max === undefined || v > (max as typeof v)) max = v;
    }
    const stmt = this.planStatement(plan, 'probe keys of', 1, () => keyRangeProbeSql(plan.spec));
    return stmt.pluck(true).get(min, max) === undefined;
  }

  private rowKey(plan: WritePlan, row: Row): string {
    const { spec, keyIndexes, encoders } = plan;
    if (keyIndexes.length === 1) {
      const i = keyIndexes[0]!;
      return String(encoders[i]!(row[spec.columns[i]!.name] ?? null));
    }
    return keyString(keyIndexes.map((i) => encoders[i]!(row[spec.columns[i]!.name] ?? null)));
  }

  /** Stored hash per key string, for the keys of `rows` that exist. */
  private storedHashes(plan: WritePlan, rows: Row[]): Map<string, string | null> {
    const { spec, keyIndexes, encoders } = plan;
    const stored = new Map<string, string | null>();
    const width = keyIndexes.length;
    let offset = 0;
    for (const size of chunkSizes(rows.length, plan.keysPerLookup)) {
      const params: unknown[] = new Array(size * width);
      let p = 0;
      for (let r = offset; r < offset + size; r++) {
        const row = rows[r]!;
        for (const i of keyIndexes) params[p++] = encoders[i]!(row[spec.columns[i]!.name] ?? null);
      }
      offset += size;
      const stmt = this.planStatement(plan, 'look up keys in', size, () => lookupHashesSql(spec, size));
      for (const found of stmt.raw(true).safeIntegers(true).all(params) as unknown[][]) {
        stored.set(keyString(found.slice(0, width)), found[width] as string | null);
      }
    }
    return stored;
  }

  /** INSERTs (or, for merge, upserts) `rows` — or only those at `only` — in multi-row statements. */
  private insertRows(
    plan: WritePlan,
    rows: Row[],
    hashes: string[],
    only: number[] | null,
    now: string,
    upsert: boolean,
  ): void {
    const { spec, width, names, bindEncoders } = plan;
    const n = names.length;
    const total = only ? only.length : rows.length;
    let next = 0;
    for (const size of chunkSizes(total, plan.rowsPerStatement)) {
      const params: unknown[] = new Array(size * width);
      let p = 0;
      for (let k = 0; k < size; k++) {
        const r = only ? only[next]! : next;
        next++;
        const row = rows[r]!;
        for (let c = 0; c < n; c++) {
          const value = row[names[c]!] ?? null;
          const encode = bindEncoders[c];
          params[p++] = encode ? encode(value) : value;
        }
        params[p++] = hashes[r];
        params[p++] = now;
      }
      const stmt = upsert
        ? this.planStatement(plan, 'upsert into', size, () => upsertSql(spec, size))
        : this.planStatement(plan, 'insert into', size, () => insertSql(spec, size));
      stmt.run(params);
    }
  }

  // ── deletes ──────────────────────────────────────────────────────────────────────────────

  private ensureSeenTable(spec: TableSpec): void {
    this.exec(createSeenTableSql(spec), `create seen-key table of ${spec.name}`);
  }

  private trackSeen(plan: WritePlan, rows: Row[], marker: string): void {
    const { spec, keyIndexes, encoders } = plan;
    this.ensureSeenTable(spec);
    let offset = 0;
    for (const size of chunkSizes(rows.length, plan.seenRowsPerStatement)) {
      const params: unknown[] = new Array(size * (keyIndexes.length + 1));
      let p = 0;
      for (let r = offset; r < offset + size; r++) {
        const row = rows[r]!;
        params[p++] = marker;
        for (const i of keyIndexes) params[p++] = encoders[i]!(row[spec.columns[i]!.name] ?? null);
      }
      offset += size;
      this.planStatement(plan, 'record seen keys of', size, () => insertSeenSql(spec, size)).run(params);
    }
  }

  applyDeletes(
    tx: Tx,
    table: TableSpec,
    marker: string,
    mode: 'soft' | 'hard',
    now: string,
  ): Promise<number> {
    return settle(() => this.applyDeletesNow(tx, table, marker, mode, now));
  }

  private applyDeletesNow(
    tx: Tx,
    table: TableSpec,
    marker: string,
    mode: 'soft' | 'hard',
    now: string,
  ): number {
    this.checkTx(tx);
    if (table.primaryKey.length === 0) {
      throw new TributaryError('config_invalid', `table ${table.name}: deletes need a primary key`);
    }
    if (mode === 'soft' && !table.softDelete) {
      throw new TributaryError(
        'config_invalid',
        `table ${table.name}: soft deletes need the table's softDelete option`,
      );
    }
    try {
      this.ensureSeenTable(table);
      const deleted =
        mode === 'soft'
          ? this.prepare(softDeleteSql(table), `soft-delete in ${table.name}`).run(now, marker).changes
          : this.prepare(hardDeleteSql(table), `delete from ${table.name}`).run(marker).changes;
      this.prepare(clearSeenSql(table, false), `clear seen keys of ${table.name}`).run(marker);
      return deleted;
    } catch (err) {
      throw toTributaryError(err, `apply deletes to ${table.name}`);
    }
  }

  deleteChildren(
    tx: Tx,
    table: TableSpec,
    parentColumn: string,
    parents: readonly Cell[],
    keep: readonly Row[],
  ): Promise<number> {
    return settle(() => this.deleteChildrenNow(tx, table, parentColumn, parents, keep));
  }

  private deleteChildrenNow(
    tx: Tx,
    table: TableSpec,
    parentColumn: string,
    parents: readonly Cell[],
    keep: readonly Row[],
  ): number {
    this.checkTx(tx);
    if (parents.length === 0) return 0;
    if (table.primaryKey.length === 0)
      throw new TributaryError('config_invalid', `table ${table.name}: child rows need a primary key`);
    const plan = this.planFor(table);
    const encodeParent = cellEncoder(columnOf(table, parentColumn).type);
    const kept = new Set(keep.map((row) => this.rowKey(plan, row)));
    try {
      const doomed: unknown[][] = [];
      let offset = 0;
      for (const size of chunkSizes(parents.length, plan.keysPerLookup)) {
        const params = parents.slice(offset, offset + size).map((p) => encodeParent(p));
        offset += size;
        const stmt = this.planStatement(plan, `find children by ${parentColumn} in`, size, () =>
          childKeysSql(table, parentColumn, size),
        );
        for (const found of stmt.raw(true).safeIntegers(true).all(params) as unknown[][]) {
          if (!kept.has(keyString(found))) doomed.push(found);
        }
      }
      offset = 0;
      let deleted = 0;
      for (const size of chunkSizes(doomed.length, plan.keysPerLookup)) {
        const params = doomed.slice(offset, offset + size).flat();
        offset += size;
        deleted += this.planStatement(plan, 'delete children from', size, () =>
          deleteKeysSql(table, size),
        ).run(params).changes;
      }
      return deleted;
    } catch (err) {
      throw toTributaryError(err, `delete child rows of ${table.name}`);
    }
  }

  clearSeen(tx: Tx, table: TableSpec, marker: string | null): Promise<void> {
    return settle(() => this.clearSeenNow(tx, table, marker));
  }

  private clearSeenNow(tx: Tx, table: TableSpec, marker: string | null): void {
    this.checkTx(tx);
    if (table.primaryKey.length === 0) return;
    try {
      this.ensureSeenTable(table);
      const stmt = this.prepare(clearSeenSql(table, marker === null), `clear seen keys of ${table.name}`);
      if (marker === null) stmt.run();
      else stmt.run(marker);
    } catch (err) {
      throw toTributaryError(err, `clear seen keys of ${table.name}`);
    }
  }

  // ── replace ──────────────────────────────────────────────────────────────────────────────

  async createShadow(table: TableSpec): Promise<TableSpec> {
    const shadow: TableSpec = { ...table, name: shadowTableName(table.name) };
    await this.transaction(() =>
      settle(() => {
        this.exec(dropTableSql(shadow.name), `drop ${shadow.name}`);
        this.createTable(shadow);
      }),
    );
    return shadow;
  }

  swapShadow(tx: Tx, table: TableSpec, shadow: TableSpec): Promise<number> {
    return settle(() => this.swapShadowNow(tx, table, shadow));
  }

  private swapShadowNow(tx: Tx, table: TableSpec, shadow: TableSpec): number {
    this.checkTx(tx);
    const exists = this.tableInfo(table.name).length > 0;
    const oldCount = exists ? this.count(table.name) : 0;
    // Legacy mode skips SQLite's re-check of every view and trigger during RENAME, which would
    // fail on a user's view of the table we just dropped (it is valid again after the rename).
    this.exec('PRAGMA legacy_alter_table = ON', 'swap tables');
    try {
      this.exec(dropTableSql(table.name), `drop ${table.name}`);
      this.exec(renameTableSql(shadow.name, table.name), `rename ${shadow.name} to ${table.name}`);
    } finally {
      this.db.exec('PRAGMA legacy_alter_table = OFF');
    }
    return oldCount;
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────

  async readRows(table: TableSpec, options: ReadRowsOptions = {}): Promise<Row[]> {
    const decoders = new Map<string, CellDecoder>(table.columns.map((c) => [c.name, cellDecoder(c.type)]));
    const columns = table.columns.map((c) => c.name);
    if (options.includeSystem) {
      columns.push(HASH, UPDATED_AT);
      if (table.softDelete) columns.push(DELETED_AT);
    }
    const where = Object.entries(options.where ?? {});
    const params: unknown[] = where.map(([col, text]) => {
      const type = table.columns.find((c) => c.name === col)?.type;
      return type ? whereValue(type, text) : text;
    });
    if (options.limit !== undefined) params.push(options.limit);
    const sql = selectRowsSql(
      table,
      columns,
      where.map(([col]) => col),
      options.orderBy ?? table.primaryKey,
      options.limit !== undefined,
    );
    const textDecoder = cellDecoder('text');
    return this.serialise(() => {
      let raw: unknown[][];
      try {
        raw = this.prepare(sql, `read ${table.name}`).raw(true).safeIntegers(true).all(params) as unknown[][];
      } catch (err) {
        throw toTributaryError(err, `read ${table.name}`);
      }
      const decode = columns.map((c) => decoders.get(c) ?? textDecoder);
      return raw.map((values) => {
        const row: Row = {};
        for (let i = 0; i < columns.length; i++) row[columns[i]!] = decode[i]!(values[i]);
        return row;
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.serialise(() => {
      this.closed = true;
      this.statements.clear();
      this.stateStatements.clear();
      this.db.close();
    });
  }
}
