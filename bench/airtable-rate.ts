/**
 * `npm run bench:airtable`: an API source against its documented rate limit (DESIGN quality bar:
 * "finish within 1.1 × the minimum time the documented rate limit allows, with no 429").
 *
 * The Airtable emulator runs at the real limit (5 requests/s per base, 30 s penalty after a 429)
 * with 20,077 records, the clinic seed's conversation count. Tributary syncs them through its CLI,
 * as a user would. The minimum the limit allows is pages ÷ 5 s⁻¹. Then two bases are synced in
 * parallel (two processes): each base has its own limit, so together they should take no longer
 * than one. Results go to bench/airtable-results.md.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startAirtableEmulator, type AirtableEmulator } from '../src/emulators/airtable/airtable-emulator.ts';
import type { RunResult } from '../src/pipeline/run-sync.ts';

const RECORDS = Number(process.env.BENCH_AIRTABLE_RECORDS ?? 20_077);
const RATE = 5; // Airtable's documented limit, requests per second per base
const PENALTY_MS = 30_000; // Airtable's documented wait after a 429
const PAGE = 100; // Airtable's maximum page size
const TOKEN = 'bench-token';
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/tributary.js');

interface Measured {
  wallS: number;
  result: RunResult;
}

async function runSync(dir: string, config: string, sync: string): Promise<Measured> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, '--config', config, 'sync', sync, '--json'], {
    cwd: dir,
    env: { ...process.env, AIRTABLE_TOKEN: TOKEN, DATABASE_URL: `sqlite:${join(dir, `${sync}.db`)}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const wallS = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`sync ${sync} exited ${code}: ${out}`);
  return { wallS, result: JSON.parse(out.trim()) as RunResult };
}

function syncBlock(e: AirtableEmulator, table: string) {
  return {
    source: { type: 'airtable', baseId: e.bases[0]!.id, table, token: '${AIRTABLE_TOKEN}', endpoint: e.url },
    target: {
      table: table.toLowerCase(),
      primaryKey: '_id',
      columns: { _id: 'text', created: { type: 'timestamptz', from: '_createdTime' } },
    },
  };
}

const rateLimited = (e: AirtableEmulator): number => e.admin.stats().bases[e.bases[0]!.id]?.rateLimited ?? 0;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-airtable-'));
  const common = { records: RECORDS, ratePerSecond: RATE, penaltyMs: PENALTY_MS, token: TOKEN };
  const clinic = await startAirtableEmulator({ ...common, dataset: 'clinic' });
  const enforcement = await startAirtableEmulator({ ...common, dataset: 'enforcement' });
  try {
    const config = join(dir, 'tributary.config.yaml');
    writeFileSync(
      config,
      stringify({
        syncs: {
          conversations: syncBlock(clinic, 'Conversations'),
          notices: syncBlock(enforcement, 'Notices'),
        },
      }),
    );
    const pages = Math.ceil(RECORDS / PAGE);
    const minimumS = pages / RATE;
    console.log(
      `bench: ${RECORDS} records, ${pages} pages, limit ${RATE}/s per base → minimum ${minimumS.toFixed(1)} s`,
    );

    const one = await runSync(dir, config, 'conversations');
    const oneLimited = rateLimited(clinic);
    console.log(
      `  one base: ${one.wallS.toFixed(1)} s wall, ${(one.result.durationMs / 1000).toFixed(1)} s in sync, ${oneLimited} × 429`,
    );

    const [a, b] = await Promise.all([
      runSync(dir, config, 'conversations'),
      runSync(dir, config, 'notices'),
    ]);
    const bothLimited = rateLimited(clinic) - oneLimited + rateLimited(enforcement);
    const parallelS = Math.max(a.wallS, b.wallS);
    console.log(
      `  two bases in parallel: ${parallelS.toFixed(1)} s wall (${a.wallS.toFixed(1)} / ${b.wallS.toFixed(1)}), ${bothLimited} × 429`,
    );

    const ratio = one.result.durationMs / 1000 / minimumS;
    const rows: string[][] = [
      [
        'One base, 20,077-record sync (time in sync)',
        `${(one.result.durationMs / 1000).toFixed(1)}`,
        `${ratio.toFixed(3)}`,
        `${oneLimited}`,
        '≤ 1.1 × minimum, no 429',
        ratio <= 1.1 && oneLimited === 0 ? 'met' : '**not met**',
      ],
      [
        'One base, wall clock incl. Node start-up',
        `${one.wallS.toFixed(1)}`,
        `${(one.wallS / minimumS).toFixed(3)}`,
        '',
        'for reference',
        '',
      ],
      [
        'Two bases in parallel (slowest, wall)',
        `${parallelS.toFixed(1)}`,
        `${(parallelS / one.wallS).toFixed(3)} × one base`,
        `${bothLimited}`,
        'no longer than one base, no 429',
        parallelS <= one.wallS * 1.05 && bothLimited === 0 ? 'met' : '**not met**',
      ],
    ];
    if (one.result.read !== RECORDS || a.result.read !== RECORDS || b.result.read !== RECORDS) {
      throw new Error(
        `record counts differ from ${RECORDS}: ${one.result.read}, ${a.result.read}, ${b.result.read}`,
      );
    }
    const md = [
      '# Airtable rate-limit benchmark',
      '',
      `Produced by \`npm run bench:airtable\` (bench/airtable-rate.ts) on ${new Date().toISOString()}.`,
      `The Airtable emulator serves ${RECORDS.toLocaleString('en-US')} records at the documented limit: ${RATE} requests/s per base, a ${PENALTY_MS / 1000} s penalty after a 429.`,
      `${pages} pages of ${PAGE} records: the limit allows no less than ${minimumS.toFixed(1)} s. Tributary runs through its CLI into SQLite; every run read exactly ${RECORDS.toLocaleString('en-US')} records.`,
      '"Wall" includes Node and tsx start-up (about 1 s); 5 % is allowed for that between the parallel and the single run.',
      '',
      '| Measure | Seconds | Ratio | 429s | Target | Result |',
      '|---|---:|---:|---:|---|---|',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
    ].join('\n');
    writeFileSync(join(ROOT, 'bench', 'airtable-results.md'), md);
    console.log(md);
  } finally {
    await clinic.close();
    await enforcement.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
