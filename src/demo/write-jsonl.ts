import type { NoticeRow } from './generate-notices.ts';
import { writeLines } from './write-lines.ts';

/**
 * Writes notices as JSON Lines, with the value types an API would send: fine_amount and
 * inspection_id as JSON numbers (when they are numbers at all), legislation as an array.
 * Returns the number of records written.
 */
export function writeJsonl(path: string, records: Iterable<NoticeRow>): Promise<number> {
  return writeLines(path, jsonLines(records));
}

const DECIMAL = /^-?\d+(\.\d+)?$/;

function* jsonLines(records: Iterable<NoticeRow>): Generator<string> {
  for (const record of records) {
    const { fine_amount, inspection_id } = record;
    yield JSON.stringify({
      ...record,
      fine_amount:
        typeof fine_amount === 'string' && DECIMAL.test(fine_amount) ? Number(fine_amount) : fine_amount,
      inspection_id:
        typeof inspection_id === 'string' && DECIMAL.test(inspection_id)
          ? Number(inspection_id)
          : inspection_id,
    });
  }
}
