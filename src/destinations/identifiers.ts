import { TributaryError } from '../core/errors.ts';

/**
 * Table and column names reach SQL only through here: validated against a strict pattern, then
 * double-quoted (DESIGN guarantee 10). Both PostgreSQL and SQLite quote identifiers with "…".
 */
const SAFE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function quoteIdent(name: string): string {
  if (!SAFE.test(name)) {
    throw new TributaryError('config_invalid', `"${name}" is not a valid SQL name (letters, digits, _; at most 63)`);
  }
  return `"${name}"`;
}

/** Name of the seen-key table that backs deletes for `table`, kept within 63 characters. */
export function seenTableName(table: string): string {
  const name = `tributary_seen_${table}`;
  if (name.length <= 63) return name;
  let h = 0;
  for (let i = 0; i < table.length; i++) h = (Math.imul(h, 31) + table.charCodeAt(i)) | 0;
  return `tributary_seen_${table.slice(0, 38)}_${(h >>> 0).toString(16)}`;
}

/** Name of the shadow table a `replace` write builds before swapping it in. */
export function shadowTableName(table: string): string {
  return `${table.slice(0, 50)}__tributary_new`;
}
