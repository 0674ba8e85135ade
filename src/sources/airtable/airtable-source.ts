import { createHash } from 'node:crypto';
import { z } from 'zod';
import { numberOrText } from '../../config/schema.ts';
import { TributaryError, errorMessage } from '../../core/errors.ts';
import type { Checkpoint, CursorValue, Logger, RawRecord } from '../../core/types.ts';
import { createHttpClient, type HttpClient, type HttpResponse, type Query } from '../http/http-client.ts';
import { HttpError } from '../http/http-error.ts';
import { bodyCursor, type PageRequest } from '../http/paginators.ts';
import { sharedRateLimiter } from '../http/rate-limiter.ts';
import type {
  CheckResult,
  Page,
  ReadContext,
  Source,
  SourceContext,
  SourceFactory,
  Stream,
} from '../source.ts';

/**
 * Airtable Web API source (source-apis.md §1): List records of one table, paginated by the body
 * `offset`, incremental through a LAST_MODIFIED_TIME() filter, rate limited per base.
 */

/** Defaults of the airtable source, in one place. */
export const AIRTABLE_DEFAULTS = {
  endpoint: 'https://api.airtable.com',
  /** Airtable's maximum and default page size. */
  pageSize: 100,
  cellFormat: 'json',
  returnFieldsByFieldId: false,
  /** Airtable's documented limit: 5 requests per second per base. */
  ratePerSecond: 5,
  /** Airtable answers every request with 429 for 30 s after the limit is exceeded. */
  rateLimitPenaltyMs: 30_000,
} as const;

/** airtable.js switches to POST …/listRecords past this; Airtable refuses URLs of 16,000 characters. */
export const MAX_GET_URL_LENGTH = 15_000;

/** Restarts of a pass after expired offsets before we give up (a server restarting in a loop). */
const MAX_RESTARTS = 5;

export const airtableConfigSchema = z
  .strictObject({
    type: z.literal('airtable'),
    /** The base id, `app…` (from the base's URL or API docs). */
    baseId: z.string().regex(/^[A-Za-z0-9]+$/, 'baseId must be an Airtable id such as appXXXXXXXXXXXXXX'),
    /** Table name or id (`tbl…`); ids survive renames. */
    table: z.string().min(1),
    /** Personal access token with data.records:read on the base. Write `${AIRTABLE_TOKEN}`, never the value. */
    token: z.string().min(1, 'token is empty: set AIRTABLE_TOKEN'),
    /** API root without /v0 (default https://api.airtable.com); tests point it at the emulator. */
    endpoint: z.string().url().default(AIRTABLE_DEFAULTS.endpoint),
    /** Only records in this view (name or id). */
    view: z.string().min(1).optional(),
    /** Airtable formula; records where it is falsy are skipped. Combined with AND for incremental reads. */
    filterByFormula: z.string().min(1).optional(),
    /** Only these fields (names or ids); default all. */
    fields: z.array(z.string().min(1)).min(1).optional(),
    /** Record order; without it (and without a view) Airtable's order is arbitrary. */
    sort: z
      .array(z.strictObject({ field: z.string().min(1), direction: z.enum(['asc', 'desc']).default('asc') }))
      .optional(),
    /** Records per request, at most 100 (and never more than the sync's batch size). */
    pageSize: numberOrText(z.number().int().min(1).max(100)).default(AIRTABLE_DEFAULTS.pageSize),
    /** Key fields by id (`fld…`) instead of name, so renames do not break the mapping. */
    returnFieldsByFieldId: z.boolean().default(AIRTABLE_DEFAULTS.returnFieldsByFieldId),
    /** 'json' (default) or 'string' (needs timeZone and userLocale; Airtable says it is not stable). */
    cellFormat: z.enum(['json', 'string']).default(AIRTABLE_DEFAULTS.cellFormat),
    /** IANA time zone for cellFormat 'string', e.g. Europe/London. */
    timeZone: z.string().min(1).optional(),
    /** Locale for cellFormat 'string', e.g. en-gb. */
    userLocale: z.string().min(1).optional(),
    /**
     * Name (or id) of a "Last modified time" field for incremental syncs; without it the filter
     * uses LAST_MODIFIED_TIME() of the whole record.
     */
    lastModifiedField: z
      .string()
      .min(1)
      .refine((s) => !/[{}]/.test(s), 'lastModifiedField must not contain { or }')
      .optional(),
    /** Requests per second for this base, shared by every sync of the process (default 5). */
    ratePerSecond: numberOrText(z.number().positive().max(1000)).default(AIRTABLE_DEFAULTS.ratePerSecond),
    /** Wait after a 429 without Retry-After, in ms (default 30,000: Airtable's penalty). */
    rateLimitPenaltyMs: numberOrText(z.number().int().min(0)).default(AIRTABLE_DEFAULTS.rateLimitPenaltyMs),
  })
  .refine((c) => c.cellFormat !== 'string' || (c.timeZone !== undefined && c.userLocale !== undefined), {
    path: ['cellFormat'],
    message: "cellFormat 'string' requires timeZone and userLocale",
  });

export type AirtableConfig = z.output<typeof airtableConfigSchema>;

/**
 * Resume position after a page: Airtable's `offset` (null when the pass is done) and a
 * fingerprint of the query, because an offset belongs to the query that opened it.
 */
const airtableCheckpointSchema = z.object({
  offset: z.string().nullable(),
  query: z.string(),
});
type AirtableCheckpoint = z.output<typeof airtableCheckpointSchema>;

export const airtableSourceFactory: SourceFactory<AirtableConfig> = {
  type: 'airtable',
  configSchema: airtableConfigSchema,
  create(config, ctx) {
    return new AirtableSource(config, ctx);
  },
};

/** List records parameters, before they are encoded for GET (query) or POST (body). */
interface ListParams {
  pageSize: number;
  view?: string;
  filterByFormula?: string;
  fields?: string[];
  sort?: { field: string; direction: 'asc' | 'desc' }[];
  cellFormat: 'json' | 'string';
  returnFieldsByFieldId: boolean;
}

interface ListResponse {
  records?: unknown;
  offset?: unknown;
}

export class AirtableSource implements Source {
  readonly type = 'airtable';
  readonly #config: AirtableConfig;
  readonly #client: HttpClient;
  readonly #path: string;
  readonly #what: string;

  constructor(config: AirtableConfig, ctx: SourceContext) {
    this.#config = config;
    this.#what = `airtable (base ${config.baseId}, table ${config.table})`;
    this.#path = `/${encodeURIComponent(config.baseId)}/${encodeURIComponent(config.table)}`;
    this.#client = createHttpClient({
      source: this.#what,
      baseUrl: `${config.endpoint.replace(/\/+$/, '')}/v0`,
      headers: { authorization: `Bearer ${config.token}`, 'user-agent': 'tributary' },
      rateLimiter: sharedRateLimiter(config.ratePerSecond),
      rateKey: config.baseId,
      retries: { rateLimitedDelayMs: config.rateLimitPenaltyMs },
      logger: ctx.logger,
    });
  }

  async check(): Promise<CheckResult> {
    const c = this.#config;
    try {
      await this.#list(this.#params(1, null), null, undefined);
      return { ok: true, message: `${this.#what}: the token can read the table.` };
    } catch (err) {
      if (!(err instanceof HttpError)) return { ok: false, message: errorMessage(err) };
      if (err.status === 401)
        return {
          ok: false,
          message: `${this.#what}: Airtable refused the token (401). Check AIRTABLE_TOKEN: it may be missing, mistyped, expired or revoked.`,
        };
      if (err.status === 403 || err.status === 404)
        return {
          ok: false,
          message: `${this.#what}: base "${c.baseId}" or table "${c.table}" was not found, or the token has no access to it (${err.status}). Check the ids in the config and that the token was granted this base with scope data.records:read.`,
        };
      return { ok: false, message: err.message };
    }
  }

  streams(): Promise<Stream[]> {
    return Promise.resolve([
      {
        name: this.#config.table,
        primaryKey: ['_id'],
        ...(this.#config.lastModifiedField !== undefined && { cursorField: this.#config.lastModifiedField }),
        // Without a sort the order is arbitrary: the runner advances the cursor at pass end.
        sortedByCursor: false,
        read: (ctx) => this.#read(ctx),
      },
    ]);
  }

  /** The formula for this pass: the user's filter AND the inclusive cursor bound. */
  #formula(cursor: CursorValue | null): string | undefined {
    const user = this.#config.filterByFormula;
    if (cursor === null) return user;
    // Re-serialised from a parsed date, so nothing from outside reaches the formula text.
    const ms = typeof cursor === 'number' ? cursor : Date.parse(cursor);
    if (!Number.isFinite(ms)) {
      throw new TributaryError(
        'config_invalid',
        `${this.#what}: the incremental cursor "${String(cursor)}" is not a timestamp; the cursor column must be the last-modified time (timestamptz).`,
      );
    }
    const iso = new Date(ms).toISOString();
    const field = this.#config.lastModifiedField;
    const lastModified = field === undefined ? 'LAST_MODIFIED_TIME()' : `{${field}}`;
    // NOT(IS_BEFORE(...)) is ">=": a record modified exactly at the cursor is read again.
    const bound = `NOT(IS_BEFORE(${lastModified}, DATETIME_PARSE('${iso}')))`;
    return user === undefined ? bound : `AND(${user}, ${bound})`;
  }

  #params(pageSize: number, cursor: CursorValue | null): ListParams {
    const c = this.#config;
    const formula = this.#formula(cursor);
    return {
      pageSize,
      ...(c.view !== undefined && { view: c.view }),
      ...(formula !== undefined && { filterByFormula: formula }),
      ...(c.fields !== undefined && { fields: c.fields }),
      ...(c.sort !== undefined && { sort: c.sort }),
      cellFormat: c.cellFormat,
      returnFieldsByFieldId: c.returnFieldsByFieldId,
    };
  }

  /** Query parameters that only ever travel in the query string (the server reads them only there). */
  #localeQuery(): Query {
    const c = this.#config;
    return c.cellFormat === 'string' ? { timeZone: c.timeZone, userLocale: c.userLocale } : {};
  }

  /** One List records request; POST …/listRecords when the GET URL would be too long. */
  async #list(
    params: ListParams,
    offset: string | null,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse<ListResponse>> {
    const paginator = bodyCursor({ cursorPath: 'offset', param: 'offset' });
    const first: PageRequest = { url: this.#path, query: { ...toQuery(params), ...this.#localeQuery() } };
    const req = paginator.request(first, offset === null ? null : { cursor: offset });
    if (this.#getLength(first.query) < MAX_GET_URL_LENGTH) {
      return this.#client.getJson<ListResponse>(req.url, { query: req.query, signal });
    }
    const body = { ...toBody(params), ...(offset !== null && { offset }) };
    return this.#client.postJson<ListResponse>(`${this.#path}/listRecords`, body, {
      query: this.#localeQuery(),
      signal,
    });
  }

  /** Length of the GET URL, counting a typical offset so every page of a pass uses the same method. */
  #getLength(query: Query): number {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) search.append(name, String(v));
    }
    search.append('offset', 'itrXXXXXXXXXXXXXX/recXXXXXXXXXXXXXX');
    return this.#config.endpoint.length + '/v0'.length + this.#path.length + 1 + search.toString().length;
  }

  async *#read(ctx: ReadContext): AsyncGenerator<Page, void, undefined> {
    const params = this.#params(Math.max(1, Math.min(this.#config.pageSize, ctx.pageSize)), ctx.cursor);
    const query = fingerprint(this.#config, params);
    let offset = this.#resumeOffset(ctx.checkpoint, query, ctx.logger);
    if (offset === undefined) return; // the checkpointed pass had already ended
    let restarts = 0;
    const paginator = bodyCursor({ cursorPath: 'offset', param: 'offset' });

    for (;;) {
      let res: HttpResponse<ListResponse>;
      try {
        res = await this.#list(params, offset, ctx.signal);
      } catch (err) {
        if (
          offset !== null &&
          err instanceof HttpError &&
          err.apiErrorType === 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE'
        ) {
          if (++restarts > MAX_RESTARTS) {
            throw new TributaryError(
              'source_unavailable',
              `${this.#what}: Airtable expired the pagination offset ${restarts} times in one pass; try the sync again later.`,
              { transient: true, cause: err },
            );
          }
          // Airtable's documented remedy; pages already written are merged again, not duplicated.
          ctx.logger.warn(
            `${this.#what}: the pagination offset expired; restarting the pass from the first page`,
            {
              source: 'airtable',
              baseId: this.#config.baseId,
              table: this.#config.table,
              restart: restarts,
            },
          );
          offset = null;
          continue;
        }
        throw err;
      }
      const records = res.body.records;
      if (!Array.isArray(records)) {
        throw new TributaryError(
          'source_invalid',
          `${this.#what}: the List records response has no "records" array; check that endpoint points at the Airtable API.`,
        );
      }
      const next = paginator.next(res, offset === null ? null : { cursor: offset }, records.length);
      const nextOffset = next?.cursor ?? null;
      yield {
        records: records.map(flatten),
        checkpoint: { offset: nextOffset, query } satisfies AirtableCheckpoint,
      };
      if (nextOffset === null) return;
      offset = nextOffset;
    }
  }

  /** The offset to continue from: null for the first page, undefined when the pass had ended. */
  #resumeOffset(checkpoint: Checkpoint | null, query: string, logger: Logger): string | null | undefined {
    if (checkpoint === null) return null;
    const parsed = airtableCheckpointSchema.safeParse(checkpoint);
    if (!parsed.success || parsed.data.query !== query) {
      logger.warn(
        `${this.#what}: the checkpoint belongs to a different query; starting from the first page`,
        {
          source: 'airtable',
        },
      );
      return null;
    }
    return parsed.data.offset ?? undefined;
  }
}

/** A record as the pipeline sees it: its fields plus `_id` and `_createdTime`; empty cells are absent. */
function flatten(raw: unknown): RawRecord {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as {
    id?: unknown;
    createdTime?: unknown;
    fields?: unknown;
  };
  const fields = typeof r.fields === 'object' && r.fields !== null ? (r.fields as RawRecord) : {};
  return { ...fields, _id: r.id, _createdTime: r.createdTime };
}

/** jQuery.param-style keys, as airtable.js sends them: `fields[]=A`, `sort[0][field]=A`. */
function toQuery(p: ListParams): Query {
  const q: Query = {
    pageSize: p.pageSize,
    view: p.view,
    filterByFormula: p.filterByFormula,
    'fields[]': p.fields,
    cellFormat: p.cellFormat === 'json' ? undefined : p.cellFormat,
    returnFieldsByFieldId: p.returnFieldsByFieldId ? true : undefined,
  };
  p.sort?.forEach((s, i) => {
    q[`sort[${i}][field]`] = s.field;
    q[`sort[${i}][direction]`] = s.direction;
  });
  return q;
}

function toBody(p: ListParams): Record<string, unknown> {
  return {
    pageSize: p.pageSize,
    ...(p.view !== undefined && { view: p.view }),
    ...(p.filterByFormula !== undefined && { filterByFormula: p.filterByFormula }),
    ...(p.fields !== undefined && { fields: p.fields }),
    ...(p.sort !== undefined && { sort: p.sort }),
    cellFormat: p.cellFormat,
    returnFieldsByFieldId: p.returnFieldsByFieldId,
  };
}

/** Identifies the query an offset belongs to (no token in it: checkpoints are stored). */
function fingerprint(c: AirtableConfig, p: ListParams): string {
  // The page size may change between runs (batch size); an offset stays valid across it.
  const { pageSize: _ignored, ...rest } = p;
  return createHash('sha256')
    .update(JSON.stringify([c.baseId, c.table, rest]))
    .digest('hex')
    .slice(0, 16);
}
