import type { ColumnObjectConfig, TargetConfig } from '../config/schema.ts';
import { DEFAULTS } from '../config/schema.ts';
import type { Cell, RawRecord, Rejection, Row } from '../core/types.ts';
import type { ColumnSpec } from '../destinations/destination.ts';
import { CleanFailure, compileCleaner, type Cleaner } from './clean.ts';

/**
 * Turns a source record into a row of the target table: each declared column reads its `from`
 * field (or dotted path), cleans it to the column type's canonical Cell, and checks presence.
 * A record that cannot become a row is a Rejection value (quarantined by the runner), never a throw.
 *
 * The mapper is compiled once per sync; `map` runs per record, so it uses only precompiled
 * getters and cleaners and allocates just the row and its result object on the happy path.
 */
export interface Mapper {
  /** Declared columns, in table order. */
  columns: ColumnSpec[];
  primaryKey: string[];
  map(record: RawRecord, location?: string): MapResult;
}

export type MapResult = { ok: true; row: Row } | { ok: false; rejection: Rejection };

interface CompiledColumn {
  name: string;
  from: string;
  get: (record: RawRecord) => unknown;
  clean: Cleaner;
  /** onInvalid: 'null' — an unconvertible value becomes NULL instead of rejecting the record. */
  nullOnInvalid: boolean;
  primaryKey: boolean;
  /** NULL — or empty text: a blank key identifies nothing — rejects the record (primary-key and `required` columns). */
  mustHave: boolean;
}

/** Compiles a target's mapping. Throws TributaryError('config_invalid') for a bad column option (see clean.ts). */
export function compileMapper(target: TargetConfig): Mapper {
  const primaryKey = target.primaryKey === undefined ? [] : [target.primaryKey].flat();
  const pkSet = new Set(primaryKey);
  const compiled: CompiledColumn[] = Object.entries(target.columns).map(([name, declared]) => {
    const col: ColumnObjectConfig = typeof declared === 'string' ? { type: declared } : declared;
    const from = col.from ?? name;
    const isPk = pkSet.has(name);
    // A column's own list replaces the target's, which replaces the default. An empty reference refers to nothing.
    const nullIf = col.nullIf ?? target.nullIf ?? DEFAULTS.nullIf;
    const constant = col.value;
    return {
      name,
      from: constant === undefined ? from : `value ${JSON.stringify(constant)}`,
      get: constant !== undefined ? () => constant : withDefault(compileGetter(from), col.default),
      clean: compileCleaner(name, {
        type: col.type,
        nullIf: col.references === undefined ? nullIf : [...nullIf, ''],
        format: col.format,
        trim: col.trim,
      }),
      nullOnInvalid: col.onInvalid === 'null',
      primaryKey: isPk,
      mustHave: isPk || col.required === true,
    };
  });
  const columns: ColumnSpec[] = Object.entries(target.columns).map(([name, declared]) => ({
    name,
    type: typeof declared === 'string' ? declared : declared.type,
  }));
  const pkColumns = primaryKey.map((k) => compiled.find((c) => c.name === k)).filter((c) => c !== undefined);
  const n = compiled.length;

  return {
    columns,
    primaryKey,
    map(record: RawRecord, location?: string): MapResult {
      const row: Row = {};
      for (let i = 0; i < n; i++) {
        const c = compiled[i]!;
        let v = c.clean(c.get(record));
        if (v instanceof CleanFailure) {
          if (!c.nullOnInvalid) return reject(compiled, pkColumns, record, location);
          v = null;
        }
        if ((v === null || v === '') && c.mustHave) return reject(compiled, pkColumns, record, location);
        row[c.name] = v;
      }
      return { ok: true, row };
    },
  };
}

/**
 * The slow path, taken only for a bad record: cleans every column again to report all of its
 * problems at once (fixing one and re-running to find the next is tedious), and the key when known.
 */
function reject(
  compiled: readonly CompiledColumn[],
  pkColumns: readonly CompiledColumn[],
  record: RawRecord,
  location: string | undefined,
): MapResult {
  const problems: string[] = [];
  let code: string | undefined;
  for (const c of compiled) {
    let v = c.clean(c.get(record));
    if (v instanceof CleanFailure) {
      if (!c.nullOnInvalid) {
        problems.push(v.message);
        code ??= 'invalid_value';
        continue;
      }
      v = null;
    }
    if ((v === null || v === '') && c.mustHave) {
      const origin = c.from === c.name ? '' : ` (from "${c.from}")`;
      problems.push(`${c.name}: ${c.primaryKey ? 'primary key' : 'required value'} is missing${origin}`);
      // A missing key outranks other problems: the record cannot even be identified.
      if (c.primaryKey) code = 'missing_primary_key';
      else code ??= 'missing_value';
    }
  }
  let recordKey: string | null = null;
  if (pkColumns.length > 0) {
    const parts: string[] = [];
    for (const c of pkColumns) {
      const v: Cell | CleanFailure = c.clean(c.get(record));
      if (v === null || v === '' || v instanceof CleanFailure) break;
      parts.push(String(v));
    }
    if (parts.length === pkColumns.length) recordKey = parts.join('|');
  }
  const message = (location === undefined ? '' : `${location}: `) + problems.join('; ');
  return { ok: false, rejection: { code: code ?? 'invalid_value', message, recordKey, payload: record } };
}

/**
 * A getter for a field name or dotted path. A field whose name contains dots and exists literally
 * wins over the path ("address.city" as a CSV header). Own properties only: a field named
 * "constructor" must not read Object.prototype's.
 */
export function compileGetter(from: string): (record: RawRecord) => unknown {
  const direct = fieldReader(from);
  if (!from.includes('.')) return direct;
  const readers = from.split('.').map(fieldReader);
  return (record) => {
    if (Object.hasOwn(record, from)) return record[from];
    let v: unknown = record;
    for (const read of readers) {
      if (typeof v !== 'object' || v === null) return undefined;
      v = read(v as RawRecord);
    }
    return v;
  };
}

function withDefault(
  get: (record: RawRecord) => unknown,
  fallback: Cell | undefined,
): (record: RawRecord) => unknown {
  if (fallback === undefined) return get;
  return (record) => get(record) ?? fallback;
}

/** Plain property access is the fast path; names the prototype also has need the own-property check. */
function fieldReader(key: string): (o: RawRecord) => unknown {
  if (key in Object.prototype) return (o) => (Object.hasOwn(o, key) ? o[key] : undefined);
  return (o) => o[key];
}
