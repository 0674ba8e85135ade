import pg from 'pg';
import { SQL_TYPES } from '../src/destinations/postgres/postgres-types.ts';
import type { ColumnType } from '../src/core/types.ts';
import { check, timedSpawn } from './timed-spawn.ts';

/** The benchmark owns this database: it is dropped and recreated before every repetition. */
export const BENCH_DATABASE = 'tributary_bench';

/** The same server URL with another database name. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Drops and creates the bench database, so every repetition starts with nothing cached in it. */
export function recreateBenchDatabase(adminUrl: string): Promise<void> {
  return withClient(adminUrl, async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${BENCH_DATABASE}`);
  });
}

export function serverVersion(url: string): Promise<string> {
  return withClient(
    url,
    async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
  );
}

export function createLimitTable(url: string, table: string, columns: [string, ColumnType][]): Promise<void> {
  const cols = columns.map(([name, type]) => `${name} ${SQL_TYPES[type]}`).join(', ');
  return withClient(url, async (c) => {
    await c.query(`CREATE TABLE ${table} (${cols}, PRIMARY KEY (regulator_id))`);
  });
}

/** The physical limit: psql's client-side COPY of the CSV file, timed from spawn to exit. */
export async function psqlCopy(url: string, table: string, csvPath: string): Promise<number> {
  const copy = `\\copy ${table} FROM '${csvPath.replaceAll("'", "''")}' WITH (FORMAT csv, HEADER true)`;
  const r = check(
    await timedSpawn('psql', [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', copy]),
    'psql \\copy',
  );
  return r.seconds;
}

/** Runs statements outside the timed part (VACUUM, CHECKPOINT). */
export function run(url: string, ...statements: string[]): Promise<void> {
  return withClient(url, async (c) => {
    for (const sql of statements) await c.query(sql);
  });
}

export function count(url: string, table: string): Promise<number> {
  return withClient(url, async (c) =>
    Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n),
  );
}

export function currentWalLsn(url: string): Promise<string> {
  return withClient(
    url,
    async (c) => (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn() AS lsn')).rows[0]!.lsn,
  );
}

export interface WalWritten {
  /** Everything the cluster wrote between the two positions: other databases' activity included. */
  clusterBytes: number;
  /**
   * Only the WAL records that touch the bench database's relations (via pg_walinspect), or null
   * when the extension is unavailable. Commit records carry no relation and are not counted.
   */
  benchDbBytes: number | null;
}

export function walWritten(url: string, from: string, to: string): Promise<WalWritten> {
  return withClient(url, async (c) => {
    const cluster = await c.query<{ b: string }>('SELECT pg_wal_lsn_diff($2, $1) AS b', [from, to]);
    let benchDbBytes: number | null;
    try {
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
      const oid = (
        await c.query<{ oid: number }>('SELECT oid FROM pg_database WHERE datname = current_database()')
      ).rows[0]!.oid;
      // pg_walinspect reads only flushed WAL; others' asynchronous commits may leave `to` just
      // past the flush position, so wait for the flush to reach it (the run has finished).
      await c.query('SELECT pg_sleep(0.2) WHERE pg_current_wal_flush_lsn() < $1::pg_lsn', [to]);
      const mine = await c.query<{ b: string | null }>(
        `SELECT sum(record_length) AS b
           FROM pg_get_wal_records_info($1::pg_lsn, least($2::pg_lsn, pg_current_wal_flush_lsn()))
          WHERE block_ref LIKE $3`,
        [from, to, `%/${oid}/%`],
      );
      benchDbBytes = Number(mine.rows[0]?.b ?? 0);
    } catch (err) {
      process.stderr.write(`  (pg_walinspect unavailable: ${(err as Error).message})\n`);
      benchDbBytes = null;
    }
    return { clusterBytes: Number(cluster.rows[0]!.b), benchDbBytes };
  });
}
