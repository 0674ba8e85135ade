/**
 * Measures the SQLite destination's write path against the physical limit, `sqlite3 .import`
 * of the same rows into a table with the same columns and primary key:
 *   node --import tsx src/destinations/sqlite/sqlite-destination.bench.ts [rows] [batchSize]
 * Reports first load (empty table), no-op re-sync, and a re-sync where 10% of rows changed,
 * as wall time and as CPU time (user + system): on a shared, loaded machine wall time swings by
 * ±50% between identical runs while CPU time stays within ~15%, so compare the CPU ratios
 * across runs. Destination only: CSV parsing and cleaning are measured by the project's bench/.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Row } from '../../core/types.ts';
import type { Destination, TableSpec } from '../destination.ts';
import { createSqliteDestination } from './index.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const batchSize = Number(process.argv[3] ?? 5_000);

// The same table and rows as postgres-destination.bench.ts, so the two engines compare.
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

function makeRow(i: number, variant = ''): Row {
  const day = new Date(Date.UTC(2015, 0, 1) + (i % 3000) * 86_400_000);
  return {
    regulator_id: `EHS-${String(i).padStart(8, '0')}`,
    offender_name: `Offender ${i % 50_000} Ltd${variant}`,
    action_date: day.toISOString().slice(0, 10),
    fine_amount: `${(i * 37) % 100_000}.${String(i % 100).padStart(2, '0')}`,
    last_modified: new Date(day.getTime() + (i % 86_400) * 1000).toISOString(),
    active: i % 3 !== 0,
    case_count: i % 17,
    notes: i % 5 === 0 ? null : `Notice ${i}: breach of regulation ${i % 400}, see file`,
  };
}

/** The rows as sqlite3's tab mode reads them (booleans as 0/1, NULL as empty). */
function tsvLine(row: Row): string {
  return spec.columns
    .map((c) => {
      const v = row[c.name] ?? null;
      return v === null ? '' : typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
    })
    .join('\t');
}

const rate = (n: number, ms: number): string => Math.round((n / ms) * 1000).toLocaleString('en');

interface Timing {
  ms: number;
  cpuMs: number;
}

async function sync(dest: Destination, rows: Row[]): Promise<Timing & { counts: Record<string, number> }> {
  const counts = { inserted: 0, updated: 0, unchanged: 0 };
  const t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < rows.length; i += batchSize) {
    const batch = rows.slice(i, i + batchSize);
    const r = await dest.transaction((tx) =>
      dest.writeBatch(tx, spec, batch, { mode: 'merge', now: new Date().toISOString() }),
    );
    counts.inserted += r.inserted;
    counts.updated += r.updated;
    counts.unchanged += r.unchanged;
  }
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000, counts };
}

/** Runs sqlite3 under bash's `time`, which also reports the child's CPU time. */
function timedSqlite3(args: string[]): Timing {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const t = performance.now();
  const out = execFileSync('bash', ['-c', `TIMEFORMAT='%U %S'; { time sqlite3 ${quoted} >/dev/null; } 2>&1`]);
  const ms = performance.now() - t;
  const [user = 0, sys = 0] = out.toString().trim().split(/\s+/).slice(-2).map(Number);
  return { ms, cpuMs: (user + sys) * 1000 };
}

function report(label: string, timing: Timing, base: Timing, extra = ''): void {
  console.log(
    [
      label.padEnd(20),
      `wall ${(timing.ms / 1000).toFixed(2)} s ${rate(total, timing.ms)} rows/s ${(base.ms / timing.ms).toFixed(2)}×`,
      `cpu ${(timing.cpuMs / 1000).toFixed(2)} s ${rate(total, timing.cpuMs)} rows/s ${(base.cpuMs / timing.cpuMs).toFixed(2)}×`,
      extra,
    ].join('  '),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
  try {
    const rows = Array.from({ length: total }, (_, i) => makeRow(i));
    const file = join(dir, 'rows.tsv');
    writeFileSync(file, rows.map((r) => tsvLine(r) + '\n').join(''));

    const importDb = join(dir, 'import.db');
    const columns = spec.columns.map(
      (c) => `${c.name} ${c.type === 'integer' || c.type === 'boolean' ? 'INTEGER' : 'TEXT'}`,
    );
    execFileSync('sqlite3', [
      importDb,
      `PRAGMA journal_mode=WAL; CREATE TABLE notices (${columns.join(', ')}, PRIMARY KEY (regulator_id));`,
    ]);
    const base = timedSqlite3([
      importDb,
      '-cmd',
      'PRAGMA synchronous=NORMAL',
      '-cmd',
      '.mode tabs',
      `.import ${file} notices`,
    ]);
    report('sqlite3 .import', base, base, '(ratios: × .import, higher is better)');

    const dest = await createSqliteDestination(join(dir, 'tributary.db'), dir);
    await dest.ensureTable(spec);
    const first = await sync(dest, rows);
    report('first load (merge)', first, base, JSON.stringify(first.counts));
    const noop = await sync(dest, rows);
    report('no-op re-sync', noop, base, JSON.stringify(noop.counts));
    const changed = rows.map((r, i) => (i % 10 === 0 ? makeRow(i, ' (renamed)') : r));
    const some = await sync(dest, changed);
    report('10% changed re-sync', some, base, JSON.stringify(some.counts));
    await dest.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
