/** End to end: the engine syncs a loopback JSON API through the http source into SQLite, then incrementally. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createSqliteDatabase, type TestDatabase } from '../../../test/helpers/databases.ts';
import { createProject, type TestProject } from '../../../test/helpers/project.ts';
import { TributaryError } from '../../core/errors.ts';
import { Tributary } from '../../tributary.ts';
import { capturingLogger, sendJson, startServer, type TestServer } from './http-testing.ts';

const TOKEN = 'tok_HttpSyncTest.0123456789abcdef';
const WRONG_TOKEN = 'tok_Revoked.fedcba9876543210';
const HOUR = 3_600_000;
const T0 = Date.parse('2024-03-01T00:00:00.000Z');
const PAGE = 10;

interface Item {
  id: string;
  name: string;
  price: number;
  updated_at: string;
}

/** A small API: bearer auth, `data.items` + `meta.next_cursor`, and an inclusive `updated_since` filter. */
function startApi(items: Item[]): Promise<TestServer> {
  return startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/v1/items') return sendJson(res, 404, { error: 'not found' });
    if (req.headers.authorization !== `Bearer ${TOKEN}`)
      return sendJson(res, 401, { error: 'invalid_token' });
    const since = url.searchParams.get('updated_since');
    const rows = items
      .filter((r) => since === null || Date.parse(r.updated_at) >= Date.parse(since))
      .sort((a, b) => a.updated_at.localeCompare(b.updated_at) || a.id.localeCompare(b.id));
    const from = Number(url.searchParams.get('cursor') ?? 0);
    const next = from + PAGE < rows.length ? String(from + PAGE) : null;
    return sendJson(res, 200, {
      data: { items: rows.slice(from, from + PAGE) },
      meta: { next_cursor: next },
    });
  });
}

describe('http sync (engine + loopback API + SQLite)', () => {
  const items: Item[] = Array.from({ length: 45 }, (_, i) => ({
    id: `it${String(i + 1).padStart(2, '0')}`,
    name: `Item ${i + 1}`,
    price: 10 + i,
    updated_at: new Date(T0 + i * HOUR).toISOString(),
  }));
  let api: TestServer;
  let db: TestDatabase;
  let project: TestProject;
  const env = (token: string) => ({ ...process.env, DATABASE_URL: undefined, API_TOKEN: token });

  before(async () => {
    api = await startApi(items);
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.writeConfig({
      syncs: {
        items: {
          source: {
            type: 'http',
            url: `${api.url}/v1/items`,
            headers: { Authorization: 'Bearer ${API_TOKEN}' },
            query: { sort: 'updated_at' },
            recordsPath: 'data.items',
            paginator: { type: 'cursor', cursorPath: 'meta.next_cursor', param: 'cursor' },
            incremental: { param: 'updated_since' },
          },
          target: {
            table: 'items',
            primaryKey: 'id',
            columns: { id: 'text', name: 'text', price: 'numeric', updated_at: 'timestamptz' },
          },
          incremental: { cursor: 'updated_at', lookback: '5m' },
        },
      },
    });
  });
  after(async () => {
    await api.close();
    project.remove();
    await db.drop();
  });

  /** Every byte SQLite wrote, to look for secrets in it. */
  const databaseBytes = (): string => {
    const file = db.url.replace(/^sqlite:/, '');
    return [file, `${file}-wal`]
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
  };

  test('check, an interrupted full pass resumed from its checkpoint, then an incremental run', async () => {
    const logger = capturingLogger();
    const t = await Tributary.open({ configFile: project.configFile, env: env(TOKEN), logger });
    try {
      const check = await t.check('items');
      assert.equal(check.ok, true, check.message);
      assert.match(
        check.message,
        /GET \/v1\/items answered with 10 record\(s\) at recordsPath "data\.items"/,
      );

      // A limited run stops after two pages with the pass open; the next run resumes it. (One
      // page per batch: the runner counts the limit in committed batches.)
      let n = api.requests.length;
      const partial = await t.sync('items', { limit: 20, batchSize: PAGE });
      assert.equal(partial.status, 'succeeded', partial.error ?? '');
      assert.equal(partial.inserted, 20);
      assert.ok(api.requests.length - n <= 3, 'two pages, and at most one read ahead');

      n = api.requests.length;
      const rest = await t.sync('items');
      assert.equal(rest.status, 'succeeded', rest.error ?? '');
      assert.equal(rest.inserted, 25);
      const resumed = api.requests.slice(n).map((r) => r.url);
      assert.deepEqual(resumed, [
        '/v1/items?sort=updated_at&cursor=20',
        '/v1/items?sort=updated_at&cursor=30',
        '/v1/items?sort=updated_at&cursor=40',
      ]);
      assert.ok(api.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
      assert.equal((await t.data('items', { limit: 100 })).length, 45);

      // Three records change and one is added, all after the stored cursor (it45's time).
      for (const [k, id] of ['it03', 'it07', 'it11'].entries()) {
        const item = items.find((r) => r.id === id)!;
        item.name = `Renamed ${id}`;
        item.updated_at = new Date(T0 + (100 + k) * HOUR).toISOString();
      }
      items.push({
        id: 'it46',
        name: 'Item 46',
        price: 99,
        updated_at: new Date(T0 + 110 * HOUR).toISOString(),
      });

      n = api.requests.length;
      const incremental = await t.sync('items');
      assert.equal(incremental.status, 'succeeded', incremental.error ?? '');
      // The stored cursor minus the 5 minute lookback, inclusive: it45 comes back unchanged.
      const since = new Date(T0 + 44 * HOUR - 5 * 60_000).toISOString();
      assert.deepEqual(
        api.requests.slice(n).map((r) => new URL(r.url, 'http://x').searchParams.get('updated_since')),
        [since],
      );
      assert.deepEqual(
        {
          read: incremental.read,
          inserted: incremental.inserted,
          updated: incremental.updated,
          unchanged: incremental.unchanged,
        },
        { read: 5, inserted: 1, updated: 3, unchanged: 1 },
      );
      const [renamed] = await t.data('items', { where: { id: 'it07' } });
      assert.equal(renamed!.name, 'Renamed it07');
    } finally {
      await t.close();
    }
    assert.ok(!databaseBytes().includes(TOKEN), 'the token is not stored in the database');
    for (const line of logger.lines) assert.ok(!line.includes(TOKEN), line);
  });

  test('a revoked token fails the run at once, naming the source and path, never the token', async () => {
    const logger = capturingLogger();
    const t = await Tributary.open({ configFile: project.configFile, env: env(WRONG_TOKEN), logger });
    try {
      const n = api.requests.length;
      const run = await t.sync('items', { full: true });
      assert.equal(run.status, 'failed');
      assert.equal(api.requests.length - n, 1, 'a 401 is not retried');
      assert.match(
        run.error ?? '',
        /^http \(127\.0\.0\.1:\d+\): GET \/v1\/items\?sort=…(&cursor=…)? returned 401 Unauthorized: invalid_token\. The API refused the credentials: check the source's headers Authorization/,
      );
      assert.ok(!(run.error ?? '').includes(WRONG_TOKEN));
      const check = await t.check('items');
      assert.equal(check.ok, false);
      assert.ok(!check.message.includes(WRONG_TOKEN));
    } finally {
      await t.close();
    }
    for (const line of logger.lines) assert.ok(!line.includes(WRONG_TOKEN), line);
    assert.ok(!databaseBytes().includes(WRONG_TOKEN), 'the token is not stored in the database');
  });

  test('config errors name the path of the http source option', async () => {
    const bad = createProject(db.url);
    try {
      bad.writeConfig({
        syncs: {
          items: {
            source: { type: 'http', url: `${api.url}/v1/items`, paginator: { type: 'offset' } },
            target: { table: 'items', columns: { id: 'text' } },
          },
        },
      });
      await assert.rejects(
        bad.open(),
        (err) =>
          err instanceof TributaryError &&
          err.code === 'config_invalid' &&
          /syncs\.items\.source\.paginator\.limit: /.test(err.message),
      );
    } finally {
      bad.remove();
    }
  });
});
