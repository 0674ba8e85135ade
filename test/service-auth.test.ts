/**
 * Service security (issue 4): the bearer token on /api and /metrics (no token, wrong, right),
 * loopback-only without a token, and secrets — the service token and a source's API token —
 * never in a response, a log line or a state table.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- JSON bodies are checked field by field */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAirtableEmulator, type AirtableEmulator } from '../src/emulators/airtable/airtable-emulator.ts';
import { assertBindAllowed, bearerMatches, isLoopback } from '../src/server/auth.ts';
import { startService } from '../src/server/service.ts';
import { createSqliteDatabase, type TestDatabase } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';
import { startTestService, waitFor, type TestService } from './helpers/service.ts';

const SERVICE_TOKEN = 'svc-token-7f3a9c1e5b2d4f6a8c0e';
const AIRTABLE_TOKEN = 'patAuthTest.secret0123456789';

describe('service auth and secrets', () => {
  let db: TestDatabase;
  let project: TestProject;
  let emulator: AirtableEmulator;
  let s: TestService;

  before(async () => {
    emulator = await startAirtableEmulator({ records: 30, seed: 3, token: AIRTABLE_TOKEN });
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.writeConfig({
      syncs: {
        notices: {
          source: {
            type: 'airtable',
            baseId: emulator.bases[0]!.id,
            table: 'Notices',
            token: '${AIRTABLE_TOKEN}',
            endpoint: emulator.url,
          },
          target: {
            table: 'notices',
            primaryKey: 'id',
            columns: { id: { type: 'text', from: '_id' }, regulator_id: 'text', offender_name: 'text' },
          },
        },
      },
    });
    s = await startTestService(project, {
      env: { AIRTABLE_TOKEN, TRIBUTARY_TOKEN: SERVICE_TOKEN },
      token: undefined,
    });
  });
  after(async () => {
    await s?.close();
    await emulator?.close();
    project.remove();
    await db.drop();
  });

  const call = (path: string, init: RequestInit = {}) => fetch(`${s.url}${path}`, init);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('with TRIBUTARY_TOKEN set, /api and /metrics need the token: none and wrong are 401, right is 200', async () => {
    for (const path of [
      '/api/syncs',
      '/api/runs',
      '/api/scheduler',
      '/api/stats',
      '/metrics',
      '/api/events',
    ]) {
      const none = await call(path);
      assert.equal(none.status, 401, `${path} without a token`);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await none.json()) as any).error.code, 'unauthorized');
      assert.equal((await call(path, { headers: bearer('wrong-token') })).status, 401, `${path} wrong token`);
      assert.equal(
        (await call(path, { headers: bearer(SERVICE_TOKEN.slice(0, -1)) })).status,
        401,
        `${path} prefix of the token`,
      );
      assert.equal(
        (await call(path, { headers: { authorization: SERVICE_TOKEN } })).status,
        401,
        `${path} without "Bearer"`,
      );
      if (path === '/api/events') continue; // a stream: checked without reading it below
      const ok = await call(path, { headers: bearer(SERVICE_TOKEN) });
      assert.equal(ok.status, 200, `${path} with the token`);
      await ok.arrayBuffer();
    }
    const post = await call('/api/syncs/notices/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(post.status, 401, 'POST without a token does nothing');
    assert.equal((await s.ctx.t.state.listRuns()).length, 0);
    // /health stays open for load balancers.
    assert.equal((await call('/health')).status, 200);
  });

  it('the token check is constant-time over digests and strict about the scheme', () => {
    assert.equal(bearerMatches(`Bearer ${SERVICE_TOKEN}`, SERVICE_TOKEN), true);
    assert.equal(bearerMatches(`bearer ${SERVICE_TOKEN}`, SERVICE_TOKEN), true);
    assert.equal(bearerMatches(`Bearer ${SERVICE_TOKEN}x`, SERVICE_TOKEN), false);
    assert.equal(bearerMatches(undefined, SERVICE_TOKEN), false);
    assert.equal(bearerMatches('Bearer ', ''), false);
    assert.equal(bearerMatches(`Basic ${SERVICE_TOKEN}`, SERVICE_TOKEN), false);
  });

  it('without a token the service refuses a non-loopback address, and accepts loopback', async () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])
      assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.com', '::ffff:10.0.0.1'])
      assert.equal(isLoopback(host), false, host);
    assert.throws(() => assertBindAllowed('0.0.0.0', null), /TRIBUTARY_TOKEN/);
    assert.doesNotThrow(() => assertBindAllowed('0.0.0.0', 'secret'));
    await assert.rejects(
      startService({
        configFile: project.configFile,
        env: { ...process.env, DATABASE_URL: undefined, TRIBUTARY_TOKEN: '', AIRTABLE_TOKEN },
        host: '0.0.0.0',
        port: 0,
        logLevel: 'silent',
      }),
      (err: Error) => /refusing to listen on 0\.0\.0\.0 without authentication/.test(err.message),
    );
  });

  it('the service token and source secrets never appear in responses, logs or state tables', async () => {
    const auth = { headers: bearer(SERVICE_TOKEN) };
    const started = await call('/api/syncs/notices/runs', {
      method: 'POST',
      headers: { ...auth.headers, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(started.status, 202);
    const { runId } = (await started.json()) as { runId: number };
    const run = await waitFor('the run to finish', async () => {
      const r = (await (await call(`/api/runs/${runId}`, auth)).json()) as { status: string; read: number };
      return r.status === 'succeeded' || r.status === 'failed' ? r : undefined;
    });
    assert.equal(run.status, 'succeeded');
    assert.equal(run.read, 30);

    const bodies: string[] = [];
    for (const path of [
      '/health',
      '/api/syncs',
      '/api/syncs/notices',
      '/api/runs',
      `/api/runs/${runId}`,
      `/api/runs/${runId}/quarantine`,
      '/api/scheduler',
      '/api/stats',
      '/api/data/notices?limit=100',
      '/metrics',
      '/openapi.json',
      '/api/nothing',
    ]) {
      bodies.push(await (await call(path, auth)).text());
    }
    bodies.push(await (await call('/api/syncs/notices/check', { method: 'POST', ...auth })).text());
    bodies.push(await (await call('/api/syncs', { headers: bearer('wrong') })).text());
    // Requests the source made are counted by host and status (through undici's diagnostics channel).
    assert.match(
      bodies[9]!,
      new RegExp(
        `tributary_source_http_requests_total\\{host="${new URL(emulator.url).host}",status="200"\\} [1-9]`,
      ),
    );
    const detail = JSON.parse(bodies[2]!) as { config: { source: { token: string } } };
    assert.match(detail.config.source.token, /^<redacted/, 'the config is shown redacted');

    const tables: string[] = [];
    for (const table of [
      'tributary_runs',
      'tributary_sync_status',
      'tributary_quarantine',
      'tributary_schedules',
      'tributary_settings',
      'tributary_leases',
      'tributary_webhook_deliveries',
    ]) {
      tables.push(JSON.stringify(await s.ctx.t.dest.query(`SELECT * FROM ${table}`)));
    }
    const logs = s.logs();
    assert.ok(logs.length > 0, 'the service logged something');
    for (const secret of [SERVICE_TOKEN, AIRTABLE_TOKEN]) {
      bodies.forEach((b, i) => assert.ok(!b.includes(secret), `response ${i} leaks a secret`));
      tables.forEach((t, i) => assert.ok(!t.includes(secret), `table ${i} leaks a secret`));
      assert.ok(!logs.includes(secret), 'logs leak a secret');
    }
  });
});
