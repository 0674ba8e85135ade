import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Checkpoint } from '../../core/types.ts';
import { createHttpClient, type HttpClient } from './http-client.ts';
import { sendJson, startServer, type TestServer } from './http-testing.ts';
import {
  bodyCursor,
  bodyNextUrl,
  linkHeader,
  offsetLimit,
  pageNumber,
  paginate,
  parseLinkHeader,
  type PageRequest,
  type Paginator,
} from './paginators.ts';

const TOTAL = 23;
const ALL = Array.from({ length: TOTAL }, (_, i) => `rec${i + 1}`);
const rows = (from: number, n: number) => ALL.slice(from, from + n).map((id) => ({ id }));

/** One server speaking every pagination style over the same 23 records. */
let server: TestServer;
let client: HttpClient;
let otherHost: TestServer;

before(async () => {
  otherHost = await startServer((_req, res) => sendJson(res, 200, { value: [{ id: 'evil' }] }));
  server = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    switch (url.pathname) {
      case '/v0/cursor': {
        // Airtable: opaque offset with a '/' in it, absent on the last page.
        const from = q.get('offset') ? Number(q.get('offset')!.split('/')[1]) : 0;
        const size = Number(q.get('pageSize'));
        const body: Record<string, unknown> = { records: rows(from, size) };
        if (from + size < TOTAL) body.offset = `itr/${from + size}`;
        return sendJson(res, 200, body);
      }
      case '/v0/graphql': {
        const from = Number(q.get('after') ?? 0);
        const hasNextPage = from + 10 < TOTAL;
        return sendJson(res, 200, {
          data: {
            issues: { nodes: rows(from, 10), pageInfo: { hasNextPage, endCursor: String(from + 10) } },
          },
        });
      }
      case '/v0/odata': {
        const from = Number(q.get('$skip') ?? 0);
        const body: Record<string, unknown> = { value: rows(from, 7) };
        if (from + 7 < TOTAL) body['@odata.nextLink'] = `odata?$skip=${from + 7}&$top=7`;
        return sendJson(res, 200, body);
      }
      case '/v0/link': {
        const page = Number(q.get('page') ?? 1);
        const links = [`<${server.url}/v0/link?page=1&per_page=4>; rel="first"`];
        if (page * 4 < TOTAL) links.push(`</v0/link?page=${page + 1}&per_page=4>; rel="next last"`);
        return sendJson(res, 200, rows((page - 1) * 4, 4), { link: links.join(', ') });
      }
      case '/v0/offset':
        return sendJson(res, 200, rows(Number(q.get('offset')), Number(q.get('limit'))));
      case '/v0/page': {
        // Server page size is fixed at 6 and not configurable.
        return sendJson(res, 200, { items: rows((Number(q.get('page')) - 1) * 6, 6) });
      }
      case '/v0/evil':
        return sendJson(res, 200, {
          value: [{ id: 'a' }],
          next: `${otherHost.url.replace('127.0.0.1', 'localhost')}/steal`,
        });
      case '/v0/stuck':
        return sendJson(res, 200, { records: [{ id: 'a' }], offset: 'same' });
      default:
        return sendJson(res, 404, { error: 'NOT_FOUND' });
    }
  });
  client = createHttpClient({
    source: 'test',
    baseUrl: `${server.url}/v0`,
    proxy: 'none',
    retries: { attempts: 1 },
  });
});
after(async () => {
  await client.close();
  await server.close();
  await otherHost.close();
});

interface Case {
  name: string;
  paginator: Paginator;
  first: PageRequest;
  recordsPath: string;
  pages: number;
}

const cases = (): Case[] => [
  {
    name: 'body cursor (Airtable offset)',
    paginator: bodyCursor({ cursorPath: 'offset', param: 'offset' }),
    first: { url: '/cursor', query: { pageSize: 5 } },
    recordsPath: 'records',
    pages: 5,
  },
  {
    name: 'body cursor with hasMore (GraphQL pageInfo)',
    paginator: bodyCursor({
      cursorPath: 'data.issues.pageInfo.endCursor',
      hasMorePath: 'data.issues.pageInfo.hasNextPage',
      param: 'after',
    }),
    first: { url: '/graphql', query: {} },
    recordsPath: 'data.issues.nodes',
    pages: 3,
  },
  {
    name: 'next URL in body (OData nextLink, relative)',
    paginator: bodyNextUrl({ path: '@odata.nextLink' }),
    first: { url: '/odata', query: { $top: 7 } },
    recordsPath: 'value',
    pages: 4,
  },
  {
    name: 'Link header rel="next"',
    paginator: linkHeader(),
    first: { url: '/link', query: { per_page: 4 } },
    recordsPath: '',
    pages: 6,
  },
  {
    name: 'offset + limit',
    paginator: offsetLimit({ limit: 5 }),
    first: { url: '/offset', query: {} },
    recordsPath: '',
    pages: 5,
  },
  {
    name: 'page number (short last page ends it)',
    paginator: pageNumber({ pageSize: 6 }),
    first: { url: '/page', query: {} },
    recordsPath: 'items',
    pages: 4,
  },
  {
    name: 'page number (until an empty page)',
    paginator: pageNumber({ pageSize: 6, until: 'empty-page' }),
    first: { url: '/page', query: {} },
    recordsPath: 'items',
    pages: 5,
  },
];

async function walk(c: Case, checkpoint: Checkpoint | null, maxPages = Infinity) {
  const ids: string[] = [];
  let last: Checkpoint | null = checkpoint;
  let pages = 0;
  for await (const page of paginate({
    client,
    paginator: c.paginator,
    first: c.first,
    recordsPath: c.recordsPath,
    checkpoint,
  })) {
    ids.push(...page.records.map((r) => String(r.id)));
    // Checkpoints must survive a trip through the state table.
    last = JSON.parse(JSON.stringify(page.checkpoint)) as Checkpoint;
    if (++pages >= maxPages) break;
  }
  return { ids, last, pages };
}

describe('paginators', () => {
  for (const c of cases()) {
    test(`${c.name}: walks every page to the exact set of records, and resumes`, async () => {
      const full = await walk(c, null);
      assert.deepEqual(full.ids, ALL);
      assert.equal(full.pages, c.pages);
      // The last checkpoint means "done": resuming from it reads nothing.
      assert.deepEqual((await walk(c, full.last)).ids, []);

      const head = await walk(c, null, 2);
      const tail = await walk(c, head.last);
      assert.deepEqual([...head.ids, ...tail.ids], ALL);
    });
  }

  test('a next URL on another host is refused (DESIGN guarantee 10)', async () => {
    const pages = paginate({
      client,
      paginator: bodyNextUrl({ path: 'next' }),
      first: { url: '/evil', query: {} },
      recordsPath: 'value',
    });
    const first = await pages.next();
    assert.equal(first.done, false);
    await assert.rejects(pages.next(), { code: 'source_invalid', message: /refused to call/ });
    assert.equal(otherHost.requests.length, 0);
  });

  test('a server repeating the same cursor is stopped, not looped on', async () => {
    const pages = paginate({
      client,
      paginator: bodyCursor({ cursorPath: 'offset', param: 'offset' }),
      first: { url: '/stuck', query: {} },
      recordsPath: 'records',
    });
    await pages.next();
    await assert.rejects(pages.next(), { code: 'source_invalid', message: /same next page twice/ });
  });

  test('parseLinkHeader handles several links, rel lists, case and unquoted rel', () => {
    const links = parseLinkHeader(
      '<https://api.github.com/r?page=2&a=b,c>; rel="next", <https://api.github.com/r?page=9>; REL="Last Other", </r?page=1>; rel=first',
    );
    assert.equal(links.get('next'), 'https://api.github.com/r?page=2&a=b,c');
    assert.equal(links.get('last'), 'https://api.github.com/r?page=9');
    assert.equal(links.get('other'), 'https://api.github.com/r?page=9');
    assert.equal(links.get('first'), '/r?page=1');
    assert.equal(parseLinkHeader('').size, 0);
  });
});
