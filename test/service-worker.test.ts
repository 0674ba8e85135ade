/**
 * `tributary worker` on PostgreSQL (issue 4): an API-only instance (no worker, no scheduler)
 * queues runs, and a separate `tributary worker` process takes them from the shared pg-boss queue,
 * executes them, answers a cancel sent through the API, and stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Tributary } from '../src/tributary.ts';
import { createPostgresDatabase, postgresAdminUrl, type TestDatabase } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';
import {
  numberedCsv,
  spawnTributary,
  startTestService,
  waitFor,
  type TestService,
} from './helpers/service.ts';

const ROWS = 40_000;
const BATCH = 500;

const pgUrl = await postgresAdminUrl();

describe(
  'tributary worker (PostgreSQL)',
  { skip: pgUrl ? false : 'no PostgreSQL server (see test/helpers/databases.ts)' },
  () => {
    let db: TestDatabase;
    let project: TestProject;
    let t: Tributary;
    let api: TestService;

    before(async () => {
      db = (await createPostgresDatabase())!;
      project = createProject(db.url);
      project.write('w.csv', numberedCsv(ROWS));
      project.writeConfig({
        syncs: {
          w: {
            source: { type: 'csv', path: 'w.csv' },
            target: { table: 'w', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
            batchSize: BATCH,
          },
        },
      });
      t = await project.open();
      // The API node: it queues runs but executes none.
      api = await startTestService(project, { listen: false, worker: false, scheduler: false });
    });
    after(async () => {
      await api?.close();
      await t?.close();
      project.remove();
      await db?.drop();
    });

    const post = async (path: string, body: unknown = {}) => {
      const res = await api.app!.inject({ method: 'POST', url: path, payload: body as object });
      return { status: res.statusCode, body: res.json<{ runId: number }>() };
    };

    it('takes queued runs from the shared queue, honours a cancel from the API, stops on SIGTERM', async () => {
      const { child, output, exited } = spawnTributary(project.configFile, ['worker'], {
        DATABASE_URL: '',
        TRIBUTARY_LOG_LEVEL: 'warn',
      });
      try {
        const worker = await waitFor(
          'the worker to start',
          () => /Tributary worker (\S+) taking runs from the pg-boss queue/.exec(output())?.[1],
          90_000,
        );

        // A run queued through the API node is executed by the worker.
        const queued = await post('/api/syncs/w/runs');
        assert.equal(queued.status, 202);
        const done = await waitFor(
          'the worker to finish the run',
          async () => {
            const run = await t.state.getRun(queued.body.runId);
            return run && run.status !== 'queued' && run.status !== 'running' ? run : undefined;
          },
          120_000,
        );
        assert.equal(done.status, 'succeeded', output());
        assert.equal(done.instance, worker, 'the worker process ran it');
        assert.equal(done.trigger, 'api');
        assert.equal(await t.dest.countRows('w'), ROWS);

        // A cancel sent to the API node reaches the run on the worker at its next batch.
        const again = await post('/api/syncs/w/runs', { full: true });
        assert.equal(again.status, 202);
        await waitFor(
          'the second run to commit a batch',
          async () => ((await t.state.getRun(again.body.runId))?.batches ?? 0) >= 1 || undefined,
          60_000,
        );
        assert.equal((await post(`/api/runs/${again.body.runId}/cancel`)).status, 202);
        const cancelled = await waitFor(
          'the cancel to land',
          async () => {
            const run = await t.state.getRun(again.body.runId);
            return run && run.status !== 'running' ? run : undefined;
          },
          60_000,
        );
        // On a fast machine the full re-read may end before the cancel is seen.
        assert.ok(['cancelled', 'succeeded'].includes(cancelled.status), cancelled.status);
        if (cancelled.status === 'cancelled') assert.ok(cancelled.read < ROWS);
        console.log(`# worker: the second run ended ${cancelled.status} after ${cancelled.read} records`);

        child.kill('SIGTERM');
        const [code, signal] = await exited;
        assert.equal(signal, null, output());
        assert.equal(code, 0, output());
        assert.match(output(), /SIGTERM: stopping/);
      } finally {
        child.kill('SIGKILL');
      }
    });
  },
);
