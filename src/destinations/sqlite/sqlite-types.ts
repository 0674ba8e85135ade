import type { Cell, ColumnType } from '../../core/types.ts';

/**
 * Declared SQLite type of each column type. SQLite stores values by the column's *affinity*
 * (derived from the declared type name), and affinity conversions decide what reads back:
 *
 * - numeric is TEXT, not NUMERIC: NUMERIC affinity turns '12345678901234567890.123' into a REAL
 *   (15 significant digits) and '1.50' into 1.5, so the canonical decimal string would not survive.
 *   The cost: ORDER BY and comparisons on a numeric column are textual in raw SQL; CAST it there.
 * - json is TEXT: any other name gets NUMERIC affinity, which would turn the JSON text '1.0' into 1.
 * - bigint is INTEGER (64-bit in SQLite); values are bound as BigInt so they stay exact.
 * - boolean is INTEGER 0/1, the SQLite convention that other tools (and `WHERE active`) understand.
 * - date and timestamptz are TEXT in their canonical ISO forms, which sort chronologically.
 */
export const SQLITE_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'TEXT',
  integer: 'INTEGER',
  bigint: 'INTEGER',
  numeric: 'TEXT',
  boolean: 'INTEGER',
  date: 'TEXT',
  timestamptz: 'TEXT',
  json: 'TEXT',
};

/** The declared type of the system columns (_tributary_hash, _tributary_updated_at, _deleted_at). */
export const SYSTEM_COLUMN_TYPE = 'TEXT';

export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

/** SQLite's affinity rules (datatype3.html §3.1), applied to a declared type name. */
export function affinityOf(declared: string): Affinity {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

/**
 * Whether an existing column can hold `type` faithfully. Affinity, not the type name, decides
 * what SQLite stores, so a text column redeclared as date is fine while text → integer is not
 * (TEXT affinity would store the integers as strings).
 */
export function isCompatible(existingDeclared: string, type: ColumnType): boolean {
  return affinityOf(existingDeclared) === affinityOf(SQLITE_TYPES[type]);
}

/** Turns a canonical Cell into the value bound to a statement parameter. */
export type CellEncoder = (value: Cell) => unknown;

const asIs: CellEncoder = (v) => v;
const bigintEncoder: CellEncoder = (v) => (typeof v === 'string' ? BigInt(v) : v);
const booleanEncoder: CellEncoder = (v) => (v === null ? null : v ? 1 : 0);

/** Whether a Cell of `type` binds unchanged (strings and safe integers). */
export function bindsAsIs(type: ColumnType): boolean {
  return type !== 'bigint' && type !== 'boolean';
}

export function cellEncoder(type: ColumnType): CellEncoder {
  if (type === 'bigint') return bigintEncoder;
  if (type === 'boolean') return booleanEncoder;
  return asIs;
}

/**
 * Turns a value read back (from a statement in safeIntegers mode, so integers arrive as BigInt)
 * into the canonical Cell form of src/core/types.ts.
 */
export type CellDecoder = (value: unknown) => Cell;

const textDecoder: CellDecoder = (v) => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  // A number or BigInt, when a table made elsewhere stored one; a BLOB reads as its bytes' text.
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : Buffer.from(v as Uint8Array).toString();
};
const integerDecoder: CellDecoder = (v) =>
  v === null || v === undefined ? null : typeof v === 'number' ? v : Number(v);
const booleanDecoder: CellDecoder = (v) => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v === '1' || v.toLowerCase() === 't' || v.toLowerCase() === 'true';
  return Number(v) !== 0;
};

export function cellDecoder(type: ColumnType): CellDecoder {
  if (type === 'integer') return integerDecoder;
  if (type === 'boolean') return booleanDecoder;
  // bigint arrives as BigInt and String() gives its exact digits; the rest are stored as TEXT.
  return textDecoder;
}

/** Binds a `where` value given as text (CLI, HTTP) so it compares equal to what is stored. */
export function whereValue(type: ColumnType, text: string): unknown {
  if (type === 'boolean') {
    const t = text.toLowerCase();
    if (t === 'true' || t === 't' || t === '1') return 1;
    if (t === 'false' || t === 'f' || t === '0') return 0;
  }
  if (type === 'bigint' && /^-?\d+$/.test(text)) return BigInt(text);
  return text;
}

/**
 * Turns a parameter of state-store SQL into a value better-sqlite3 can bind: it rejects booleans
 * and undefined, which the PostgreSQL driver accepts, so the same SQL works on both.
 */
export function bindValue(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.toISOString();
  if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) return JSON.stringify(v);
  return v;
}
