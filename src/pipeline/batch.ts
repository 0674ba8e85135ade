import type { Row } from '../core/types.ts';
import { keyText } from '../destinations/row-encoding.ts';

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
  const single = primaryKey.length === 1 ? primaryKey[0]! : null;
  for (const row of rows) {
    const key = single !== null ? String(row[single]) : keyText(row, primaryKey);
    const n = seen.get(key) ?? 0;
    seen.set(key, n + 1);
    (groups[n] ??= []).push(row);
  }
  return groups;
}
