import { TributaryError } from '../core/errors.ts';

/**
 * Table and column names reach SQL only through here: validated against a strict pattern, then
 * double-quoted (DESIGN guarantee 10). Both PostgreSQL and SQLite quote identifiers with "…".
 */
const SAFE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function quoteIdent(name: string): string {
  if (!SAFE.test(name)) {
    throw new TributaryError(
      'config_invalid',
      `"${name}" is not a valid SQL name (letters, digits, _; at most 63)`,
    );
  }
  return `"${name}"`;
}

/**
 * A name derived from a user's table name, kept within PostgreSQL's 63-character limit: when the
 * plain form is too long, the table part is shortened and a hash of the full name keeps two long
 * names that share a prefix apart.
 */
function derivedName(prefix: string, table: string, suffix: string): string {
  const name = `${prefix}${table}${suffix}`;
  if (name.length <= 63) return name;
  let h = 0;
  for (let i = 0; i < table.length; i++) h = (Math.imul(h, 31) + table.charCodeAt(i)) | 0;
  const tag = `_${(h >>> 0).toString(16).padStart(8, '0')}`;
  return `${prefix}${table.slice(0, 63 - prefix.length - suffix.length - tag.length)}${tag}${suffix}`;
}

/** Name of the seen-key table that backs deletes for `table`. */
export const seenTableName = (table: string): string => derivedName('tributary_seen_', table, '');

/** Name of the shadow table a `replace` write builds before swapping it in. */
export const shadowTableName = (table: string): string => derivedName('', table, '__tributary_new');

/** Name of the index Tributary creates on `column` of `table` (names are per schema in PostgreSQL). */
export const indexName = (table: string, column: string): string =>
  derivedName('', `${table}__${column}`, '_idx');
