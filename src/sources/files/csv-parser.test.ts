import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { CSV_END, CSV_MORE, CSV_RECORD, CSV_UNTERMINATED, CsvParser, type CsvDialect } from './csv-parser.ts';

const DIALECT: CsvDialect = {
  delimiter: ',',
  quote: '"',
  escape: '"',
  encoding: 'utf8',
  skipEmptyLines: true,
};

interface Parsed {
  fields: string[] | 'unterminated';
  line: number;
  /** Offset after the record: where the next one starts. */
  offset: number;
}

/** Runs our parser over `input` fed in chunks of `chunkSize` bytes (0 = all at once). */
function ours(input: Buffer, chunkSize = 0, dialect: CsvDialect = DIALECT): Parsed[] {
  const parser = new CsvParser(dialect);
  const out: Parsed[] = [];
  let fed = 0;
  for (;;) {
    const step = parser.next();
    if (step === CSV_END) return out;
    if (step === CSV_MORE) {
      if (fed >= input.length) parser.finish();
      else {
        const end = chunkSize === 0 ? input.length : Math.min(input.length, fed + chunkSize);
        parser.append(input.subarray(fed, end));
        fed = end;
      }
      continue;
    }
    out.push({
      fields: step === CSV_RECORD ? parser.fields : 'unterminated',
      line: parser.recordLine,
      offset: parser.offset,
    });
    assert.ok(step === CSV_RECORD || step === CSV_UNTERMINATED);
  }
}

/** csv-parse as the oracle: records and info.bytes (which includes the record's line break). */
function oracle(input: Buffer): { fields: string[]; offset: number }[] {
  const rows = parse(input, {
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n'],
  }) as unknown as { record: string[]; info: { bytes: number } }[];
  return rows.map((r) => ({ fields: r.record, offset: r.info.bytes }));
}

/** Deterministic PRNG (mulberry32) so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'bc', ' ', 'é', '€', '😀', ',', '"', '\n', '\r\n', 'x"y', '5" screen', ''];

function randomField(rand: () => number): string {
  let s = '';
  const n = Math.floor(rand() * 5);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rand() * PIECES.length)];
  return s;
}

/** Writes fields as a CSV writer would: quote when needed, double embedded quotes. */
function encodeField(field: string, rand: () => number): string {
  const needs = /[",\r\n]/.test(field) || field.startsWith('"');
  if (!needs && rand() < 0.7) return field;
  return `"${field.replaceAll('"', '""')}"`;
}

describe('CsvParser', () => {
  test('parses quoting, escaped quotes, embedded newlines, CRLF, BOM and empty fields', () => {
    const input = Buffer.from(
      '\uFEFFid,note\r\n1,"a, ""quoted"" word"\r\n2,"two\r\nlines"\r\n\r\n3,\r\n4,"é€😀"',
      'utf8',
    );
    assert.deepEqual(ours(input), [
      { fields: ['id', 'note'], line: 1, offset: 12 }, // 3 BOM bytes + 9
      { fields: ['1', 'a, "quoted" word'], line: 2, offset: 36 },
      { fields: ['2', 'two\r\nlines'], line: 3, offset: 52 },
      { fields: ['3', ''], line: 6, offset: 58 },
      { fields: ['4', 'é€😀'], line: 7, offset: 71 }, // é 2 bytes, € 3, 😀 4
    ]);
    assert.equal(input.length, 71);
    assert.deepEqual(
      ours(input).map((r) => r.offset),
      oracle(input).map((r) => r.offset),
    );
  });

  test('treats a quote inside an unquoted field as data and keeps text after a closing quote', () => {
    const input = Buffer.from('5" screen,"ab"c,d\n');
    assert.deepEqual(ours(input), [{ fields: ['5" screen', 'abc', 'd'], line: 1, offset: input.length }]);
  });

  test('supports a backslash escape distinct from the quote', () => {
    const input = Buffer.from('"say \\"hi\\"","back\\\\slash","c:\\dir"\n');
    const dialect = { ...DIALECT, escape: '\\' };
    assert.deepEqual(ours(input, 0, dialect), [
      { fields: ['say "hi"', 'back\\slash', 'c:\\dir'], line: 1, offset: input.length },
    ]);
  });

  test('keeps empty lines as one-field records when skipEmptyLines is false', () => {
    const input = Buffer.from('a\n\nb\r\n');
    assert.deepEqual(ours(input, 0, { ...DIALECT, skipEmptyLines: false }), [
      { fields: ['a'], line: 1, offset: 2 },
      { fields: [''], line: 2, offset: 3 },
      { fields: ['b'], line: 3, offset: 6 },
    ]);
  });

  test('skips the first line of a record whose quote never closes and parses the rest', () => {
    const input = Buffer.from('a,b\n1,"open\n2,x\n');
    assert.deepEqual(ours(input), [
      { fields: ['a', 'b'], line: 1, offset: 4 },
      { fields: 'unterminated', line: 2, offset: 12 },
      { fields: ['2', 'x'], line: 3, offset: 16 },
    ]);
  });

  test('decodes latin1', () => {
    const input = Buffer.from('nom,ville\nJosé,Montréal\n', 'latin1');
    assert.deepEqual(
      ours(input, 0, { ...DIALECT, encoding: 'latin1' }).map((r) => r.fields),
      [
        ['nom', 'ville'],
        ['José', 'Montréal'],
      ],
    );
  });

  test('agrees with csv-parse on fields and byte offsets for random inputs, whatever the chunking', () => {
    const rand = prng(42);
    let records = 0;
    for (let doc = 0; doc < 300; doc++) {
      const rows: string[] = [];
      const nRows = 1 + Math.floor(rand() * 8);
      for (let r = 0; r < nRows; r++) {
        const nFields = 1 + Math.floor(rand() * 4);
        const fields = Array.from({ length: nFields }, () => encodeField(randomField(rand), rand));
        // A lone empty field would be an empty line, which both sides skip; keep rows non-empty.
        if (fields.length === 1 && fields[0] === '') fields[0] = '""';
        rows.push(fields.join(','));
      }
      const eol = rand() < 0.5 ? '\n' : '\r\n';
      const bom = rand() < 0.2 ? '\uFEFF' : '';
      const trailing = rand() < 0.7 ? eol : '';
      const input = Buffer.from(bom + rows.join(eol) + trailing, 'utf8');
      const expected = oracle(input);
      for (const chunkSize of [0, 1, 2, 3, 7]) {
        const got = ours(input, chunkSize).map(({ fields, offset }) => ({ fields, offset }));
        assert.deepEqual(
          got,
          expected,
          `doc ${doc}, chunk ${chunkSize}: ${JSON.stringify(input.toString())}`,
        );
      }
      records += expected.length;
    }
    assert.ok(records > 1000);
  });
});
