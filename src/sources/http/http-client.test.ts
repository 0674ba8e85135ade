import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { TributaryError } from '../../core/errors.ts';
import { createHttpClient, serverWaitMs, type HttpClientOptions } from './http-client.ts';
import { HttpError } from './http-error.ts';
import { capturingLogger, sendJson, startServer, type TestServer } from './http-testing.ts';
import { RateLimiter } from './rate-limiter.ts';

const TOKEN = 'patSECRETtoken1234567890.abcdef';
const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

async function server(handler: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

function client(s: TestServer, extra: Partial<HttpClientOptions> = {}) {
  const logger = capturingLogger();
  const c = createHttpClient({
    source: 'airtable (base appTEST)',
    baseUrl: `${s.url}/v0`,
    headers: { authorization: `Bearer ${TOKEN}` },
    retries: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 },
    proxy: 'none',
    logger,
    ...extra,
  });
  after(() => c.close());
  return { c, logger };
}

/** Runs `fn`, expecting it to throw an HttpError; returns it. */
async function failure(fn: () => Promise<unknown>): Promise<HttpError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof HttpError, `expected HttpError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

function assertNoSecret(err: Error | null, lines: string[]): void {
  for (const text of [err?.message ?? '', String(err?.stack ?? ''), ...lines]) {
    assert.ok(!text.includes(TOKEN), `token leaked: ${text}`);
    assert.ok(!text.includes('SECRET'), `token part leaked: ${text}`);
  }
}

describe('createHttpClient', () => {
  test('sends the configured headers, path under baseUrl, query with repeated array names', async () => {
    const s = await server((_req, res) => sendJson(res, 200, { ok: true }));
    const { c } = client(s);
    const res = await c.getJson<{ ok: boolean }>('/appX/tbl%20One', {
      query: { pageSize: 100, 'fields[]': ['Name', 'Status'], view: undefined },
    });
    assert.deepEqual(res.body, { ok: true });
    assert.equal(s.requests[0]!.url, '/v0/appX/tbl%20One?pageSize=100&fields%5B%5D=Name&fields%5B%5D=Status');
    assert.equal(s.requests[0]!.headers.authorization, `Bearer ${TOKEN}`);
  });

  test('postJson sends a JSON body', async () => {
    let received = '';
    const s = await server(async (req, res) => {
      for await (const chunk of req) received += String(chunk);
      sendJson(res, 200, { records: [] });
    });
    const { c } = client(s);
    await c.postJson('/appX/tbl/listRecords', { pageSize: 10 });
    assert.equal(s.requests[0]!.method, 'POST');
    assert.equal(s.requests[0]!.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(received), { pageSize: 10 });
  });

  test('retries 503, 500, 502 then succeeds; logs each retry without the token', async () => {
    const statuses = [503, 500, 502];
    const s = await server((_req, res, n) => {
      const status = statuses[n - 1];
      if (status)
        sendJson(res, status, { error: { type: 'RETRIABLE_ERROR', message: `echo Bearer ${TOKEN}` } });
      else sendJson(res, 200, { records: [1] });
    });
    const { c, logger } = client(s);
    const res = await c.getJson('/appX/tbl', { query: { offset: 'itr1/rec1' } });
    assert.deepEqual(res.body, { records: [1] });
    assert.equal(s.requests.length, 4);
    assert.equal(logger.lines.length, 3);
    assert.match(logger.lines[0]!, /GET \/v0\/appX\/tbl\?offset=… 503/);
    assert.ok(!logger.lines.join('\n').includes('itr1'), 'query values are not logged');
    assertNoSecret(null, logger.lines);
  });

  test('retries network errors (connection reset)', async () => {
    const s = await server((req, res, n) => {
      if (n === 1) req.socket.destroy();
      else sendJson(res, 200, { ok: 1 });
    });
    const { c } = client(s);
    assert.deepEqual((await c.getJson('/x')).body, { ok: 1 });
    assert.equal(s.requests.length, 2);
  });

  test('429 with Retry-After: waits at least that long and penalizes the rate key', async () => {
    const s = await server((_req, res, n) => {
      if (n === 1) {
        sendJson(
          res,
          429,
          { error: { type: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' } },
          { 'retry-after': '1' },
        );
      } else sendJson(res, 200, { ok: 1 });
    });
    const limiter = new RateLimiter({ ratePerSecond: 50 });
    const { c } = client(s, { rateLimiter: limiter, rateKey: 'appTEST' });
    const t0 = performance.now();
    await c.getJson('/appTEST/tbl');
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 1000, `retried after ${elapsed} ms`);
    assert.ok(s.requests[1]!.at - s.requests[0]!.at >= 1000);
    assert.equal(limiter.currentRate('appTEST') < 50, true, 'rate reduced after the 429');
  });

  test('429 without headers waits rateLimitedDelayMs (Airtable’s documented penalty)', async () => {
    const s = await server((_req, res, n) => (n === 1 ? sendJson(res, 429, {}) : sendJson(res, 200, {})));
    const { c } = client(s, { retries: { baseDelayMs: 1, maxDelayMs: 2, rateLimitedDelayMs: 300 } });
    const t0 = performance.now();
    await c.getJson('/x');
    assert.ok(performance.now() - t0 >= 300);
  });

  test('a server-requested wait beyond maxRetryAfterMs fails at once, transient, saying when', async () => {
    const s = await server((_req, res) => sendJson(res, 429, {}, { 'retry-after': '3600' }));
    const { c } = client(s, { retries: { maxRetryAfterMs: 1000 } });
    const err = await failure(() => c.getJson('/x'));
    assert.equal(s.requests.length, 1);
    assert.equal(err.transient, true);
    assert.equal(err.code, 'source_unavailable');
    assert.match(err.message, /3600 s/);
  });

  test('Retry-After as an HTTP date and X-RateLimit-Reset are understood', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(serverWaitMs({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, now), 5000);
    assert.equal(serverWaitMs({ 'retry-after': '7' }, now), 7000);
    assert.equal(serverWaitMs({ 'x-ratelimit-reset': String(now / 1000 + 10) }, now), 10_000);
    assert.equal(serverWaitMs({ 'x-ratelimit-reset': '3' }, now), 3000);
    assert.equal(serverWaitMs({}, now), undefined);
  });

  test('401 fails fast: one request, auth_failed, an actionable message without secrets', async () => {
    const s = await server((_req, res) =>
      sendJson(res, 401, {
        error: { type: 'AUTHENTICATION_REQUIRED', message: `Invalid token Bearer ${TOKEN}` },
      }),
    );
    const { c, logger } = client(s);
    const err = await failure(() =>
      c.getJson('/appX/tbl', { query: { offset: 'secret-offset', pageSize: 100 } }),
    );
    assert.equal(s.requests.length, 1);
    assert.equal(err.code, 'auth_failed');
    assert.equal(err.transient, false);
    assert.equal(err.status, 401);
    assert.equal(err.apiErrorType, 'AUTHENTICATION_REQUIRED');
    assert.match(
      err.message,
      /^airtable \(base appTEST\): GET \/v0\/appX\/tbl\?offset=…&pageSize=… returned 401 Unauthorized: AUTHENTICATION_REQUIRED Invalid token \[redacted\]\. Check the credentials/,
    );
    assert.ok(!err.message.includes('secret-offset'));
    assertNoSecret(err, logger.lines);
  });

  test('403 is auth_failed; 404 (both Airtable shapes), 400 and 422 are source_invalid, all at once', async () => {
    const cases: [number, unknown, string, string | undefined][] = [
      [
        403,
        { error: { type: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND', message: 'Invalid permissions' } },
        'auth_failed',
        'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND',
      ],
      [404, { error: 'NOT_FOUND' }, 'source_invalid', 'NOT_FOUND'],
      [404, { error: { type: 'NOT_FOUND' } }, 'source_invalid', 'NOT_FOUND'],
      [400, { message: 'Problems parsing JSON' }, 'source_invalid', undefined],
      [
        422,
        { error: { type: 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE' } },
        'source_invalid',
        'LIST_RECORDS_ITERATOR_NOT_AVAILABLE',
      ],
    ];
    for (const [status, body, code, type] of cases) {
      const s = await server((_req, res) => sendJson(res, status, body));
      const { c } = client(s);
      const err = await failure(() => c.getJson('/appX/tbl'));
      assert.equal(s.requests.length, 1, `${status} retried`);
      assert.equal(err.code, code);
      assert.equal(err.status, status);
      assert.equal(err.apiErrorType, type);
      assert.match(err.message, new RegExp(`GET /v0/appX/tbl returned ${status}`));
    }
  });

  test('a 5xx storm gives up after N attempts with a transient error', async () => {
    const s = await server((_req, res) => sendJson(res, 502, { error: 'bad gateway' }));
    const { c, logger } = client(s, { retries: { attempts: 5, baseDelayMs: 2, maxDelayMs: 10 } });
    const err = await failure(() => c.getJson('/appX/tbl'));
    assert.equal(s.requests.length, 5);
    assert.equal(err.code, 'source_unavailable');
    assert.equal(err.transient, true);
    assert.match(err.message, /failed 5 times, last with 502 Bad Gateway/);
    assert.equal(logger.lines.length, 4);
    assertNoSecret(err, logger.lines);
  });

  test('a header timeout is retried, then reported as transient', async () => {
    const s = await server((_req, res) => {
      setTimeout(() => sendJson(res, 200, {}), 5000).unref();
    });
    // undici checks header timeouts on a ~1 s clock, so 100 ms fires within about 1.5 s.
    const { c } = client(s, {
      timeouts: { headers: 100 },
      retries: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const t0 = performance.now();
    const err = await failure(() => c.getJson('/slow'));
    assert.equal(s.requests.length, 2);
    assert.equal(err.transient, true);
    assert.match(err.message, /timeout waiting for the response headers/);
    assert.ok(performance.now() - t0 < 4000);
  });

  test('a body that stalls hits the body timeout', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"records": [');
    });
    const { c } = client(s, { timeouts: { body: 100 }, retries: { attempts: 1 } });
    const err = await failure(() => c.getJson('/stall'));
    assert.equal(err.transient, true);
    assert.match(err.message, /timeout while reading the response body/);
  });

  test('connection refused is a transient failure after the attempts', async () => {
    const s = await server((_req, res) => sendJson(res, 200, {}));
    const url = s.url;
    await s.close();
    const c = createHttpClient({
      source: 'gone',
      baseUrl: url,
      proxy: 'none',
      retries: { attempts: 2, baseDelayMs: 1 },
    });
    const err = await failure(() => c.getJson('/x'));
    assert.equal(err.transient, true);
    assert.match(err.message, /ECONNREFUSED/);
    await c.close();
  });

  test('responses above maxResponseBytes fail, declared or streamed', async () => {
    const big = JSON.stringify({ data: 'x'.repeat(5000) });
    const s = await server((req, res) => {
      if (req.url?.includes('chunked')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        for (let i = 0; i < 10; i++) res.write(big.slice(i * 501, (i + 1) * 501));
        res.end(big.slice(5010));
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) });
        res.end(big);
      }
    });
    const { c } = client(s, { maxResponseBytes: 1000 });
    for (const path of ['/declared', '/chunked']) {
      const err = await failure(() => c.getJson(path));
      assert.equal(err.code, 'source_invalid');
      assert.equal(err.transient, false);
      assert.match(err.message, /more than 1000 bytes/);
    }
    assert.equal(s.requests.length, 2, 'not retried');
    // Under the cap is fine.
    const ok = createHttpClient({ source: 't', baseUrl: s.url, proxy: 'none', maxResponseBytes: big.length });
    assert.equal((await ok.getJson<{ data: string }>('/declared')).body.data.length, 5000);
    await ok.close();
  });

  test('absolute URLs on other hosts are refused before any request; allowedHosts opens them', async () => {
    const other = await server((_req, res) => sendJson(res, 200, { other: true }));
    const s = await server((_req, res) => sendJson(res, 200, {}));
    const { c } = client(s);
    const otherUrl = other.url.replace('127.0.0.1', 'localhost');
    const err = await failure(() => c.getJson(`${otherUrl}/steal?token=abc`));
    assert.equal(err.code, 'source_invalid');
    assert.match(err.message, /refused to call http:\/\/localhost:\d+\/steal\?token=…/);
    assert.equal(other.requests.length, 0);
    // Same host, different port is another host too.
    await failure(() => c.getJson(`${other.url}/x`));
    assert.equal(other.requests.length, 0);

    const allowed = client(s, { allowedHosts: [new URL(other.url).host] }).c;
    assert.deepEqual((await allowed.getJson(`${other.url}/x`)).body, { other: true });
    // An absolute URL on the base host is fine.
    assert.deepEqual((await c.getJson(`${s.url}/v0/abs`)).body, {});
  });

  test('a body that is not JSON is a terminal error', async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    });
    const { c } = client(s);
    const err = await failure(() => c.getJson('/x'));
    assert.equal(err.code, 'source_invalid');
    assert.match(err.message, /not JSON/);
  });

  test('the rate limiter spaces requests (10 at 20/s take ≥ 450 ms)', async () => {
    const s = await server((_req, res) => sendJson(res, 200, {}));
    const { c } = client(s, { rateLimiter: new RateLimiter({ ratePerSecond: 20 }) });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => c.getJson('/x')));
    assert.ok(performance.now() - t0 >= 440);
    assert.equal(s.requests.length, 10);
  });

  test('X-RateLimit-Remaining: 0 pauses the key until the reset', async () => {
    const s = await server((_req, res, n) =>
      sendJson(res, 200, {}, n === 1 ? { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '0.3' } : {}),
    );
    const { c } = client(s, { rateLimiter: new RateLimiter({ ratePerSecond: 100, burst: 10 }) });
    await c.getJson('/x');
    await c.getJson('/x');
    assert.ok(s.requests[1]!.at - s.requests[0]!.at >= 290);
  });

  test('aborting during a backoff cancels the request', async () => {
    const s = await server((_req, res) => sendJson(res, 503, {}, { 'retry-after': '5' }));
    const { c } = client(s);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const t0 = performance.now();
    await assert.rejects(c.getJson('/x', { signal: controller.signal }), (err: unknown) => {
      assert.ok(err instanceof TributaryError);
      assert.equal(err.code, 'cancelled');
      return true;
    });
    assert.ok(performance.now() - t0 < 1000);
  });
});
