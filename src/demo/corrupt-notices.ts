import type { NoticeRecord, NoticeRow } from './generate-notices.ts';
import { createRandom, mixSeed } from './random.ts';

/**
 * The kinds of bad record the demo's quarantine shows, each one a declared column's type or the
 * primary key would reject. Kept apart from generateNotices so benchmark data stays clean.
 */
export const CORRUPTIONS = {
  fine_in_words: (r: NoticeRow): NoticeRow => ({ ...r, fine_amount: 'twelve pounds' }),
  missing_regulator_id: (r: NoticeRow): NoticeRow => ({ ...r, regulator_id: null }),
  impossible_issue_date: (r: NoticeRow): NoticeRow => ({ ...r, issue_date: '2021-02-30' }),
  employees_in_words: (r: NoticeRow): NoticeRow => ({ ...r, employees: 'about fifty' }),
} as const;
export type CorruptionKind = keyof typeof CORRUPTIONS;

/**
 * Passes records through, replacing about `rate` of them with one corruption each (chosen in
 * turn, so every kind appears). Deterministic for a seed. `onCorrupt` reports which record got what.
 */
export function* corruptNotices(
  records: Iterable<NoticeRecord>,
  rate = 0.01,
  seed = 1,
  onCorrupt?: (index: number, kind: CorruptionKind, original: NoticeRecord) => void,
): Generator<NoticeRow> {
  const rnd = createRandom(mixSeed(seed, 0xbad));
  const kinds = Object.keys(CORRUPTIONS) as CorruptionKind[];
  let index = 0;
  let made = 0;
  for (const record of records) {
    if (rnd.chance(rate)) {
      const kind = kinds[made++ % kinds.length]!;
      onCorrupt?.(index, kind, record);
      yield CORRUPTIONS[kind](record);
    } else {
      yield record;
    }
    index++;
  }
}
