import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { ApiError, ERRORS } from './api-error.ts';
import {
  createDataset,
  DATASET_DEFAULT_RECORDS,
  newRecordId,
  type BaseData,
  type DatasetName,
  type TableData,
} from './datasets.ts';
import { FaultInjector, parseFaults, type Fault } from './faults.ts';
import {
  findField,
  IteratorStore,
  listRecords,
  paramsFromBody,
  paramsFromQuery,
  type ApiRecord,
} from './list-records.ts';
import { RateLimit } from './rate-limit.ts';

/**
 * A local Airtable Web API (source-apis.md §1) over node:http: List records by GET and by
 * POST …/listRecords, Airtable's error shapes, per-base rate limit with the 30 s penalty,
 * expiring offsets, seeded data (datasets.ts), an admin endpoint for changes and seeded fault
 * injection (faults.ts).
 *
 * Admin endpoint, never rate limited and never faulted:
 *   GET    /__admin/stats                        requests, 429s and injected faults, per base and in all
 *   GET    /__admin/bases                        bases, tables, fields, views
 *   GET    /__admin/{base}/{table}/records       every record as List records renders it, in view order
 *   POST   /__admin/{base}/{table}/records       {"fields": {…}}: create a record
 *   PATCH  /__admin/{base}/{table}/records/{id}  {"fields": {…}}: update (null or "" clears); bumps Last Modified
 *   DELETE /__admin/{base}/{table}/records/{id}
 *   POST   /__admin/iterators/expire             every offset expires, as after a server restart
 */

export interface AirtableEmulatorOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Seeds the data, record IDs and fault draws. */
  seed?: number;
  /** Records per table; default: the dataset's own size (1,000 enforcement, 20,077 clinic). */
  records?: number;
  /**
   * `enforcement` (Cases and Notices of the EHS seed) or `clinic` (the clinic seed's
   * Conversations, with its exact booking / lead / engaged counts); see datasets.ts.
   */
  dataset?: DatasetName;
  /** Airtable allows 5 requests per second per base. */
  ratePerSecond?: number;
  /** How long a base keeps answering 429 after exceeding the rate; Airtable says 30 s. */
  penaltyMs?: number;
  /** e.g. `429:0.05,500:0.02,reset:0.01,slow:0.01`; see faults.ts. */
  faults?: string;
  /** Delay of a `slow` fault. */
  slowMs?: number;
  /** When set, `Authorization: Bearer <token>` is required on /v0 routes. */
  token?: string;
  /** Offsets die after this long without use. Airtable gives no TTL (unconfirmed); 5 min is a guess. */
  iteratorTtlMs?: number;
  /** Clock for rate limit, iterators, LAST_MODIFIED_TIME bumps; tests may pin it. */
  now?: () => number;
}

export const AIRTABLE_EMULATOR_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  seed: 1,
  records: undefined as number | undefined,
  dataset: 'enforcement' as DatasetName,
  ratePerSecond: 5,
  penaltyMs: 30_000,
  faults: '',
  slowMs: 2000,
  token: undefined as string | undefined,
  iteratorTtlMs: 300_000,
  now: Date.now,
};

/** Airtable rejects URLs of 16,000 characters or more (source-apis.md). */
const MAX_URL_LENGTH = 16_000;
/** Node's default header limit (16 KiB) would refuse long URLs with 431 before Airtable's 414 rule applies. */
const MAX_HEADER_SIZE = 64 * 1024;
const MAX_BODY_BYTES = 2 * 1024 * 1024;

export interface BaseStats {
  requests: number;
  rateLimited: number;
  faults: Partial<Record<Fault, number>>;
}

export interface EmulatorStats {
  /** Every request to /v0, including those refused. */
  requests: number;
  /** 429s sent, by the rate limit or by fault injection. */
  rateLimited: number;
  /** Faults injected, by kind, over all bases (a `429` fault also counts in `rateLimited`). */
  faults: Partial<Record<Fault, number>>;
  bases: Record<string, BaseStats>;
}

export interface BaseInfo {
  id: string;
  name: string;
  tables: {
    id: string;
    name: string;
    fields: { id: string; name: string; type: string }[];
    views: { id: string; name: string }[];
  }[];
}

/** The same operations as the HTTP admin endpoint, for tests in the same process. */
export interface AirtableAdmin {
  /** Every record of a table as List records would return it, in view order; no rate limit, no faults. */
  list(baseId: string, table: string): ApiRecord[];
  create(baseId: string, table: string, fields: Record<string, unknown>): ApiRecord;
  /** Merges `fields` (null or "" clears a cell) and bumps the record's last-modified time. */
  update(baseId: string, table: string, recordId: string, fields: Record<string, unknown>): ApiRecord;
  delete(baseId: string, table: string, recordId: string): boolean;
  stats(): EmulatorStats;
  /** Forgets every offset, as a server restart does: the next page request gets 422. */
  expireIterators(): void;
}

export interface AirtableEmulator {
  url: string;
  port: number;
  bases: BaseInfo[];
  admin: AirtableAdmin;
  close(): Promise<void>;
}

const FieldsBody = z.object({ fields: z.record(z.string(), z.unknown()) });

export async function startAirtableEmulator(
  options: AirtableEmulatorOptions = {},
): Promise<AirtableEmulator> {
  const o = { ...AIRTABLE_EMULATOR_DEFAULTS, ...stripUndefined(options) };
  const now = o.now;
  const bases = createDataset(o.dataset, o.seed, o.records ?? DATASET_DEFAULT_RECORDS[o.dataset]);
  const iterators = new IteratorStore(o.iteratorTtlMs, o.seed);
  const faults = new FaultInjector(parseFaults(o.faults), o.seed);
  const limits = new Map<string, RateLimit>();
  const stats: EmulatorStats = { requests: 0, rateLimited: 0, faults: {}, bases: {} };
  // Last-modified times only move forward, even if two edits land in the same millisecond.
  let lastEdit = 0;
  const editTime = (): number => (lastEdit = Math.max(now(), lastEdit + 1));

  const baseById = (id: string): BaseData | undefined => bases.find((b) => b.id === id);
  const tableOf = (base: BaseData, nameOrId: string): TableData => {
    const t = base.tables.find((x) => x.id === nameOrId || x.name === nameOrId);
    if (!t) throw ERRORS.notFound(`Could not find table ${nameOrId} in base ${base.id}`);
    return t;
  };
  const lookup = (baseId: string, table: string): TableData => {
    const base = baseById(baseId);
    if (!base) throw ERRORS.notFound(`Could not find base ${baseId}`);
    return tableOf(base, table);
  };
  const baseStats = (id: string): BaseStats =>
    (stats.bases[id] ??= { requests: 0, rateLimited: 0, faults: {} });

  const renderOne = (table: TableData, id: string): ApiRecord => {
    const rec = table.records.get(id);
    if (!rec) throw ERRORS.notFound(`Could not find record ${id}`);
    const fields: Record<string, unknown> = {};
    for (const f of table.fields) {
      const v = f.type === 'lastModifiedTime' ? new Date(rec.lastModified).toISOString() : rec.cells[f.name];
      if (v === null || v === undefined || v === '' || v === false || (Array.isArray(v) && v.length === 0))
        continue;
      fields[f.name] = v;
    }
    return { id: rec.id, createdTime: new Date(rec.createdTime).toISOString(), fields };
  };

  const checkFields = (table: TableData, fields: Record<string, unknown>): Record<string, unknown> => {
    const cells: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields)) {
      const field = findField(table, key);
      if (!field) throw ERRORS.unknownField(key);
      if (field.type === 'lastModifiedTime') throw ERRORS.invalidRequest(`Field "${field.name}" is computed`);
      cells[field.name] = value;
    }
    return cells;
  };

  const admin: AirtableAdmin = {
    list(baseId, tableName) {
      const table = lookup(baseId, tableName);
      return [...table.records.keys()].map((id) => renderOne(table, id));
    },
    create(baseId, tableName, fields) {
      const table = lookup(baseId, tableName);
      const cells = checkFields(table, fields);
      const id = newRecordId(table);
      const t = editTime();
      table.records.set(id, { id, createdTime: t, lastModified: t, cells });
      return renderOne(table, id);
    },
    update(baseId, tableName, recordId, fields) {
      const table = lookup(baseId, tableName);
      const rec = table.records.get(recordId);
      if (!rec) throw ERRORS.notFound(`Could not find record ${recordId}`);
      Object.assign(rec.cells, checkFields(table, fields));
      rec.lastModified = editTime();
      return renderOne(table, recordId);
    },
    delete(baseId, tableName, recordId) {
      return lookup(baseId, tableName).records.delete(recordId);
    },
    stats: () => structuredClone(stats),
    expireIterators: () => iterators.clear(),
  };

  async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    parts: string[],
  ): Promise<void> {
    stats.requests++;
    if (o.token !== undefined && req.headers.authorization !== `Bearer ${o.token}`) {
      throw ERRORS.authenticationRequired();
    }
    const [baseId, tableName, rest, ...extra] = parts;
    if (!baseId || !tableName || extra.length > 0) throw ERRORS.routeNotFound();
    const base = baseById(baseId);
    if (!base) throw ERRORS.modelNotFound();
    const bs = baseStats(base.id);
    bs.requests++;

    let limit = limits.get(base.id);
    if (!limit) limits.set(base.id, (limit = new RateLimit(o.ratePerSecond, o.penaltyMs, now())));
    if (!limit.take(now())) {
      bs.rateLimited++;
      stats.rateLimited++;
      throw ERRORS.rateLimited();
    }

    const fault = faults.next();
    if (fault) {
      bs.faults[fault] = (bs.faults[fault] ?? 0) + 1;
      stats.faults[fault] = (stats.faults[fault] ?? 0) + 1;
      switch (fault) {
        case 'reset':
          req.socket.destroy();
          return;
        case 'slow':
          await sleep(o.slowMs);
          break;
        case '429':
          bs.rateLimited++;
          stats.rateLimited++;
          throw ERRORS.rateLimited();
        case '500':
          throw ERRORS.serverError();
        case '502':
          throw ERRORS.badGateway();
        case '503':
          throw ERRORS.retriable();
      }
    }

    const table = base.tables.find((x) => x.id === tableName || x.name === tableName);
    if (!table) throw ERRORS.modelNotFound();
    if (rest === undefined && req.method === 'GET') {
      return send(res, 200, listRecords(table, paramsFromQuery(url.searchParams), iterators, now()));
    }
    if (rest === 'listRecords' && req.method === 'POST') {
      const body = await readJson(req);
      return send(res, 200, listRecords(table, paramsFromBody(body, url.searchParams), iterators, now()));
    }
    if (rest !== undefined && /^rec[A-Za-z0-9]{14}$/.test(rest) && req.method === 'GET') {
      return send(res, 200, renderOne(table, rest));
    }
    throw ERRORS.routeNotFound();
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, parts: string[]): Promise<void> {
    const [first, tableName, records, recordId, ...extra] = parts;
    if (req.method === 'GET' && first === 'stats' && parts.length === 1) return send(res, 200, admin.stats());
    if (req.method === 'GET' && first === 'bases' && parts.length === 1)
      return send(res, 200, { bases: describe(bases) });
    if (req.method === 'POST' && first === 'iterators' && tableName === 'expire' && parts.length === 2) {
      admin.expireIterators();
      return send(res, 200, { expired: true });
    }
    if (!first || !tableName || records !== 'records' || extra.length > 0) throw ERRORS.routeNotFound();
    if (req.method === 'GET' && recordId === undefined) {
      return send(res, 200, { records: admin.list(first, tableName) });
    }
    if (req.method === 'POST' && recordId === undefined) {
      const body = FieldsBody.safeParse(await readJson(req));
      if (!body.success) throw ERRORS.invalidRequest('expected {"fields": {…}}');
      return send(res, 200, admin.create(first, tableName, body.data.fields));
    }
    if (req.method === 'PATCH' && recordId !== undefined) {
      const body = FieldsBody.safeParse(await readJson(req));
      if (!body.success) throw ERRORS.invalidRequest('expected {"fields": {…}}');
      return send(res, 200, admin.update(first, tableName, recordId, body.data.fields));
    }
    if (req.method === 'DELETE' && recordId !== undefined) {
      if (!admin.delete(first, tableName, recordId))
        throw ERRORS.notFound(`Could not find record ${recordId}`);
      return send(res, 200, { id: recordId, deleted: true });
    }
    throw ERRORS.routeNotFound();
  }

  const server = createServer({ maxHeaderSize: MAX_HEADER_SIZE }, (req, res) => {
    const handle = async (): Promise<void> => {
      const rawUrl = req.url ?? '/';
      const url = new URL(rawUrl, 'http://emulator');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (parts[0] === '__admin') return handleAdmin(req, res, parts.slice(1));
      if (parts[0] === 'v0') {
        if (rawUrl.length >= MAX_URL_LENGTH) throw ERRORS.uriTooLong();
        return handleApi(req, res, url, parts.slice(1));
      }
      throw ERRORS.routeNotFound();
    };
    handle().catch((err: unknown) => {
      if (res.headersSent || req.socket.destroyed) return;
      if (err instanceof ApiError) return send(res, err.status, err.body);
      send(res, 500, {
        error: { type: 'SERVER_ERROR', message: err instanceof Error ? err.message : String(err) },
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    url: `http://${hostInUrl}:${port}`,
    port,
    bases: describe(bases),
    admin,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive and slow-fault connections would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

function describe(bases: readonly BaseData[]): BaseInfo[] {
  return bases.map((b) => ({
    id: b.id,
    name: b.name,
    tables: b.tables.map((t) => ({
      id: t.id,
      name: t.name,
      fields: t.fields.map((f) => ({ ...f })),
      views: t.views.map((v) => ({ ...v })),
    })),
  }));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, { error: { type: 'REQUEST_TOO_LARGE', message: 'Request body too large' } });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw ERRORS.badJson();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
