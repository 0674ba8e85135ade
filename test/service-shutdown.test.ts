/**
 * Graceful shutdown of `tributary serve` (a real process): SIGTERM mid-run finishes the current
 * batch, marks the run interrupted, closes the server and exits 0; the next run resumes the pass
 * from its checkpoint and the table ends with exactly the file's rows. Also the commands'
 * refusals: a public bind without a token, a worker without a shared queue.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Tributary } from '../src/tributary.ts';
import { createSqliteDatabase, type TestDatabase } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';
import { numberedCsv, spawnTributary, waitFor } from './helpers/service.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tributary.js');
const ROWS = 60_000;
const BATCH = 1000;

describe('serve: graceful shutdown on SIGTERM', () => {
  let db: TestDatabase;
  let project: TestProject;
  let t: Tributary;

  before(async () => {
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.write('big.csv', numberedCsv(ROWS));
    project.writeConfig({
      syncs: {
        big: {
          source: { type: 'csv', path: 'big.csv' },
          target: { table: 'big', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
          batchSize: BATCH,
        },
      },
    });
    t = await project.open();
  });
  after(async () => {
    await t?.close();
    project.remove();
    await db.drop();
  });

  const serve = () => {
    const p = spawnTributary(project.configFile, ['serve', '--port', '0'], {
      DATABASE_URL: '',
      TRIBUTARY_TOKEN: '',
      TRIBUTARY_LOG_LEVEL: 'warn',
    });
    const url = waitFor('the service URL', () => /listening on (http:\/\/\S+)/.exec(p.output())?.[1], 60_000);
    return { ...p, url };
  };

  it('finishes the current batch, marks the run interrupted, exits 0; the next run resumes', async () => {
    const first = serve();
    const url = await first.url;
    const res = await fetch(`${url}/api/syncs/big/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 202);
    const { runId } = (await res.json()) as { runId: number };
    // A plain SQLite read from this process while the service writes: stop after a few batches.
    await waitFor(
      'a few committed batches',
      async () => ((await t.state.getRun(runId))?.batches ?? 0) >= 3 || undefined,
      60_000,
    );
    first.child.kill('SIGTERM');
    const [code, signal] = await first.exited;
    assert.equal(signal, null, first.output());
    assert.equal(code, 0, first.output());

    const run = (await t.state.getRun(runId))!;
    if (run.status === 'succeeded') {
      // The import outran the signal on a fast machine: nothing to resume, still exact below.
      assert.equal(run.inserted, ROWS);
    } else {
      assert.equal(run.status, 'interrupted');
      assert.match(run.error ?? '', /shutdown/);
      assert.ok(run.batches >= 3);
      assert.equal(run.read, run.batches * BATCH, 'only whole batches were committed');
      assert.equal(await t.dest.countRows('big'), run.inserted, 'rows match the committed batches');
      const status = await t.state.getStatus('big');
      assert.notEqual(status?.pass, null, 'the pass stays open');

      // A later run (here through the library) continues from the checkpoint.
      const next = await t.sync('big', { trigger: 'api' });
      assert.equal(next.status, 'succeeded');
      assert.equal(next.read, ROWS - run.read, 'resumed where it stopped, nothing re-read');
    }
    assert.equal(await t.dest.countRows('big'), ROWS);
    const runs = await t.state.listRuns({ sync: 'big' });
    assert.equal(
      runs.reduce((n, r) => n + r.inserted, 0),
      ROWS,
      'every row inserted exactly once',
    );
  });
});

describe('serve and worker: refusals', () => {
  let db: TestDatabase;
  let project: TestProject;
  before(async () => {
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.write('a.csv', 'id\n1\n');
    project.writeConfig({
      syncs: {
        a: {
          source: { type: 'csv', path: 'a.csv' },
          target: { table: 'a', primaryKey: 'id', columns: { id: 'integer' } },
        },
      },
    });
  });
  after(async () => {
    project.remove();
    await db.drop();
  });
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, '--config', project.configFile, ...args], {
      env: { ...process.env, DATABASE_URL: '', TRIBUTARY_TOKEN: '', TRIBUTARY_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('serve --host 0.0.0.0 without TRIBUTARY_TOKEN exits 2 and says why', () => {
    const r = cli(['serve', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without authentication: set TRIBUTARY_TOKEN/);
  });

  it('schedule validates what it stores: a bad cron exits 2, a good one is stored for the service', () => {
    const bad = cli(['schedule', 'a', '61 * * * *']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /minute/);
    const good = cli(['schedule', 'a', 'every 5m']);
    assert.equal(good.status, 0, good.stderr);
    const status = JSON.parse(cli(['status', '--json']).stdout) as { name: string; schedule: string }[];
    assert.equal(status.find((x) => x.name === 'a')?.schedule, 'every 5m');
  });

  it('worker on SQLite exits 2: there is no shared queue to take runs from', () => {
    const r = cli(['worker']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /PostgreSQL/);
  });
});
