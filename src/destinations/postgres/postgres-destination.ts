import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { TributaryError } from '../../core/errors.ts';
import type { Cell, ColumnType, Row } from '../../core/types.ts';
import type {
  Destination,
  DestinationCapabilities,
  ReadRowsOptions,
  TableSpec,
  Tx,
  WriteBatchOptions,
  WriteResult,
} from '../destination.ts';
import { indexName, quoteIdent, seenTableName, shadowTableName } from '../identifiers.ts';
import { redactUrl } from '../index.ts';
import { encodeRow, hashLine } from '../row-encoding.ts';
import { COMPATIBLE_TYPES, SQL_TYPES, baseTypeName, decodeCell, typeParsers } from './postgres-types.ts';

/**
 * PostgreSQL destination: pg Pool + COPY (pg-copy-streams).
 *
 * Merge writes never touch an unchanged row: the batch's keys and row hashes go to the server,
 * which answers only with the rows that are new or differ; new rows are COPYed straight into the
 * table, changed rows are COPYed into a temp staging table and applied with one UPDATE … FROM.
 * An `INSERT … ON CONFLICT DO UPDATE … WHERE` would look simpler but still locks every
 * conflicting row, writing a WAL record per unchanged row. A no-op re-sync writes no WAL at all.
 */

// One write() per row is ~15x slower than ~64 KiB chunks (reference/libraries.md §1, 200k rows).
const COPY_CHUNK_CHARS = 64 * 1024;

// Rows per hash lookup query: small enough that hashing the next slice overlaps the server's
// probes of this one, large enough that per-query planning stays negligible.
const LOOKUP_SLICE = 2_500;

const HASH = '_tributary_hash';
const UPDATED_AT = '_tributary_updated_at';
const DELETED_AT = '_deleted_at';

interface SystemColumn {
  name: string;
  type: ColumnType;
}
const systemColumns = (spec: TableSpec): SystemColumn[] => [
  { name: HASH, type: 'text' },
  { name: UPDATED_AT, type: 'timestamptz' },
  ...(spec.softDelete ? [{ name: DELETED_AT, type: 'timestamptz' as const }] : []),
];
const SYSTEM_NAMES = new Set([HASH, UPDATED_AT, DELETED_AT]);

// Serialises DDL on one table across instances (two CREATE TABLE IF NOT EXISTS can still race).
const DDL_LOCK_CLASS = 0x7472_6962;

const CAPABILITIES: DestinationCapabilities = {
  bulkCopy: true,
  transactionalDdl: true,
  // The protocol's Bind message counts parameters in an Int16.
  maxParameters: 65535,
  // Measured with postgres-destination.bench.ts (200k rows of 8 columns, shared 2-core machine):
  // first load / no-op re-sync took 3.4 s / 3.9 s at 1,000 rows per batch, 2.5 s / 1.6 s at
  // 10,000, 2.9 s / 2.6 s at 50,000 (larger batches lose the overlap of hashing with the server's
  // work and hold locks and memory longer).
  defaultBatchSize: 10_000,
};

// ---------------------------------------------------------------------------------------------
// SQL, one small function per statement. Every identifier passes through quoteIdent.
// ---------------------------------------------------------------------------------------------

const q = quoteIdent;
const list = (names: readonly string[]): string => names.map(q).join(', ');

/** PK constraint names are set by us so a renamed shadow table never clashes with the next one. */
function pkName(table: string): string {
  if (table.length <= 58) return `${table}_pkey`;
  const h = createHash('sha1').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, 49)}_${h}_pkey`;
}

function createTableSql(spec: TableSpec): string {
  const cols = [...spec.columns, ...systemColumns(spec)].map((c) => `${q(c.name)} ${SQL_TYPES[c.type]}`);
  if (spec.primaryKey.length > 0) {
    cols.push(`CONSTRAINT ${q(pkName(spec.name))} PRIMARY KEY (${list(spec.primaryKey)})`);
  }
  return `CREATE TABLE IF NOT EXISTS ${q(spec.name)} (\n  ${cols.join(',\n  ')}\n)`;
}

const addColumnsSql = (table: string, cols: readonly { name: string; type: ColumnType }[]): string =>
  `ALTER TABLE ${q(table)} ${cols.map((c) => `ADD COLUMN IF NOT EXISTS ${q(c.name)} ${SQL_TYPES[c.type]}`).join(', ')}`;

const addPrimaryKeySql = (table: string, pk: readonly string[]): string =>
  `ALTER TABLE ${q(table)} ADD CONSTRAINT ${q(pkName(table))} PRIMARY KEY (${list(pk)})`;

const ddlLockSql = `SELECT pg_advisory_xact_lock(${DDL_LOCK_CLASS}, hashtext($1))`;

const columnsSql = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a
  WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

const primaryKeySql = `
  SELECT c.conname AS name,
         array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
               ORDER BY k.ord)::text[] AS columns
  FROM pg_constraint c
  WHERE c.conrelid = to_regclass($1) AND c.contype = 'p'`;

const describeSql = `
  SELECT column_name AS name, data_type AS type
  FROM information_schema.columns
  WHERE table_schema = current_schema() AND table_name = $1
  ORDER BY ordinal_position`;

const tableExistsSql = `SELECT to_regclass($1) IS NOT NULL AS exists`;
const isEmptySql = (table: string): string => `SELECT NOT EXISTS (SELECT 1 FROM ${q(table)}) AS empty`;
const countSql = (table: string): string => `SELECT count(*) AS n FROM ${q(table)}`;

/**
 * `unnest($1::t1[], $2::t2[], …) AS k(k0, k1, …)`: the batch's keys (plus `extra` arrays) as a
 * relation. Positional aliases, so no user column name can collide with them.
 */
function keysRelation(
  spec: TableSpec,
  firstParam: number,
  extra: { alias: string; type: string }[] = [],
): string {
  const arrays = spec.primaryKey.map((k, i) => `$${firstParam + i}::${SQL_TYPES[columnType(spec, k)]}[]`);
  extra.forEach((e, i) => arrays.push(`$${firstParam + spec.primaryKey.length + i}::${e.type}[]`));
  const aliases = [...spec.primaryKey.map((_, i) => `k${i}`), ...extra.map((e) => e.alias)];
  return `unnest(${arrays.join(', ')}) WITH ORDINALITY AS k(${aliases.join(', ')}, pos)`;
}
const keysMatch = (spec: TableSpec, alias: string): string =>
  spec.primaryKey.map((k, i) => `${alias}.${q(k)} = k.k${i}`).join(' AND ');
const keysMatchTables = (spec: TableSpec, a: string, b: string): string =>
  spec.primaryKey.map((k) => `${a}.${q(k)} = ${b}.${q(k)}`).join(' AND ');

/**
 * Positions (1-based) of the batch rows that are new or differ from the stored row (hash, or a
 * soft-deleted row coming back), and whether each is new. Unchanged rows return nothing, so a
 * no-op batch costs one index probe per key and no result parsing here. LIMIT 1 keeps the
 * LATERAL subquery from being flattened: flattened, the planner picks a merge join over the
 * whole primary-key index (measured 6x slower on 1M rows).
 */
function changedRowsSql(spec: TableSpec): string {
  const deleted = spec.softDelete ? `t.${q(DELETED_AT)} IS NOT NULL` : 'false';
  return `SELECT k.pos::int4, s.found IS NULL
    FROM ${keysRelation(spec, 1, [{ alias: 'h', type: 'text' }])}
    LEFT JOIN LATERAL (
      SELECT true AS found, t.${q(HASH)} AS h, ${deleted} AS deleted
      FROM ${q(spec.name)} AS t WHERE ${keysMatch(spec, 't')} LIMIT 1
    ) AS s ON true
    WHERE s.found IS NULL OR s.h IS DISTINCT FROM k.h OR s.deleted`;
}

const copyTargetSql = (spec: TableSpec): string =>
  `COPY ${q(spec.name)} (${list([...spec.columns.map((c) => c.name), HASH, UPDATED_AT])}) FROM STDIN`;

/** Temp staging table for changed rows, named by the column signature so a schema change gets a fresh one. */
function stageName(spec: TableSpec): string {
  const signature = `${spec.name}(${spec.columns.map((c) => `${c.name} ${c.type}`).join(',')})`;
  return `tributary_stage_${createHash('sha1').update(signature).digest('hex').slice(0, 24)}`;
}

// ON COMMIT DELETE ROWS: the table lives as long as the pooled connection (no catalog churn per
// batch) and is emptied by every commit.
const createStageSql = (spec: TableSpec): string =>
  `CREATE TEMP TABLE IF NOT EXISTS ${q(stageName(spec))} (${[
    ...spec.columns,
    { name: HASH, type: 'text' as const },
  ]
    .map((c) => `${q(c.name)} ${SQL_TYPES[c.type]}`)
    .join(', ')}) ON COMMIT DELETE ROWS`;

const copyStageSql = (spec: TableSpec): string =>
  `COPY pg_temp.${q(stageName(spec))} (${list([...spec.columns.map((c) => c.name), HASH])}) FROM STDIN`;

function updateFromStageSql(spec: TableSpec): string {
  const keys = new Set(spec.primaryKey);
  const sets = spec.columns.filter((c) => !keys.has(c.name)).map((c) => `${q(c.name)} = s.${q(c.name)}`);
  sets.push(`${q(HASH)} = s.${q(HASH)}`, `${q(UPDATED_AT)} = $1`);
  if (spec.softDelete) sets.push(`${q(DELETED_AT)} = NULL`);
  return `UPDATE ${q(spec.name)} AS t SET ${sets.join(', ')}
    FROM pg_temp.${q(stageName(spec))} AS s WHERE ${keysMatchTables(spec, 't', 's')}`;
}

// Cleared after use: two writeBatch calls on one table may share a transaction.
const clearStageSql = (spec: TableSpec): string => `DELETE FROM pg_temp.${q(stageName(spec))}`;

// A regular (logged) table: the seen set of a pass spans many transactions and must survive a crash.
function createSeenSql(spec: TableSpec): string {
  const keyCols = spec.primaryKey.map((k) => `${q(k)} ${SQL_TYPES[columnType(spec, k)]}`);
  return `CREATE TABLE IF NOT EXISTS ${q(seenTableName(spec.name))} (
    marker text NOT NULL, ${keyCols.join(', ')}, PRIMARY KEY (marker, ${list(spec.primaryKey)}))`;
}

const insertSeenSql = (spec: TableSpec): string =>
  `INSERT INTO ${q(seenTableName(spec.name))} (marker, ${list(spec.primaryKey)})
    SELECT $1, ${spec.primaryKey.map((_, i) => `k.k${i}`).join(', ')} FROM ${keysRelation(spec, 2)}
    ON CONFLICT DO NOTHING`;

const notSeen = (spec: TableSpec): string =>
  `NOT EXISTS (SELECT 1 FROM ${q(seenTableName(spec.name))} AS s WHERE s.marker = $1 AND ${keysMatchTables(spec, 's', 't')})`;

const softDeleteSql = (spec: TableSpec): string =>
  `UPDATE ${q(spec.name)} AS t SET ${q(DELETED_AT)} = $2 WHERE t.${q(DELETED_AT)} IS NULL AND ${notSeen(spec)}`;

const hardDeleteSql = (spec: TableSpec): string => `DELETE FROM ${q(spec.name)} AS t WHERE ${notSeen(spec)}`;

const clearSeenSql = (spec: TableSpec, all: boolean): string =>
  `DELETE FROM ${q(seenTableName(spec.name))}${all ? '' : ' WHERE marker = $1'}`;

const createIndexSql = (table: string, column: string): string =>
  `CREATE INDEX IF NOT EXISTS ${q(indexName(table, column))} ON ${q(table)} (${q(column)})`;

/** Children of the given parents ($1) whose key is not among the kept keys ($2, $3, …). */
const deleteChildrenSql = (spec: TableSpec, parentColumn: string): string =>
  `DELETE FROM ${q(spec.name)} AS t WHERE t.${q(parentColumn)} = ANY($1::${SQL_TYPES[columnType(spec, parentColumn)]}[])
    AND NOT EXISTS (SELECT 1 FROM ${keysRelation(spec, 2)} WHERE ${keysMatch(spec, 't')})`;

const renameTableSql = (from: string, to: string): string => `ALTER TABLE ${q(from)} RENAME TO ${q(to)}`;
const renameConstraintSql = (table: string, from: string, to: string): string =>
  `ALTER TABLE ${q(table)} RENAME CONSTRAINT ${q(from)} TO ${q(to)}`;
const dropTableSql = (table: string): string => `DROP TABLE IF EXISTS ${q(table)}`;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300']);
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// pg reports a dropped socket or a full pool with plain Errors, without a code.
const TRANSIENT_MESSAGES =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection ended/i;

function isTransientPgError(err: Error & { code?: unknown }): boolean {
  const code = typeof err.code === 'string' ? err.code : '';
  if (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || TRANSIENT_NODE_CODES.has(code)) return true;
  return !(err instanceof pg.DatabaseError) && TRANSIENT_MESSAGES.test(err.message);
}

/** A PostgreSQL or connection error as a TributaryError; other errors (the caller's own) pass through. */
function toTributaryError(err: unknown, where: string, context: string): unknown {
  if (err instanceof TributaryError || !(err instanceof Error)) return err;
  if (isTransientPgError(err)) {
    return new TributaryError(
      'destination_unavailable',
      `PostgreSQL at ${where} is unavailable (${context}): ${err.message}`,
      {
        transient: true,
        cause: err,
      },
    );
  }
  if (err instanceof pg.DatabaseError) {
    const detail = err.detail ? ` (${err.detail})` : '';
    return new TributaryError(
      'destination_error',
      `PostgreSQL error ${context}: ${err.message}${detail} [${err.code}]`,
      {
        cause: err,
      },
    );
  }
  return err;
}

const sqlstate = (err: unknown): string | undefined => {
  const cause = err instanceof TributaryError ? err.cause : err;
  return cause instanceof pg.DatabaseError ? cause.code : undefined;
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function columnType(spec: TableSpec, name: string): ColumnType {
  const col = spec.columns.find((c) => c.name === name);
  if (!col)
    throw new TributaryError(
      'config_invalid',
      `table "${spec.name}": primary key column "${name}" is not declared`,
    );
  return col.type;
}

function validateSpec(spec: TableSpec): void {
  q(spec.name);
  const seen = new Set<string>();
  for (const c of spec.columns) {
    q(c.name);
    if (SYSTEM_NAMES.has(c.name)) {
      throw new TributaryError(
        'config_invalid',
        `table "${spec.name}": column "${c.name}" is reserved for Tributary`,
      );
    }
    if (seen.has(c.name))
      throw new TributaryError(
        'config_invalid',
        `table "${spec.name}": column "${c.name}" is declared twice`,
      );
    seen.add(c.name);
  }
  for (const k of spec.primaryKey) columnType(spec, k);
  for (const c of spec.indexes ?? []) columnType(spec, c);
}

/** The batch's key values, one array per primary-key column (the parameters of keysRelation). */
const keyArrays = (spec: TableSpec, rows: readonly Row[]): unknown[][] =>
  spec.primaryKey.map((k) => rows.map((r) => r[k] ?? null));

/** Yields ~64 KiB strings of COPY text, produced lazily so encoding overlaps the server's work. */
function* chunked(lines: Iterable<string>): Generator<string> {
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= COPY_CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk.length > 0) yield chunk;
}

async function copyIn(client: pg.PoolClient, sql: string, lines: Iterable<string>): Promise<number> {
  const stream = client.query(copyFrom(sql));
  await pipeline(Readable.from(chunked(lines), { objectMode: false }), stream);
  return stream.rowCount;
}

const NEW = 0;
const CHANGED = 1;
const UNCHANGED = 2;

/** A transaction on one dedicated pooled client. */
class PostgresTx implements Tx {
  constructor(
    readonly client: pg.PoolClient,
    private readonly where: string,
  ) {}

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    try {
      const result = await this.client.query(sql, params as unknown[] | undefined);
      return lastResult(result).rows as R[];
    } catch (err) {
      throw toTributaryError(err, this.where, 'in a transaction');
    }
  }

  async execute(sql: string, params?: readonly unknown[]): Promise<number> {
    try {
      return rowCount(await this.client.query(sql, params as unknown[] | undefined));
    } catch (err) {
      throw toTributaryError(err, this.where, 'in a transaction');
    }
  }
}

function clientOf(tx: Tx): pg.PoolClient {
  if (tx instanceof PostgresTx) return tx.client;
  throw new TributaryError(
    'internal',
    'a transaction of another destination was passed to the PostgreSQL destination',
  );
}

// A multi-statement simple query returns one result per statement.
const lastResult = (r: pg.QueryResult | pg.QueryResult[]): pg.QueryResult =>
  Array.isArray(r) ? (r[r.length - 1] ?? ({ rows: [], rowCount: 0 } as unknown as pg.QueryResult)) : r;
const rowCount = (r: pg.QueryResult | pg.QueryResult[]): number =>
  Array.isArray(r) ? r.reduce((n, x) => n + (x.rowCount ?? 0), 0) : (r.rowCount ?? 0);

// ---------------------------------------------------------------------------------------------
// The destination
// ---------------------------------------------------------------------------------------------

export class PostgresDestination implements Destination {
  readonly kind = 'postgres';
  readonly capabilities = CAPABILITIES;
  readonly description: string;
  readonly #pool: pg.Pool;
  readonly #where: string;
  /**
   * Tables found empty by their first merge in this instance: their batches are COPYed without a
   * hash lookup (a first load then runs at COPY speed). A key conflict turns this off for good.
   */
  readonly #directCopy = new Map<string, boolean>();
  #closed = false;

  constructor(url: string) {
    this.#where = redactUrl(url);
    this.description = `postgres ${this.#where}`;
    this.#pool = new pg.Pool({
      connectionString: url,
      types: typeParsers,
      // UTC so timestamptz prints as +00 and ISO dates, whatever the server's default.
      options: '-c TimeZone=UTC -c DateStyle=ISO',
      application_name: 'tributary',
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    // An idle pooled connection the server closes (restart, admin_shutdown) is discarded by the
    // pool; without a listener the 'error' event would crash the process. The next query reports it.
    this.#pool.on('error', () => {});
  }

  #wrap(err: unknown, context: string): unknown {
    return toTributaryError(err, this.#where, context);
  }

  // --- plain queries -------------------------------------------------------------------------

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    try {
      return lastResult(await this.#pool.query(sql, params as unknown[] | undefined)).rows as R[];
    } catch (err) {
      throw this.#wrap(err, 'running a query');
    }
  }

  async execute(sql: string, params?: readonly unknown[]): Promise<number> {
    try {
      return rowCount(await this.#pool.query(sql, params as unknown[] | undefined));
    } catch (err) {
      throw this.#wrap(err, 'running a statement');
    }
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#wrap(err, 'connecting');
    }
    let broken: Error | undefined;
    // A checked-out client has no pool listener; a dropped socket would otherwise crash the process.
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await fn(new PostgresTx(client, this.#where));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken ??= e instanceof Error ? e : new Error(String(e));
      });
      throw this.#wrap(err, 'in a transaction');
    } finally {
      client.off('error', onError);
      // A broken client is destroyed rather than returned to the pool.
      client.release(broken);
    }
  }

  async migrate(scripts: { name: string; sql: string }[]): Promise<void> {
    for (const script of scripts) {
      await this.transaction(async (tx) => {
        const client = clientOf(tx);
        try {
          await client.query(ddlLockSql, ['tributary_migrations']);
          // No parameters: the simple query protocol, which runs several statements at once.
          await client.query(script.sql);
        } catch (err) {
          throw this.#wrap(err, `running migration ${script.name}`);
        }
      });
    }
  }

  // --- tables --------------------------------------------------------------------------------

  async ensureTable(spec: TableSpec): Promise<void> {
    validateSpec(spec);
    await this.transaction(async (tx) => {
      const client = clientOf(tx);
      try {
        await client.query(ddlLockSql, [spec.name]);
        const existing = await this.#columns(client, spec.name);
        if (existing.size === 0) {
          await client.query(createTableSql(spec));
          for (const col of spec.indexes ?? []) await client.query(createIndexSql(spec.name, col));
          return;
        }
        const missing: { name: string; type: ColumnType }[] = [];
        for (const col of [...spec.columns, ...systemColumns(spec)]) {
          const type = existing.get(col.name);
          if (type === undefined) missing.push(col);
          else if (!COMPATIBLE_TYPES[col.type].includes(baseTypeName(type))) {
            throw new TributaryError(
              'schema_conflict',
              `table "${spec.name}": column "${col.name}" is ${type} in the database but declared ${col.type} ` +
                `(${SQL_TYPES[col.type]}); change the declaration or migrate the column`,
            );
          }
        }
        if (missing.length > 0) await client.query(addColumnsSql(spec.name, missing));
        await this.#ensurePrimaryKey(client, spec);
        for (const col of spec.indexes ?? []) await client.query(createIndexSql(spec.name, col));
      } catch (err) {
        throw this.#wrap(err, `creating or altering table "${spec.name}"`);
      }
    });
  }

  async #columns(client: pg.PoolClient, table: string): Promise<Map<string, string>> {
    const { rows } = await client.query<{ name: string; type: string }>(columnsSql, [q(table)]);
    return new Map(rows.map((r) => [r.name, r.type]));
  }

  async #primaryKey(
    client: pg.PoolClient,
    table: string,
  ): Promise<{ name: string; columns: string[] } | undefined> {
    const { rows } = await client.query<{ name: string; columns: string[] }>(primaryKeySql, [q(table)]);
    return rows[0];
  }

  async #ensurePrimaryKey(client: pg.PoolClient, spec: TableSpec): Promise<void> {
    if (spec.primaryKey.length === 0) return;
    const pk = await this.#primaryKey(client, spec.name);
    if (!pk) {
      await client.query(addPrimaryKeySql(spec.name, spec.primaryKey));
    } else if (pk.columns.join(',') !== spec.primaryKey.join(',')) {
      throw new TributaryError(
        'schema_conflict',
        `table "${spec.name}": its primary key is (${pk.columns.join(', ')}) in the database but declared ` +
          `(${spec.primaryKey.join(', ')})`,
      );
    }
  }

  async tableExists(name: string): Promise<boolean> {
    const rows = await this.query<{ exists: boolean }>(tableExistsSql, [q(name)]);
    return rows[0]?.exists ?? false;
  }

  async countRows(table: string): Promise<number> {
    const rows = await this.#read<{ n: string }>(countSql(table), [], `counting rows of "${table}"`);
    return Number(rows[0]?.n ?? 0);
  }

  async describeTable(name: string): Promise<{ name: string; type: string }[] | null> {
    const rows = await this.#read<{ name: string; type: string }>(
      describeSql,
      [name],
      `describing "${name}"`,
    );
    return rows.length > 0 ? rows : null;
  }

  async readRows(spec: TableSpec, options: ReadRowsOptions = {}): Promise<Row[]> {
    const columns: { name: string; type: ColumnType }[] = [
      ...spec.columns,
      ...(options.includeSystem ? systemColumns(spec) : []),
    ];
    const known = new Map<string, ColumnType>(
      [...spec.columns, ...systemColumns(spec)].map((c) => [c.name, c.type]),
    );
    const checked = (name: string): string => {
      if (!known.has(name)) {
        throw new TributaryError(
          'usage',
          `table "${spec.name}" has no column "${name}" (columns: ${[...known.keys()].join(', ')})`,
        );
      }
      return q(name);
    };
    const params: unknown[] = [];
    const filters = Object.entries(options.where ?? {}).map(([col, value]) => {
      params.push(value);
      // json has no = operator; its text is the canonical Cell, so compare text.
      const cast = known.get(col) === 'json' ? '::text' : '';
      return `${checked(col)}${cast} = $${params.length}`;
    });
    const orderBy = options.orderBy?.length ? options.orderBy : spec.primaryKey;
    let sql = `SELECT ${list(columns.map((c) => c.name))} FROM ${q(spec.name)}`;
    if (filters.length > 0) sql += ` WHERE ${filters.join(' AND ')}`;
    // Without a key, physical order: insertion order for the append-only tables that have none.
    sql += orderBy.length > 0 ? ` ORDER BY ${orderBy.map(checked).join(', ')}` : ' ORDER BY ctid';
    if (options.limit !== undefined) {
      params.push(Math.max(0, Math.trunc(options.limit)));
      sql += ` LIMIT $${params.length}`;
    }
    let rows: Record<string, unknown>[];
    try {
      rows = await this.#read(sql, params, `reading "${spec.name}"`);
    } catch (err) {
      // A filter value that is not of the column's type (where id=abc on an integer) matches nothing.
      if (sqlstate(err)?.startsWith('22') && filters.length > 0) return [];
      throw err;
    }
    return rows.map((r) => {
      const row: Row = {};
      for (const c of columns) row[c.name] = decodeCell(r[c.name]);
      return row;
    });
  }

  async #read<R>(sql: string, params: unknown[], context: string): Promise<R[]> {
    try {
      return (await this.#pool.query(sql, params)).rows as R[];
    } catch (err) {
      throw this.#wrap(err, context);
    }
  }

  // --- writes --------------------------------------------------------------------------------

  async writeBatch(tx: Tx, spec: TableSpec, rows: Row[], options: WriteBatchOptions): Promise<WriteResult> {
    const client = clientOf(tx);
    try {
      let result: WriteResult;
      if (rows.length === 0) result = { inserted: 0, updated: 0, unchanged: 0 };
      else if (options.mode === 'merge') result = await this.#merge(client, spec, rows, options.now);
      else
        result = { inserted: await this.#copyNew(client, spec, rows, options.now), updated: 0, unchanged: 0 };
      if (options.trackSeen !== undefined && rows.length > 0)
        await this.#trackSeen(client, spec, rows, options.trackSeen);
      return result;
    } catch (err) {
      throw this.#wrap(err, `writing table "${spec.name}"`);
    }
  }

  /** COPYs rows into the table, encoding and hashing them as the stream goes. */
  async #copyNew(client: pg.PoolClient, spec: TableSpec, rows: readonly Row[], now: string): Promise<number> {
    const suffix = `\t${now}\n`;
    function* lines(): Generator<string> {
      for (const row of rows) {
        const line = encodeRow(row, spec.columns);
        yield `${line}\t${hashLine(line)}${suffix}`;
      }
    }
    return copyIn(client, copyTargetSql(spec), lines());
  }

  async #merge(
    client: pg.PoolClient,
    spec: TableSpec,
    rows: readonly Row[],
    now: string,
  ): Promise<WriteResult> {
    if (spec.primaryKey.length === 0) {
      throw new TributaryError('config_invalid', `table "${spec.name}": merge writes need a primary key`);
    }
    if (await this.#mayCopyDirectly(client, spec.name)) {
      // Savepoint: a key that already exists must not abort the caller's transaction.
      await client.query('SAVEPOINT tributary_direct_copy');
      try {
        const inserted = await this.#copyNew(client, spec, rows, now);
        await client.query('RELEASE SAVEPOINT tributary_direct_copy');
        return { inserted, updated: 0, unchanged: 0 };
      } catch (err) {
        if (sqlstate(err) !== '23505') throw err;
        await client.query('ROLLBACK TO SAVEPOINT tributary_direct_copy');
        await client.query('RELEASE SAVEPOINT tributary_direct_copy');
        this.#directCopy.set(spec.name, false);
      }
    }
    return this.#mergeByHash(client, spec, rows, now);
  }

  async #mayCopyDirectly(client: pg.PoolClient, table: string): Promise<boolean> {
    let direct = this.#directCopy.get(table);
    if (direct === undefined) {
      const { rows } = await client.query<{ empty: boolean }>(isEmptySql(table));
      direct = rows[0]?.empty ?? false;
      this.#directCopy.set(table, direct);
    }
    return direct;
  }

  async #mergeByHash(
    client: pg.PoolClient,
    spec: TableSpec,
    rows: readonly Row[],
    now: string,
  ): Promise<WriteResult> {
    const lines = new Array<string>(rows.length);
    const hashes = new Array<string>(rows.length);
    const status = new Int8Array(rows.length).fill(UNCHANGED);
    // Hash slice n+1 while the server probes slice n: one query in flight, the CPU work overlapped.
    let pending: Promise<void> = Promise.resolve();
    for (let start = 0; start < rows.length; start += LOOKUP_SLICE) {
      const slice = rows.slice(start, start + LOOKUP_SLICE);
      for (let j = 0; j < slice.length; j++) {
        const line = encodeRow(slice[j]!, spec.columns);
        lines[start + j] = line;
        hashes[start + j] = hashLine(line);
      }
      await pending;
      pending = client
        .query<[number, boolean]>({
          text: changedRowsSql(spec),
          values: [...keyArrays(spec, slice), hashes.slice(start, start + slice.length)],
          rowMode: 'array',
        })
        .then(({ rows: found }) => {
          for (const [position, isNew] of found) status[start + position - 1] = isNew ? NEW : CHANGED;
        });
    }
    await pending;
    let inserted = 0;
    let updated = 0;
    for (const s of status) {
      if (s === NEW) inserted++;
      else if (s === CHANGED) updated++;
    }
    const linesWith = (wanted: number, suffix: string): Iterable<string> =>
      (function* () {
        for (let i = 0; i < rows.length; i++)
          if (status[i] === wanted) yield `${lines[i]}\t${hashes[i]}${suffix}`;
      })();
    if (inserted > 0) await copyIn(client, copyTargetSql(spec), linesWith(NEW, `\t${now}\n`));
    if (updated > 0) {
      await client.query(createStageSql(spec));
      await copyIn(client, copyStageSql(spec), linesWith(CHANGED, '\n'));
      await client.query(updateFromStageSql(spec), [now]);
      await client.query(clearStageSql(spec));
    }
    return { inserted, updated, unchanged: rows.length - inserted - updated };
  }

  // --- deletes -------------------------------------------------------------------------------

  async #trackSeen(
    client: pg.PoolClient,
    spec: TableSpec,
    rows: readonly Row[],
    marker: string,
  ): Promise<void> {
    if (spec.primaryKey.length === 0) {
      throw new TributaryError('config_invalid', `table "${spec.name}": deletes need a primary key`);
    }
    await client.query(createSeenSql(spec));
    await client.query(insertSeenSql(spec), [marker, ...keyArrays(spec, rows)]);
  }

  async applyDeletes(
    tx: Tx,
    spec: TableSpec,
    marker: string,
    mode: 'soft' | 'hard',
    now: string,
  ): Promise<number> {
    if (spec.primaryKey.length === 0) {
      throw new TributaryError('config_invalid', `table "${spec.name}": deletes need a primary key`);
    }
    if (mode === 'soft' && !spec.softDelete) {
      throw new TributaryError(
        'config_invalid',
        `table "${spec.name}": soft deletes need the _deleted_at column (softDelete)`,
      );
    }
    const client = clientOf(tx);
    try {
      // Created here too: a complete pass that saw no rows at all has no seen table yet.
      await client.query(createSeenSql(spec));
      const result =
        mode === 'soft'
          ? await client.query(softDeleteSql(spec), [marker, now])
          : await client.query(hardDeleteSql(spec), [marker]);
      await client.query(clearSeenSql(spec, false), [marker]);
      return result.rowCount ?? 0;
    } catch (err) {
      throw this.#wrap(err, `deleting unseen rows of "${spec.name}"`);
    }
  }

  async deleteChildren(
    tx: Tx,
    spec: TableSpec,
    parentColumn: string,
    parents: readonly Cell[],
    keep: readonly Row[],
  ): Promise<number> {
    if (parents.length === 0) return 0;
    if (spec.primaryKey.length === 0)
      throw new TributaryError('config_invalid', `table "${spec.name}": child rows need a primary key`);
    try {
      const result = await clientOf(tx).query(deleteChildrenSql(spec, parentColumn), [
        parents,
        ...keyArrays(spec, keep),
      ]);
      return result.rowCount ?? 0;
    } catch (err) {
      throw this.#wrap(err, `deleting child rows of "${spec.name}"`);
    }
  }

  async clearSeen(tx: Tx, spec: TableSpec, marker: string | null): Promise<void> {
    const client = clientOf(tx);
    try {
      const { rows } = await client.query<{ exists: boolean }>(tableExistsSql, [q(seenTableName(spec.name))]);
      if (!rows[0]?.exists) return;
      if (marker === null) await client.query(clearSeenSql(spec, true));
      else await client.query(clearSeenSql(spec, false), [marker]);
    } catch (err) {
      throw this.#wrap(err, `clearing the seen keys of "${spec.name}"`);
    }
  }

  // --- replace -------------------------------------------------------------------------------

  /**
   * Creates the shadow table, or keeps the one a crashed `replace` run left behind so the run can
   * resume into it from its last checkpoint (its rows committed with that checkpoint). A run that
   * starts over from the beginning must drop it first (`DROP TABLE IF EXISTS` on the shadow name).
   */
  async createShadow(spec: TableSpec): Promise<TableSpec> {
    const shadow: TableSpec = { ...spec, name: shadowTableName(spec.name) };
    await this.ensureTable(shadow);
    this.#directCopy.delete(shadow.name);
    return shadow;
  }

  async swapShadow(tx: Tx, spec: TableSpec, shadow: TableSpec): Promise<number> {
    const client = clientOf(tx);
    try {
      let oldRows = 0;
      const { rows } = await client.query<{ exists: boolean }>(tableExistsSql, [q(spec.name)]);
      if (rows[0]?.exists) {
        const counted = await client.query<{ n: string }>(countSql(spec.name));
        oldRows = Number(counted.rows[0]?.n ?? 0);
        await client.query(dropTableSql(spec.name));
      }
      await client.query(renameTableSql(shadow.name, spec.name));
      const pk = await this.#primaryKey(client, spec.name);
      if (pk && pk.name !== pkName(spec.name))
        await client.query(renameConstraintSql(spec.name, pk.name, pkName(spec.name)));
      this.#directCopy.delete(spec.name);
      this.#directCopy.delete(shadow.name);
      return oldRows;
    } catch (err) {
      throw this.#wrap(err, `replacing "${spec.name}" with "${shadow.name}"`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
