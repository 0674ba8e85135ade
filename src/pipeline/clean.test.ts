import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Cell } from '../core/types.ts';
import { CleanFailure, checkCleanOptions, compileCleaner, type CleanOptions } from './clean.ts';

const cleaner = (options: CleanOptions, column = 'c') => compileCleaner(column, options);

/** Asserts each input converts to the expected Cell. */
function good(options: CleanOptions, cases: [unknown, Cell][]) {
  const clean = cleaner(options);
  for (const [input, expected] of cases) {
    const out = clean(input);
    assert.ok(
      !(out instanceof CleanFailure),
      `${String(input)} failed: ${out instanceof CleanFailure ? out.message : ''}`,
    );
    assert.deepEqual(out, expected, `input ${String(input)}`);
  }
}

/** Asserts each input is a CleanFailure. */
function bad(options: CleanOptions, inputs: unknown[]) {
  const clean = cleaner(options);
  for (const input of inputs) {
    const out = clean(input);
    assert.ok(out instanceof CleanFailure, `${String(input)} should fail, got ${JSON.stringify(out)}`);
  }
}

describe('text', () => {
  test('trims strings, stringifies scalars, serialises objects', () => {
    good({ type: 'text' }, [
      ['  Belmar Pharmacy ', 'Belmar Pharmacy'],
      ['', ''],
      ['   ', ''],
      [42, '42'],
      [1.5, '1.5'],
      [true, 'true'],
      [10n, '10'],
      [{ a: 1, b: [2] }, '{"a":1,"b":[2]}'],
      [['x', 'y'], '["x","y"]'],
      [new Date('2020-01-15T10:00:00Z'), '2020-01-15T10:00:00.000Z'],
      [null, null],
      [undefined, null],
    ]);
  });
  test('trim: false keeps whitespace', () => {
    good({ type: 'text', trim: false }, [
      ['  a ', '  a '],
      ['   ', '   '],
    ]);
  });
  test('NUL characters are invalid', () => {
    const out = cleaner({ type: 'text' }, 'note')('a\0b');
    assert.ok(out instanceof CleanFailure);
    assert.equal(
      out.message,
      'note: "a\\u0000b" is not valid text (expected text without NUL characters, which PostgreSQL cannot store)',
    );
  });
  test('nullIf applies to text, and an empty sentinel makes empty text NULL', () => {
    good({ type: 'text', nullIf: ['N/A', ''] }, [
      [' n/a ', null],
      ['', null],
      ['NA', 'NA'],
    ]);
  });
});

describe('integer', () => {
  test('accepts 32-bit integers and digit strings', () => {
    good({ type: 'integer' }, [
      [42, 42],
      [-7, -7],
      [-0, 0],
      ['42', 42],
      [' +42 ', 42],
      ['-0042', -42],
      ['42.0', 42],
      ['42.', 42],
      ['2147483647', 2147483647],
      ['-2147483648', -2147483648],
      ['', null],
      [12n, 12],
    ]);
  });
  test('rejects fractions, separators, exponents, values beyond 32 bits and non-numbers', () => {
    bad({ type: 'integer' }, [
      '2147483648',
      -2147483649,
      '9007199254740991',
      '42.5',
      '1,234',
      '1 234',
      '1e3',
      '0x10',
      'abc',
      42.5,
      NaN,
      Infinity,
      2 ** 53,
      '9007199254740992',
      true,
      {},
    ]);
  });
  test('message', () => {
    const out = cleaner({ type: 'integer' }, 'count')('1,234');
    assert.ok(out instanceof CleanFailure);
    assert.equal(
      out.message,
      'count: "1,234" is not an integer (expected a whole number like 42 or -7 between -2147483648 and 2147483647 (use bigint for larger); no thousands separators)',
    );
  });
});

describe('bigint', () => {
  test('exact digit strings within 64 bits', () => {
    good({ type: 'bigint' }, [
      ['9223372036854775807', '9223372036854775807'],
      ['-9223372036854775808', '-9223372036854775808'],
      ['+00123', '123'],
      ['-0', '0'],
      ['17.000', '17'],
      [42, '42'],
      [-0, '0'],
      [12345678901234567890n - 10000000000000000000n, '2345678901234567890'],
    ]);
  });
  test('rejects out-of-range, fractions and unsafe numbers', () => {
    bad({ type: 'bigint' }, [
      '9223372036854775808',
      '-9223372036854775809',
      '12345678901234567890',
      '1.5',
      2 ** 60,
      1.5,
      'x',
    ]);
  });
});

describe('numeric', () => {
  test('canonical decimal text, scale as given', () => {
    good({ type: 'numeric' }, [
      ['1234.50', '1234.50'],
      ['+1234.50', '1234.50'],
      ['007.5', '7.5'],
      ['.5', '0.5'],
      ['-.5', '-0.5'],
      ['5.', '5'],
      ['-0', '0'],
      ['-0.00', '0.00'],
      ['1e3', '1000'],
      ['1.50e1', '15.0'],
      ['1.5E-3', '0.0015'],
      ['12345678901234567890.123456789', '12345678901234567890.123456789'],
      [0.1, '0.1'],
      [-2.5, '-2.5'],
      [1e21, '1000000000000000000000'],
      [1e-7, '0.0000001'],
      [10n, '10'],
    ]);
  });
  test('rejects separators, NaN, Infinity, junk', () => {
    bad({ type: 'numeric' }, [
      '1,234.50',
      '1 234',
      'NaN',
      'Infinity',
      '.',
      '-',
      '1e',
      '1e99999',
      '$5',
      NaN,
      Infinity,
      true,
    ]);
  });
});

describe('boolean', () => {
  test('words and 1/0, case-insensitive', () => {
    good({ type: 'boolean' }, [
      [true, true],
      [false, false],
      ['TRUE', true],
      ['False', false],
      ['t', true],
      ['F', false],
      ['yes', true],
      ['No', false],
      ['y', true],
      ['N', false],
      ['1', true],
      ['0', false],
      [1, true],
      [0, false],
      ['', null],
    ]);
  });
  test('rejects anything else', () => {
    bad({ type: 'boolean' }, ['maybe', 'on', '2', 2, -1, 'yess', {}]);
  });
});

describe('date', () => {
  test('ISO, ISO timestamps and written dates', () => {
    good({ type: 'date' }, [
      ['2020-01-15', '2020-01-15'],
      ['2024-02-29', '2024-02-29'],
      ['2020-01-15T10:30:00Z', '2020-01-15'],
      ['2020-01-15T23:30:00-05:00', '2020-01-15'],
      ['2020-01-15 10:30:00', '2020-01-15'],
      ['January 15, 2020', '2020-01-15'],
      ['December 31, 2025', '2025-12-31'],
      ['Jan 15 2020', '2020-01-15'],
      ['Jan. 15, 2020', '2020-01-15'],
      ['Sept 3, 2021', '2021-09-03'],
      ['Monday, January 15th, 2020', '2020-01-15'],
      ['15 January 2020', '2020-01-15'],
      ['15 jan 2020', '2020-01-15'],
      ['15-Jan-2020', '2020-01-15'],
      ['3rd March 2021', '2021-03-03'],
      [new Date('2020-01-15T10:00:00Z'), '2020-01-15'],
      ['', null],
    ]);
  });
  test('calendar-checked and unambiguous only', () => {
    bad({ type: 'date' }, [
      '2021-02-30',
      '2023-02-29',
      '2020-13-01',
      '2020-1-5',
      'February 30, 2020',
      'Smarch 1, 2020',
      'Funday, January 15, 2020',
      '15/01/2020',
      '01/15/2020',
      '2020-01-15T25:00:00Z',
      20200115,
    ]);
  });
  test('the pharmacy seed: sentinels are NULL, anything else unreadable is reported', () => {
    const clean = cleaner(
      { type: 'date', nullIf: ['Not On File', 'Not Available', 'N/A', '---', 'Unknown'] },
      'issue_date',
    );
    for (const s of ['Not On File', 'not on file', ' Not Available ', 'N/A', 'n/a', '---', 'UNKNOWN', '']) {
      assert.equal(clean(s), null, s);
    }
    assert.equal(clean('January 15, 2020'), '2020-01-15');
    const out = cleaner({ type: 'date' }, 'action_date')('Not On Fil');
    assert.ok(out instanceof CleanFailure);
    assert.equal(
      out.message,
      'action_date: "Not On Fil" is not a date (expected YYYY-MM-DD or a written date like "January 15, 2020"; set format for numeric forms)',
    );
  });
  test('explicit formats', () => {
    good({ type: 'date', format: 'DD/MM/YYYY' }, [
      ['15/01/2020', '2020-01-15'],
      ['5/1/2020', '2020-01-05'],
      ['2020-01-15', '2020-01-15'],
      ['January 15, 2020', '2020-01-15'],
    ]);
    bad({ type: 'date', format: 'DD/MM/YYYY' }, ['01/15/2020', '31/02/2020', '15-01-2020']);
    good({ type: 'date', format: 'MM/DD/YYYY' }, [
      ['01/15/2020', '2020-01-15'],
      ['1/5/2020', '2020-01-05'],
    ]);
    good({ type: 'date', format: 'YYYY/MM/DD' }, [['2020/01/15', '2020-01-15']]);
    good({ type: 'date', format: 'DD.MM.YYYY' }, [['15.01.2020', '2020-01-15']]);
    good({ type: 'date', format: 'D.M.YYYY' }, [['5.1.2020', '2020-01-05']]);
    good({ type: 'date', format: 'YYYYMMDD' }, [['20200115', '2020-01-15']]);
    bad({ type: 'date', format: 'YYYYMMDD' }, ['2020115']);
    good({ type: 'date', format: 'MM/DD/YYYY HH:mm' }, [['01/15/2020 23:59', '2020-01-15']]);
    const out = cleaner({ type: 'date', format: 'DD/MM/YYYY' }, 'd')('01/15/2020');
    assert.ok(out instanceof CleanFailure);
    assert.equal(
      out.message,
      'd: "01/15/2020" is not a date (expected DD/MM/YYYY, YYYY-MM-DD or a written date like "January 15, 2020")',
    );
  });
  test('epoch formats', () => {
    good({ type: 'date', format: 'epoch_s' }, [
      [1579046400, '2020-01-15'],
      ['1579046400', '2020-01-15'],
    ]);
    good({ type: 'date', format: 'epoch_ms' }, [[1579046400000, '2020-01-15']]);
  });
  test('bad formats are reported at compile time', () => {
    assert.equal(
      checkCleanOptions({ type: 'date', format: 'DD/MM/YY' }),
      'format "DD/MM/YY" has an unknown token at "YY"; use YYYY MM DD M D HH H mm ss SSS (or epoch_s / epoch_ms)',
    );
    assert.equal(
      checkCleanOptions({ type: 'date', format: 'HH:mm' }),
      'format "HH:mm" needs a year (YYYY), a month (MM or M) and a day (DD or D)',
    );
    assert.equal(
      checkCleanOptions({ type: 'integer', format: 'YYYY' }),
      'format applies to date and timestamptz columns, not integer',
    );
    assert.equal(checkCleanOptions({ type: 'date', format: 'DD/MM/YYYY' }), null);
  });
});

describe('timestamptz', () => {
  test('ISO 8601 with and without offsets → UTC with milliseconds', () => {
    good({ type: 'timestamptz' }, [
      ['2020-01-15T10:30:00Z', '2020-01-15T10:30:00.000Z'],
      ['2020-01-15T10:30:00.123Z', '2020-01-15T10:30:00.123Z'],
      ['2020-01-15T10:30:00.1234567Z', '2020-01-15T10:30:00.123Z'],
      ['2020-01-15T10:30:00.5+02:00', '2020-01-15T08:30:00.500Z'],
      ['2020-01-15T00:30:00-0530', '2020-01-15T06:00:00.000Z'],
      ['2020-01-15 10:30:00+00', '2020-01-15T10:30:00.000Z'],
      ['2020-01-15T10:30:00 +0200', '2020-01-15T08:30:00.000Z'],
      ['2020-01-15t10:30:00,25z', '2020-01-15T10:30:00.250Z'],
      ['2020-01-15T10:30:00.999999-00:00', '2020-01-15T10:30:00.999Z'],
      ['2020-01-15T10:30', '2020-01-15T10:30:00.000Z'],
      ['2020-01-15T10:30:00', '2020-01-15T10:30:00.000Z'],
      ['2020-01-15', '2020-01-15T00:00:00.000Z'],
      ['2020-01-01T00:30:00+01:00', '2019-12-31T23:30:00.000Z'],
      ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
      ['January 15, 2020', '2020-01-15T00:00:00.000Z'],
      [new Date(Date.UTC(2020, 0, 15, 10)), '2020-01-15T10:00:00.000Z'],
      ['', null],
    ]);
  });
  test('rejects bad clocks, calendars and bare numbers', () => {
    bad({ type: 'timestamptz' }, [
      '2020-01-15T24:00:00Z',
      '2020-01-15T10:60:00Z',
      '2021-02-29T10:00:00Z',
      '2020-01-15T10:00:00+25:00',
      '2020-01-15T10:30:5Z',
      '2020-01-15T10:30:00.Z',
      '2020-01-15T10:30:00+02:0',
      '2020-01-15T10:30:00+02:00:00',
      '2020-01-15T',
      '2020-01-15-05:00',
      '2020-01-15T10:30:00Zulu',
      '15/01/2020 10:00',
      1579082400,
      'yesterday',
    ]);
    const out = cleaner({ type: 'timestamptz' }, 'last_modified')(1579082400);
    assert.ok(out instanceof CleanFailure);
    assert.equal(
      out.message,
      'last_modified: 1579082400 is not a timestamp (expected ISO 8601 like 2020-01-15T10:30:00Z; numbers need format: epoch_s or epoch_ms; set format for other layouts)',
    );
  });
  test('formats and epochs', () => {
    good({ type: 'timestamptz', format: 'MM/DD/YYYY HH:mm:ss' }, [
      ['01/15/2020 10:30:05', '2020-01-15T10:30:05.000Z'],
      ['2020-01-15T10:30:05Z', '2020-01-15T10:30:05.000Z'],
    ]);
    good({ type: 'timestamptz', format: 'DD.MM.YYYY' }, [['15.01.2020', '2020-01-15T00:00:00.000Z']]);
    good({ type: 'timestamptz', format: 'epoch_s' }, [
      [1579084200, '2020-01-15T10:30:00.000Z'],
      ['1579084200.25', '2020-01-15T10:30:00.250Z'],
    ]);
    good({ type: 'timestamptz', format: 'epoch_ms' }, [[1579084200123, '2020-01-15T10:30:00.123Z']]);
    bad({ type: 'timestamptz', format: 'epoch_ms' }, ['soon', 1e20]);
  });
});

describe('json', () => {
  test('any value → JSON text; strings stay JSON strings', () => {
    good({ type: 'json' }, [
      [{ a: 1 }, '{"a":1}'],
      [[1, 'x'], '[1,"x"]'],
      [42, '42'],
      [false, 'false'],
      ['hello', '"hello"'],
      ['{"a":1}', '"{\\"a\\":1}"'],
      ['', null],
    ]);
  });
  test('rejects what JSON cannot hold', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    bad({ type: 'json' }, [circular, { big: 1n }, () => 1, { s: 'a\0b' }]);
  });
});

test('values in messages are truncated to 100 characters', () => {
  const out = cleaner({ type: 'integer' }, 'n')('x'.repeat(300));
  assert.ok(out instanceof CleanFailure);
  assert.equal(
    out.message,
    `n: "${'x'.repeat(100)}…" is not an integer (expected a whole number like 42 or -7 between -2147483648 and 2147483647 (use bigint for larger); no thousands separators)`,
  );
});
