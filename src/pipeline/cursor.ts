import type { ColumnType, CursorValue } from '../core/types.ts';

/**
 * Cursor values are kept in their column's canonical Cell form (core/types.ts): ISO strings for
 * dates and timestamps (which sort as text), numbers for integers, digit strings for bigint and
 * numeric (which must compare as numbers).
 */
export function compareCursor(a: CursorValue, b: CursorValue, type: ColumnType): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (type === 'bigint' || type === 'numeric' || type === 'integer') {
    const x = Number(a);
    const y = Number(b);
    if (x !== y) return x < y ? -1 : 1;
    return 0;
  }
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function maxCursor(
  a: CursorValue | null,
  b: CursorValue | null,
  type: ColumnType,
): CursorValue | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareCursor(a, b, type) >= 0 ? a : b;
}

/** Moves a time cursor back by `lookbackMs`; other cursor types have no meaningful lookback. */
export function applyLookback(cursor: CursorValue, lookbackMs: number, type: ColumnType): CursorValue {
  if (lookbackMs <= 0) return cursor;
  if (type === 'timestamptz') return new Date(Date.parse(String(cursor)) - lookbackMs).toISOString();
  if (type === 'date') {
    return new Date(Date.parse(`${String(cursor)}T00:00:00Z`) - lookbackMs).toISOString().slice(0, 10);
  }
  return cursor;
}

/**
 * "Never past the run's start time" (DESIGN guarantee 3): a record stamped in the future (clock
 * skew at the source) must not push the cursor beyond what this pass can have seen.
 */
export function clampToStart(cursor: CursorValue, passStartedAt: string, type: ColumnType): CursorValue {
  if (type === 'timestamptz') return String(cursor) > passStartedAt ? passStartedAt : cursor;
  if (type === 'date') {
    const day = passStartedAt.slice(0, 10);
    return String(cursor) > day ? day : cursor;
  }
  return cursor;
}
