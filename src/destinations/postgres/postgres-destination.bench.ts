/**
 * Measures the PostgreSQL destination against the physical limit, `psql \copy`, on the same table:
 *   node --import tsx src/destinations/postgres/postgres-destination.bench.ts [rows] [batchSize]
 * Reports first load (empty table), no-op re-sync (fresh instance, as a CLI run), and the WAL the
 * no-op wrote (server-wide pg_current_wal_lsn() difference: run it on a quiet server).
 * Destination only: CSV parsing and cleaning are measured by the project's bench/.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Row } from '../../core/types.ts';
import { createPostgresDatabase } from '../../../test/helpers/databases.ts';
import type { Destination, TableSpec } from '../destination.ts';
import { encodeRow } from '../row-encoding.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const batchSize = Number(process.argv[3] ?? 10_000);

const spec: TableSpec = {
  name: 'notices',
  columns: [
    { name: 'regulator_id', type: 'text' },
    { name: 'offender_name', type: 'text' },
    { name: 'action_date', type: 'date' },
    { name: 'fine_amount', type: 'numeric' },
    { name: 'last_modified', type: 'timestamptz' },
    { name: 'active', type: 'boolean' },
    { name: 'case_count', type: 'integer' },
    { name: 'notes', type: 'text' },
  ],
  primaryKey: ['regulator_id'],
  softDelete: false,
};

function makeRow(i: number): Row {
  const day = new Date(Date.UTC(2015, 0, 1) + (i % 3000) * 86_400_000);
  return {
    regulator_id: `EHS-${String(i).padStart(8, '0')}`,
    offender_name: `Offender ${i % 50_000} Ltd`,
    action_date: day.toISOString().slice(0, 10),
    fine_amount: `${(i * 37) % 100_000}.${String(i % 100).padStart(2, '0')}`,
    last_modified: new Date(day.getTime() + (i % 86_400) * 1000).toISOString(),
    active: i % 3 !== 0,
    case_count: i % 17,
    notes: i % 5 === 0 ? null : `Notice ${i}: breach of regulation ${i % 400}, see file`,
  };
}

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const db = await createPostgresDatabase();
  if (!db) throw new Error('no PostgreSQL');
  const rows = Array.from({ length: total }, (_, i) => makeRow(i));
  const file = join(tmpdir(), `tributary-bench-${process.pid}.tsv`);
  writeFileSync(file, rows.map((r) => encodeRow(r, spec.columns) + '\n').join(''));

  let dest: Destination = await db.open();
  await dest.ensureTable(spec);
  await dest.execute('CREATE EXTENSION IF NOT EXISTS pg_walinspect').catch(() => 0);
  const cols = spec.columns.map((c) => c.name).join(', ');
  const psqlCopy = (): number => {
    const t = performance.now();
    execFileSync('psql', [db.url, '-q', '-c', `\\copy notices (${cols}) from '${file}'`]);
    return performance.now() - t;
  };
  const sync = async (d: Destination): Promise<{ ms: number; counts: Record<string, number> }> => {
    const counts = { inserted: 0, updated: 0, unchanged: 0 };
    const t = performance.now();
    for (let i = 0; i < rows.length; i += batchSize) {
      const batch = rows.slice(i, i + batchSize);
      const r = await d.transaction((tx) =>
        d.writeBatch(tx, spec, batch, { mode: 'merge', now: new Date().toISOString() }),
      );
      counts.inserted += r.inserted;
      counts.updated += r.updated;
      counts.unchanged += r.unchanged;
    }
    return { ms: performance.now() - t, counts };
  };
  const truncate = async (): Promise<void> => {
    await dest.execute('TRUNCATE notices');
    await dest.execute('CHECKPOINT');
  };
  const walLsn = async (): Promise<string> =>
    (await dest.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;

  const copies: number[] = [];
  const loads: number[] = [];
  for (let round = 0; round < 2; round++) {
    await truncate();
    copies.push(psqlCopy());
    await truncate();
    await dest.close();
    dest = await db.open(); // a fresh instance, as a new CLI run would be
    const load = await sync(dest);
    loads.push(load.ms);
    console.log(
      `round ${round}: \\copy ${seconds(copies[round]!)} s, first load ${seconds(load.ms)} s`,
      load.counts,
    );
  }
  await dest.execute('VACUUM ANALYZE notices');
  await dest.execute('CHECKPOINT');

  const noops: number[] = [];
  const wal: number[] = [];
  for (let round = 0; round < 2; round++) {
    await dest.close();
    dest = await db.open();
    const before = await walLsn();
    const noop = await sync(dest);
    const after = await walLsn();
    const bytes = (
      await dest.query<{ n: string }>('SELECT pg_wal_lsn_diff($1, $2)::text AS n', [after, before])
    )[0]!.n;
    // The server-wide difference includes whatever else runs on the server; pg_walinspect (when
    // available) sums only the records that touch this database's relations.
    const ours = await dest
      .query<{ n: string }>(
        `SELECT coalesce(sum(record_length), 0)::text AS n FROM pg_get_wal_records_info($1, $2)
         WHERE block_ref LIKE '%/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/%'`,
        [before, after],
      )
      .then(
        (r) => Number(r[0]!.n),
        () => NaN,
      );
    noops.push(noop.ms);
    wal.push(Number.isNaN(ours) ? Number(bytes) : ours);
    console.log(
      `no-op ${round}: ${seconds(noop.ms)} s, WAL server-wide ${bytes} bytes, this database ${ours}`,
      noop.counts,
    );
  }
  const best = (xs: number[]): number => Math.min(...xs);
  console.log(
    JSON.stringify({
      rows: total,
      batchSize,
      psqlCopySeconds: seconds(best(copies)),
      firstLoadSeconds: seconds(best(loads)),
      firstLoadRatio: (best(copies) / best(loads)).toFixed(2),
      noopSeconds: seconds(best(noops)),
      noopRatio: (best(copies) / best(noops)).toFixed(2),
      noopWalBytes: best(wal),
    }),
  );
  await dest.close();
  await db.drop();
  rmSync(file, { force: true });
}

await main();
