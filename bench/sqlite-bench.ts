import { rmSync } from 'node:fs';
import { SQLITE_TYPES } from '../src/destinations/sqlite/sqlite-types.ts';
import type { ColumnType } from '../src/core/types.ts';
import { check, timedSpawn } from './timed-spawn.ts';

export const SQLITE3 = process.env.BENCH_SQLITE3 ?? '/usr/bin/sqlite3';

/** Removes a database file with its journal and WAL siblings. */
export function removeSqliteFile(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(path + suffix, { force: true });
}

export async function sqliteVersion(): Promise<string> {
  return (await timedSpawn(SQLITE3, ['--version'])).stdout.split(' ')[0] ?? 'unknown';
}

/**
 * The physical limit: the sqlite3 shell's `.import` of the CSV into a fresh file holding a table
 * with the same columns and primary key. The table is created first, untimed; `--skip 1` drops
 * the header line (sqlite 3.32+); the shell imports inside one transaction.
 */
export async function sqliteImport(
  path: string,
  table: string,
  csvPath: string,
  columns: [string, ColumnType][],
): Promise<number> {
  removeSqliteFile(path);
  const cols = columns.map(([name, type]) => `${name} ${SQLITE_TYPES[type]}`).join(', ');
  check(
    await timedSpawn(SQLITE3, [path, `CREATE TABLE ${table} (${cols}, PRIMARY KEY (regulator_id));`]),
    'sqlite3 create',
  );
  const script = `.bail on\n.mode csv\n.import --skip 1 '${csvPath}' ${table}\n`;
  const r = check(await timedSpawn(SQLITE3, [path], { input: script }), 'sqlite3 .import');
  if (r.stderr.trim()) throw new Error(`sqlite3 .import reported: ${r.stderr.trim().slice(0, 2000)}`);
  return r.seconds;
}

export async function sqliteCount(path: string, table: string): Promise<number> {
  const r = check(await timedSpawn(SQLITE3, [path, `SELECT count(*) FROM ${table};`]), 'sqlite3 count');
  return Number(r.stdout.trim());
}
