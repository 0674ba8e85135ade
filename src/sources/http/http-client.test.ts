import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
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

const PROXY_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];

/** Runs `fn` with exactly these proxy variables set (the others unset), then restores the environment. */
async function withProxyEnv(vars: Record<string, string>, fn: () => Promise<void>): Promise<void> {
  const saved = PROXY_VARIABLES.map((name) => [name, process.env[name]] as const);
  for (const name of PROXY_VARIABLES) delete process.env[name];
  Object.assign(process.env, vars);
  try {
    await fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

interface ForwardProxy {
  url: string;
  /** Request targets of plain proxied requests, as received (absolute-form). */
  requests: string[];
  /** Targets of CONNECT requests (host:port); the proxy refuses them (403 unless told otherwise). */
  connects: string[];
  close(): Promise<void>;
}

/**
 * A forward proxy on loopback, as Squid with its default rules behaves: plain requests in
 * absolute-form (`GET http://host:port/path`) are forwarded, to loopback only; CONNECT is refused.
 */
async function startForwardProxy(connectStatus = '403 Forbidden'): Promise<ForwardProxy> {
  const requests: string[] = [];
  const connects: string[] = [];
  const proxy = createServer((req, res) => {
    requests.push(req.url ?? '');
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('a proxy expects an absolute URI');
      return;
    }
    if (target.hostname !== '127.0.0.1') {
      res.writeHead(403).end('loopback only');
      return;
    }
    const upstream = httpRequest(target, { method: req.method, headers: req.headers, agent: false }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  proxy.on('connect', (req, socket: Socket) => {
    connects.push(req.url ?? '');
    socket.end(`HTTP/1.1 ${connectStatus}\r\ncontent-length: 0\r\n\r\n`);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connects,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}

describe('createHttpClient: proxies from the environment', () => {
  test('HTTP_PROXY: requests go to the proxy in absolute form; NO_PROXY and proxy "none" go direct', async () => {
    const target = await server((_req, res) => sendJson(res, 200, { ok: true }));
    const proxy = await startForwardProxy();
    after(() => proxy.close());
    const make = (proxyMode: 'env' | 'none') =>
      createHttpClient({
        source: 'api (test)',
        baseUrl: `${target.url}/v0`,
        headers: { authorization: `Bearer ${TOKEN}` },
        proxy: proxyMode,
      });

    await withProxyEnv({ HTTP_PROXY: proxy.url }, async () => {
      const c = make('env');
      try {
        assert.deepEqual((await c.getJson('/items', { query: { page: 2 } })).body, { ok: true });
      } finally {
        await c.close();
      }
    });
    assert.deepEqual(proxy.requests, [`${target.url}/v0/items?page=2`]);
    assert.equal(
      proxy.connects.length,
      0,
      'plain http is not tunnelled (proxies refuse CONNECT to non-TLS ports)',
    );
    assert.equal(target.requests.length, 1);
    assert.equal(target.requests[0]!.url, '/v0/items?page=2');
    assert.equal(target.requests[0]!.headers.authorization, `Bearer ${TOKEN}`);

    // NO_PROXY names the host (with or without port): straight to the server.
    for (const noProxy of ['127.0.0.1', `example.org, 127.0.0.1:${new URL(target.url).port}`]) {
      await withProxyEnv({ HTTP_PROXY: proxy.url, NO_PROXY: noProxy }, async () => {
        const c = make('env');
        try {
          await c.getJson('/direct');
        } finally {
          await c.close();
        }
      });
    }
    // proxy: 'none' ignores the variables altogether.
    await withProxyEnv({ HTTP_PROXY: proxy.url }, async () => {
      const c = make('none');
      try {
        await c.getJson('/direct');
      } finally {
        await c.close();
      }
    });
    assert.equal(proxy.requests.length, 1, 'the proxy saw no more requests');
    assert.deepEqual(
      target.requests.map((r) => r.url),
      ['/v0/items?page=2', '/v0/direct', '/v0/direct', '/v0/direct'],
    );
  });

  test('HTTPS_PROXY: an https API is asked of the proxy by CONNECT; a refused tunnel fails at once', async () => {
    const proxy = await startForwardProxy();
    after(() => proxy.close());
    const logger = capturingLogger();
    await withProxyEnv({ HTTPS_PROXY: proxy.url }, async () => {
      // Nothing listens on localhost:9: a direct connection would fail with ECONNREFUSED.
      const c = createHttpClient({
        source: 'airtable (base appTEST)',
        baseUrl: 'https://localhost:9/v0',
        headers: { authorization: `Bearer ${TOKEN}` },
        retries: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
        logger,
      });
      try {
        const err = await failure(() => c.getJson('/appTEST/tbl'));
        assert.equal(err.transient, false, 'the proxy’s refusal is not retried');
        assert.equal(err.code, 'source_invalid');
        assert.match(
          err.message,
          /^airtable \(base appTEST\): GET \/v0\/appTEST\/tbl: the proxy refused to open a tunnel to localhost:9 \(403 Forbidden\)\. Check the proxy’s rules/,
        );
        assert.doesNotMatch(err.message, /ECONNREFUSED/);
        assertNoSecret(err, logger.lines);
      } finally {
        await c.close();
      }
    });
    assert.deepEqual(proxy.connects, ['localhost:9'], 'one tunnel request, no retry');
    assert.deepEqual(proxy.requests, []);
  });

  test('a proxy asking for credentials (407) fails at once; a proxy in trouble (502) is retried', async () => {
    for (const [status, attempts] of [
      ['407 Proxy Authentication Required', 1],
      ['502 Bad Gateway', 2],
    ] as const) {
      const proxy = await startForwardProxy(status);
      after(() => proxy.close());
      await withProxyEnv({ HTTPS_PROXY: proxy.url }, async () => {
        const c = createHttpClient({
          source: 'api',
          baseUrl: 'https://localhost:9/v0',
          retries: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
        });
        try {
          const err = await failure(() => c.getJson('/x'));
          if (attempts === 1) {
            assert.equal(err.code, 'auth_failed');
            assert.equal(err.transient, false);
            assert.match(err.message, /\(407 Proxy Authentication Required\)\. It asks for credentials/);
          } else {
            assert.equal(err.transient, true);
            assert.match(err.message, /failed 2 times, last with .*Proxy response \(502\)/);
          }
        } finally {
          await c.close();
        }
      });
      assert.equal(proxy.connects.length, attempts, status);
    }
  });
});

/**
 * A loopback port that never completes a connection: a listener in another process whose event
 * loop is blocked, so it never accepts, with its accept queue filled. Linux then drops further
 * SYNs (no RST, unlike a closed port), so a connect can only time out.
 */
async function unacceptingPort(): Promise<{ host: string; close(): void }> {
  const listener = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [chunk] = (await once(listener.stdout, 'data')) as [Buffer];
  const port = Number(chunk.toString().trim());
  // backlog 1 queues two completed handshakes; a few more make sure the queue is full.
  const fillers = Array.from({ length: 6 }, () => connect(port, '127.0.0.1').on('error', () => {}));
  await Promise.all(fillers.slice(0, 2).map((f) => once(f, 'connect')));
  return {
    host: `127.0.0.1:${port}`,
    close() {
      for (const f of fillers) f.destroy();
      listener.kill('SIGKILL');
    },
  };
}

describe('createHttpClient: connect timeout and terminal errors', () => {
  test('a connect timeout is retried, then fails transient, naming the source and the host', async () => {
    const hole = await unacceptingPort();
    const logger = capturingLogger();
    const c = createHttpClient({
      source: 'airtable (base appTEST)',
      baseUrl: `http://${hole.host}/v0`,
      headers: { authorization: `Bearer ${TOKEN}` },
      proxy: 'none',
      timeouts: { connect: 200 },
      retries: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      logger,
    });
    try {
      const err = await failure(() => c.getJson('/appTEST/tbl'));
      assert.equal(err.code, 'source_unavailable');
      assert.equal(err.transient, true);
      assert.equal(err.status, undefined);
      assert.match(
        err.message,
        /^airtable \(base appTEST\): GET \/v0\/appTEST\/tbl failed 2 times, last with a connect timeout/,
      );
      assert.ok(err.message.includes(hole.host), `names the host: ${err.message}`);
      assert.equal(logger.lines.length, 1);
      assert.match(logger.lines[0]!, /connect timeout.*retry 1\/1/);
      assertNoSecret(err, logger.lines);
    } finally {
      await c.close();
      hole.close();
    }
  });

  test('401, 403, 404 and 422 fail at once, naming the source, the path and what to fix, never the token', async () => {
    const cases: [number, unknown, RegExp][] = [
      [
        401,
        { error: { type: 'AUTHENTICATION_REQUIRED', message: `Bad token ${TOKEN}` } },
        /Check the credentials/,
      ],
      [
        403,
        {
          error: {
            type: 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND',
            message: `token ${TOKEN} may not read this`,
          },
        },
        /lack access, or the resource does not exist: check the token’s scopes/,
      ],
      [
        404,
        { error: { type: 'NOT_FOUND', message: `Could not find table tbl for Bearer ${TOKEN}` } },
        /Check the ids and names/,
      ],
      [
        422,
        {
          error: {
            type: 'INVALID_FILTER_BY_FORMULA',
            message: 'The formula for filtering records is invalid',
          },
        },
        /check the source options/,
      ],
    ];
    for (const [status, body, fix] of cases) {
      const s = await server((_req, res) => sendJson(res, status, body));
      const { c, logger } = client(s);
      const err = await failure(() =>
        c.getJson('/appX/tblY', { query: { filterByFormula: `{x} = '${TOKEN}'` } }),
      );
      assert.equal(s.requests.length, 1, `${status} is not retried`);
      assert.equal(err.transient, false);
      assert.equal(err.status, status);
      assert.ok(
        err.message.startsWith('airtable (base appTEST): GET /v0/appX/tblY?filterByFormula=… returned'),
        err.message,
      );
      assert.match(err.message, fix);
      assert.equal(logger.lines.length, 0, 'nothing to retry, nothing logged');
      assertNoSecret(err, logger.lines);
    }
  });

  test('error bodies are read only up to a bound, and their text is shortened in messages', async () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const s = await server((req, res) => {
      if (req.url?.includes('long-message'))
        sendJson(res, 422, { error: { type: 'INVALID_REQUEST_UNKNOWN', message: huge.slice(0, 10_000) } });
      else sendJson(res, 422, { error: { type: 'INVALID_REQUEST_UNKNOWN', message: huge } });
    });
    const { c } = client(s);
    const big = await failure(() => c.getJson('/huge'));
    assert.equal(big.status, 422);
    assert.equal(big.transient, false);
    assert.ok(big.message.length < 1000, `message of ${big.message.length} characters`);
    const long = await failure(() => c.getJson('/long-message'));
    assert.equal(long.apiErrorType, 'INVALID_REQUEST_UNKNOWN');
    assert.ok(long.message.length < 1000, `message of ${long.message.length} characters`);
    assert.match(long.message, /x…\. The API rejected the request/);
  });
});
