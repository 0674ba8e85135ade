/**
 * `npm run bench:sse`: does watching an import slow it down? The same 1,000,000-row CSV →
 * PostgreSQL import runs inside `tributary serve`, alternately
 *   - alone (baseline), and
 *   - with 200 concurrent SSE clients on /api/events and a request loop on /api/runs,
 * and the report compares the import's rows/s (from its own run row: read ÷ duration) and gives
 * the API latency percentiles under load. Target: rows/s within 10% of the baseline.
 *
 *   BENCH_ROWS=1000000 BENCH_REPEAT=3 BENCH_SSE_CLIENTS=200 BENCH_API_INTERVAL_MS=50 npm run bench:sse
 *
 * Traffic goes to the loopback service this script starts, only; every loop is bounded by the
 * import it watches.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SYNCS, writeBenchConfig } from './bench-config.ts';
import { ensureBenchData } from './bench-data.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA_DIR = join(ROOT, 'bench/data');
const RESULTS = join(ROOT, 'bench/results.md');
const CLI = join(ROOT, 'src/cli/main.ts');
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE = 'tributary_sse_bench';

const num = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw.replaceAll('_', ''));
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
};
const ROWS = num('BENCH_ROWS', 1_000_000);
const REPEAT = num('BENCH_REPEAT', 3);
const SEED = num('BENCH_SEED', 1);
const CLIENTS = num('BENCH_SSE_CLIENTS', 200);
/** Pause between two requests of the loop: a dashboard polling its run list, many times over. */
const API_INTERVAL_MS = num('BENCH_API_INTERVAL_MS', 50);

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

async function recreateDatabase(): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await c.query(`CREATE DATABASE ${DATABASE}`);
  await c.end();
}

interface Service {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

async function serve(config: string): Promise<Service> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--port', '0', '--config', config],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: withDatabase(ADMIN_URL, DATABASE),
        TRIBUTARY_TOKEN: '',
        TRIBUTARY_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/\S+)/.exec(out)?.[1])) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface RunRow {
  id: number;
  status: string;
  read: number;
  durationMs: number | null;
  error: string | null;
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the "(comm) " prefix; in clock ticks (100/s on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function runImport(url: string): Promise<RunRow> {
  const res = await fetch(`${url}/api/syncs/${SYNCS.csv}/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (res.status !== 202) throw new Error(`POST runs answered ${res.status}: ${await res.text()}`);
  const { runId } = (await res.json()) as { runId: number };
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const run = (await (await fetch(`${url}/api/runs/${runId}`)).json()) as RunRow;
    if (run.status !== 'queued' && run.status !== 'running') {
      if (run.status !== 'succeeded' || run.read !== ROWS)
        throw new Error(`import ended ${run.status} after ${run.read} rows: ${run.error}`);
      return run;
    }
  }
}

interface Load {
  stop(): Promise<{ latencies: number[]; errors: number; eventsPerClient: number[]; finishedSeen: number }>;
}

/** 200 SSE clients and a paced request loop, until stop(). */
async function startLoad(url: string): Promise<Load> {
  const counts = new Array<number>(CLIENTS).fill(0);
  const finished = new Array<boolean>(CLIENTS).fill(false);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS + 10 });
  const requests: http.ClientRequest[] = [];
  let connected = 0;
  await new Promise<void>((resolve, reject) => {
    for (let i = 0; i < CLIENTS; i++) {
      const req = http.get(
        `${url}/api/events`,
        { agent, headers: { accept: 'text/event-stream' } },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`SSE client ${i}: ${res.statusCode}`));
          if (++connected === CLIENTS) resolve();
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            counts[i]! += chunk.split('\nevent: ').length - 1;
            if (chunk.includes('event: run.finished')) finished[i] = true;
          });
        },
      );
      req.on('error', () => {});
      requests.push(req);
    }
  });
  const latencies: number[] = [];
  let errors = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/api/runs?limit=20`);
        await res.arrayBuffer();
        if (res.status === 200) latencies.push(performance.now() - t0);
        else errors++;
      } catch {
        errors++;
      }
      await new Promise((r) => setTimeout(r, API_INTERVAL_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      for (const r of requests) r.destroy();
      agent.destroy();
      return { latencies, errors, eventsPerClient: counts, finishedSeen: finished.filter(Boolean).length };
    },
  };
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const median = (xs: number[]): number => percentile(xs, 50);
const fmt = (n: number, d = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  if (!existsSync(DATA_DIR)) mkdirSync(DATA_DIR, { recursive: true });
  const data = await ensureBenchData(DATA_DIR, ROWS, SEED);
  const config = join(DATA_DIR, 'sse-bench.config.yaml');
  writeBenchConfig(config, data);

  const baseline: number[] = [];
  const loaded: number[] = [];
  /** CPU µs the service process spent per imported row (import, plus serving the load). */
  const baseCpu: number[] = [];
  const loadCpu: number[] = [];
  const loads: number[] = [];
  const latencies: number[] = [];
  const details: string[] = [];
  let errors = 0;
  for (let rep = 1; rep <= REPEAT; rep++) {
    for (const phase of ['baseline', 'load'] as const) {
      await recreateDatabase();
      const service = await serve(config);
      try {
        const load = phase === 'load' ? await startLoad(service.url) : null;
        const cpu0 = cpuSeconds(service.child.pid!);
        const load0 = loadavg()[0]!;
        const run = await runImport(service.url);
        const cpu = cpuSeconds(service.child.pid!) - cpu0;
        const rate = run.read / (run.durationMs! / 1000);
        (phase === 'baseline' ? baseline : loaded).push(rate);
        (phase === 'baseline' ? baseCpu : loadCpu).push((cpu * 1e6) / run.read);
        loads.push(load0, loadavg()[0]!);
        let extra = '';
        if (load) {
          // Give the last events a moment to reach every client before counting.
          await new Promise((r) => setTimeout(r, 1000));
          const r = await load.stop();
          latencies.push(...r.latencies);
          errors += r.errors;
          extra = ` · ${r.latencies.length} API requests, p50 ${fmt(percentile(r.latencies, 50), 1)} ms, p99 ${fmt(percentile(r.latencies, 99), 1)} ms, ${r.errors} errors · SSE: ${r.finishedSeen}/${CLIENTS} clients saw run.finished, ${fmt(median(r.eventsPerClient))} events each (median)`;
        }
        const line = `| ${rep} | ${phase} | ${fmt(run.durationMs! / 1000, 2)} | ${fmt(rate)} | ${fmt((cpu * 1e6) / run.read, 1)} | ${fmt(load0, 1)} |${extra ? extra.replace(/^ · /, ' ') : ' –'} |`;
        details.push(line);
        log(
          `${phase} ${rep}: ${fmt(rate)} rows/s, ${fmt((cpu * 1e6) / run.read, 1)} CPU µs/row, load ${fmt(load0, 1)}${extra}`,
        );
      } finally {
        await service.stop();
      }
    }
  }
  const ratio = median(loaded) / median(baseline);
  const cpuRatio = median(baseCpu) / median(loadCpu);
  const cpus = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('processor')).length;
  const section = [
    '<!-- sse-load:start (written by bench/sse-load.ts; `npm run bench:sse`) -->',
    '## Live events under load (`npm run bench:sse`)',
    '',
    `Run on ${new Date().toISOString()}: ${fmt(ROWS)}-row CSV → PostgreSQL merge into an empty table, executed by`,
    `\`tributary serve\` (one process, ${cpus} cores shared with PostgreSQL and this script), median of ${REPEAT} alternating`,
    `repetitions. "Load": ${CLIENTS} SSE clients on \`/api/events\` for the whole import, plus one request loop on`,
    `\`/api/runs?limit=20\` pausing ${API_INTERVAL_MS} ms between requests. Rows/s is the run's own read ÷ duration;`,
    `CPU µs/row is the service process's user + system CPU time during the import ÷ rows, which other work on the`,
    `machine disturbs far less than wall-clock rates (1-minute load average during the runs: ${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)}).`,
    '',
    '| Measure | Value | Target | Result |',
    '|---|---:|---|---|',
    `| import alone, rows/s (median) | ${fmt(median(baseline))} | | |`,
    `| import with ${CLIENTS} SSE clients + API loop, rows/s (median) | ${fmt(median(loaded))} | | |`,
    `| ratio of rows/s (load ÷ alone) | ${fmt(ratio, 3)} | ≥ 0.90 | **${ratio >= 0.9 ? 'met' : 'not met'}** |`,
    `| CPU per row, alone / with load (µs, medians) | ${fmt(median(baseCpu), 1)} / ${fmt(median(loadCpu), 1)} | | |`,
    `| throughput ratio by CPU per row (alone ÷ load) | ${fmt(cpuRatio, 3)} | ≥ 0.90 | **${cpuRatio >= 0.9 ? 'met' : 'not met'}** |`,
    `| API latency under load, p50 / p99 / max (${fmt(latencies.length)} requests, ${errors} errors) | ${fmt(percentile(latencies, 50), 1)} / ${fmt(percentile(latencies, 99), 1)} / ${fmt(Math.max(...latencies), 1)} ms | reported | |`,
    '',
    '| Rep | Phase | Import s | Rows/s | CPU µs/row | Load avg | Under load |',
    '|---:|---|---:|---:|---:|---:|---|',
    ...details,
    '<!-- sse-load:end -->',
    '',
  ].join('\n');
  const existing = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const marked = /<!-- sse-load:start[\s\S]*?<!-- sse-load:end -->\n?/;
  writeFileSync(
    RESULTS,
    marked.test(existing) ? existing.replace(marked, section) : `${existing.trimEnd()}\n\n${section}`,
  );
  log(`ratio ${fmt(ratio, 3)}; written to ${RESULTS}`);
}

await main();
