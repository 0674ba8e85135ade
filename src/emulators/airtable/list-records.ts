import { z } from 'zod';
import { ERRORS } from './api-error.ts';
import { airtableId, type FieldSpec, type StoredRecord, type TableData } from './datasets.ts';
import {
  FormulaSyntaxError,
  isIncluded,
  parseFormula,
  type FormulaRecord,
  type FormulaValue,
} from './formula.ts';

/** List records parameters after decoding, whether they came in a query string or a POST body. */
export interface ListParams {
  pageSize: number;
  maxRecords?: number;
  offset?: string;
  view?: string;
  fields?: string[];
  sort: { field: string; direction: 'asc' | 'desc' }[];
  filterByFormula?: string;
  cellFormat: 'json' | 'string';
  timeZone?: string;
  userLocale?: string;
  returnFieldsByFieldId: boolean;
  recordMetadata: string[];
}

const MAX_PAGE_SIZE = 100;

const Body = z.object({
  pageSize: z.number().int().optional(),
  maxRecords: z.number().int().optional(),
  offset: z.string().optional(),
  view: z.string().optional(),
  fields: z.array(z.string()).optional(),
  sort: z.array(z.object({ field: z.string(), direction: z.string().optional() })).optional(),
  filterByFormula: z.string().optional(),
  cellFormat: z.string().optional(),
  returnFieldsByFieldId: z.boolean().optional(),
  recordMetadata: z.array(z.string()).optional(),
});

/**
 * GET: jQuery.param-style keys as airtable.js sends them — `fields[]=A`, `sort[0][field]=A`,
 * `sort[0][direction]=desc`, `recordMetadata[]=commentCount` (URLSearchParams has already
 * undone the percent-encoding and turned `+` into a space).
 */
export function paramsFromQuery(query: URLSearchParams): ListParams {
  const fields: string[] = [];
  const sorts = new Map<number, { field?: string; direction?: string }>();
  const recordMetadata: string[] = [];
  let hasFields = false;
  for (const [key, value] of query) {
    if (key === 'fields[]' || /^fields\[\d+\]$/.test(key)) {
      hasFields = true;
      fields.push(value);
    } else if (key === 'recordMetadata[]' || /^recordMetadata\[\d+\]$/.test(key)) {
      recordMetadata.push(value);
    } else {
      const m = /^sort\[(\d+)\]\[(field|direction)\]$/.exec(key);
      if (m) {
        const entry = sorts.get(Number(m[1])) ?? {};
        entry[m[2] as 'field' | 'direction'] = value;
        sorts.set(Number(m[1]), entry);
      }
    }
  }
  const sort = [...sorts.entries()].sort(([a], [b]) => a - b).map(([, s]) => s);
  return validate({
    pageSize: numberParam(query.get('pageSize')),
    maxRecords: numberParam(query.get('maxRecords')),
    offset: query.get('offset') ?? undefined,
    view: query.get('view') ?? undefined,
    fields: hasFields ? fields : undefined,
    sort,
    filterByFormula: query.get('filterByFormula') ?? undefined,
    cellFormat: query.get('cellFormat') ?? undefined,
    timeZone: query.get('timeZone') ?? undefined,
    userLocale: query.get('userLocale') ?? undefined,
    returnFieldsByFieldId: ['true', '1'].includes(query.get('returnFieldsByFieldId') ?? ''),
    recordMetadata,
  });
}

/** POST …/listRecords: the same parameters in a JSON body; timeZone and userLocale stay in the query. */
export function paramsFromBody(body: unknown, query: URLSearchParams): ListParams {
  const parsed = Body.safeParse(body ?? {});
  if (!parsed.success) throw ERRORS.invalidRequest();
  const b = parsed.data;
  return validate({
    ...b,
    sort: b.sort ?? [],
    recordMetadata: b.recordMetadata ?? [],
    returnFieldsByFieldId: b.returnFieldsByFieldId ?? false,
    timeZone: query.get('timeZone') ?? undefined,
    userLocale: query.get('userLocale') ?? undefined,
  });
}

function numberParam(text: string | null): number | undefined {
  if (text === null) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw ERRORS.invalidRequest();
  return n;
}

interface RawParams {
  pageSize?: number | undefined;
  maxRecords?: number | undefined;
  offset?: string | undefined;
  view?: string | undefined;
  fields?: string[] | undefined;
  sort: { field?: string | undefined; direction?: string | undefined }[];
  filterByFormula?: string | undefined;
  cellFormat?: string | undefined;
  timeZone?: string | undefined;
  userLocale?: string | undefined;
  returnFieldsByFieldId: boolean;
  recordMetadata: string[];
}

function validate(raw: RawParams): ListParams {
  const pageSize = raw.pageSize ?? MAX_PAGE_SIZE;
  if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw ERRORS.invalidRequest();
  if (raw.maxRecords !== undefined && raw.maxRecords < 1) throw ERRORS.invalidRequest();
  const cellFormat = raw.cellFormat ?? 'json';
  if (cellFormat !== 'json' && cellFormat !== 'string') throw ERRORS.invalidRequest();
  // Documented: the string format requires both timeZone and userLocale.
  if (cellFormat === 'string' && (!raw.timeZone || !raw.userLocale)) {
    throw ERRORS.invalidRequest('Invalid request: cellFormat "string" requires timeZone and userLocale');
  }
  if (raw.recordMetadata.some((m) => m !== 'commentCount')) throw ERRORS.invalidRequest();
  const sort = raw.sort.map((s): ListParams['sort'][number] => {
    const direction = s.direction ?? 'asc';
    if (!s.field) throw ERRORS.invalidRequest();
    if (direction !== 'asc' && direction !== 'desc') throw ERRORS.invalidRequest();
    return { field: s.field, direction };
  });
  return {
    pageSize,
    ...(raw.maxRecords !== undefined && { maxRecords: raw.maxRecords }),
    ...(raw.offset !== undefined && raw.offset !== '' && { offset: raw.offset }),
    ...(raw.view !== undefined && { view: raw.view }),
    ...(raw.fields !== undefined && { fields: raw.fields }),
    sort,
    ...(raw.filterByFormula !== undefined &&
      raw.filterByFormula !== '' && { filterByFormula: raw.filterByFormula }),
    cellFormat,
    ...(raw.timeZone !== undefined && { timeZone: raw.timeZone }),
    ...(raw.userLocale !== undefined && { userLocale: raw.userLocale }),
    returnFieldsByFieldId: raw.returnFieldsByFieldId,
    recordMetadata: raw.recordMetadata,
  };
}

/** A list in progress: the matching record IDs, fixed at the first page (Airtable's iterator). */
interface Iterator {
  tableId: string;
  ids: string[];
  /** Index of the next page's first record, to avoid searching `ids` on every page. */
  position: number;
  lastUsed: number;
}

/** Keeps iterators between pages; they expire after `ttlMs` without use, or all at once on `clear()`. */
export class IteratorStore {
  private readonly iterators = new Map<string, Iterator>();
  private created = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly seed: number,
  ) {}

  open(tableId: string, ids: string[], now: number): string {
    this.sweep(now);
    const id = airtableId('itr', this.seed + this.created++);
    this.iterators.set(id, { tableId, ids, position: 0, lastUsed: now });
    return id;
  }

  get(id: string, tableId: string, now: number): Iterator | undefined {
    const it = this.iterators.get(id);
    if (!it || it.tableId !== tableId || now - it.lastUsed > this.ttlMs) {
      this.iterators.delete(id);
      return undefined;
    }
    it.lastUsed = now;
    return it;
  }

  close(id: string): void {
    this.iterators.delete(id);
  }

  clear(): void {
    this.iterators.clear();
  }

  private sweep(now: number): void {
    for (const [id, it] of this.iterators) if (now - it.lastUsed > this.ttlMs) this.iterators.delete(id);
  }
}

export interface ApiRecord {
  id: string;
  createdTime: string;
  fields: Record<string, unknown>;
  commentCount?: number;
}

/** One page of List records. */
export function listRecords(
  table: TableData,
  params: ListParams,
  iterators: IteratorStore,
  now: number,
): { records: ApiRecord[]; offset?: string } {
  const returned = params.fields?.map((f) => resolveField(table, f)) ?? table.fields;

  let it: ReturnType<IteratorStore['get']>;
  let itrId: string;
  if (params.offset !== undefined) {
    const m = /^(itr[A-Za-z0-9]{14})\/(rec[A-Za-z0-9]{14})$/.exec(params.offset);
    if (!m) throw ERRORS.invalidOffset(params.offset);
    itrId = m[1]!;
    it = iterators.get(itrId, table.id, now);
    if (!it) throw ERRORS.iteratorNotAvailable();
    const recId = m[2]!;
    if (it.ids[it.position] !== recId) {
      const at = it.ids.indexOf(recId);
      if (at < 0) throw ERRORS.invalidOffset(params.offset);
      it.position = at;
    }
  } else {
    const ids = matchingIds(table, params, now);
    itrId = iterators.open(table.id, ids, now);
    it = iterators.get(itrId, table.id, now)!;
  }

  const records: ApiRecord[] = [];
  let i = it.position;
  // Records deleted since the first page are skipped; edited ones are returned as they are now.
  while (i < it.ids.length && records.length < params.pageSize) {
    const rec = table.records.get(it.ids[i++]!);
    if (rec) records.push(render(rec, returned, params));
  }
  it.position = i;
  if (i >= it.ids.length) {
    iterators.close(itrId);
    return { records };
  }
  return { records, offset: `${itrId}/${it.ids[i]!}` };
}

function matchingIds(table: TableData, params: ListParams, now: number): string[] {
  if (params.view !== undefined && !table.views.some((v) => v.id === params.view || v.name === params.view)) {
    throw ERRORS.viewNotFound(params.view);
  }
  let records = [...table.records.values()];
  if (params.filterByFormula !== undefined) {
    let formula;
    try {
      formula = parseFormula(params.filterByFormula, (f) => findField(table, f) !== undefined);
    } catch (err) {
      if (err instanceof FormulaSyntaxError) throw ERRORS.invalidFormula(err.message);
      throw err;
    }
    const nowDate = new Date(now);
    records = records.filter((r) => isIncluded(formula, formulaRecord(table, r), nowDate));
  }
  if (params.sort.length > 0) {
    const keys = params.sort.map((s) => ({
      field: resolveField(table, s.field),
      sign: s.direction === 'desc' ? -1 : 1,
    }));
    // Array.prototype.sort is stable, so ties keep view order.
    records.sort((a, b) => {
      for (const { field, sign } of keys) {
        const c = compareCells(sortValue(field, a), sortValue(field, b));
        if (c !== 0) return c * sign;
      }
      return 0;
    });
  }
  const ids = records.map((r) => r.id);
  return params.maxRecords === undefined ? ids : ids.slice(0, params.maxRecords);
}

export function findField(table: TableData, nameOrId: string): FieldSpec | undefined {
  return table.fields.find((f) => f.id === nameOrId || f.name === nameOrId);
}

function resolveField(table: TableData, nameOrId: string): FieldSpec {
  const field = findField(table, nameOrId);
  if (!field) throw ERRORS.unknownField(nameOrId);
  return field;
}

/** A cell as stored, with computed fields filled in; undefined when empty. */
function cell(field: FieldSpec, rec: StoredRecord): unknown {
  const v =
    field.type === 'lastModifiedTime' ? new Date(rec.lastModified).toISOString() : rec.cells[field.name];
  // Airtable leaves empty values out: "", [], false and blanks never appear.
  if (v === null || v === undefined || v === '' || v === false) return undefined;
  if (Array.isArray(v) && v.length === 0) return undefined;
  return v;
}

function render(rec: StoredRecord, returned: readonly FieldSpec[], params: ListParams): ApiRecord {
  const fields: Record<string, unknown> = {};
  for (const field of returned) {
    const v = cell(field, rec);
    if (v === undefined) continue;
    fields[params.returnFieldsByFieldId ? field.id : field.name] =
      params.cellFormat === 'string' ? asString(v) : v;
  }
  const out: ApiRecord = { id: rec.id, createdTime: new Date(rec.createdTime).toISOString(), fields };
  if (params.recordMetadata.includes('commentCount')) out.commentCount = 0;
  return out;
}

function cellText(v: unknown): string {
  return Array.isArray(v) ? v.map(String).join(', ') : typeof v === 'string' ? v : JSON.stringify(v);
}

function asString(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(', ');
  if (v === true) return 'checked';
  return String(v);
}

function sortValue(field: FieldSpec, rec: StoredRecord): unknown {
  if (field.type === 'lastModifiedTime') return rec.lastModified;
  return cell(field, rec);
}

/** Empty cells sort first in ascending order, as in Airtable's grid. */
function compareCells(a: unknown, b: unknown): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = cellText(a);
  const y = cellText(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function formulaRecord(table: TableData, rec: StoredRecord): FormulaRecord {
  return {
    id: rec.id,
    createdTime: new Date(rec.createdTime),
    lastModifiedTime: new Date(rec.lastModified),
    field(nameOrId): FormulaValue | undefined {
      const field = findField(table, nameOrId);
      if (!field) return undefined;
      if (field.type === 'lastModifiedTime') return new Date(rec.lastModified);
      const v = rec.cells[field.name];
      if (field.type === 'checkbox') return v === true;
      if (v === undefined || v === null || v === '') return null;
      if (field.type === 'date' && typeof v === 'string') return new Date(`${v}T00:00:00.000Z`);
      return v as FormulaValue;
    },
  };
}
