/**
 * `npm run bench`: Tributary against the physical limits of the same machine, in one run.
 * Not part of `npm test`. See bench/README.md for what is measured and how.
 *
 *   BENCH_ROWS=100000 BENCH_REPEAT=1 npm run bench      quick run
 *   BENCH_PG_URL=postgres://user@host:5432/postgres    server to use (database tributary_bench is created)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { columnTypes, SYNCS, TABLES, writeBenchConfig } from './bench-config.ts';
import { ensureBenchData, type BenchData } from './bench-data.ts';
import * as pgBench from './postgres-bench.ts';
import { removeSqliteFile, sqliteCount, sqliteImport, sqliteVersion } from './sqlite-bench.ts';
import { runTributary, type SyncJson, type TributaryRun } from './run-tributary.ts';
import { renderTable, writeResultsMarkdown, type BenchResults, type Measure, type Sample } from './report.ts';
import { timedSpawn } from './timed-spawn.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA_DIR = join(ROOT, 'bench/data');
const RESULTS = join(ROOT, 'bench/results.md');
const CLI = join(ROOT, 'src/cli/main.ts');

const ROWS = positiveInt('BENCH_ROWS', 1_000_000);
const REPEAT = positiveInt('BENCH_REPEAT', 3);
const SEED = positiveInt('BENCH_SEED', 1);
/** Row count of the second, small measurement that shows memory does not grow with the input. */
const SMALL_ROWS = 100_000;
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BENCH_URL = pgBench.withDatabase(ADMIN_URL, pgBench.BENCH_DATABASE);

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

/** Turns a CLI run into a sample, marking it invalid when the counts are not what the step expects. */
function toSample(run: TributaryRun, expect: (r: SyncJson) => string | null): Sample {
  const sample: Sample = {
    seconds: run.seconds,
    peakRssMb: run.peakRssMb,
    timeRssMb: run.timeRssMb,
    durationMs: run.result?.durationMs ?? null,
  };
  if (!run.result) sample.problem = `exit ${run.exitCode}, no JSON result: ${firstError(run.stderrTail)}`;
  else if (run.exitCode !== 0)
    sample.problem = `exit ${run.exitCode}, status ${run.result.status}: ${JSON.stringify(run.result.error)}`;
  else sample.problem = expect(run.result) ?? undefined;
  if (sample.problem === undefined) delete sample.problem;
  return sample;
}

/** The line of a child's stderr that says what went wrong, for the report. */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  return (lines.find((l) => /error/i.test(l)) ?? lines.filter(Boolean).pop() ?? '').slice(0, 300);
}

const firstLoad =
  (rows: number) =>
  (r: SyncJson): string | null =>
    r.read === rows && r.inserted === rows && r.quarantined === 0
      ? null
      : `expected ${rows} read and inserted, got read ${r.read}, inserted ${r.inserted}, quarantined ${r.quarantined}`;
const noOp =
  (rows: number) =>
  (r: SyncJson): string | null =>
    r.unchanged === rows && r.inserted + r.updated === 0
      ? null
      : `expected ${rows} unchanged, got unchanged ${r.unchanged}, inserted ${r.inserted}, updated ${r.updated}`;

interface Context {
  data: BenchData;
  config: string;
  tributary: boolean;
  samples: Partial<Record<Measure, Sample[]>>;
}

const push = (ctx: Context, m: Measure, s: Sample): void => {
  (ctx.samples[m] ??= []).push(s);
  const extra = s.walClusterBytes != null ? `, WAL ${s.walClusterBytes} B` : '';
  const rss = s.peakRssMb != null ? `, peak RSS ${s.peakRssMb.toFixed(0)} MB` : '';
  log(`  ${m}: ${s.seconds.toFixed(2)} s${rss}${extra}${s.problem ? ` — INVALID: ${s.problem}` : ''}`);
};

/** `tributary init` before the timed runs, as the limits get their table created untimed. */
async function init(ctx: Context, databaseUrl: string): Promise<void> {
  const r = await runTributary(['init'], ctx.config, databaseUrl, DATA_DIR);
  if (r.exitCode !== 0)
    log(`  (tributary init exited ${r.exitCode}; the sync creates its state tables itself)`);
}

async function postgresRound(ctx: Context, withLimit: boolean): Promise<void> {
  const { data } = ctx;
  await pgBench.recreateBenchDatabase(ADMIN_URL);
  if (withLimit) {
    await pgBench.createLimitTable(BENCH_URL, TABLES.copyLimit, columnTypes('csv'));
    await pgBench.run(BENCH_URL, 'CHECKPOINT');
    const seconds = await pgBench.psqlCopy(BENCH_URL, TABLES.copyLimit, data.csv);
    const n = await pgBench.count(BENCH_URL, TABLES.copyLimit);
    push(ctx, 'copy', { seconds, ...(n === data.rows ? {} : { problem: `table holds ${n} rows` }) });
    await pgBench.run(BENCH_URL, `DROP TABLE ${TABLES.copyLimit}`);
  }
  if (!ctx.tributary) return;
  await init(ctx, BENCH_URL);

  await pgBench.run(BENCH_URL, 'CHECKPOINT');
  const load = await runTributary(['sync', SYNCS.csv, '--json'], ctx.config, BENCH_URL, DATA_DIR);
  const loadSample = toSample(load, firstLoad(data.rows));
  push(ctx, 'csvPg', loadSample);

  // A no-op re-sync only means something over a table the first load filled.
  if (withLimit && !loadSample.problem) {
    // Steady state before the no-op: a loaded table has been vacuumed (hint bits, visibility map)
    // by the time it is re-synced. Autovacuum is not left to do it mid-measurement.
    await pgBench.run(BENCH_URL, `VACUUM (ANALYZE) ${TABLES.csv}`, 'CHECKPOINT');
    const before = await pgBench.currentWalLsn(BENCH_URL);
    const noop = await runTributary(['sync', SYNCS.csv, '--json'], ctx.config, BENCH_URL, DATA_DIR);
    const after = await pgBench.currentWalLsn(BENCH_URL);
    const wal = await pgBench.walWritten(BENCH_URL, before, after);
    push(ctx, 'noopPg', {
      ...toSample(noop, noOp(data.rows)),
      walClusterBytes: wal.clusterBytes,
      walBenchDbBytes: wal.benchDbBytes,
    });
  }

  await pgBench.run(BENCH_URL, 'CHECKPOINT');
  const jsonl = await runTributary(['sync', SYNCS.jsonl, '--json'], ctx.config, BENCH_URL, DATA_DIR);
  push(ctx, 'jsonlPg', toSample(jsonl, firstLoad(data.rows)));
}

async function sqliteRound(ctx: Context, withLimit: boolean): Promise<void> {
  const { data } = ctx;
  if (withLimit) {
    const file = join(DATA_DIR, 'limit-import.db');
    const seconds = await sqliteImport(file, TABLES.importLimit, data.csv, columnTypes('csv'));
    const n = await sqliteCount(file, TABLES.importLimit);
    push(ctx, 'sqliteImport', { seconds, ...(n === data.rows ? {} : { problem: `table holds ${n} rows` }) });
    removeSqliteFile(file);
  }
  if (!ctx.tributary) return;
  const file = join(DATA_DIR, 'tributary-sync.db');
  removeSqliteFile(file);
  await init(ctx, `sqlite:${file}`);
  const run = await runTributary(['sync', SYNCS.csv, '--json'], ctx.config, `sqlite:${file}`, DATA_DIR);
  push(ctx, 'csvSqlite', toSample(run, firstLoad(data.rows)));
  removeSqliteFile(file);
}

async function machine(): Promise<Record<string, string>> {
  const psql = (await timedSpawn('psql', ['--version'])).stdout.trim();
  return {
    cpu: `${cpus()[0]?.model ?? 'unknown'} (nproc ${availableParallelism()})`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    postgresql: `server ${await pgBench.serverVersion(ADMIN_URL)}; ${psql}`,
    sqlite3: `${await sqliteVersion()} (CLI); Tributary uses better-sqlite3`,
  };
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const notes: string[] = [];
  const tributary = existsSync(CLI);
  if (!tributary) notes.push('src/cli/main.ts does not exist yet: only the limits were measured.');
  notes.push(
    'WAL is cluster-wide: "WAL cluster" counts every database\'s activity during the no-op run; "bench db" counts only WAL records touching tributary_bench relations (pg_walinspect), without commit records.',
    'Before the no-op run the loaded table is VACUUMed (ANALYZE) and a CHECKPOINT taken, untimed.',
    "`tributary init` runs untimed before Tributary's runs, as the limits' tables are created untimed.",
  );

  const data = await ensureBenchData(DATA_DIR, ROWS, SEED);
  const config = join(DATA_DIR, `bench-${ROWS}.config.yaml`);
  writeBenchConfig(config, data);
  const ctx: Context = { data, config, tributary, samples: {} };
  log(`bench: ${ROWS} rows × ${REPEAT} repetition(s); PostgreSQL ${BENCH_URL.replace(/\/\/[^@]*@/, '//…@')}`);

  for (let i = 1; i <= REPEAT; i++) {
    log(`repetition ${i}/${REPEAT}`);
    await postgresRound(ctx, true);
    await sqliteRound(ctx, true);
  }

  let small: BenchResults['small'] = null;
  if (tributary && ROWS > SMALL_ROWS) {
    log(`peak memory at ${SMALL_ROWS} rows`);
    const smallData = await ensureBenchData(DATA_DIR, SMALL_ROWS, SEED);
    const smallConfig = join(DATA_DIR, `bench-${SMALL_ROWS}.config.yaml`);
    writeBenchConfig(smallConfig, smallData);
    const smallCtx: Context = { data: smallData, config: smallConfig, tributary, samples: {} };
    for (let i = 1; i <= REPEAT; i++) {
      await postgresRound(smallCtx, false);
      await sqliteRound(smallCtx, false);
    }
    small = { rows: SMALL_ROWS, samples: smallCtx.samples };
  }

  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: await machine(),
    rows: ROWS,
    repeat: REPEAT,
    samples: ctx.samples,
    small,
    notes,
  };
  await pgBench.run(ADMIN_URL, `DROP DATABASE IF EXISTS ${pgBench.BENCH_DATABASE} WITH (FORCE)`);
  console.log(renderTable(results));
  writeResultsMarkdown(RESULTS, results);
  log(`\nwritten ${RESULTS}`);
}

await main();
