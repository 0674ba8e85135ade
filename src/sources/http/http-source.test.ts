import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { formatIssues } from '../../config/load.ts';
import { TributaryError } from '../../core/errors.ts';
import type { Checkpoint, CursorValue, Logger, RawRecord } from '../../core/types.ts';
import { silentLogger } from '../../core/types.ts';
import type { Page } from '../source.ts';
import { HttpError } from './http-error.ts';
import { httpSourceFactory, type HttpSource } from './http-source.ts';
import { capturingLogger, sendJson, startServer, type TestServer } from './http-testing.ts';

/** A fake API on loopback speaking every pagination style over the same 23 records. */
const TOKEN = 'tok_HttpSourceTest.0123456789abcdef';
const API_KEY = 'key_QuerySecret_98765';
const TOTAL = 23;
const HOUR = 3_600_000;
const T0 = Date.parse('2024-01-01T00:00:00.000Z');
const ALL = Array.from({ length: TOTAL }, (_, i) => ({
  id: `rec${i + 1}`,
  name: `Item ${i + 1}`,
  // One hour apart, so an incremental bound selects a clear tail.
  updated_at: new Date(T0 + i * HOUR).toISOString(),
}));
const ALL_IDS = ALL.map((r) => r.id);

let api: TestServer;
let elsewhere: TestServer;

/** Records at or after `updated_since` (ISO, date, epoch seconds or milliseconds), as the API filters. */
function filtered(q: URLSearchParams) {
  const since = q.get('updated_since');
  if (since === null) return ALL;
  const ms = /^\d{13}$/.test(since)
    ? Number(since)
    : /^\d{10}$/.test(since)
      ? Number(since) * 1000
      : Date.parse(since);
  return ALL.filter((r) => Date.parse(r.updated_at) >= ms);
}

function authorized(req: IncomingMessage): boolean {
  return req.headers.authorization === `Bearer ${TOKEN}`;
}

before(async () => {
  elsewhere = await startServer((req, res) =>
    req.url?.startsWith('/steal-list')
      ? sendJson(res, 200, [{ id: 'stolen' }])
      : sendJson(res, 200, { items: [{ id: 'stolen' }] }),
  );
  api = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    if (!authorized(req)) {
      // An API that echoes the credentials back: the client must scrub them.
      return sendJson(res, 401, {
        error: {
          code: 'unauthorized',
          message: `bad token ${String(req.headers.authorization)} or key ${String(q.get('api_key'))}`,
        },
      });
    }
    const rows = filtered(q);
    switch (url.pathname) {
      case '/v1/cursor': {
        const from = Number(q.get('cursor') ?? 0);
        const next = from + 10 < rows.length ? String(from + 10) : null;
        return sendJson(res, 200, {
          data: { items: rows.slice(from, from + 10) },
          meta: { next_cursor: next },
        });
      }
      case '/v1/next': {
        // Every request must carry the key; next links echo it, as many APIs do.
        if (q.get('api_key') !== API_KEY) return sendJson(res, 401, { message: 'api_key required' });
        const from = Number(q.get('after') ?? 0);
        const body: Record<string, unknown> = { items: rows.slice(from, from + 7) };
        if (from + 7 < rows.length) body.links = { next: `/v1/next?after=${from + 7}&api_key=${API_KEY}` };
        return sendJson(res, 200, body);
      }
      case '/v1/link': {
        const page = Number(q.get('p') ?? 1);
        const headers: Record<string, string> =
          page * 4 < rows.length ? { link: `</v1/link?p=${page + 1}>; rel="next"` } : {};
        return sendJson(res, 200, rows.slice((page - 1) * 4, page * 4), headers);
      }
      case '/v1/offset': {
        const from = Number(q.get('skip'));
        return sendJson(res, 200, { results: rows.slice(from, from + Number(q.get('take'))) });
      }
      case '/v1/page': {
        // The server's page size is fixed at 6.
        const page = Number(q.get('page'));
        return sendJson(res, 200, { results: rows.slice(page * 6, page * 6 + 6) });
      }
      case '/v1/all':
        return sendJson(res, 200, rows);
      case '/v1/evil-next':
        return sendJson(res, 200, {
          items: rows.slice(0, 2),
          links: { next: `${elsewhere.url}/steal?page=2` },
        });
      case '/v1/evil-link':
        return sendJson(res, 200, rows.slice(0, 2), {
          link: `<${elsewhere.url}/steal-list?page=2>; rel="next"`,
        });
      case '/v1/downgrade':
        // Same host, but a scheme that is neither the source's nor https.
        return sendJson(res, 200, {
          items: rows.slice(0, 2),
          links: { next: `ws://${req.headers.host}/next` },
        });
      case '/v1/mixed':
        return sendJson(res, 200, [{ id: 'a' }, 42, null, { id: 'b' }]);
      case '/v1/wrapped':
        return sendJson(res, 200, { total: TOTAL, entries: rows });
      default:
        return sendJson(res, 404, { error: 'NOT_FOUND' });
    }
  });
});

after(async () => {
  await api.close();
  await elsewhere.close();
});

function source(config: Record<string, unknown>, logger: Logger = silentLogger): HttpSource {
  const parsed = httpSourceFactory.configSchema.parse({
    type: 'http',
    headers: { Authorization: `Bearer ${TOKEN}` },
    ...config,
  });
  return httpSourceFactory.create(parsed, { baseDir: '.', logger }) as HttpSource;
}

async function readAll(
  s: HttpSource,
  opts: {
    checkpoint?: Checkpoint | null;
    cursor?: CursorValue | null;
    logger?: Logger;
    stopAfter?: number;
  } = {},
): Promise<Page[]> {
  const [stream] = await s.streams();
  const pages: Page[] = [];
  for await (const page of stream!.read({
    checkpoint: opts.checkpoint ?? null,
    cursor: opts.cursor ?? null,
    signal: new AbortController().signal,
    logger: opts.logger ?? silentLogger,
    pageSize: 1000,
  })) {
    // Checkpoints are stored as JSON: make sure they survive it.
    pages.push({ ...page, checkpoint: JSON.parse(JSON.stringify(page.checkpoint)) as Checkpoint });
    if (pages.length === opts.stopAfter) break;
  }
  return pages;
}

const ids = (pages: Page[]): string[] =>
  pages.flatMap((p) => p.records.map((r: RawRecord) => r.id as string));

async function failure(fn: () => Promise<unknown>): Promise<TributaryError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof TributaryError, `expected a TributaryError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a failure');
}

/** The secret must not appear in the error (message, stack, cause chain) nor in any log line. */
function assertNowhere(secret: string, err: unknown, lines: string[]): void {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    assert.ok(!e.message.includes(secret), `secret in message: ${e.message}`);
    assert.ok(!(e.stack ?? '').includes(secret), 'secret in stack');
  }
  assert.ok(!JSON.stringify(err).includes(secret), 'secret in the serialised error');
  for (const line of lines) assert.ok(!line.includes(secret), `secret in log line: ${line}`);
}

/** Each paginator type, its config, the requests a full walk takes, and the request for page 3. */
const PAGINATED: { name: string; config: Record<string, unknown>; requests: number; third: string }[] = [
  {
    name: 'cursor',
    config: {
      url: '/v1/cursor',
      recordsPath: 'data.items',
      paginator: { type: 'cursor', cursorPath: 'meta.next_cursor', param: 'cursor' },
    },
    requests: 3,
    third: '/v1/cursor?cursor=20',
  },
  {
    name: 'nextUrl',
    config: {
      url: '/v1/next',
      query: { api_key: API_KEY },
      recordsPath: 'items',
      paginator: { type: 'nextUrl', path: 'links.next' },
    },
    requests: 4,
    third: `/v1/next?after=14&api_key=${API_KEY}`,
  },
  {
    name: 'link',
    config: { url: '/v1/link', paginator: { type: 'link' } },
    requests: 6,
    third: '/v1/link?p=3',
  },
  {
    name: 'offset',
    config: {
      url: '/v1/offset',
      recordsPath: 'results',
      paginator: { type: 'offset', limit: 5, offsetParam: 'skip', limitParam: 'take' },
    },
    requests: 5,
    third: '/v1/offset?skip=10&take=5',
  },
  {
    name: 'page',
    config: {
      url: '/v1/page',
      recordsPath: 'results',
      paginator: { type: 'page', pageSize: 6, firstPage: 0 },
    },
    requests: 4,
    third: '/v1/page?page=2',
  },
];

const withUrl = (config: Record<string, unknown>) => ({ ...config, url: `${api.url}${String(config.url)}` });

describe('http source: config', () => {
  test('defaults: no pagination, top-level array, not sorted by cursor, no rate limit', () => {
    const c = httpSourceFactory.configSchema.parse({ type: 'http', url: 'https://api.example.com/v1/items' });
    assert.deepEqual(c, {
      type: 'http',
      url: 'https://api.example.com/v1/items',
      headers: {},
      query: {},
      recordsPath: '',
      paginator: { type: 'none' },
      sortedByCursor: false,
      allowedHosts: [],
    });
    const p = httpSourceFactory.configSchema.parse({
      type: 'http',
      url: 'https://api.example.com/v1/items',
      paginator: { type: 'offset', limit: '50' },
      incremental: { param: 'updated_since' },
    });
    assert.deepEqual(p.paginator, {
      type: 'offset',
      limit: 50,
      offsetParam: 'offset',
      limitParam: 'limit',
      start: 0,
      until: 'short-page',
    });
    assert.deepEqual(p.incremental, { param: 'updated_since', format: 'iso' });
  });

  test('errors name the option and say what to do, never echoing a header value', () => {
    const problems = (config: Record<string, unknown>) => {
      const r = httpSourceFactory.configSchema.safeParse({
        type: 'http',
        url: 'https://api.example.com/x',
        ...config,
      });
      assert.ok(!r.success);
      return formatIssues(r.error.issues, ['syncs', 'items', 'source']);
    };
    assert.deepEqual(problems({ url: 'api.example.com/v1' }), [
      {
        path: 'syncs.items.source.url',
        message: 'must be an absolute http:// or https:// URL, e.g. https://api.example.com/v1/items',
      },
    ]);
    assert.match(
      problems({ url: 'ftp://api.example.com/x' })[0]!.message,
      /must use http:\/\/ or https:\/\//,
    );
    assert.match(
      problems({ url: 'https://u:pw@api.example.com/x' })[0]!.message,
      /must not contain credentials/,
    );
    assert.deepEqual(problems({ paginator: { type: 'cursr' } }), [
      {
        path: 'syncs.items.source.paginator.type',
        message: 'paginator type must be one of none, cursor, nextUrl, link, offset, page',
      },
    ]);
    assert.equal(
      problems({ paginator: { type: 'cursor', param: 'c' } })[0]!.path,
      'syncs.items.source.paginator.cursorPath',
    );
    assert.equal(problems({ paginator: { type: 'page' } })[0]!.path, 'syncs.items.source.paginator.pageSize');
    assert.deepEqual(problems({ headers: { Authorization: 'Bearer ' } }), [
      {
        path: 'syncs.items.source.headers.Authorization',
        message:
          'is empty or only a scheme such as "Bearer": is the environment variable in it set and not empty?',
      },
    ]);
    const multiLine = problems({ headers: { 'X-Key': `${TOKEN}\r\nX-Evil: 1` } });
    assert.equal(multiLine[0]!.path, 'syncs.items.source.headers.X-Key');
    assert.ok(!JSON.stringify(multiLine).includes(TOKEN));
    assert.deepEqual(problems({ query: { page: 2 }, paginator: { type: 'page', pageSize: 10 } }), [
      {
        path: 'syncs.items.source.query.page',
        message: '"page" is set by the paginator on every request; remove it from query',
      },
    ]);
    assert.equal(
      problems({
        incremental: { param: 'cursor' },
        paginator: { type: 'cursor', cursorPath: 'next', param: 'cursor' },
      })[0]!.path,
      'syncs.items.source.incremental.param',
    );
    assert.equal(
      problems({ incremental: { param: 'since', format: 'unix' } })[0]!.path,
      'syncs.items.source.incremental.format',
    );
    assert.equal(
      problems({ allowedHosts: ['https://cdn.example.com/'] })[0]!.path,
      'syncs.items.source.allowedHosts[0]',
    );
    assert.equal(problems({ colour: 'red' })[0]!.message, 'Unrecognized key: "colour"');
  });
});

describe('http source: pagination', () => {
  for (const { name, config, requests } of PAGINATED) {
    test(`${name}: reads every record in order, sending the headers; the last checkpoint says done`, async () => {
      const before = api.requests.length;
      const pages = await readAll(source(withUrl(config)));
      assert.deepEqual(ids(pages), ALL_IDS);
      const sent = api.requests.slice(before);
      assert.equal(sent.length, requests);
      for (const r of sent) assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(sent[0]!.headers['user-agent'], 'tributary');
      assert.deepEqual(pages.at(-1)!.checkpoint.next, null);
      // Resuming from the final checkpoint reads nothing and calls nobody.
      const after = api.requests.length;
      assert.deepEqual(await readAll(source(withUrl(config)), { checkpoint: pages.at(-1)!.checkpoint }), []);
      assert.equal(api.requests.length, after);
    });
  }

  test('none: one request, the top-level array; recordsPath finds a nested one', async () => {
    const before = api.requests.length;
    assert.deepEqual(ids(await readAll(source({ url: `${api.url}/v1/all` }))), ALL_IDS);
    assert.deepEqual(
      ids(await readAll(source({ url: `${api.url}/v1/wrapped`, recordsPath: 'entries' }))),
      ALL_IDS,
    );
    assert.equal(api.requests.length - before, 2);
  });

  test('offset and page send their parameters; query and the URL’s own query string go along', async () => {
    const before = api.requests.length;
    await readAll(
      source({
        url: `${api.url}/v1/page?lang=en`,
        query: { status: 'active', tag: ['a', 'b'] },
        recordsPath: 'results',
        paginator: { type: 'page', pageSize: 6, firstPage: 0, sizeParam: 'per_page' },
      }),
    );
    const urls = api.requests.slice(before).map((r) => r.url);
    assert.deepEqual(urls, [
      '/v1/page?lang=en&status=active&tag=a&tag=b&page=0&per_page=6',
      '/v1/page?lang=en&status=active&tag=a&tag=b&page=1&per_page=6',
      '/v1/page?lang=en&status=active&tag=a&tag=b&page=2&per_page=6',
      '/v1/page?lang=en&status=active&tag=a&tag=b&page=3&per_page=6',
    ]);
  });

  test('items that are not JSON objects become rejects; the others are records', async () => {
    const [page] = await readAll(source({ url: `${api.url}/v1/mixed` }));
    assert.deepEqual(page!.records, [{ id: 'a' }, { id: 'b' }]);
    assert.deepEqual(page!.rejects, [
      {
        code: 'malformed_record',
        message: 'record 2 of GET /v1/mixed: expected a JSON object, got a number',
        payload: 42,
      },
      {
        code: 'malformed_record',
        message: 'record 3 of GET /v1/mixed: expected a JSON object, got null',
        payload: null,
      },
    ]);
  });

  test('no records array where recordsPath points: a clear error naming the source', async () => {
    const err = await failure(() =>
      readAll(source({ url: `${api.url}/v1/wrapped`, recordsPath: 'data.items' })),
    );
    assert.equal(err.code, 'source_invalid');
    assert.match(
      err.message,
      /^http \(127\.0\.0\.1:\d+\): \/v1\/wrapped: expected an array of records at "data\.items"/,
    );
  });

  test('ratePerSecond spaces the requests to the host', async () => {
    const started = performance.now();
    await readAll(
      source({
        url: `${api.url}/v1/offset`,
        recordsPath: 'results',
        paginator: { type: 'offset', limit: 5, offsetParam: 'skip', limitParam: 'take' },
        ratePerSecond: 20,
      }),
    );
    // 5 requests at 20/s: the first is free, the next four wait 50 ms each.
    assert.ok(performance.now() - started >= 190, `took ${Math.round(performance.now() - started)} ms`);
  });
});

describe('http source: incremental', () => {
  const config = {
    url: '/v1/cursor',
    recordsPath: 'data.items',
    paginator: { type: 'cursor', cursorPath: 'meta.next_cursor', param: 'cursor' },
  };
  const cursor = ALL[20]!.updated_at; // 2024-01-01T20:00:00.000Z: records 21..23 are at or after it
  const cases: [string, CursorValue, string][] = [
    ['iso', cursor, '2024-01-01T20:00:00.000Z'],
    ['epoch_s', cursor, String(Date.parse(cursor) / 1000)],
    ['epoch_ms', cursor, String(Date.parse(cursor))],
    ['raw', cursor, cursor],
  ];
  for (const [format, value, sent] of cases) {
    test(`the cursor is sent as incremental.param (${format}) and the API's answer is all that is read`, async () => {
      const before = api.requests.length;
      const pages = await readAll(
        source(withUrl({ ...config, incremental: { param: 'updated_since', format } })),
        { cursor: value },
      );
      assert.deepEqual(ids(pages), ['rec21', 'rec22', 'rec23']);
      const url = new URL(api.requests[before]!.url, 'http://x');
      assert.equal(url.searchParams.get('updated_since'), sent);
    });
  }

  test('a date cursor stays a date; a full pass (no cursor) sends no bound', async () => {
    const s = source(withUrl({ ...config, incremental: { param: 'updated_since' } }));
    let before = api.requests.length;
    await readAll(s, { cursor: '2024-01-01' });
    assert.equal(
      new URL(api.requests[before]!.url, 'http://x').searchParams.get('updated_since'),
      '2024-01-01',
    );
    before = api.requests.length;
    assert.equal(ids(await readAll(s, { cursor: null })).length, TOTAL);
    assert.ok(api.requests.slice(before).every((r) => !r.url.includes('updated_since')));
  });

  test('the bound is sent on every page of a cursor walk', async () => {
    const before = api.requests.length;
    const pages = await readAll(source(withUrl({ ...config, incremental: { param: 'updated_since' } })), {
      cursor: ALL[5]!.updated_at,
    });
    assert.equal(ids(pages).length, TOTAL - 5);
    const sent = api.requests.slice(before);
    assert.equal(sent.length, 2);
    for (const r of sent) assert.match(r.url, /updated_since=2024-01-01T05%3A00%3A00\.000Z/);
  });

  test('a numeric cursor with a time format is a config error suggesting raw', async () => {
    const err = await failure(() =>
      readAll(source(withUrl({ ...config, incremental: { param: 'since_id', format: 'epoch_s' } })), {
        cursor: 42,
      }),
    );
    assert.equal(err.code, 'config_invalid');
    assert.match(err.message, /cursor value "42" is not a date or timestamp\. Use format: raw/);
  });

  test('sortedByCursor is false unless the config says the API sorts by the cursor', async () => {
    const [unsorted] = await source(withUrl(config)).streams();
    assert.equal(unsorted!.sortedByCursor, false);
    const [sorted] = await source(withUrl({ ...config, sortedByCursor: true })).streams();
    assert.equal(sorted!.sortedByCursor, true);
    assert.equal(sorted!.name, 'cursor');
  });
});

describe('http source: resume', () => {
  for (const { name, config, requests, third } of PAGINATED) {
    test(`${name}: resuming from the checkpoint after page 2 reads the rest, starting at page 3`, async () => {
      const firstTwo = await readAll(source(withUrl(config)), { stopAfter: 2 });
      const checkpoint = firstTwo[1]!.checkpoint;
      const before = api.requests.length;
      const rest = await readAll(source(withUrl(config)), { checkpoint });
      assert.deepEqual([...ids(firstTwo), ...ids(rest)], ALL_IDS);
      // The resumed walk starts with page 3: no page is read twice.
      assert.equal(api.requests[before]!.url, third);
      assert.equal(api.requests.length - before, requests - 2);
    });
  }

  test('a next-URL checkpoint never holds a query secret; it is put back on resume', async () => {
    const config = withUrl(PAGINATED.find((p) => p.name === 'nextUrl')!.config);
    const pages = await readAll(source(config), { stopAfter: 1 });
    const stored = JSON.stringify(pages[0]!.checkpoint);
    assert.ok(!stored.includes(API_KEY), stored);
    assert.deepEqual((pages[0]!.checkpoint.next as { restore: string[] }).restore, ['api_key']);
    const before = api.requests.length;
    const rest = await readAll(source(config), { checkpoint: pages[0]!.checkpoint });
    assert.deepEqual([...ids(pages), ...ids(rest)], ALL_IDS);
    assert.match(api.requests[before]!.url, /^\/v1\/next\?after=7&api_key=key_QuerySecret_98765$/);
    for (const p of [...pages, ...rest]) assert.ok(!JSON.stringify(p.checkpoint).includes(API_KEY));
  });

  test('a checkpoint of a different request (changed query or paginator) starts over, with a warning', async () => {
    const config = withUrl(PAGINATED.find((p) => p.name === 'offset')!.config);
    const [page] = await readAll(source(config), { stopAfter: 1 });
    const logger = capturingLogger();
    const changed = {
      ...config,
      paginator: { type: 'offset', limit: 4, offsetParam: 'skip', limitParam: 'take' },
    };
    const pages = await readAll(source(changed), { checkpoint: page!.checkpoint, logger });
    assert.deepEqual(ids(pages), ALL_IDS);
    assert.match(
      logger.lines.join('\n'),
      /the checkpoint belongs to a different request; starting from the first page/,
    );
    // The same request with another incremental bound is another request too.
    const withBound = { ...config, incremental: { param: 'updated_since' } };
    const [p1] = await readAll(source(withBound), { stopAfter: 1, cursor: ALL[0]!.updated_at });
    const again = await readAll(source(withBound), {
      checkpoint: p1!.checkpoint,
      cursor: ALL[20]!.updated_at,
    });
    assert.deepEqual(ids(again), ['rec21', 'rec22', 'rec23']);
  });
});

describe('http source: only its own host', () => {
  for (const [path, config, from] of [
    [
      '/v1/evil-next',
      { recordsPath: 'items', paginator: { type: 'nextUrl', path: 'links.next' } },
      '"links.next" in the response body',
    ],
    ['/v1/evil-link', { paginator: { type: 'link' } }, 'the Link response header'],
  ] as const) {
    test(`a next page on another host (${from}) stops the run with a terminal error; allowedHosts opens it`, async () => {
      elsewhere.requests.length = 0;
      const err = await failure(() => readAll(source({ url: `${api.url}${path}`, ...config })));
      assert.ok(err instanceof HttpError);
      assert.equal(err.code, 'source_invalid');
      assert.equal(err.transient, false);
      const other = new URL(elsewhere.url).host;
      assert.equal(
        err.message,
        `http (${new URL(api.url).host}): the next-page URL from ${from} of GET ${path} points to ${other}; this source only calls ${new URL(api.url).host}, so it stops here. If ${other} is the API's own host, add it to the source's allowedHosts.`,
      );
      assert.equal(elsewhere.requests.length, 0);

      const opened = await readAll(source({ url: `${api.url}${path}`, ...config, allowedHosts: [other] }));
      assert.deepEqual(ids(opened), ['rec1', 'rec2', 'stolen']);
      assert.equal(elsewhere.requests.length, 1);
    });
  }

  test('a next page on another protocol is refused too', async () => {
    const err = await failure(() =>
      readAll(
        source({
          url: `${api.url}/v1/downgrade`,
          recordsPath: 'items',
          paginator: { type: 'nextUrl', path: 'links.next' },
        }),
      ),
    );
    assert.equal(err.code, 'source_invalid');
    assert.match(
      err.message,
      /uses ws:\/\/ instead of http:\/\/; refusing to send the credentials over it\.$/,
    );
  });
});

describe('http source: failures and check()', () => {
  test('a 401 fails fast, naming the source, the path and the header, never the token', async () => {
    const logger = capturingLogger();
    const s = source(
      { url: `${api.url}/v1/cursor`, headers: { Authorization: 'Bearer tok_Wrong.SecretValue123' } },
      logger,
    );
    const before = api.requests.length;
    const err = await failure(() => readAll(s, { logger }));
    assert.equal(api.requests.length - before, 1);
    assert.ok(err instanceof HttpError);
    assert.equal(err.code, 'auth_failed');
    assert.equal(err.transient, false);
    assert.match(
      err.message,
      /^http \(127\.0\.0\.1:\d+\): GET \/v1\/cursor returned 401 Unauthorized: unauthorized bad token \[redacted\] or key null\./,
    );
    assert.match(
      err.message,
      /The API refused the credentials: check the source's headers Authorization \(values not shown\)/,
    );
    assert.ok(!err.message.includes('Check the credentials configured'), 'the generic advice is replaced');
    assertNowhere('tok_Wrong.SecretValue123', err, logger.lines);
  });

  test('retries are logged without the token, and a 401 after them is still terminal', async () => {
    let n = 0;
    const flaky = await startServer((_req, res) => {
      n++;
      if (n === 1) return sendJson(res, 503, { message: `overloaded, token Bearer ${TOKEN}` });
      return sendJson(res, 401, { message: `token Bearer ${TOKEN} revoked` });
    });
    try {
      const logger = capturingLogger();
      const err = await failure(() => readAll(source({ url: `${flaky.url}/v1/items` }, logger)));
      assert.equal(err.code, 'auth_failed');
      assert.equal(logger.lines.length, 1);
      assert.match(logger.lines[0]!, /503 Service Unavailable: overloaded, token \[redacted\]/);
      assertNowhere(TOKEN, err, logger.lines);
    } finally {
      await flaky.close();
    }
  });

  test('a credential in the query is scrubbed from errors and logs too', async () => {
    const logger = capturingLogger();
    const err = await failure(() =>
      readAll(source({ url: `${api.url}/v1/cursor`, headers: {}, query: { api_key: API_KEY } }, logger)),
    );
    assert.equal(err.code, 'auth_failed');
    assert.match(
      err.message,
      /GET \/v1\/cursor\?api_key=… returned 401 Unauthorized: unauthorized bad token undefined or key \[redacted\]\./,
    );
    assert.match(err.message, /No headers are configured for this source/);
    assertNowhere(API_KEY, err, logger.lines);
  });

  test('a 404 on the first page points at the url', async () => {
    const err = await failure(() => readAll(source({ url: `${api.url}/v1/nope` })));
    assert.equal(err.code, 'source_invalid');
    assert.match(
      err.message,
      /GET \/v1\/nope returned 404 Not Found: NOT_FOUND\. Check the path in the source's url \(\/v1\/nope\): the API has no such resource/,
    );
  });

  test('check(): one request; says what works or what to fix, never printing header values', async () => {
    const cursor = PAGINATED[0]!.config;
    const cases: [Record<string, unknown>, boolean, RegExp][] = [
      [
        withUrl(cursor),
        true,
        /^http \(127\.0\.0\.1:\d+\): GET \/v1\/cursor answered with 10 record\(s\) at recordsPath "data\.items"\.$/,
      ],
      [
        { ...withUrl(cursor), headers: { Authorization: 'Bearer tok_Wrong.SecretValue123' } },
        false,
        /returned 401 Unauthorized.*check the source's headers Authorization \(values not shown\)/,
      ],
      [
        { url: `${api.url}/v1/nope` },
        false,
        /returned 404 Not Found.*Check the path in the source's url \(\/v1\/nope\)/,
      ],
      [
        { ...withUrl(cursor), recordsPath: 'items' },
        false,
        /no array of records at recordsPath "items" \(the body is an object with keys data, meta\)\. Set the source's recordsPath/,
      ],
      [
        {
          url: `${api.url}/v1/evil-next`,
          recordsPath: 'items',
          paginator: { type: 'nextUrl', path: 'links.next' },
        },
        false,
        /points to 127\.0\.0\.1:\d+; this source only calls/,
      ],
    ];
    for (const [config, ok, message] of cases) {
      const before = api.requests.length;
      const result = await source(config).check();
      assert.equal(result.ok, ok, result.message);
      assert.match(result.message, message);
      assert.ok(!result.message.includes('tok_Wrong.SecretValue123') && !result.message.includes(TOKEN));
      assert.equal(api.requests.length - before, 1);
    }
  });

  test('check(): an unreachable host is named, with what to check, after a single attempt', async () => {
    const gone = await startServer((_req, res) => sendJson(res, 200, []));
    const url = gone.url;
    await gone.close();
    const started = performance.now();
    const result = await source({ url: `${url}/v1/items` }).check();
    assert.equal(result.ok, false);
    assert.match(
      result.message,
      /^http \(127\.0\.0\.1:\d+\): no answer from 127\.0\.0\.1:\d+ for GET \/v1\/items .*Check the host and port in the source's url/,
    );
    assert.ok(performance.now() - started < 2000, 'no retries in a check');
  });
});
