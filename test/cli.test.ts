/**
 * The CLI contract (DESIGN "Files and commands"), through real processes: exit codes, --json
 * output on stdout only, messages that name what is wrong, secrets never printed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSqliteDatabase, type TestDatabase } from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import { waitFor } from './helpers/service.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tributary.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('tributary CLI', () => {
  let db: TestDatabase;
  let project: TestProject;
  const run = (args: string[], env: Record<string, string> = {}): Result => {
    const r = spawnSync(process.execPath, [BIN, '--config', project.configFile, ...args], {
      cwd: project.dir,
      env: { ...process.env, DATABASE_URL: '', TRIBUTARY_LOG_LEVEL: 'warn', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.write(
      'notices.csv',
      csv(
        ['regulator_id', 'Offender Name', 'fine', 'issued'],
        [
          ['HSE-1', 'Acme Ltd', '100.00', '2024-01-02'],
          ['HSE-2', 'Widget Co', '250.50', 'Not On File'],
          ['HSE-3', 'Bolt & Sons', '75', 'January 15, 2020'],
        ],
      ),
    );
    project.write(
      'bad.csv',
      csv(
        ['regulator_id', 'Offender Name', 'fine', 'issued'],
        [
          ['B-1', 'X', 'twelve pounds', '2024-01-01'],
          ['B-2', 'Y', '1', '2024-01-01'],
        ],
      ),
    );
    project.writeConfig({
      syncs: {
        notices: {
          source: { type: 'csv', path: 'notices.csv' },
          target: {
            table: 'notices',
            primaryKey: 'regulator_id',
            columns: {
              regulator_id: 'text',
              offender: { type: 'text', from: 'Offender Name' },
              fine: 'numeric',
              issued: { type: 'date', nullIf: ['Not On File'] },
            },
          },
        },
        bad: {
          source: { type: 'csv', path: 'bad.csv' },
          target: {
            table: 'bad',
            primaryKey: 'regulator_id',
            columns: { regulator_id: 'text', fine: 'numeric', issued: 'date' },
          },
          errorThreshold: 0.9,
        },
      },
    });
  });
  after(async () => {
    project.remove();
    await db.drop();
  });

  it('init creates the state tables', () => {
    const r = run(['init']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /state tables ready/);
  });

  it('sync --json prints one JSON object per run and nothing else on stdout; exit 0', () => {
    const r = run(['sync', 'notices', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(out).sort(), [
      'deleted',
      'durationMs',
      'error',
      'inserted',
      'quarantined',
      'read',
      'runId',
      'status',
      'sync',
      'unchanged',
      'updated',
    ]);
    assert.deepEqual(
      { sync: out.sync, status: out.status, read: out.read, inserted: out.inserted, error: out.error },
      { sync: 'notices', status: 'succeeded', read: 3, inserted: 3, error: null },
    );
  });

  it('exits 3 when records were quarantined, and shows them', () => {
    const r = run(['sync', 'bad', '--json']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, 'partial');
    const q = run(['quarantine', '--sync', 'bad', '--json']);
    assert.equal(q.code, 0);
    const rows = JSON.parse(q.stdout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].recordKey, 'B-1');
    assert.equal(rows[0].reasonCode, 'invalid_value');
    assert.match(rows[0].message, /line 2: fine: "twelve pounds" is not a number/);
  });

  it('runs several syncs with --all, one JSON line each, exit code of the worst', () => {
    const r = run(['sync', '--all', '--json']);
    assert.equal(r.code, 3);
    const runs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      runs.map((x) => [x.sync, x.status, x.unchanged]),
      [
        ['notices', 'succeeded', 3],
        ['bad', 'partial', 1],
      ],
    );
  });

  it('status, history, run and data answer in JSON', () => {
    const status = JSON.parse(run(['status', '--json']).stdout);
    assert.deepEqual(
      status.map((s: { name: string }) => s.name),
      ['notices', 'bad'],
    );
    assert.equal(status[0].status.lastStatus, 'succeeded');
    assert.equal(status[0].status.successCount, 2);

    const history = JSON.parse(run(['history', '--sync', 'notices', '--json']).stdout);
    assert.equal(history.length, 2);
    const detail = run(['run', String(history[0].id), '--json']);
    assert.equal(detail.code, 0);
    assert.equal(JSON.parse(detail.stdout).unchanged, 3);

    const data = JSON.parse(run(['data', 'notices', '--where', 'regulator_id=HSE-2', '--json']).stdout);
    assert.deepEqual(data, [{ regulator_id: 'HSE-2', offender: 'Widget Co', fine: '250.50', issued: null }]);
    const byDate = JSON.parse(
      run(['data', 'notices', '--where', 'issued=January 15, 2020', '--json']).stdout,
    );
    assert.deepEqual(
      byDate.map((r: { regulator_id: string }) => r.regulator_id),
      ['HSE-3'],
    );
    const badFilter = run(['data', 'notices', '--where', 'fine=lots']);
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.stderr, /--where fine: "lots" is not a number/);
    const text = run(['data', 'notices']);
    assert.match(text.stdout, /Bolt & Sons\s+75\s+2020-01-15/);
  });

  it('exits 2 with a clear message for an unknown sync or a bad option', () => {
    const unknown = run(['sync', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no sync named "nope".*configured syncs: notices, bad/);
    const missing = run(['sync']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /name the syncs to run, or --all/);
    const limit = run(['sync', 'notices', '--limit', 'ten']);
    assert.equal(limit.code, 2);
    assert.match(limit.stderr, /"ten" is not a positive whole number/);
    const noRun = run(['run', '999']);
    assert.equal(noRun.code, 2);
    assert.match(noRun.stderr, /no run with id 999/);
  });

  it('exits 2 naming the file and path of a config error', () => {
    const broken = project.write(
      'broken.yaml',
      'syncs:\n  x:\n    source: { type: csv, path: a.csv }\n    target: { table: t, columns: { a: texty } }\n',
    );
    const r = spawnSync(process.execPath, [BIN, '--config', broken, 'status'], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: db.url },
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /broken\.yaml/);
    assert.match(r.stderr, /syncs\.x\.target\.columns\.a/);
  });

  it('config redacts secrets taken from the environment', () => {
    const withSecret = project.write(
      'secret.yaml',
      `database: ${db.url}\nsyncs:\n  s:\n    source: { type: csv, path: "\${MY_API_TOKEN}.csv" }\n    target: { table: s, primaryKey: a, columns: { a: text } }\n`,
    );
    const r = spawnSync(process.execPath, [BIN, '--config', withSecret, 'config', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, MY_API_TOKEN: 'sk-very-secret-123', DATABASE_URL: '' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /sk-very-secret-123/);
    assert.match(r.stdout, /<redacted:MY_API_TOKEN>/);
  });

  it('check reports a missing file with exit 1', () => {
    const ok = run(['check', 'notices']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /✓ notices/);
    const cfg = project.write(
      'missing.yaml',
      `database: ${db.url}\nsyncs:\n  m:\n    source: { type: csv, path: nothere.csv }\n    target: { table: m, primaryKey: a, columns: { a: text } }\n`,
    );
    const r = spawnSync(process.execPath, [BIN, '--config', cfg, 'check'], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /✗ m: .*nothere\.csv/);
  });

  it('SIGTERM finishes the current batch, exits 130 with the run interrupted, and the next run resumes', async () => {
    const rows = Array.from({ length: 60_000 }, (_, i) => [
      `T-${i + 1}`,
      `Offender ${i + 1}`,
      '1.00',
      '2024-01-01',
    ]);
    project.write('term.csv', csv(['regulator_id', 'Offender Name', 'fine', 'issued'], rows));
    const cfg = project.write(
      'term.yaml',
      `database: ${db.url}\nsyncs:\n  term:\n    source: { type: csv, path: term.csv }\n    target: { table: term, primaryKey: regulator_id, columns: { regulator_id: text, fine: numeric } }\n    batchSize: 500\n`,
    );
    const child = spawn(process.execPath, [BIN, '--config', cfg, 'sync', 'term', '--json'], {
      env: { ...process.env, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = once(child, 'exit');
    // Once the run has committed two batches, stop it mid-import (one SIGTERM: a second one
    // would kill it outright). The run row is read from the database, not guessed from a delay.
    const dest = await db.open();
    try {
      await waitFor('the run to commit two batches', async () => {
        const rows = await dest.query<{ batches: unknown }>(
          `SELECT batches FROM tributary_runs WHERE sync = 'term' ORDER BY id DESC LIMIT 1`,
        );
        return Number(rows[0]?.batches ?? 0) >= 2 || child.exitCode !== null || undefined;
      });
    } finally {
      await dest.close();
    }
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 130, err);
    const stopped = JSON.parse(out.trim());
    assert.equal(stopped.status, 'interrupted');
    assert.ok(stopped.read > 0 && stopped.read < 60_000, `stopped mid-import at ${stopped.read}`);
    assert.equal(stopped.read % 500, 0, 'stopped on a batch boundary');

    const again = spawnSync(process.execPath, [BIN, '--config', cfg, 'sync', 'term', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '' },
    });
    assert.equal(again.status, 0, again.stderr);
    const resumed = JSON.parse(again.stdout.trim());
    assert.equal(resumed.read, 60_000 - stopped.read, 'the next run reads only the rest');
    assert.equal(stopped.inserted + resumed.inserted, 60_000);
  });

  it('emulate airtable serves the Airtable API until interrupted; other emulators are refused clearly', async () => {
    const child = spawn(process.execPath, [BIN, 'emulate', 'airtable', '--port', '0', '--records', '30'], {
      env: { ...process.env, AIRTABLE_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[^\s]+)/.exec(out);
        if (m && /base (app\w+)/.test(out)) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`emulator exited: ${out}`)));
    });
    const base = /base (app\w+)/.exec(out)![1]!;
    const page = (await (await fetch(`${url}/v0/${base}/Notices?pageSize=10`)).json()) as {
      records: unknown[];
      offset?: string;
    };
    assert.equal(page.records.length, 10);
    assert.equal(typeof page.offset, 'string');
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);

    const odk = spawnSync(process.execPath, [BIN, 'emulate', 'odk'], { encoding: 'utf8' });
    assert.equal(odk.status, 2);
    assert.match(odk.stderr, /the odk emulator is not built yet; available: airtable/);
  });
});
