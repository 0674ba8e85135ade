/**
 * Housekeeping and notifications: run-history retention, and webhooks on finished runs
 * (HMAC-signed, retried on failure, filtered by status, per sync and service-wide), delivered
 * to a real loopback HTTP server.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import { silentLogger } from '../src/core/types.ts';
import { Housekeeping } from '../src/scheduler/housekeeping.ts';
import { Tributary } from '../src/tributary.ts';
import { WEBHOOK_DEFAULTS, Webhooks, sign } from '../src/server/webhooks.ts';
import { createSqliteDatabase, testDatabaseFactories, type TestDatabase } from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import { startTestService, waitFor } from './helpers/service.ts';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback receiver that answers each request with the next status of `script` (then 200). */
async function receiver(script: number[] = []) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = script.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const SECRET = 'whsec-test-0123456789';

const finished = (runId: number, status: 'succeeded' | 'failed' = 'succeeded') =>
  ({
    type: 'run.finished',
    runId,
    sync: 'notices',
    status,
    counts: { read: 10, inserted: 8, updated: 0, unchanged: 0, deleted: 0, quarantined: 2 },
    durationMs: 1234,
    error: status === 'failed' ? 'boom' : null,
    at: '2026-01-01T00:00:00.000Z',
  }) as const;

for (const factory of await testDatabaseFactories()) {
  describe(`webhooks: the delivery outbox on ${factory.name}`, () => {
    let db: TestDatabase;
    let project: TestProject;
    let t: Tributary;
    before(async () => {
      db = await factory.create();
      project = createProject(db.url);
      project.writeConfig({ syncs: {} });
      t = await project.open(); // creates the state tables, the outbox among them
    });
    after(async () => {
      await t.close();
      project.remove();
      await db.drop();
    });

    const hooksFor = (webhooks: { url: string; secret?: string }[], instance = 'test-a') =>
      new Webhooks({ service: { webhooks }, syncs: {} }, t.dest, instance, silentLogger, {
        ...WEBHOOK_DEFAULTS,
        baseDelayMs: 1,
      });
    /** Drives passes until the delivery is no longer pending. */
    const settle = (hooks: Webhooks, id: string) =>
      waitFor('the delivery to settle', async () => {
        await hooks.deliverDue();
        const d = await hooks.get(id);
        return d && d.state !== 'pending' ? d : undefined;
      });

    it('signs the body with HMAC-SHA256 over timestamp and body, retries 5xx and 429, not 4xx', async () => {
      const r = await receiver([503, 429]);
      const refused = await receiver([400]);
      try {
        const hooks = hooksFor([{ url: r.url, secret: SECRET }]);
        const [id] = await hooks.observe(finished(7, 'failed'));
        const delivery = await settle(hooks, id!);
        assert.deepEqual(
          [delivery.state, delivery.attempts, delivery.lastStatus, delivery.lastError],
          ['delivered', 3, 200, null],
        );
        assert.equal(r.received.length, 3);
        const ids = new Set(r.received.map((x) => x.headers['x-tributary-delivery']));
        assert.deepEqual([...ids], [id], 'one delivery id across retries');
        for (const { headers, body } of r.received) {
          assert.equal(headers['x-tributary-event'], 'run.finished');
          const ts = String(headers['x-tributary-timestamp']);
          assert.equal(headers['x-tributary-signature'], `sha256=${sign(SECRET, ts, body)}`);
        }
        const payload = JSON.parse(r.received[0]!.body);
        assert.equal(payload.id, id);
        assert.deepEqual(payload.run, {
          runId: 7,
          sync: 'notices',
          status: 'failed',
          read: 10,
          inserted: 8,
          updated: 0,
          unchanged: 0,
          deleted: 0,
          quarantined: 2,
          durationMs: 1234,
          error: 'boom',
        });

        const hooks2 = hooksFor([{ url: refused.url }]);
        const [id2] = await hooks2.observe(finished(1));
        const d2 = await settle(hooks2, id2!);
        assert.deepEqual([d2.state, d2.attempts, d2.lastError], ['failed', 1, 'answered 400'], 'not retried');
        assert.equal(
          refused.received[0]!.headers['x-tributary-signature'],
          undefined,
          'no secret, no signature',
        );
      } finally {
        await r.close();
        await refused.close();
      }
    });

    it('a delivery outlives its instance: another one retries it, and a dead claim expires', async () => {
      const r = await receiver([503]);
      try {
        // Instance A makes the first attempt (503), then is gone.
        const a = hooksFor([{ url: r.url, secret: SECRET }], 'instance-a');
        const [id] = await a.observe(finished(8));
        assert.equal(await a.deliverDue(), 1);
        assert.deepEqual([(await a.get(id!))!.state, (await a.get(id!))!.attempts], ['pending', 1]);
        // Instance B, with the same config, delivers it: same id, same body.
        const b = hooksFor([{ url: r.url, secret: SECRET }], 'instance-b');
        const delivered = await settle(b, id!);
        assert.deepEqual([delivered.state, delivered.attempts], ['delivered', 2]);
        assert.equal(r.received.length, 2);
        assert.equal(r.received[1]!.body, r.received[0]!.body);

        // A claim held by an instance that died mid-attempt blocks the others until it expires.
        const [id2] = await a.observe(finished(9));
        const now = new Date();
        await t.dest.execute(
          `UPDATE tributary_webhook_deliveries SET claimed_by = 'dead', claimed_until = $2 WHERE id = $1`,
          [id2, new Date(now.getTime() + 60_000).toISOString()],
        );
        assert.equal(await b.deliverDue(now), 0, 'claimed elsewhere');
        assert.equal(await b.deliverDue(new Date(now.getTime() + 61_000)), 1, 'the dead claim expired');
        assert.equal((await b.get(id2!))!.state, 'delivered');
        assert.equal(r.received.length, 3);

        // Two instances passing at once deliver a row once.
        const [id3] = await a.observe(finished(10));
        const attempts = await Promise.all([a.deliverDue(), b.deliverDue()]);
        assert.equal(attempts[0] + attempts[1], 1);
        assert.equal((await a.get(id3!))!.state, 'delivered');
        assert.equal(r.received.length, 4);
      } finally {
        await r.close();
      }
    });

    it('stores no URL or secret; a delivery whose webhook left the config fails with that reason', async () => {
      const url = 'http://127.0.0.1:1/hook?token=url-token-123';
      const hooks = hooksFor([{ url, secret: SECRET }]);
      const [id] = await hooks.observe(finished(11));
      const rows = await t.dest.query('SELECT * FROM tributary_webhook_deliveries');
      const text = JSON.stringify(rows);
      assert.ok(!text.includes('url-token-123') && !text.includes(SECRET), text);
      const gone = hooksFor([]);
      const d = await settle(gone, id!);
      assert.deepEqual([d.state, d.lastError], ['failed', 'the webhook is no longer in the config']);
    });

    it('fires for the statuses in `on`, from service-wide and per-sync lists', () => {
      const hooks = new Webhooks(
        {
          service: { webhooks: [{ url: 'http://127.0.0.1:1/all' }] },
          syncs: { a: { webhooks: [{ url: 'http://127.0.0.1:1/a-failures', on: ['failed'] }] } } as never,
        },
        t.dest,
        'test',
        silentLogger,
      );
      assert.deepEqual(
        hooks.targets('a', 'succeeded').map((h) => h.url),
        ['http://127.0.0.1:1/all'],
      );
      assert.deepEqual(
        hooks.targets('a', 'failed').map((h) => h.url),
        ['http://127.0.0.1:1/all', 'http://127.0.0.1:1/a-failures'],
      );
      assert.deepEqual(hooks.targets('b', 'cancelled'), [], 'cancelled is not in the default list');
    });
  });
}

describe('service: webhooks end to end, history retention, config keys', () => {
  let db: TestDatabase;
  let project: TestProject;
  let r: Awaited<ReturnType<typeof receiver>>;

  before(async () => {
    r = await receiver();
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.write('a.csv', csv(['id'], [[1], [2]]));
    project.writeConfig({
      service: {
        timezone: 'Europe/Berlin',
        historyRetention: '30d',
        concurrency: 2,
        webhooks: [{ url: r.url, secret: '${HOOK_SECRET}' }],
      },
      syncs: {
        a: {
          source: { type: 'csv', path: 'a.csv' },
          target: { table: 'a', primaryKey: 'id', columns: { id: 'integer' } },
        },
      },
    });
  });
  after(async () => {
    await r.close();
    project.remove();
    await db.drop();
  });

  it('a run executed by the service is announced to the webhook, signed with the secret from the environment', async () => {
    const s = await startTestService(project, { listen: false, env: { HOOK_SECRET: SECRET } });
    try {
      assert.equal((await s.ctx.scheduler.state()).timezone, 'Europe/Berlin');
      const res = await s.app!.inject({ method: 'POST', url: '/api/syncs/a/runs', payload: {} });
      assert.equal(res.statusCode, 202);
      const got = await waitFor('the webhook', () => r.received[0]);
      const body = JSON.parse(got.body);
      assert.equal(body.run.runId, res.json().runId);
      assert.equal(body.run.status, 'succeeded');
      assert.equal(
        got.headers['x-tributary-signature'],
        `sha256=${sign(SECRET, String(got.headers['x-tributary-timestamp']), got.body)}`,
      );
      assert.ok(!s.logs().includes(SECRET));
      // The outbox is visible in the metrics.
      const delivered = await waitFor('the delivery to be recorded', async () => {
        const text = (await s.app!.inject({ method: 'GET', url: '/metrics' })).body;
        return /tributary_webhook_deliveries\{state="delivered"\} 1\b/.test(text) ? text : undefined;
      });
      assert.match(delivered, /tributary_webhook_deliveries\{state="failed"\} 0\b/);
    } finally {
      await s.close();
    }
  });

  it('history retention deletes finished runs past the period with their quarantined records, nothing else', async () => {
    const t = await Tributary.open({
      configFile: project.configFile,
      env: { ...process.env, DATABASE_URL: undefined, HOOK_SECRET: 'x' },
    });
    try {
      const old = await t.state.createRun({
        sync: 'a',
        trigger: 'cli',
        fullRefresh: true,
        cursorStart: null,
      });
      const recent = await t.state.createRun({
        sync: 'a',
        trigger: 'cli',
        fullRefresh: true,
        cursorStart: null,
      });
      const oldRunning = await t.state.createRun({
        sync: 'a',
        trigger: 'cli',
        fullRefresh: true,
        cursorStart: null,
      });
      const now = new Date('2026-06-01T00:00:00.000Z');
      await t.dest.execute(`UPDATE tributary_runs SET status = 'succeeded', finished_at = $2 WHERE id = $1`, [
        old,
        '2026-04-01T00:00:00.000Z',
      ]);
      await t.dest.execute(`UPDATE tributary_runs SET status = 'succeeded', finished_at = $2 WHERE id = $1`, [
        recent,
        '2026-05-20T00:00:00.000Z',
      ]);
      await t.dest.execute(`UPDATE tributary_runs SET started_at = $2 WHERE id = $1`, [
        oldRunning,
        '2026-01-01T00:00:00.000Z',
      ]);
      await t.dest.transaction((tx) =>
        t.state.quarantine(tx, old, 'a', [
          { code: 'invalid_value', message: 'x', recordKey: '1', payload: {} },
        ]),
      );
      const config = (
        await loadConfig({
          file: project.configFile,
          env: { ...process.env, DATABASE_URL: undefined, HOOK_SECRET: 'x' },
        })
      ).config;
      const hk = new Housekeeping(t.state, config.service?.historyRetention, silentLogger);
      assert.equal(await hk.sweep(now), 1);
      const left = (await t.state.listRuns({ sync: 'a', limit: 100 })).map((x) => x.id);
      assert.ok(!left.includes(old));
      assert.ok(left.includes(recent) && left.includes(oldRunning));
      assert.equal((await t.state.listQuarantine({ runId: old })).length, 0);
      assert.equal(
        await new Housekeeping(t.state, 'off', silentLogger).sweep(new Date('2030-01-01')),
        0,
        '"off" keeps everything',
      );
      assert.equal(
        await new Housekeeping(t.state, undefined, silentLogger).sweep(new Date('2026-06-10')),
        0,
        'default 90 days',
      );
    } finally {
      await t.close();
    }
  });

  it('config errors name the key: bad time zone, retention, webhook URL, schedule', async () => {
    for (const [service, sync, pattern] of [
      [{ timezone: 'Mars/Base' }, {}, /service\.timezone/],
      [{ historyRetention: 'forever' }, {}, /service\.historyRetention/],
      [{ webhooks: [{ url: 'ftp://x' }] }, {}, /service\.webhooks\[0\]\.url|service\.webhooks\.0\.url/],
      [{}, { schedule: '61 * * * *' }, /syncs\.a\.schedule.*minute/],
    ] as const) {
      project.writeConfig({
        service,
        syncs: {
          a: {
            source: { type: 'csv', path: 'a.csv' },
            target: { table: 'a', primaryKey: 'id', columns: { id: 'integer' } },
            ...sync,
          },
        },
      });
      await assert.rejects(loadConfig({ file: project.configFile, env: {} }), pattern);
    }
  });
});
