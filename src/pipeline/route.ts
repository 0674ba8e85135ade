import type { Condition, SyncConfig, TargetConfig } from '../config/schema.ts';
import { DEFAULTS } from '../config/schema.ts';
import { errorMessage } from '../core/errors.ts';
import type { Cell, RawRecord, Rejection, Row } from '../core/types.ts';
import type { TableSpec } from '../destinations/destination.ts';
import { keyText } from '../destinations/row-encoding.ts';
import { compileGetter, compileMapper, type Mapper } from './map.ts';

/**
 * Routes one source record to the rows it produces: one row of the sync's `target` table (the
 * record's own row) and at most one row of each `related` table. Per record it runs, in order:
 * `validate` (TS), `transform` (TS), then every table's column mapping. A record is all or
 * nothing: if any of its rows is invalid, none is written and the record is quarantined with a
 * message naming the table.
 */
export interface TablePlan {
  spec: TableSpec;
  mapper: Mapper;
  /** True for the sync's target table. */
  isTarget: boolean;
  /** Only records meeting every condition produce a row (related tables). */
  when: ((record: RawRecord) => boolean) | null;
  /**
   * Set when this related table references the target: the column holding the record's key.
   * Such a table is the record's child; a record read again replaces its children.
   */
  parentColumn: string | null;
}

export interface Router {
  target: TablePlan;
  /** Related tables, in config order; `RouteResult.related` is aligned with this list. */
  related: TablePlan[];
  /** Every table, parents before children: the order of writes within a batch. */
  writeOrder: TablePlan[];
  route(record: RawRecord, location?: string): RouteResult;
}

export type RouteResult =
  /** `related` is absent when the sync has no related tables. */
  { ok: true; row: Row; related?: (Row | null)[] } | { ok: false; rejection: Rejection };

export function tableSpec(name: string, mapper: Mapper, softDelete: boolean, indexes: string[]): TableSpec {
  return {
    name,
    columns: mapper.columns,
    primaryKey: mapper.primaryKey,
    softDelete,
    ...(indexes.length ? { indexes } : {}),
  };
}

/** Columns of a table that reference another table: indexed, and used to order the writes. */
function references(target: Pick<TargetConfig, 'columns'>): Map<string, string> {
  const refs = new Map<string, string>();
  for (const [col, declared] of Object.entries(target.columns)) {
    if (typeof declared === 'object' && declared.references !== undefined) refs.set(col, declared.references);
  }
  return refs;
}

export function compileRouter(sync: SyncConfig): Router {
  const softDelete = (sync.deletes ?? DEFAULTS.deletes) === 'soft';
  const targetRefs = references(sync.target);
  const targetMapper = compileMapper(sync.target);
  const target: TablePlan = {
    spec: tableSpec(sync.target.table, targetMapper, softDelete, [...targetRefs.keys()]),
    mapper: targetMapper,
    isTarget: true,
    when: null,
    parentColumn: null,
  };
  const parentsOf = new Map<string, string[]>([[target.spec.name, [...targetRefs.values()]]]);
  const related: TablePlan[] = Object.entries(sync.related ?? {}).map(([name, t]) => {
    const refs = references(t);
    parentsOf.set(name, [...refs.values()]);
    const mapper = compileMapper({
      table: name,
      primaryKey: t.primaryKey,
      columns: t.columns,
      nullIf: t.nullIf ?? sync.target.nullIf,
    });
    const parentColumn = [...refs.entries()].find(([, table]) => table === target.spec.name)?.[0] ?? null;
    const conditions = t.when === undefined ? [] : [t.when].flat().map(compileCondition);
    return {
      spec: tableSpec(name, mapper, false, [...refs.keys()]),
      mapper,
      isTarget: false,
      when: conditions.length === 0 ? null : (r) => conditions.every((c) => c(r)),
      parentColumn,
    };
  });

  // Parents before children (the config schema has ruled out cycles); ties keep config order.
  const byName = new Map([target, ...related].map((p) => [p.spec.name, p]));
  const writeOrder: TablePlan[] = [];
  const placed = new Set<string>();
  const place = (name: string) => {
    if (placed.has(name)) return;
    placed.add(name);
    for (const parent of parentsOf.get(name) ?? []) if (parent !== name) place(parent);
    writeOrder.push(byName.get(name)!);
  };
  for (const p of [...related, target]) place(p.spec.name);

  const { validate, transform } = sync;
  const relatedCount = related.length;
  if (relatedCount === 0 && !validate && !transform) {
    // The common single-table sync: the mapper's own result, no extra allocation per record.
    return { target, related, writeOrder, route: (record, location) => targetMapper.map(record, location) };
  }

  return {
    target,
    related,
    writeOrder,
    route(raw: RawRecord, location?: string): RouteResult {
      const at = location === undefined ? '' : `${location}: `;
      if (validate) {
        let verdict: ReturnType<typeof validate>;
        try {
          verdict = validate(raw);
        } catch (err) {
          return rejected(
            'validation_failed',
            `${at}the record validator threw: ${errorMessage(err)}`,
            raw,
            target,
            raw,
          );
        }
        const problems =
          verdict == null ? [] : [verdict].flat().filter((m) => typeof m === 'string' && m !== '');
        if (problems.length > 0)
          return rejected('validation_failed', at + problems.join('; '), raw, target, raw);
      }
      let record = raw;
      if (transform) {
        try {
          record = transform(raw);
        } catch (err) {
          return rejected(
            'transform_failed',
            `${at}the transform threw: ${errorMessage(err)}`,
            raw,
            target,
            raw,
          );
        }
        if (typeof record !== 'object' || record === null || Array.isArray(record)) {
          return rejected(
            'transform_failed',
            `${at}the transform returned ${describe(record)}, not a record object`,
            raw,
            target,
            raw,
          );
        }
      }
      const own = target.mapper.map(record, location);
      if (!own.ok) return record === raw ? own : { ok: false, rejection: { ...own.rejection, payload: raw } };
      const rows: (Row | null)[] = new Array<Row | null>(relatedCount).fill(null);
      for (let i = 0; i < relatedCount; i++) {
        const plan = related[i]!;
        if (plan.when !== null && !plan.when(record)) continue;
        const r = plan.mapper.map(record, location);
        if (r.ok) {
          rows[i] = r.row;
          continue;
        }
        // No key, no row: a conversation without a customer id has no customer row.
        if (r.rejection.code === 'missing_primary_key') continue;
        return {
          ok: false,
          rejection: {
            code: r.rejection.code,
            message: `${at}table ${plan.spec.name}: ${location === undefined ? r.rejection.message : r.rejection.message.slice(at.length)}`,
            recordKey: keyOf(target, own.row),
            payload: raw,
          },
        };
      }
      return { ok: true, row: own.row, related: rows };
    },
  };
}

function keyOf(plan: TablePlan, row: Row): string | null {
  return plan.spec.primaryKey.length === 0 ? null : keyText(row, plan.spec.primaryKey);
}

function rejected(
  code: string,
  message: string,
  raw: RawRecord,
  target: TablePlan,
  record: RawRecord,
): RouteResult {
  // The key is reported when the record's own columns can tell it.
  const own = target.mapper.map(record);
  return {
    ok: false,
    rejection: { code, message, recordKey: own.ok ? keyOf(target, own.row) : null, payload: raw },
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

const text = (v: unknown): string | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
};

/** Compiles one `when` condition (config/schema.ts conditionSchema). */
export function compileCondition(c: Condition): (record: RawRecord) => boolean {
  const get = compileGetter(c.field);
  const same = (expected: Cell) => {
    const want = String(expected);
    return (record: RawRecord) => {
      const v = get(record);
      // An unticked checkbox is absent in Airtable: it equals false.
      if (v === undefined || v === null) return expected === false || want === '';
      return text(v) === want;
    };
  };
  if (c.equals !== undefined) return same(c.equals);
  if (c.notEquals !== undefined) {
    const eq = same(c.notEquals);
    return (r) => !eq(r);
  }
  if (c.in !== undefined) {
    const tests = c.in.map(same);
    return (r) => tests.some((t) => t(r));
  }
  if (c.contains !== undefined) {
    const needle = c.contains;
    return (r) => text(get(r))?.includes(needle) ?? false;
  }
  if (c.matches !== undefined) {
    const re = new RegExp(c.matches);
    return (r) => {
      const t = text(get(r));
      return t !== null && re.test(t);
    };
  }
  const present = c.present === true;
  return (r) => {
    const t = text(get(r));
    return (t !== null && t !== '') === present;
  };
}
