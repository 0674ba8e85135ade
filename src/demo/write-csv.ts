import { NOTICE_COLUMNS, type NoticeRow } from './generate-notices.ts';
import { writeLines } from './write-lines.ts';

/**
 * Writes notices as RFC 4180 CSV with a header row: fields holding a comma, quote or line
 * break are quoted and quotes doubled; null is an empty field; arrays are JSON text.
 * Returns the number of records written (header excluded).
 */
export function writeCsv(path: string, records: Iterable<NoticeRow>): Promise<number> {
  return writeLines(path, csvLines(records)).then((n) => n - 1);
}

const NEEDS_QUOTES = /[",\r\n]/;

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    text = String(value);
  else text = JSON.stringify(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function* csvLines(records: Iterable<NoticeRow>): Generator<string> {
  yield NOTICE_COLUMNS.map(([name]) => name).join(',');
  for (const record of records) {
    let line = '';
    for (let i = 0; i < NOTICE_COLUMNS.length; i++) {
      if (i > 0) line += ',';
      line += csvField(record[NOTICE_COLUMNS[i]![0]]);
    }
    yield line;
  }
}
