import type { Row } from '../core/types.ts';

/** A row's key as one map key; NUL between parts, so ("a|b", "c") and ("a", "b|c") stay apart. */
function rowKey(row: Row, primaryKey: readonly string[]): string {
  return primaryKey.length === 1
    ? String(row[primaryKey[0]!])
    : primaryKey.map((k) => String(row[k])).join('\u0000');
}

/**
 * Splits rows so that no key repeats within a group, keeping source order between repeats:
 * the first occurrence of each key goes in group 0, the second in group 1, and so on. Writing the
 * groups one after another has exactly the effect (and the counts) of writing the rows one by one:
 * a key repeated in a batch is inserted, then updated or left unchanged — never a failed batch.
 */
export function splitByRepeatedKeys(rows: Row[], primaryKey: readonly string[]): Row[][] {
  if (primaryKey.length === 0 || rows.length < 2) return [rows];
  const seen = new Map<string, number>();
  const groups: Row[][] = [[]];
  for (const row of rows) {
    const key = rowKey(row, primaryKey);
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    (groups[n] ??= []).push(row);
  }
  return groups;
}

/**
 * Related rows repeat within a batch (many conversations name the same clinic): the last one of
 * each key is written, as the latest information about that row.
 */
export function lastPerKey(rows: Row[], primaryKey: readonly string[]): Row[] {
  if (rows.length < 2) return rows;
  const byKey = new Map<string, Row>();
  for (const row of rows) {
    const key = rowKey(row, primaryKey);
    byKey.delete(key); // re-insert so the map's order is that of each key's last occurrence
    byKey.set(key, row);
  }
  return byKey.size === rows.length ? rows : [...byKey.values()];
}
