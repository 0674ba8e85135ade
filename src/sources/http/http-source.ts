import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { numberOrText } from '../../config/schema.ts';
import { TributaryError, errorMessage } from '../../core/errors.ts';
import type { Checkpoint, CursorValue, Logger, RawRecord } from '../../core/types.ts';
import { describeJsonValue, isJsonObject } from '../files/file-common.ts';
import type {
  CheckResult,
  Page,
  ReadContext,
  Source,
  SourceContext,
  SourceFactory,
  SourceReject,
  Stream,
} from '../source.ts';
import {
  createHttpClient,
  type HttpClient,
  type HttpClientOptions,
  type HttpResponse,
  type Query,
} from './http-client.ts';
import { HttpError, describeUrl, statusHint } from './http-error.ts';
import {
  bodyCursor,
  bodyNextUrl,
  getPath,
  linkHeader,
  offsetLimit,
  pageNumber,
  paginate,
  type PageRequest,
  type Paginator,
} from './paginators.ts';
import { sharedRateLimiter } from './rate-limiter.ts';

/**
 * Generic HTTP source: any JSON API that lists records with GET and one of the pagination styles
 * in paginators.ts, configured in YAML. It calls only the host of `url` (plus `allowedHosts`),
 * never prints header values, and never stores them: not in checkpoints, logs or errors
 * (DESIGN guarantee 10).
 */

/** Defaults of the http source, in one place. */
export const HTTP_SOURCE_DEFAULTS = {
  recordsPath: '',
  paginator: { type: 'none' },
  incrementalFormat: 'iso',
  /** Unknown APIs give no ordering promise: the runner advances the cursor only at pass end. */
  sortedByCursor: false,
  offsetParam: 'offset',
  limitParam: 'limit',
  offsetStart: 0,
  pageParam: 'page',
  firstPage: 1,
  /** A page with fewer records than asked for is the last: saves one request per pass. */
  until: 'short-page',
  userAgent: 'tributary',
} as const;

/**
 * Query parameters whose values are credentials (`?api_key=…`): their values are scrubbed from
 * messages and left out of the checkpoint fingerprint. Put secrets in headers when the API allows.
 */
const SECRET_PARAM = /key|token|secret|passw|pwd|auth|sig|credential|session/i;

/** RFC 9110 token: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const absoluteHttpUrl = z.string().superRefine((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an absolute http:// or https:// URL, e.g. https://api.example.com/v1/items',
    });
    return;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: `must use http:// or https://, not ${url.protocol}//` });
  } else if (url.username !== '' || url.password !== '') {
    ctx.addIssue({
      code: 'custom',
      message: 'must not contain credentials: send them in headers, e.g. Authorization: "Basic ${API_BASIC}"',
    });
  }
});

const hostName = z
  .string()
  .min(1)
  .refine((h) => {
    try {
      return new URL(`http://${h}`).host === h.toLowerCase();
    } catch {
      return false;
    }
  }, 'must be a host name or host:port without scheme or path, e.g. cdn.example.com');

/**
 * When the counted paginators (offset, page) stop. short-page (default): a page with fewer
 * records than asked for is the last. empty-page: only an empty page ends the walk, for APIs that
 * may return fewer mid-stream or cap the page size below what was asked (one more request).
 */
const until = z.enum(['short-page', 'empty-page']).default(HTTP_SOURCE_DEFAULTS.until);

const paginatorSchema = z.discriminatedUnion(
  'type',
  [
    /** One request; the response holds every record. */
    z.strictObject({ type: z.literal('none') }),
    /** A token in the body sent back as a query parameter (Stripe-like, Airtable `offset`, GraphQL-style cursors). */
    z.strictObject({
      type: z.literal('cursor'),
      /** Dotted path of the next-page token in the body, e.g. meta.next_cursor. Absent, null or '' ends the walk. */
      cursorPath: z.string().min(1),
      /** Query parameter that carries the token back, e.g. cursor. */
      param: z.string().min(1),
      /** Dotted path of a "more pages" flag (e.g. meta.has_more); when it is falsy the walk ends even with a token. */
      hasMorePath: z.string().min(1).optional(),
    }),
    /** The URL of the next page in the body (absolute or relative), e.g. links.next or @odata.nextLink. */
    z.strictObject({
      type: z.literal('nextUrl'),
      /** Dotted path of the URL in the body; a key containing dots (@odata.nextLink) is looked up whole first. */
      path: z.string().min(1),
    }),
    /** RFC 8288 `Link: <…>; rel="next"` response header (GitHub style). */
    z.strictObject({ type: z.literal('link') }),
    /** `?offset=N&limit=M`. */
    z.strictObject({
      type: z.literal('offset'),
      /** Records asked for per request. Not above the API's own maximum, or use until: empty-page. */
      limit: numberOrText(z.number().int().min(1).max(100_000)),
      /** Query parameter of the offset (default offset). */
      offsetParam: z.string().min(1).default(HTTP_SOURCE_DEFAULTS.offsetParam),
      /** Query parameter of the page size (default limit). */
      limitParam: z.string().min(1).default(HTTP_SOURCE_DEFAULTS.limitParam),
      /** Offset of the first record (default 0). */
      start: numberOrText(z.number().int().min(0)).default(HTTP_SOURCE_DEFAULTS.offsetStart),
      until,
    }),
    /** `?page=N&per_page=M`. */
    z.strictObject({
      type: z.literal('page'),
      /**
       * Records per page. Sent as `sizeParam` when that is set; otherwise it must equal the
       * server's fixed page size, because a page shorter than this one ends the walk.
       */
      pageSize: numberOrText(z.number().int().min(1).max(100_000)),
      /** Query parameter of the page number (default page). */
      pageParam: z.string().min(1).default(HTTP_SOURCE_DEFAULTS.pageParam),
      /** Query parameter of the page size, e.g. per_page; omitted: the server's own page size. */
      sizeParam: z.string().min(1).optional(),
      /** Number of the first page (default 1; some APIs count from 0). */
      firstPage: numberOrText(z.number().int().min(0)).default(HTTP_SOURCE_DEFAULTS.firstPage),
      until,
    }),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'paginator type must be one of none, cursor, nextUrl, link, offset, page'
        : undefined,
  },
);
type PaginatorConfig = z.output<typeof paginatorSchema>;

export const httpSourceConfigSchema = z
  .strictObject({
    type: z.literal('http'),
    /**
     * The endpoint that lists the records, e.g. https://api.example.com/v1/items (a query string
     * is kept). Its host is the only one this source calls, together with `allowedHosts`.
     */
    url: absoluteHttpUrl,
    /**
     * Sent with every request, e.g. `Authorization: "Bearer ${API_TOKEN}"`. Values are treated as
     * secrets: write them as `${VARIABLE}`; they are never printed, logged or stored.
     */
    headers: z
      .record(
        z.string().regex(HEADER_NAME, 'header names are letters, digits and -'),
        z
          .union([z.string(), z.number()])
          .transform(String)
          .refine((v) => !/[\r\n]/.test(v), 'header values must be one line')
          // `Bearer ${API_TOKEN}` with the variable set to '' must not become an anonymous request.
          .refine(
            (v) => !/^\s*(bearer|basic|token|apikey)?\s*$/i.test(v),
            'is empty or only a scheme such as "Bearer": is the environment variable in it set and not empty?',
          ),
      )
      .default({}),
    /** Query parameters of the first request, e.g. `{ status: active }`; a list repeats the name. */
    query: z.record(z.string().min(1), z.union([scalar, z.array(scalar)])).default({}),
    /** Dotted path of the records array in the response body, e.g. data.items; '' (default) = the body is the array. */
    recordsPath: z.string().default(HTTP_SOURCE_DEFAULTS.recordsPath),
    /** How to reach the next page (default none: a single request). */
    paginator: paginatorSchema.default(HTTP_SOURCE_DEFAULTS.paginator),
    /**
     * Incremental reads: the sync's stored cursor (its `incremental.lookback` already applied) is
     * sent as this query parameter, so the API returns only records changed since. Without it an
     * incremental sync still works, but reads everything and skips old records itself.
     */
    incremental: z
      .strictObject({
        /** Query parameter of the lower bound, e.g. updated_since. The API must treat it as ≥ (inclusive). */
        param: z.string().min(1),
        /**
         * How the cursor is written: iso (default, 2024-05-01T12:00:00.000Z; a date cursor stays
         * 2024-05-01), epoch_s or epoch_ms (integers) for timestamp cursors, raw for the stored
         * value as is (numeric cursors such as an id or a version).
         */
        format: z.enum(['iso', 'epoch_s', 'epoch_ms', 'raw']).default(HTTP_SOURCE_DEFAULTS.incrementalFormat),
      })
      .optional(),
    /**
     * true only when the API returns records in ascending order of the sync's cursor column (e.g.
     * `query: { sort: updated_at }`): the cursor then advances with every batch. Wrongly true,
     * an interrupted run can skip records; false (default) advances it when the pass completes.
     */
    sortedByCursor: z.boolean().default(HTTP_SOURCE_DEFAULTS.sortedByCursor),
    /** Requests per second to this host, shared by every sync of the process; default: no limit (429s are still honoured). */
    ratePerSecond: numberOrText(z.number().positive().max(1000)).optional(),
    /** Other hosts (host or host:port) that next-page URLs may point to; any other host stops the run. */
    allowedHosts: z.array(hostName).default([]),
  })
  .superRefine((c, ctx) => {
    // A parameter set twice would be sent twice or silently overridden by the paginator.
    const owned = paginatorParams(c.paginator);
    for (const name of Object.keys(c.query)) {
      if (owned.includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['query', name],
          message: `"${name}" is set by the paginator on every request; remove it from query`,
        });
      }
    }
    const inc = c.incremental?.param;
    if (inc !== undefined && (owned.includes(inc) || Object.hasOwn(c.query, inc))) {
      ctx.addIssue({
        code: 'custom',
        path: ['incremental', 'param'],
        message: `"${inc}" is already sent by the ${owned.includes(inc) ? 'paginator' : 'query'}; the cursor needs its own parameter`,
      });
    }
  });

export type HttpSourceConfig = z.output<typeof httpSourceConfigSchema>;

/** Query parameters a paginator writes itself. */
function paginatorParams(p: PaginatorConfig): string[] {
  switch (p.type) {
    case 'cursor':
      return [p.param];
    case 'offset':
      return [p.offsetParam, p.limitParam];
    case 'page':
      return p.sizeParam === undefined ? [p.pageParam] : [p.pageParam, p.sizeParam];
    default:
      return [];
  }
}

/**
 * Resume position after a page: paginate()'s `next` (a token, offset, page number, or a next URL
 * with our own query parameters taken out), and a fingerprint of the request it belongs to.
 */
const httpCheckpointSchema = z.object({ next: z.unknown(), request: z.string() });

/** A next-page URL as stored: `restore` names our parameters removed from it (values may be secrets). */
interface UrlState extends Checkpoint {
  url: string;
  restore?: string[];
}

export const httpSourceFactory: SourceFactory<HttpSourceConfig> = {
  type: 'http',
  configSchema: httpSourceConfigSchema,
  create(config, ctx) {
    return new HttpSource(config, ctx);
  },
};

export class HttpSource implements Source {
  readonly type = 'http';
  readonly #config: HttpSourceConfig;
  readonly #logger: Logger;
  readonly #url: URL;
  /** The source in messages: "http (api.example.com)". */
  readonly #what: string;
  readonly #headers: Record<string, string>;
  /** Our query parameters (from `url` and `query`) as name → values, for next-URL checkpoints. */
  readonly #ownParams = new Map<string, string[]>();
  /** Values of secret-looking query parameters, scrubbed from every message. */
  readonly #querySecrets: string[] = [];

  constructor(config: HttpSourceConfig, ctx: SourceContext) {
    this.#config = config;
    this.#url = new URL(config.url);
    this.#url.hash = '';
    this.#what = `http (${this.#url.host})`;
    const hasAgent = Object.keys(config.headers).some((h) => h.toLowerCase() === 'user-agent');
    this.#headers = { ...(!hasAgent && { 'user-agent': HTTP_SOURCE_DEFAULTS.userAgent }), ...config.headers };
    const params: [string, string][] = [
      ...this.#url.searchParams,
      ...Object.entries(config.query).flatMap(([name, v]) =>
        (Array.isArray(v) ? v : [v]).map((x): [string, string] => [name, String(x)]),
      ),
    ];
    for (const [name, value] of params) {
      this.#ownParams.set(name, [...(this.#ownParams.get(name) ?? []), value]);
      if (SECRET_PARAM.test(name) && value.length >= 4) this.#querySecrets.push(value);
    }
    this.#logger = this.#scrubbingLogger(ctx.logger);
  }

  async check(): Promise<CheckResult> {
    // One attempt: a check answers "does it work now?", and retries would only delay the answer.
    const client = this.#client({ attempts: 1 });
    let url = this.#url;
    try {
      const paginator = this.#paginator(() => {});
      const req = paginator.request(this.#first(null), null);
      url = new URL(req.url);
      const res = await client.getJson(req.url, { query: req.query });
      const found = getPath(res.body, this.#config.recordsPath);
      if (!Array.isArray(found)) return { ok: false, message: this.#noRecordsMessage(res) };
      // Refuses a next-page URL on another host now rather than halfway through a sync.
      paginator.next(res, null, found.length);
      return {
        ok: true,
        message: `${this.#what}: GET ${this.#url.pathname} answered with ${found.length} record(s) at ${this.#recordsWhere()}.`,
      };
    } catch (err) {
      return { ok: false, message: this.#scrub(this.#checkFailure(err, url)) };
    } finally {
      await client.close();
    }
  }

  streams(): Promise<Stream[]> {
    const segments = this.#url.pathname.split('/').filter(Boolean);
    return Promise.resolve([
      {
        name: segments.at(-1) ?? this.#url.hostname,
        sortedByCursor: this.#config.sortedByCursor,
        read: (ctx) => this.#read(ctx),
      },
    ]);
  }

  async *#read(ctx: ReadContext): AsyncGenerator<Page, void, undefined> {
    const first = this.#first(ctx.cursor);
    const request = this.#fingerprint(first);
    const checkpoint = this.#resume(ctx.checkpoint, request, ctx.logger);
    let firstPage = true;
    const paginator = this.#paginator((state) => (firstPage = state === null));
    const client = this.#client({});
    try {
      for await (const fetched of paginate({
        client,
        paginator,
        first,
        recordsPath: this.#config.recordsPath,
        checkpoint,
        signal: ctx.signal,
      })) {
        const records: RawRecord[] = [];
        const rejects: SourceReject[] = [];
        for (const [i, item] of fetched.records.entries()) {
          if (isJsonObject(item)) records.push(item);
          else
            rejects.push({
              code: 'malformed_record',
              message: `record ${i + 1} of GET ${describeUrl(new URL(fetched.response.url))}: expected a JSON object, got ${describeJsonValue(item)}`,
              payload: item,
            });
        }
        yield {
          records,
          ...(rejects.length > 0 && { rejects }),
          checkpoint: { ...fetched.checkpoint, request },
        };
      }
    } catch (err) {
      throw this.#explain(err, firstPage);
    } finally {
      await client.close();
    }
  }

  /** The first page's request: `url`, `query`, and the incremental lower bound when there is one. */
  #first(cursor: CursorValue | null): PageRequest {
    const inc = this.#config.incremental;
    const query: Query = { ...this.#config.query };
    if (inc !== undefined && cursor !== null) query[inc.param] = this.#formatCursor(cursor, inc.format);
    return { url: this.#url.href, query };
  }

  #formatCursor(cursor: CursorValue, format: 'iso' | 'epoch_s' | 'epoch_ms' | 'raw'): string | number {
    if (format === 'raw') return cursor;
    if (format === 'iso' && typeof cursor === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(cursor)) return cursor;
    // Re-serialised from a parsed date, so the parameter is well formed whatever the data held.
    const ms = typeof cursor === 'string' ? Date.parse(cursor) : NaN;
    if (!Number.isFinite(ms)) {
      throw new TributaryError(
        'config_invalid',
        `${this.#what}: incremental.format is ${format}, but the sync's cursor value "${String(cursor)}" is not a date or timestamp. Use format: raw for numeric cursors (ids, versions), or make the cursor column a timestamptz.`,
      );
    }
    if (format === 'epoch_s') return Math.floor(ms / 1000);
    if (format === 'epoch_ms') return ms;
    return new Date(ms).toISOString();
  }

  /** paginate()'s checkpoint to continue from, or null to start over (none, or another request's). */
  #resume(checkpoint: Checkpoint | null, request: string, logger: Logger): Checkpoint | null {
    if (checkpoint === null) return null;
    const parsed = httpCheckpointSchema.safeParse(checkpoint);
    if (!parsed.success || parsed.data.request !== request) {
      logger.warn(
        `${this.#what}: the checkpoint belongs to a different request; starting from the first page`,
        {
          source: 'http',
          host: this.#url.host,
        },
      );
      return null;
    }
    return { next: parsed.data.next };
  }

  /**
   * Identifies the request a checkpoint belongs to: a changed URL, query, paginator or cursor
   * makes a stored position meaningless. Values of secret-looking parameters are left out, since
   * checkpoints are stored; header values never enter it.
   */
  #fingerprint(first: PageRequest): string {
    const url = new URL(first.url);
    const params = [
      ...url.searchParams,
      ...Object.entries(first.query).map(([name, v]) => [name, JSON.stringify(v)]),
    ].map(([name = '', v]) => [name, SECRET_PARAM.test(name) ? '' : v]);
    const c = this.#config;
    return createHash('sha256')
      .update(JSON.stringify([url.origin + url.pathname, params, c.recordsPath, c.paginator]))
      .digest('hex')
      .slice(0, 16);
  }

  /** The configured paginator; `onRequest` learns whether each request is the first page's (state null). */
  #paginator(onRequest: (state: Checkpoint | null) => void): Paginator {
    const inner = this.#innerPaginator();
    return {
      request(first, state) {
        onRequest(state);
        return inner.request(first, state);
      },
      next: (res, state, count) => inner.next(res, state, count),
    };
  }

  #innerPaginator(): Paginator {
    const p = this.#config.paginator;
    switch (p.type) {
      case 'none':
        return { request: (first) => first, next: () => null };
      case 'cursor':
        return bodyCursor(p);
      case 'nextUrl':
        return this.#guarded(bodyNextUrl(p), `"${p.path}" in the response body`);
      case 'link':
        return this.#guarded(linkHeader(), 'the Link response header');
      case 'offset':
        return offsetLimit(p);
      case 'page':
        return pageNumber(p);
    }
  }

  /**
   * A next-URL paginator that refuses URLs off our hosts before they become a request or a
   * checkpoint, and stores URLs without our own query parameters: APIs echo them into next
   * links, and an `api_key` must not end up in the state tables. They are put back on request.
   */
  #guarded(inner: Paginator<{ url: string }>, from: string): Paginator<UrlState> {
    return {
      request: (first, state) => {
        if (state === null) return inner.request(first, null);
        const url = new URL(state.url);
        for (const name of state.restore ?? []) {
          for (const v of this.#ownParams.get(name) ?? []) url.searchParams.append(name, v);
        }
        return inner.request(first, { url: url.href });
      },
      next: (res, _state, count) => {
        const next = inner.next(res, null, count);
        if (next === null) return null;
        const url = new URL(next.url);
        this.#assertAllowed(url, res, from);
        const restore: string[] = [];
        for (const [name, values] of this.#ownParams) {
          const echoed = url.searchParams.getAll(name);
          if (echoed.length > 0 && echoed.join('\n') === values.join('\n')) {
            url.searchParams.delete(name);
            restore.push(name);
          }
        }
        return restore.length > 0 ? { url: url.href, restore } : { url: url.href };
      },
    };
  }

  /** Same rule as the client's, applied where the URL is found so the message can say where. */
  #assertAllowed(url: URL, res: HttpResponse<unknown>, from: string): void {
    const allowed = [this.#url.host, ...this.#config.allowedHosts.map((h) => h.toLowerCase())];
    const hostOk = allowed.includes(url.host) || allowed.includes(url.hostname);
    const protocolOk = url.protocol === 'https:' || url.protocol === this.#url.protocol;
    if (hostOk && protocolOk) return;
    const where = `GET ${describeUrl(new URL(res.url))}`;
    throw new HttpError(
      'source_invalid',
      hostOk
        ? `${this.#what}: the next-page URL from ${from} of ${where} uses ${url.protocol}// instead of ${this.#url.protocol}//; refusing to send the credentials over it.`
        : `${this.#what}: the next-page URL from ${from} of ${where} points to ${url.host}; this source only calls ${allowed.join(', ')}, so it stops here. If ${url.host} is the API's own host, add it to the source's allowedHosts.`,
      {},
    );
  }

  #client(retries: HttpClientOptions['retries']): HttpClient {
    const rate = this.#config.ratePerSecond;
    return createHttpClient({
      source: this.#what,
      baseUrl: this.#url.origin,
      headers: this.#headers,
      ...(rate !== undefined && { rateLimiter: sharedRateLimiter(rate) }),
      rateKey: this.#url.host,
      allowedHosts: this.#config.allowedHosts,
      retries,
      logger: this.#logger,
    });
  }

  /** A read error with the hint a person needs for this source's config, and no secrets. */
  #explain(err: unknown, firstPage: boolean): unknown {
    if (!(err instanceof TributaryError)) return err;
    let message = err instanceof HttpError ? this.#withHint(err, firstPage) : err.message;
    // paginate()'s own errors name only the path; say which source they are about.
    if (!message.startsWith(this.#what)) message = `${this.#what}: ${message}`;
    err.message = this.#scrub(message);
    // The stack captured the original message, which may hold an echoed query credential.
    if (err.stack !== undefined) err.stack = this.#scrub(err.stack);
    return err;
  }

  /** The client's message with its generic advice replaced by what to change in this source's config. */
  #withHint(err: HttpError, firstPage: boolean): string {
    const hint = err.status === undefined ? '' : this.#hint(err.status, firstPage);
    if (hint === '') return err.message;
    const generic = statusHint(err.status!);
    const base = err.message.endsWith(generic)
      ? err.message.slice(0, -generic.length).trimEnd()
      : err.message;
    return `${base} ${hint}`;
  }

  /** What to change in this source's config for a terminal status. Header names only, never values. */
  #hint(status: number, firstPage: boolean): string {
    const names = Object.keys(this.#config.headers);
    if (status === 401) {
      return names.length === 0
        ? 'No headers are configured for this source: add the API’s credentials, e.g. headers: { Authorization: "Bearer ${API_TOKEN}" }.'
        : `The API refused the credentials: check the source's headers ${names.join(', ')} (values not shown) and the environment variables behind them; the token may be missing, mistyped, expired or revoked.`;
    }
    if (status === 403) {
      return `The credentials were accepted but lack access: check that the token in the source's headers (${names.join(', ') || 'none configured'}) has the scope or permission to read ${this.#url.pathname}.`;
    }
    if (status === 404) {
      return firstPage
        ? `Check the path in the source's url (${this.#url.pathname}): the API has no such resource, or the token cannot see it.`
        : 'It came from a next-page request: check the source’s paginator settings.';
    }
    return '';
  }

  #checkFailure(err: unknown, url: URL): string {
    if (!(err instanceof HttpError)) return errorMessage(err);
    if (err.status === undefined && err.transient) {
      const cause = err.cause === undefined ? '' : ` (${errorMessage(err.cause)})`;
      return `${this.#what}: no answer from ${url.host} for GET ${describeUrl(url)}${cause}. Check the host and port in the source's url, and that this machine can reach it (proxy settings apply).`;
    }
    if (err.status !== undefined && err.transient) {
      const status = `${err.status} ${STATUS_CODES[err.status] ?? ''}`.trim();
      return `${this.#what}: GET ${describeUrl(url)} answered ${status}: the API is busy, rate limiting or down right now; try the check again later.`;
    }
    return this.#withHint(err, true);
  }

  #noRecordsMessage(res: HttpResponse<unknown>): string {
    const body = res.body;
    const shape =
      isJsonObject(body) && Object.keys(body).length > 0
        ? `an object with keys ${Object.keys(body).slice(0, 10).join(', ')}`
        : describeJsonValue(body);
    return `${this.#what}: GET ${this.#url.pathname} answered, but there is no array of records at ${this.#recordsWhere()} (the body is ${shape}). Set the source's recordsPath to the dotted path of the array ('' when the body itself is the array).`;
  }

  #recordsWhere(): string {
    return this.#config.recordsPath === '' ? 'the top level' : `recordsPath "${this.#config.recordsPath}"`;
  }

  /** The client scrubs header values itself; this covers credentials given as query parameters. */
  #scrub(s: string): string {
    return this.#querySecrets.reduce((acc, secret) => acc.split(secret).join('[redacted]'), s);
  }

  #scrubbingLogger(logger: Logger): Logger {
    if (this.#querySecrets.length === 0) return logger;
    return {
      debug: (msg, fields) => logger.debug(this.#scrub(msg), fields),
      info: (msg, fields) => logger.info(this.#scrub(msg), fields),
      warn: (msg, fields) => logger.warn(this.#scrub(msg), fields),
      error: (msg, fields) => logger.error(this.#scrub(msg), fields),
    };
  }
}
