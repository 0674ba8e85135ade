/**
 * DESIGN guarantees 1, 3 and 8 against a misbehaving Airtable: `tributary sync`, run through the
 * CLI, ends with exactly the emulator's records while the emulator (also run through the CLI,
 * `tributary emulate airtable --faults 429:0.05,500:0.05,reset:0.02`) refuses or drops about one
 * request in eight, on SQLite and on PostgreSQL, for a full sync and then an incremental one.
 * Terminal errors (401, 403, 422) fail the run at once with a message a person can act on and
 * never the token, in the output, the logs or the run rows.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Row } from '../src/core/types.ts';
import type { Destination, TableSpec } from '../src/destinations/destination.ts';
import { startAirtableEmulator, type AirtableEmulator } from '../src/emulators/airtable/airtable-emulator.ts';
import { clinicCounts } from '../src/emulators/airtable/datasets.ts';
import { testDatabaseFactories, type TestDatabase } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tributary.js');
const TOKEN = 'patFaultTest.SECRET0123456789abcdef';
const FAULTS = '429:0.05,500:0.05,reset:0.02';
const RECORDS = 3000;
/** 60 pages a full pass: enough requests for every kind of fault, few enough backoffs to stay quick. */
const PAGE_SIZE = 50;
/**
 * The emulator's seed. It also seeds the fault draws (one per request, in order), so the same
 * requests fail on every run: with this seed 5 × 429, 4 × 500 and 2 resets in the full pass and
 * 1 / 3 / 1 in the incremental one.
 */
const SEED = 4;

interface ApiRecord {
  id: string;
  createdTime: string;
  fields: Record<string, unknown>;
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunJson {
  runId: number;
  status: string;
  read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  quarantined: number;
  error: string | null;
}

/** Runs the CLI without blocking this process (an in-process emulator must keep answering). */
async function cli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** `tributary emulate airtable …` as a child process; resolves once it prints its URL and base. */
async function emulateCli(
  args: string[],
): Promise<{ url: string; base: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'emulate', 'airtable', '--port', '0', ...args], {
    env: { ...process.env, AIRTABLE_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const [url, base] = await new Promise<[string, string]>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const u = /listening on (http:\/\/\S+)/.exec(out);
      const b = /base (app\w+)/.exec(out);
      if (u && b) resolve([u[1]!, b[1]!]);
    });
    child.once('exit', () => reject(new Error(`emulator exited: ${out}`)));
  });
  return {
    url,
    base,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    },
  };
}

const COLUMNS = {
  id: { type: 'text', from: '_id' },
  created_time: { type: 'timestamptz', from: '_createdTime' },
  conversation_id: { type: 'text', from: 'Conversation ID' },
  clinic: { type: 'text', from: 'Clinic' },
  automation: { type: 'text', from: 'Automation' },
  user_id: { type: 'text', from: 'User ID' },
  customer_name: { type: 'text', from: 'Customer Name' },
  started: { type: 'date', from: 'Started' },
  engaged: { type: 'boolean', from: 'Engaged' },
  lead_created: { type: 'text', from: 'Lead Created' },
  booking: { type: 'text', from: 'Booking' },
  last_modified: { type: 'timestamptz', from: 'Last Modified' },
} as const;

const TABLE: TableSpec = {
  name: 'conversations',
  columns: Object.entries(COLUMNS).map(([name, c]) => ({ name, type: c.type })),
  primaryKey: ['id'],
  softDelete: false,
};

/** The row Tributary must hold for an emulator record: every field, empty cells as NULL. */
function expectedRow(r: ApiRecord): Row {
  const f = r.fields;
  const text = (name: string): string | null => (f[name] as string | undefined) ?? null;
  return {
    id: r.id,
    created_time: r.createdTime,
    conversation_id: text('Conversation ID'),
    clinic: text('Clinic'),
    automation: text('Automation'),
    user_id: text('User ID'),
    customer_name: text('Customer Name'),
    started: text('Started'),
    engaged: f.Engaged === true ? true : null,
    lead_created: text('Lead Created'),
    booking: text('Booking'),
    last_modified: text('Last Modified'),
  };
}

const byId = (a: Row, b: Row): number => String(a.id).localeCompare(String(b.id));

/** Tributary's copy equals the emulator's table: same ids, every value, nothing extra. */
async function assertExact(dest: Destination, truth: ApiRecord[]): Promise<Row[]> {
  const rows = (await dest.readRows(TABLE)).sort(byId);
  const expected = truth.map(expectedRow).sort(byId);
  assert.equal(rows.length, expected.length, 'row count');
  assert.deepEqual(rows, expected);
  return rows;
}

function sync(project: TestProject, extra: string[] = []): Promise<CliResult> {
  return cli(['--config', project.configFile, 'sync', 'conversations', '--json', ...extra], {
    AIRTABLE_TOKEN: TOKEN,
    // Every retry is logged at warn; debug shows everything else that could carry a secret.
    TRIBUTARY_LOG_LEVEL: 'debug',
  });
}

function parseRun(r: CliResult): RunJson {
  assert.equal(r.code, 0, `sync failed (exit ${r.code}):\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim()) as RunJson;
}

type FaultCounts = Partial<Record<'429' | '500' | 'reset', number>>;

async function emulatorStats(url: string): Promise<{ requests: number; faults: FaultCounts }> {
  return (await (await fetch(`${url}/__admin/stats`)).json()) as { requests: number; faults: FaultCounts };
}

async function emulatorRecords(url: string, base: string): Promise<ApiRecord[]> {
  const res = await fetch(`${url}/__admin/${base}/Conversations/records`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { records: ApiRecord[] }).records;
}

async function admin(
  url: string,
  method: 'POST' | 'PATCH',
  path: string,
  fields: object,
): Promise<ApiRecord> {
  const res = await fetch(`${url}/__admin/${path}`, { method, body: JSON.stringify({ fields }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as ApiRecord;
}

/** Raw state rows, as stored: the token must appear in none of them. */
async function stateRows(dest: Destination): Promise<{ runs: Record<string, unknown>[]; text: string }> {
  const runs = await dest.query('SELECT * FROM tributary_runs ORDER BY id');
  const status = await dest.query('SELECT * FROM tributary_sync_status');
  return { runs, text: JSON.stringify([runs, status]) };
}

const counts = (run: Record<string, unknown>) => ({
  status: run.status,
  read: Number(run.read),
  inserted: Number(run.inserted),
  updated: Number(run.updated),
  unchanged: Number(run.unchanged),
  deleted: Number(run.deleted),
  quarantined: Number(run.quarantined),
  error: run.error,
});

const sum = (f: FaultCounts): number => (f['429'] ?? 0) + (f['500'] ?? 0) + (f.reset ?? 0);

const factories = await testDatabaseFactories();

// The databases run side by side: each has its own emulator, and most of the time is backoff.
describe('airtable sync under faults, through the CLI', { concurrency: true }, () => {
  for (const factory of factories) {
    describe(factory.name, { concurrency: false }, () => {
      let db: TestDatabase;
      let dest: Destination;
      let project: TestProject;
      let emulator: Awaited<ReturnType<typeof emulateCli>>;

      before(async () => {
        emulator = await emulateCli([
          '--dataset',
          'clinic',
          '--records',
          String(RECORDS),
          '--seed',
          String(SEED),
          '--faults',
          FAULTS,
          // The per-base limit stays on, above the client's rate, with a short penalty.
          '--rate',
          '1000',
          '--penalty',
          '200',
        ]);
        db = await factory.create();
        project = createProject(db.url);
        project.writeConfig({
          syncs: {
            conversations: {
              source: {
                type: 'airtable',
                baseId: emulator.base,
                table: 'Conversations',
                token: '${AIRTABLE_TOKEN}',
                endpoint: emulator.url,
                lastModifiedField: 'Last Modified',
                pageSize: PAGE_SIZE,
                ratePerSecond: 500,
                // Airtable's 30 s wait after a 429, shortened for the test.
                rateLimitPenaltyMs: 100,
              },
              target: { table: 'conversations', primaryKey: 'id', columns: COLUMNS },
              incremental: { cursor: 'last_modified' },
              batchSize: 400,
            },
          },
        });
        dest = await db.open();
      });
      after(async () => {
        await dest?.close();
        await emulator?.stop();
        project?.remove();
        await db?.drop();
      });

      it('a full sync with 429s, 500s and connection resets ends with exactly the emulator records', async () => {
        const truth = await emulatorRecords(emulator.url, emulator.base);
        assert.equal(truth.length, RECORDS);
        const r = await sync(project);
        const run = parseRun(r);

        const stats = await emulatorStats(emulator.url);
        const pages = RECORDS / PAGE_SIZE;
        assert.ok((stats.faults['429'] ?? 0) > 0, `429 faults fired: ${JSON.stringify(stats.faults)}`);
        assert.ok((stats.faults['500'] ?? 0) > 0, `500 faults fired: ${JSON.stringify(stats.faults)}`);
        assert.ok((stats.faults.reset ?? 0) > 0, `resets fired: ${JSON.stringify(stats.faults)}`);
        assert.equal(
          stats.requests,
          pages + sum(stats.faults),
          'one request a page plus one retry per fault',
        );
        assert.match(r.stderr, /retry 1\//, 'retries are logged');

        const rows = await assertExact(dest, truth);
        // The clinic seed's measures survive the trip.
        const expected = clinicCounts(RECORDS);
        assert.equal(rows.filter((x) => String(x.booking ?? '').includes('2025')).length, expected.bookings);
        assert.equal(rows.filter((x) => x.lead_created === 'Yes').length, expected.leads);
        assert.equal(rows.filter((x) => x.engaged === true).length, expected.engaged);

        const { runs, text } = await stateRows(dest);
        assert.equal(runs.length, 1);
        const want = {
          status: 'succeeded',
          read: RECORDS,
          inserted: RECORDS,
          updated: 0,
          unchanged: 0,
          deleted: 0,
          quarantined: 0,
          error: null,
        };
        assert.deepEqual(counts(runs[0]!), want);
        assert.deepEqual(
          counts(run as unknown as Record<string, unknown>),
          want,
          '--json agrees with the run row',
        );
        assert.ok(!text.includes(TOKEN) && !text.includes('SECRET'), 'the token is in no state row');
        assert.ok(!(r.stdout + r.stderr).includes('SECRET'), 'the token is in no output or log line');
      });

      it('after changes through the admin endpoint, an incremental sync under faults is exact again', async () => {
        const before = await emulatorRecords(emulator.url, emulator.base);
        const cursor = before
          .map((r) => r.fields['Last Modified'] as string)
          .sort()
          .at(-1)!;
        const statsBefore = await emulatorStats(emulator.url);

        // 600 updates that each change a mapped value (book, cancel, clear a cell), 10 new conversations.
        const targets = before.filter((_, i) => i % 5 === 2);
        for (let i = 0; i < targets.length; i += 25) {
          await Promise.all(
            targets.slice(i, i + 25).map((r, j) => {
              const booked = ((r.fields.Booking as string | undefined) ?? '').includes('2025');
              const fields = booked
                ? (i + j) % 2 === 0
                  ? { Booking: 'Cancelled' }
                  : { Booking: null, Engaged: false }
                : { Booking: '22/12/2025 10:15', Engaged: true, 'Lead Created': 'Yes' };
              return admin(emulator.url, 'PATCH', `${emulator.base}/Conversations/records/${r.id}`, fields);
            }),
          );
        }
        for (let i = 0; i < 10; i++) {
          await admin(emulator.url, 'POST', `${emulator.base}/Conversations/records`, {
            'Conversation ID': `conv_9${String(i).padStart(5, '0')}`,
            Clinic: 'JointChiro Leeds',
            Automation: 'Website Chat',
            'User ID': `200000000${i}`,
            'Customer Name': `New Customer ${i}`,
            Started: '2025-12-20',
            'Lead Created': 'No',
          });
        }
        const truth = await emulatorRecords(emulator.url, emulator.base);
        assert.equal(truth.length, RECORDS + 10);

        const run = parseRun(await sync(project));
        const stats = await emulatorStats(emulator.url);
        assert.ok(
          sum(stats.faults) > sum(statsBefore.faults),
          `faults fired during the incremental run too: ${JSON.stringify(statsBefore.faults)} → ${JSON.stringify(stats.faults)}`,
        );
        await assertExact(dest, truth);

        // Inclusive cursor: the run reads the changed records and those still at the previous high-water mark.
        const atOrAfter = truth.filter((r) => (r.fields['Last Modified'] as string) >= cursor).length;
        const want = {
          status: 'succeeded',
          read: atOrAfter,
          inserted: 10,
          updated: targets.length,
          unchanged: atOrAfter - 10 - targets.length,
          deleted: 0,
          quarantined: 0,
          error: null,
        };
        const { runs, text } = await stateRows(dest);
        assert.equal(runs.length, 2);
        assert.deepEqual(counts(runs[1]!), want);
        assert.deepEqual(counts(run as unknown as Record<string, unknown>), want);
        assert.ok(want.unchanged >= 1 && want.unchanged < 10, `${want.unchanged} records at the old cursor`);
        assert.ok(!text.includes('SECRET'), 'the token is in no state row');
      });
    });
  }
});

describe('terminal Airtable errors through the CLI', () => {
  let e: AirtableEmulator;
  let db: TestDatabase;
  let project: TestProject;
  const WRONG = 'patWrongToken.SECRETfedcba9876543210';

  before(async () => {
    e = await startAirtableEmulator({ dataset: 'clinic', records: 50, token: TOKEN, penaltyMs: 200 });
    db = await factories[0]!.create();
    project = createProject(db.url);
    const source = (overrides: object) => ({
      type: 'airtable',
      baseId: e.bases[0]!.id,
      table: 'Conversations',
      token: '${AIRTABLE_TOKEN}',
      endpoint: e.url,
      rateLimitPenaltyMs: 100,
      ...overrides,
    });
    const target = (table: string) => ({
      table,
      primaryKey: 'id',
      columns: { id: { type: 'text', from: '_id' } },
    });
    project.writeConfig({
      syncs: {
        wrong_token: { source: source({ token: '${WRONG_TOKEN}' }), target: target('t1') },
        missing_table: { source: source({ table: 'Bookings' }), target: target('t2') },
        bad_formula: { source: source({ filterByFormula: '{No Such Field} = 1' }), target: target('t3') },
        bad_field: { source: source({ fields: ['Booking Date'] }), target: target('t4') },
      },
    });
  });
  after(async () => {
    await e?.close();
    project?.remove();
    await db?.drop();
  });

  const cases = [
    [
      'wrong_token',
      401,
      'auth_failed',
      /AUTHENTICATION_REQUIRED.*Check the credentials configured for this source/,
    ],
    [
      'missing_table',
      403,
      'auth_failed',
      /INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND.*or the resource does not exist: check .* the ids and names in the source config/,
    ],
    ['bad_formula', 422, 'source_invalid', /INVALID_FILTER_BY_FORMULA.*check the source options/],
    ['bad_field', 422, 'source_invalid', /UNKNOWN_FIELD_NAME.*check the source options/],
  ] as const;

  for (const [name, status, code, fix] of cases) {
    it(`${status} (${name}) fails the run after one request, naming source, path and fix, never the token`, async () => {
      const before = e.admin.stats().requests;
      const r = await cli(['--config', project.configFile, 'sync', name, '--json'], {
        AIRTABLE_TOKEN: TOKEN,
        WRONG_TOKEN: WRONG,
        TRIBUTARY_LOG_LEVEL: 'debug',
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(e.admin.stats().requests - before, 1, 'not retried');
      const out = JSON.parse(r.stdout.trim()) as RunJson;
      assert.equal(out.status, 'failed');
      const table = name === 'missing_table' ? 'Bookings' : 'Conversations';
      const base = e.bases[0]!.id;
      assert.ok(out.error?.startsWith(`airtable (base ${base}, table ${table}): `), out.error ?? '');
      assert.match(out.error ?? '', new RegExp(`GET /v0/${base}/${table}(\\?\\S*)? returned ${status} `));
      assert.match(out.error ?? '', fix);
      assert.match(r.stderr, new RegExp(`returned ${status}`), 'the failure is logged');

      const dest = await db.open();
      try {
        const [run] = await dest.query<{ status: string; error: string; error_code: string }>(
          'SELECT status, error, error_code FROM tributary_runs WHERE id = $1',
          [out.runId],
        );
        assert.deepEqual(run, { status: 'failed', error: out.error, error_code: code });
        const { text } = await stateRows(dest);
        for (const secret of [TOKEN, WRONG, 'SECRET']) {
          assert.ok(!text.includes(secret), `${secret} in a state row`);
          assert.ok(!(r.stdout + r.stderr).includes(secret), `${secret} in the output`);
        }
      } finally {
        await dest.close();
      }
    });
  }
});
