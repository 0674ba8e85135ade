import pg from 'pg';
import type { Cell, ColumnType } from '../../core/types.ts';

/** The native PostgreSQL type of each declared column type. */
export const SQL_TYPES: Record<ColumnType, string> = {
  text: 'text',
  integer: 'integer',
  bigint: 'bigint',
  numeric: 'numeric',
  boolean: 'boolean',
  date: 'date',
  timestamptz: 'timestamptz',
  // json, not jsonb: json keeps the text as written (key order, spacing, 1.5e-7), so values read
  // back are the canonical Cell and hash alike on re-sync (conformance suite). jsonb reorders keys
  // and rewrites numbers. json is still validated on write; cast to jsonb in queries to index it.
  json: 'json',
};

/**
 * Existing column types (as `format_type` names them, without a type modifier) that a declared
 * type accepts. A user who pre-created `amount numeric(12,2)` or a `varchar` column keeps it;
 * anything else is a schema conflict, because writes would silently change the values.
 */
export const COMPATIBLE_TYPES: Record<ColumnType, readonly string[]> = {
  text: ['text', 'character varying', 'character'],
  integer: ['integer'],
  bigint: ['bigint'],
  numeric: ['numeric'],
  boolean: ['boolean'],
  date: ['date'],
  timestamptz: ['timestamp with time zone'],
  json: ['json', 'jsonb'],
};

/** `numeric(12,2)` → `numeric`, `character varying(20)` → `character varying`. */
export function baseTypeName(formatted: string): string {
  return formatted.replace(/\(.*\)$/, '');
}

const OID = {
  int8: 20,
  json: 114,
  date: 1082,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802,
} as const;

const identity = (text: string): string => text;

/**
 * Text-protocol parsers installed on our own Pool (pg's global `types` stay untouched), so every
 * value read comes back in the canonical Cell form of core/types.ts instead of pg's defaults
 * (Date objects that shift dates by the local zone, JSON.parse that loses big numbers).
 */
export const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    switch (oid) {
      case OID.int8:
      case OID.numeric:
      case OID.date:
      case OID.json:
      case OID.jsonb:
        return identity;
      case OID.timestamptz:
        return parseTimestamptz;
      default:
        return pg.types.getTypeParser(oid, format);
    }
  }) as pg.CustomTypesConfig['getTypeParser'],
};

const TIMESTAMPTZ =
  /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/**
 * '2024-05-06 07:08:09.123456+00' → '2024-05-06T07:08:09.123Z'. The session runs in UTC, so the
 * offset is normally +00; other offsets (a script that SET TimeZone) are converted. Values with
 * no ISO form (infinity, BC dates) are returned as PostgreSQL prints them.
 */
export function parseTimestamptz(text: string): string {
  const m = TIMESTAMPTZ.exec(text);
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac = '', sign, oh = '00', om = '00', os = '00'] = m;
  const ms = (frac + '000').slice(0, 3);
  if (oh === '00' && om === '00' && os === '00') return `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), Number(ms));
  const offsetSeconds = Number(oh) * 3600 + Number(om) * 60 + Number(os);
  return new Date(date.getTime() - (sign === '-' ? -1 : 1) * offsetSeconds * 1000).toISOString();
}

/** A value read back (already through typeParsers) in its canonical Cell form. */
export function decodeCell(value: unknown): Cell {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  // Only a type without a parser in typeParsers gets here (a Date, a Buffer): keep it readable.
  return value instanceof Date ? value.toISOString() : JSON.stringify(value);
}
