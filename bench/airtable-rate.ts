/**
 * `npm run bench:airtable`: an API source against its documented rate limit (DESIGN quality bar:
 * "finish within 1.1 × the minimum time the documented rate limit allows, with no 429").
 *
 * The Airtable emulator runs at the real limit (5 requests/s per base, 30 s penalty after a 429)
 * with the clinic dataset at the seed's size: 20,077 conversations, of which exactly 3,122 are
 * bookings, 13,908 leads and 7,910 engaged (checked in the synced table). Tributary syncs them
 * through its CLI, as a user would. The minimum the limit allows is pages ÷ 5 s⁻¹. Then two bases
 * are synced in parallel (two processes): each base has its own limit, so together they should
 * take no longer than one. Results go to bench/airtable-results.md.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { startAirtableEmulator, type AirtableEmulator } from '../src/emulators/airtable/airtable-emulator.ts';
import { CLINIC_TOTALS, clinicCounts } from '../src/emulators/airtable/datasets.ts';
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

function syncBlock(e: AirtableEmulator, table: string, columns: Record<string, unknown> = {}) {
  return {
    source: { type: 'airtable', baseId: e.bases[0]!.id, table, token: '${AIRTABLE_TOKEN}', endpoint: e.url },
    target: {
      table: table.toLowerCase(),
      primaryKey: '_id',
      columns: { _id: 'text', created: { type: 'timestamptz', from: '_createdTime' }, ...columns },
    },
  };
}

/** The clinic seed's measures, counted in the synced table the way the seed's import counts them. */
function clinicMeasures(dir: string): { bookings: number; leads: number; engaged: number } {
  const db = new Database(join(dir, 'conversations.db'), { readonly: true });
  try {
    return db
      .prepare(
        `SELECT sum(booking LIKE '%2025%') AS bookings, sum(lead_created = 'Yes') AS leads,
                sum(engaged = 1) AS engaged FROM conversations`,
      )
      .get() as { bookings: number; leads: number; engaged: number };
  } finally {
    db.close();
  }
}

const rateLimited = (e: AirtableEmulator): number => e.admin.stats().bases[e.bases[0]!.id]?.rateLimited ?? 0;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-airtable-'));
  // Other work on the machine slows process start-up (not the rate-limited part): worth knowing.
  const load = [loadavg()[0]!];
  const common = { records: RECORDS, ratePerSecond: RATE, penaltyMs: PENALTY_MS, token: TOKEN };
  const clinic = await startAirtableEmulator({ ...common, dataset: 'clinic' });
  const enforcement = await startAirtableEmulator({ ...common, dataset: 'enforcement' });
  try {
    const config = join(dir, 'tributary.config.yaml');
    writeFileSync(
      config,
      stringify({
        syncs: {
          conversations: syncBlock(clinic, 'Conversations', {
            booking: { type: 'text', from: 'Booking' },
            lead_created: { type: 'text', from: 'Lead Created' },
            engaged: { type: 'boolean', from: 'Engaged' },
          }),
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
    const measured = clinicMeasures(dir);
    const expected = clinicCounts(RECORDS);
    if (JSON.stringify(measured) !== JSON.stringify(expected)) {
      throw new Error(`clinic measures ${JSON.stringify(measured)} differ from ${JSON.stringify(expected)}`);
    }
    console.log(
      `  one base: ${one.wallS.toFixed(1)} s wall, ${(one.result.durationMs / 1000).toFixed(1)} s in sync, ${oneLimited} × 429`,
    );

    const [a, b] = await Promise.all([
      runSync(dir, config, 'conversations'),
      runSync(dir, config, 'notices'),
    ]);
    const bothLimited = rateLimited(clinic) - oneLimited + rateLimited(enforcement);
    const parallelS = Math.max(a.wallS, b.wallS);
    const parallelSyncS = Math.max(a.result.durationMs, b.result.durationMs) / 1000;
    const oneSyncS = one.result.durationMs / 1000;
    console.log(
      `  two bases in parallel: ${parallelS.toFixed(1)} s wall (${a.wallS.toFixed(1)} / ${b.wallS.toFixed(1)}), ${parallelSyncS.toFixed(1)} s in sync, ${bothLimited} × 429`,
    );

    const ratio = one.result.durationMs / 1000 / minimumS;
    const rows: string[][] = [
      [
        `One base, ${RECORDS.toLocaleString('en-US')}-record sync (time in sync)`,
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
        'Two bases in parallel (slowest, time in sync)',
        `${parallelSyncS.toFixed(1)}`,
        `${(parallelSyncS / oneSyncS).toFixed(3)} × one base`,
        `${bothLimited}`,
        'no longer than one base (± 5 %), no 429',
        parallelSyncS <= oneSyncS * 1.05 && bothLimited === 0 ? 'met' : '**not met**',
      ],
      [
        'Two bases in parallel (slowest, wall clock incl. Node start-up)',
        `${parallelS.toFixed(1)}`,
        `${(parallelS / one.wallS).toFixed(3)} × one base`,
        '',
        'for reference',
        '',
      ],
    ];
    if (one.result.read !== RECORDS || a.result.read !== RECORDS || b.result.read !== RECORDS) {
      throw new Error(
        `record counts differ from ${RECORDS}: ${one.result.read}, ${a.result.read}, ${b.result.read}`,
      );
    }
    load.push(loadavg()[0]!);
    const md = [
      '# Airtable rate-limit benchmark',
      '',
      `Produced by \`npm run bench:airtable\` (bench/airtable-rate.ts) on ${new Date().toISOString()}.`,
      `The Airtable emulator serves ${RECORDS.toLocaleString('en-US')} records at the documented limit: ${RATE} requests/s per base, a ${PENALTY_MS / 1000} s penalty after a 429.`,
      `${pages} pages of ${PAGE} records: the limit allows no less than ${minimumS.toFixed(1)} s. Tributary runs through its CLI into SQLite; every run read exactly ${RECORDS.toLocaleString('en-US')} records.`,
      `The one-base run syncs the clinic dataset (Conversations); the synced table holds exactly ${expected.bookings.toLocaleString('en-US')} bookings, ${expected.leads.toLocaleString('en-US')} leads and ${expected.engaged.toLocaleString('en-US')} engaged conversations (${RECORDS === CLINIC_TOTALS.conversations ? "the seed's figures" : "the seed's shares, rounded"}). The parallel run adds the enforcement dataset's Notices (${RECORDS.toLocaleString('en-US')} records) as a second base.`,
      '"Time in sync" is the run\'s own durationMs, the part the rate limit governs; "wall" adds Node and tsx start-up and exit,',
      `which two processes starting at once on this 2-core machine stretch (1-minute load average: ${load.map((l) => l.toFixed(1)).join(' at start, ')} at the end).`,
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
