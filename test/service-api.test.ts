/**
 * The HTTP API (DESIGN "HTTP API") through Fastify's in-process requests: every route, request
 * validation, JSON errors, the OpenAPI document, health, metrics, queued runs and cancels.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- JSON bodies are checked field by field */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSqliteDatabase, type TestDatabase } from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import { startTestService, waitFor, type TestService } from './helpers/service.ts';

describe('service HTTP API (SQLite, in-process requests)', () => {
  let db: TestDatabase;
  let project: TestProject;
  let s: TestService;
  const inject = async (method: string, url: string, payload?: unknown) => {
    const res = await s.app!.inject({ method: method as 'GET', url, payload: payload as object });
    return {
      status: res.statusCode,
      body: res.headers['content-type']?.toString().includes('json') ? res.json() : res.body,
      headers: res.headers,
    };
  };
  const runOf = (id: number) =>
    inject('GET', `/api/runs/${id}`).then(
      (r) => r.body as { status: string; read: number; quarantined: number },
    );
  const finished = (id: number) =>
    waitFor(`run ${id} to finish`, async () => {
      const run = await runOf(id);
      return run.status !== 'queued' && run.status !== 'running' ? run : undefined;
    });

  before(async () => {
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.write(
      'things.csv',
      csv(
        ['id', 'name', 'amount'],
        [
          [1, 'one', '1.5'],
          [2, 'two', 'lots'],
          [3, 'three', '3'],
        ],
      ),
    );
    project.writeConfig({
      syncs: {
        things: {
          description: 'Things from a CSV',
          source: { type: 'csv', path: 'things.csv' },
          target: {
            table: 'things',
            primaryKey: 'id',
            columns: { id: 'integer', name: 'text', amount: 'numeric' },
          },
          errorThreshold: 0.9,
        },
        other: {
          source: { type: 'csv', path: 'things.csv' },
          target: { table: 'other', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
          schedule: '0 6 * * *',
        },
      },
    });
    s = await startTestService(project, { listen: false });
  });
  after(async () => {
    await s?.close();
    project.remove();
    await db.drop();
  });

  it('GET /health reports the database, scheduler, instance and version', async () => {
    const r = await inject('GET', '/health');
    assert.equal(r.status, 200);
    const h = r.body as Record<string, any>;
    assert.equal(h.status, 'ok');
    assert.equal(h.database.ok, true);
    assert.equal(h.database.engine, 'sqlite');
    assert.equal(h.scheduler.running, true);
    assert.equal(h.scheduler.local, true);
    assert.equal(h.instance, s.ctx.instance);
    assert.match(h.version, /^\d+\.\d+\.\d+/);
  });

  it('GET /api/syncs lists every configured sync with its schedule', async () => {
    const r = await inject('GET', '/api/syncs');
    assert.equal(r.status, 200);
    const syncs = (r.body as { syncs: any[] }).syncs;
    assert.deepEqual(
      syncs.map((x) => x.name),
      ['things', 'other'],
    );
    assert.equal(syncs[0].source, 'csv things.csv');
    assert.equal(syncs[1].schedule, '0 6 * * *');
  });

  it('unknown syncs, runs and routes are 404 with a JSON error', async () => {
    for (const [method, url, code] of [
      ['GET', '/api/syncs/nope', 'sync_not_found'],
      ['POST', '/api/syncs/nope/runs', 'sync_not_found'],
      ['GET', '/api/runs/999999', 'run_not_found'],
      ['GET', '/api/nothing', 'not_found'],
    ] as const) {
      const r = await inject(method, url, method === 'POST' ? {} : undefined);
      assert.equal(r.status, 404, url);
      assert.equal(r.body.error.code, code, url);
      assert.equal(typeof r.body.error.message, 'string');
    }
  });

  it('POST /api/syncs/:name/runs answers 202 {runId} at once; the run executes in the background', async () => {
    const r = await inject('POST', '/api/syncs/things/runs', {});
    assert.equal(r.status, 202);
    const { runId } = r.body as { runId: number };
    assert.ok(Number.isInteger(runId) && runId > 0);
    const run = await finished(runId);
    assert.equal(run.status, 'partial');
    assert.equal(run.read, 3);
    assert.equal(run.quarantined, 1);

    const q = await inject('GET', `/api/runs/${runId}/quarantine`);
    assert.equal(q.status, 200);
    const records = (q.body as { records: any[] }).records;
    assert.equal(records.length, 1);
    assert.equal(records[0].reasonCode, 'invalid_value');

    const data = await inject('GET', '/api/data/things?where=id=3');
    assert.equal(data.status, 200);
    assert.deepEqual(data.body.rows, [{ id: 3, name: 'three', amount: '3' }]);

    const list = await inject('GET', '/api/runs?sync=things&status=partial&limit=5');
    assert.deepEqual(
      list.body.runs.map((x: any) => x.id),
      [runId],
    );
    const trigger = list.body.runs[0].trigger;
    assert.equal(trigger, 'api');

    const detail = await inject('GET', '/api/syncs/things');
    assert.equal(detail.status, 200);
    assert.equal(detail.body.status.lastStatus, 'partial');
    assert.equal(detail.body.recentRuns[0].id, runId);

    const stats = await inject('GET', '/api/stats');
    assert.equal(stats.status, 200);
    assert.equal(stats.body.allTime.byStatus.partial, 1);
    assert.equal(stats.body.allTime.rows.inserted, 2);

    const metrics = await inject('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.body), /tributary_runs_total\{sync="things",status="partial"\} 1/);
    assert.match(String(metrics.body), /tributary_rows_total\{sync="things",op="inserted"\} 2/);
    assert.match(
      String(metrics.body),
      /tributary_run_duration_seconds_count\{sync="things",status="partial"\} 1/,
    );
    assert.match(String(metrics.body), /tributary_queue_depth 0/);
  });

  it('validates requests: bad bodies and queries are 400, large bodies 413', async () => {
    const bad = await inject('POST', '/api/syncs/things/runs', { limit: 'many' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
    assert.match(bad.body.error.message, /limit/);
    assert.equal((await inject('POST', '/api/syncs/things/runs', { surprise: true })).status, 400);
    assert.equal((await inject('GET', '/api/runs?limit=0')).status, 400);
    assert.equal((await inject('GET', '/api/runs?status=done')).status, 400);
    assert.equal((await inject('GET', '/api/runs/abc')).status, 400);
    const big = await inject('PATCH', '/api/syncs/things', { schedule: 'x'.repeat(100_000) });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'body_too_large');
  });

  it('PATCH /api/syncs/:name switches the schedule at runtime; null returns to the config', async () => {
    const invalid = await inject('PATCH', '/api/syncs/other', { schedule: '61 * * * *' });
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.error.message, /minute/);
    assert.equal((await inject('PATCH', '/api/syncs/other', {})).status, 400);

    const r = await inject('PATCH', '/api/syncs/other', {
      enabled: false,
      schedule: 'TZ=Europe/Berlin 30 7 * * *',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.enabled, false);
    assert.equal(r.body.schedule, 'TZ=Europe/Berlin 30 7 * * *');
    assert.deepEqual(r.body.overridden, { enabled: true, schedule: true });
    const status = await s.ctx.t.state.getStatus('other');
    assert.equal(status?.enabled, false);

    await s.ctx.scheduler.tick();
    const sched = (await inject('GET', '/api/scheduler')).body;
    const other = sched.syncs.find((x: any) => x.sync === 'other');
    assert.equal(other.schedule, 'TZ=Europe/Berlin 30 7 * * *');
    // 07:30 in Berlin is 05:30 or 06:30 UTC.
    assert.match(other.nextRunAt, /T0[56]:30:00\.000Z$/);

    const back = await inject('PATCH', '/api/syncs/other', { enabled: null, schedule: null });
    assert.equal(back.body.schedule, '0 6 * * *');
    assert.equal(back.body.enabled, true);
  });

  it('POST /api/scheduler/stop and start flip the service-wide switch', async () => {
    const stopped = await inject('POST', '/api/scheduler/stop');
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.running, false);
    assert.equal((await inject('GET', '/health')).body.scheduler.running, false);
    const started = await inject('POST', '/api/scheduler/start');
    assert.equal(started.body.running, true);
  });

  it('POST /api/syncs/:name/check tests the source and database', async () => {
    const r = await inject('POST', '/api/syncs/things/check');
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
  });

  it('cancel: a finished run is 409; a queued run is cancelled before it starts', async () => {
    const done = (await inject('GET', '/api/runs?sync=things&limit=1')).body;
    const r = await inject('POST', `/api/runs/${done.runs[0].id}/cancel`);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'run_not_active');

    // A queued run that no worker has taken yet.
    const runId = await s.ctx.t.state.createQueuedRun({ sync: 'things', trigger: 'api' });
    const c = await inject('POST', `/api/runs/${runId}/cancel`);
    assert.equal(c.status, 202);
    assert.deepEqual(c.body, { runId, status: 'cancelled' });
    assert.equal((await runOf(runId)).status, 'cancelled');
  });

  it('a second run of a sync while one is queued is refused with 409', async () => {
    const runId = await s.ctx.t.state.createQueuedRun({ sync: 'other', trigger: 'api' });
    const r = await inject('POST', '/api/syncs/other/runs', {});
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'sync_busy');
    await s.ctx.t.state.abandonQueuedRun(runId, 'cancelled', 'test', 'cancelled');
  });

  it('GET /openapi.json documents every route of the API', async () => {
    const r = await inject('GET', '/openapi.json');
    assert.equal(r.status, 200);
    const paths = Object.keys(r.body.paths);
    for (const p of [
      '/health',
      '/api/syncs',
      '/api/syncs/{name}',
      '/api/syncs/{name}/runs',
      '/api/syncs/{name}/check',
      '/api/runs',
      '/api/runs/{id}',
      '/api/runs/{id}/cancel',
      '/api/runs/{id}/quarantine',
      '/api/events',
      '/api/scheduler',
      '/api/scheduler/start',
      '/api/scheduler/stop',
      '/api/stats',
      '/api/data/{table}',
    ]) {
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    }
    assert.ok(r.body.paths['/api/syncs/{name}'].patch, 'PATCH documented');
  });

  it('GET /health answers 503 "degraded" when the database cannot be reached (last: it closes the database)', async () => {
    await s.ctx.t.dest.close();
    const r = await inject('GET', '/health');
    assert.equal(r.status, 503);
    assert.equal(r.body.status, 'degraded');
    assert.equal(r.body.database.ok, false);
    assert.equal(typeof r.body.database.error, 'string');
  });
});
