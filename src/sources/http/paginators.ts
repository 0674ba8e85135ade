import type { Checkpoint, RawRecord } from '../../core/types.ts';
import { TributaryError } from '../../core/errors.ts';
import type { HttpClient, HttpResponse, Query } from './http-client.ts';

/**
 * Pagination strategies as small values, so a connector picks one instead of writing a loop.
 * A strategy maps "where we are" (its state, which is JSON and doubles as the checkpoint) to the
 * next request, and the last response to the next state or `null` when done.
 */
export interface PageRequest {
  /** Path under the client's baseUrl, or an absolute URL (checked against allowed hosts). */
  url: string;
  query: Query;
}

export interface Paginator<S extends Checkpoint = Checkpoint> {
  /** The request for the page at `state`; `null` is the first page. */
  request(first: PageRequest, state: S | null): PageRequest;
  /** The state of the page after `res`, or null when `res` was the last page. */
  next(res: HttpResponse<unknown>, state: S | null, recordCount: number): S | null;
}

/** Reads `a.b.c` from a JSON body; '' is the body itself. */
export function getPath(body: unknown, path: string): unknown {
  if (path === '') return body;
  let v: unknown = body;
  for (const part of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * A token in the body sent back as a parameter: Airtable `offset`, GraphQL `endCursor` (with
 * `hasMorePath: 'pageInfo.hasNextPage'`).
 */
export function bodyCursor(options: {
  /** Where the token is in the body, e.g. 'offset' or 'data.issues.pageInfo.endCursor'. */
  cursorPath: string;
  /** Query parameter that carries it back, e.g. 'offset'. */
  param: string;
  /** When set, a falsy value here ends the walk even if a token is present. */
  hasMorePath?: string;
}): Paginator<{ cursor: string }> {
  return {
    request: (first, state) =>
      state ? { url: first.url, query: { ...first.query, [options.param]: state.cursor } } : first,
    next(res) {
      if (options.hasMorePath !== undefined && !getPath(res.body, options.hasMorePath)) return null;
      const cursor = getPath(res.body, options.cursorPath);
      return typeof cursor === 'string' && cursor !== ''
        ? { cursor }
        : typeof cursor === 'number'
          ? { cursor: String(cursor) }
          : null;
    },
  };
}

/** An absolute or relative URL of the next page in the body, e.g. OData `@odata.nextLink`. */
export function bodyNextUrl(options: {
  /** Where the URL is in the body. Dotted paths; a key with dots in it is looked up whole first. */
  path: string;
}): Paginator<{ url: string }> {
  return {
    // The next URL already carries every parameter the server wants; repeating ours would clash.
    request: (first, state) => (state ? { url: state.url, query: {} } : first),
    next(res) {
      const body = res.body as Record<string, unknown> | null;
      const v =
        body && typeof body === 'object' && options.path in body
          ? body[options.path]
          : getPath(body, options.path);
      return typeof v === 'string' && v !== '' ? { url: new URL(v, res.url).href } : null;
    },
  };
}

/** RFC 8288 `Link: <…>; rel="next"` (GitHub). Relative links resolve against the request URL. */
export function linkHeader(): Paginator<{ url: string }> {
  return {
    request: (first, state) => (state ? { url: state.url, query: {} } : first),
    next(res) {
      const raw = res.headers.link;
      const next = parseLinkHeader(Array.isArray(raw) ? raw.join(',') : (raw ?? '')).get('next');
      return next ? { url: new URL(next, res.url).href } : null;
    },
  };
}

/** rel → URI from a Link header. Relation names are case-insensitive and may be space-separated lists. */
export function parseLinkHeader(value: string): Map<string, string> {
  const links = new Map<string, string>();
  // URIs are inside <…>, so commas in them do not split links.
  for (const m of value.matchAll(/<([^>]*)>([^<]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2] ?? '');
    for (const name of (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/)) {
      if (name && !links.has(name)) links.set(name, m[1] ?? '');
    }
  }
  return links;
}

interface CountedOptions {
  /**
   * How the end is detected. 'short-page': a page with fewer records than asked for is the last
   * (saves a request). 'empty-page': only an empty page ends the walk, for servers that may
   * return fewer than asked for mid-stream.
   */
  until?: 'short-page' | 'empty-page';
}

/** `?offset=N&limit=M` (ODK REST). */
export function offsetLimit(
  options: CountedOptions & {
    limit: number;
    offsetParam?: string;
    limitParam?: string;
    /** Offset of the first record (0 for most APIs). */
    start?: number;
  },
): Paginator<{ offset: number }> {
  const { offsetParam = 'offset', limitParam = 'limit', start = 0, limit } = options;
  return {
    request: (first, state) => ({
      url: first.url,
      query: { ...first.query, [offsetParam]: state?.offset ?? start, [limitParam]: limit },
    }),
    next: (_res, state, count) =>
      isLast(count, limit, options.until) ? null : { offset: (state?.offset ?? start) + count },
  };
}

/** `?page=N&per_page=M`. */
export function pageNumber(
  options: CountedOptions & {
    pageSize: number;
    pageParam?: string;
    /** Omitted: the server's own page size is used and `pageSize` only tells a short page. */
    sizeParam?: string;
    firstPage?: number;
  },
): Paginator<{ page: number }> {
  const { pageParam = 'page', firstPage = 1, pageSize } = options;
  return {
    request: (first, state) => ({
      url: first.url,
      query: {
        ...first.query,
        [pageParam]: state?.page ?? firstPage,
        ...(options.sizeParam ? { [options.sizeParam]: pageSize } : {}),
      },
    }),
    next: (_res, state, count) =>
      isLast(count, pageSize, options.until) ? null : { page: (state?.page ?? firstPage) + 1 },
  };
}

const isLast = (count: number, size: number, until: CountedOptions['until']): boolean =>
  count === 0 || (until !== 'empty-page' && count < size);

export interface FetchedPage {
  records: RawRecord[];
  /** Resume position *after* this page: pass it back as `checkpoint` to continue. */
  checkpoint: Checkpoint;
  response: HttpResponse<unknown>;
}

/**
 * Walks pages with `client` and `paginator`, from the start or from a checkpoint it yielded
 * before. A checkpoint of the last page says "done", and resuming from it yields nothing.
 */
export async function* paginate(options: {
  client: HttpClient;
  paginator: Paginator;
  first: PageRequest;
  /** Where the records array is in the body ('records', 'value', '' for a top-level array). */
  recordsPath: string;
  checkpoint?: Checkpoint | null;
  signal?: AbortSignal;
  /** Safety stop for servers that keep sending the same next page. Default 1,000,000. */
  maxPages?: number;
}): AsyncGenerator<FetchedPage, void, undefined> {
  const { client, paginator, first, recordsPath } = options;
  let state: Checkpoint | null = null;
  if (options.checkpoint) {
    if (!('next' in options.checkpoint))
      throw new TributaryError('internal', 'paginate: checkpoint has no "next" position.');
    state = options.checkpoint.next as Checkpoint | null;
    if (state === null) return;
  }
  const maxPages = options.maxPages ?? 1_000_000;
  let previous = '';
  for (let pages = 0; pages < maxPages; pages++) {
    const req = paginator.request(first, state);
    const res = await client.getJson(req.url, { query: req.query, signal: options.signal });
    const found = getPath(res.body, recordsPath);
    if (!Array.isArray(found)) {
      throw new TributaryError(
        'source_invalid',
        `${new URL(res.url).pathname}: expected an array of records at "${recordsPath || '(top level)'}" in the response, got ${found === undefined ? 'nothing' : typeof found}.`,
      );
    }
    const records = found as RawRecord[];
    const next = paginator.next(res, state, records.length);
    // A server that hands out the same position again would loop forever.
    const key = JSON.stringify(next);
    if (next !== null && key === previous) {
      throw new TributaryError(
        'source_invalid',
        `${new URL(res.url).pathname}: the API returned the same next page twice (${key}); stopping instead of looping.`,
      );
    }
    previous = key;
    yield { records, checkpoint: { next }, response: res };
    if (next === null) return;
    state = next;
  }
  throw new TributaryError(
    'source_invalid',
    `Stopped after ${maxPages} pages: the API kept returning a next page.`,
  );
}
