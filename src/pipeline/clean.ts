import type { Cell, ColumnType } from '../core/types.ts';
import { TributaryError } from '../core/errors.ts';

/**
 * Converters from whatever a source delivers (`unknown`) to the canonical Cell of a column type
 * (core/types.ts). This is the per-record hot path: everything that can be decided per column
 * (regexes, sentinel sets, format parsers, messages) is decided once in `compileCleaner`; the
 * returned function allocates nothing on success beyond the value it returns.
 *
 * Rules, per type (strings are trimmed before parsing for every type but text with trim: false):
 *
 * - every type: null/undefined → NULL. A string equal to a `nullIf` sentinel (after trimming,
 *   case-insensitive) → NULL. The empty string → NULL for every type except text, where it stays ''
 *   (an empty name is a value; an empty date is not).
 * - text: strings (trimmed unless trim: false); numbers, booleans and bigints stringified; Date →
 *   ISO; objects and arrays → JSON text. A NUL character is invalid (PostgreSQL cannot store it).
 * - integer: 32-bit whole numbers (PostgreSQL int4; use bigint beyond); strings of digits with an optional sign, where a zero fraction
 *   ("42.0") is accepted. No thousands separators, no exponent: "1,234" could be 1.234 in a
 *   European file, so it is rejected rather than guessed.
 * - bigint: the same forms within the 64-bit range, kept as exact digit strings (no float
 *   rounding); numbers only when they are safe integers.
 * - numeric: canonical decimal string: no '+', no leading zeros, no exponent ("1.5e3" → "1500"),
 *   and the scale as given ("1.50" stays "1.50", as PostgreSQL's numeric keeps it). NaN and
 *   Infinity are invalid; no thousands separators (see integer).
 * - boolean: true/false, t/f, yes/no, y/n, 1/0 (case-insensitive); numbers 1 and 0.
 * - date: 'YYYY-MM-DD'; ISO timestamps (their date part, as written, offset ignored); written
 *   dates "January 15, 2020", "Jan 15 2020", "Monday, January 15, 2020", "15 January 2020",
 *   "15-Jan-2020"; with `format`, numeric forms like DD/MM/YYYY (ISO stays accepted). Without a
 *   format "15/01/2020" is invalid: day-first or month-first cannot be guessed. Calendar-checked.
 *   Date objects → their UTC date.
 * - timestamptz: ISO 8601 'YYYY-MM-DD[T ]HH:mm[:ss[.fff]]' with Z or ±HH[:MM] → UTC
 *   'YYYY-MM-DDTHH:MM:SS.sssZ'. Without an offset the time is read as UTC. Fractions beyond
 *   milliseconds are truncated. A bare date or a written date is midnight UTC. With `format`,
 *   other layouts (read as UTC); `format: epoch_s | epoch_ms` accepts numbers and numeric strings,
 *   which are otherwise refused (seconds or milliseconds cannot be told apart).
 * - json: any value → JSON text. A string stays a JSON *string* (it is not parsed as a document),
 *   so a text field that happens to look like JSON is stored as the text it is.
 */

/** A value that could not be converted; `message` names the column, the value and what was expected. */
export class CleanFailure {
  constructor(readonly message: string) {}
}

export type Cleaner = (value: unknown) => Cell | CleanFailure;

export interface CleanOptions {
  type: ColumnType;
  /** Strings read as NULL (compared after trimming, case-insensitive). */
  nullIf?: readonly string[];
  /** Input layout for date / timestamptz (tokens YYYY MM DD M D HH H mm ss SSS), or epoch_s / epoch_ms. */
  format?: string;
  /** Trim surrounding whitespace of text values (default true; other types always ignore it). */
  trim?: boolean;
}

/** Longest value text quoted in a message. */
const MAX_SHOWN = 100;

/** Text of `value` for messages: JSON-quoted, truncated to 100 characters. */
export function showValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'bigint') return value.toString();
  else if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
    if (text.length > MAX_SHOWN) text = `${text.slice(0, MAX_SHOWN)}…`;
    return text;
  }
  return JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);
}

/**
 * Compiles the cleaner of one column. Throws TributaryError('config_invalid') for an options
 * problem (a bad format, a format on a type that takes none); the message has no path, the
 * config loader adds it.
 */
export function compileCleaner(column: string, options: CleanOptions): Cleaner {
  const { type } = options;
  const trim = options.trim ?? true;
  const converter = converterFor(type, options.format);
  const isText = type === 'text';
  const keepUntrimmed = isText && !trim;

  // Sentinels: a Set of lower-cased trimmed strings, and their length range so that most values
  // are ruled out without lower-casing them (which would allocate per value).
  const sentinels = new Set((options.nullIf ?? []).map((s) => s.trim().toLowerCase()));
  let minLen = Infinity;
  let maxLen = -1;
  for (const s of sentinels) {
    minLen = Math.min(minLen, s.length);
    maxLen = Math.max(maxLen, s.length);
  }
  const hasEmptySentinel = sentinels.has('');
  const prefix = `${column}: `;
  const suffix = ` is not ${converter.noun} (expected ${converter.expected})`;
  const { fromString, fromOther } = converter;

  return (value: unknown): Cell | CleanFailure => {
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') {
      const t = value.trim();
      if (t.length === 0) return isText && !hasEmptySentinel ? (keepUntrimmed ? value : '') : null;
      if (t.length >= minLen && t.length <= maxLen && sentinels.has(t.toLowerCase())) return null;
      // A switch over module-level converters rather than one `converter.fromString(t)` call:
      // every column's cleaner shares this code, and a call site that sees eight different
      // targets is megamorphic (not inlined); each case below sees exactly one. Measured: the
      // 8-column map benchmark (map.test.ts) ran about 3× faster with the switch.
      let out: Cell | undefined;
      switch (type) {
        case 'text':
          out = TEXT.fromString(keepUntrimmed ? value : t);
          break;
        case 'integer':
          out = INTEGER.fromString(t);
          break;
        case 'bigint':
          out = BIGINT.fromString(t);
          break;
        case 'numeric':
          out = NUMERIC.fromString(t);
          break;
        case 'boolean':
          out = BOOLEAN.fromString(t);
          break;
        case 'json':
          out = JSON_CONVERTER.fromString(t);
          break;
        default:
          out = fromString(t); // date, timestamptz: per-format closures
      }
      return out === undefined ? new CleanFailure(prefix + showValue(value) + suffix) : out;
    }
    const out = fromOther(value);
    return out === undefined ? new CleanFailure(prefix + showValue(value) + suffix) : out;
  };
}

/** Checks a column's options without compiling a mapper: the problem text, or null. */
export function checkCleanOptions(options: CleanOptions): string | null {
  try {
    converterFor(options.type, options.format);
    return null;
  } catch (err) {
    return err instanceof TributaryError ? err.message : String(err);
  }
}

// ───────────────────────────────────────── converters ─────────────────────────────────────────

interface Converter {
  /** Converts a trimmed, non-empty string; undefined when it is not a valid value. */
  fromString: (s: string) => Cell | undefined;
  /** Converts any non-string, non-null value; undefined when invalid. */
  fromOther: (v: unknown) => Cell | undefined;
  /** "a date", for "… is not a date". */
  noun: string;
  /** What would have been accepted, for the message. */
  expected: string;
}

function converterFor(type: ColumnType, format: string | undefined): Converter {
  if (format !== undefined && type !== 'date' && type !== 'timestamptz') {
    throw new TributaryError('config_invalid', `format applies to date and timestamptz columns, not ${type}`);
  }
  switch (type) {
    case 'text':
      return TEXT;
    case 'integer':
      return INTEGER;
    case 'bigint':
      return BIGINT;
    case 'numeric':
      return NUMERIC;
    case 'boolean':
      return BOOLEAN;
    case 'date':
      return dateConverter(format);
    case 'timestamptz':
      return timestampConverter(format);
    case 'json':
      return JSON_CONVERTER;
  }
}

const TEXT: Converter = {
  fromString: (s) => (s.includes('\0') ? undefined : s),
  fromOther(v) {
    switch (typeof v) {
      case 'number':
      case 'boolean':
      case 'bigint':
        return String(v);
      case 'object': {
        if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
        const t = toJson(v);
        return t === undefined || t.includes('\\u0000') ? undefined : t;
      }
      default:
        return undefined;
    }
  },
  noun: 'valid text',
  expected: 'text without NUL characters, which PostgreSQL cannot store',
};

function toJson(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined; // circular structures, BigInt inside objects
  }
}

const INTEGER_TEXT = /^[+-]?\d+(?:\.0*)?$/;
/** `integer` is a 32-bit column in PostgreSQL (int4); larger values belong in `bigint`. */
const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const int4 = (n: number): number | undefined =>
  Number.isInteger(n) && n >= INT4_MIN && n <= INT4_MAX ? n + 0 : undefined; // + 0 turns -0 into 0
const INTEGER: Converter = {
  fromString(s) {
    // Up to 9 plain digits always fits 32 bits: skip the regex for the common case.
    if (s.length <= 9) {
      const n = digitsAt(s, 0, s.length);
      if (n >= 0) return n;
    }
    if (!INTEGER_TEXT.test(s)) return undefined;
    return int4(Number(s));
  },
  fromOther(v) {
    if (typeof v === 'number') return int4(v);
    if (typeof v === 'bigint') return INTEGER.fromString(v.toString());
    return undefined;
  },
  noun: 'an integer',
  expected:
    'a whole number like 42 or -7 between -2147483648 and 2147483647 (use bigint for larger); no thousands separators',
};

const BIGINT_TEXT = /^([+-]?)0*(\d+)(?:\.0*)?$/;
const INT8_MAX = '9223372036854775807';
const INT8_MIN_ABS = '9223372036854775808';
const BIGINT: Converter = {
  fromString(s) {
    const m = BIGINT_TEXT.exec(s);
    if (!m) return undefined;
    const negative = m[1] === '-';
    const digits = m[2]!;
    if (digits.length > 19) return undefined;
    // Equal-length digit strings compare like the numbers they spell.
    if (digits.length === 19 && digits > (negative ? INT8_MIN_ABS : INT8_MAX)) return undefined;
    return negative && digits !== '0' ? `-${digits}` : digits;
  },
  fromOther(v) {
    if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v + 0) : undefined;
    if (typeof v === 'bigint') return BIGINT.fromString(v.toString());
    return undefined;
  },
  noun: 'a 64-bit integer',
  expected: 'a whole number like 42 or -7 within ±9223372036854775807; no thousands separators',
};

const NUMERIC_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/;
const ALL_ZERO = /^[0.]*$/;
/** Exponents beyond this would spell numbers with thousands of digits; PostgreSQL caps numeric too. */
const MAX_EXPONENT = 1000;

/** Canonical decimal text of a numeric string, or undefined. */
export function canonicalDecimal(s: string): string | undefined {
  const m = NUMERIC_TEXT.exec(s);
  if (!m) return undefined;
  let int = m[2]!;
  let frac = m[3] ?? '';
  if (int.length === 0 && frac.length === 0) return undefined;
  if (m[4] !== undefined) {
    const exp = Number(m[4]);
    if (Math.abs(exp) > MAX_EXPONENT) return undefined;
    const digits = int + frac;
    const point = int.length + exp;
    if (point <= 0) {
      int = '';
      frac = '0'.repeat(-point) + digits;
    } else if (point >= digits.length) {
      int = digits + '0'.repeat(point - digits.length);
      frac = '';
    } else {
      int = digits.slice(0, point);
      frac = digits.slice(point);
    }
  }
  let start = 0;
  while (start < int.length - 1 && int.charCodeAt(start) === 48) start++;
  int = start > 0 ? int.slice(start) : int;
  if (int.length === 0) int = '0';
  const body = frac.length > 0 ? `${int}.${frac}` : int;
  return m[1] === '-' && !ALL_ZERO.test(body) ? `-${body}` : body;
}

/** True when s is already canonical: digits, at most one inner '.', no '+', no superfluous leading zero, not a negative zero. */
function isCanonicalDecimal(s: string): boolean {
  const start = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  const len = s.length;
  if (start === len) return false;
  let dot = -1;
  let nonZero = false;
  for (let i = start; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (dot !== -1 || i === start || i === len - 1) return false;
      dot = i;
    } else if (c < 48 || c > 57) return false;
    else if (c !== 48) nonZero = true;
  }
  if (s.charCodeAt(start) === 48 && len > start + 1 && dot !== start + 1) return false; // "007"
  return start === 0 || nonZero; // "-0" is not canonical
}

const NUMERIC: Converter = {
  fromString: (s) => (isCanonicalDecimal(s) ? s : canonicalDecimal(s)),
  fromOther(v) {
    if (typeof v === 'number') return Number.isFinite(v) ? canonicalDecimal(String(v)) : undefined;
    if (typeof v === 'bigint') return v.toString();
    return undefined;
  },
  noun: 'a number',
  expected: 'a decimal number like 1234.50 or -0.5; no thousands separators',
};

const BOOLEAN_WORDS = new Map<string, boolean>([
  ['true', true],
  ['t', true],
  ['yes', true],
  ['y', true],
  ['1', true],
  ['false', false],
  ['f', false],
  ['no', false],
  ['n', false],
  ['0', false],
]);
const BOOLEAN: Converter = {
  fromString: (s) => (s.length <= 5 ? BOOLEAN_WORDS.get(s.toLowerCase()) : undefined),
  fromOther(v) {
    if (typeof v === 'boolean') return v;
    if (v === 1) return true;
    if (v === 0) return false;
    return undefined;
  },
  noun: 'a boolean',
  expected: 'true/false, t/f, yes/no, y/n or 1/0',
};

const JSON_CONVERTER: Converter = {
  fromString: (s) => (s.includes('\0') ? undefined : JSON.stringify(s)),
  fromOther(v) {
    const t = toJson(v);
    // PostgreSQL's jsonb refuses the \u0000 escape.
    return t === undefined || t.includes('\\u0000') ? undefined : t;
  },
  noun: 'valid JSON',
  expected: 'a JSON-serialisable value without NUL characters',
};

// ───────────────────────────────────────── dates and times ─────────────────────────────────────────

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

function validDate(y: number, m: number, d: number): boolean {
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  return d <= (m === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[m - 1]!);
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));
const pad4 = (n: number) => (n >= 1000 ? String(n) : String(n).padStart(4, '0'));
const ymd = (y: number, m: number, d: number) => `${pad4(y)}-${pad2(m)}-${pad2(d)}`;

// Calendar arithmetic by hand (H. Hinnant's days_from_civil / civil_from_days): Date objects and
// toISOString cost several times more per value, and Date.UTC maps years 0-99 to 19xx.
const DAY_MS = 86_400_000;

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Milliseconds since the epoch of a UTC wall time. */
function utcMillis(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  return daysFromCivil(y, mo, d) * DAY_MS + h * 3_600_000 + mi * 60_000 + s * 1000 + ms;
}

/** Canonical timestamp text 'YYYY-MM-DDTHH:MM:SS.sssZ', or undefined outside years 1-9999. */
function isoFromMillis(ms: number): string | undefined {
  if (!Number.isFinite(ms)) return undefined;
  const days = Math.floor(ms / DAY_MS);
  let rem = ms - days * DAY_MS;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  if (y < 1 || y > 9999) return undefined;
  const h = Math.floor(rem / 3_600_000);
  rem -= h * 3_600_000;
  const mi = Math.floor(rem / 60_000);
  rem -= mi * 60_000;
  const sec = Math.floor(rem / 1000);
  return `${ymd(y, m, d)}T${pad2(h)}:${pad2(mi)}:${pad2(sec)}.${pad3(rem - sec * 1000)}Z`;
}

/** The number spelled by s[start, start+len) if all are ASCII digits, else -1. */
function digitsAt(s: string, start: number, len: number): number {
  let n = 0;
  for (let i = start; i < start + len; i++) {
    const c = s.charCodeAt(i) - 48; // NaN past the end, which fails the test below
    if (!(c >= 0 && c <= 9)) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** 'YYYY-MM-DD' exactly, calendar-checked: the common case, without a regex match array. */
function isPlainIsoDate(s: string): boolean {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  return validDate(digitsAt(s, 0, 4), digitsAt(s, 5, 2), digitsAt(s, 8, 2));
}

/** 'YYYY-MM-DDTHH:MM:SS.sssZ' exactly and valid: already canonical (e.g. written by us or by an API in UTC). */
function isCanonicalTimestamp(s: string): boolean {
  if (s.length !== 24 || s.charCodeAt(23) !== 90 /* Z */ || s.charCodeAt(10) !== 84 /* T */) return false;
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46) return false;
  const h = digitsAt(s, 11, 2);
  const mi = digitsAt(s, 14, 2);
  const sec = digitsAt(s, 17, 2);
  return (
    isPlainIsoDate(s.slice(0, 10)) &&
    h >= 0 &&
    h <= 23 &&
    mi >= 0 &&
    mi <= 59 &&
    sec >= 0 &&
    sec <= 59 &&
    digitsAt(s, 20, 3) >= 0
  );
}

/**
 * ISO 8601 → canonical UTC timestamp text; with `dateOnly`, the date part as written (for date
 * columns: the calendar date the writer meant, whatever the offset).
 *
 * Accepted: YYYY-MM-DD[(T|t|space)HH:mm[:ss[(.|,)fraction]]][ ][Z|z|±HH[[:]MM]]. A hand-written
 * scanner rather than a regex: this runs per value and a match array of 11 groups costs more
 * than the parse itself.
 */
function parseIsoTimestamp(s: string, dateOnly: boolean): string | undefined {
  if (dateOnly ? isPlainIsoDate(s) : isCanonicalTimestamp(s)) return s;
  const len = s.length;
  if (len < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  if (!validDate(y, mo, d)) return undefined;
  let h = 0;
  let mi = 0;
  let sec = 0;
  let ms = 0;
  let i = 10;
  const sep = s.charCodeAt(10);
  if (i < len && (sep === 84 || sep === 116 || sep === 32) && s.charCodeAt(13) === 58) {
    h = digitsAt(s, 11, 2);
    mi = digitsAt(s, 14, 2);
    i = 16;
    if (s.charCodeAt(i) === 58) {
      sec = digitsAt(s, 17, 2);
      i = 19;
      const dot = s.charCodeAt(i);
      if (dot === 46 || dot === 44) {
        // Milliseconds: the first three digits; further digits are truncated.
        let j = i + 1;
        let scale = 100;
        while (j < len) {
          const c = s.charCodeAt(j) - 48;
          if (c < 0 || c > 9) break;
          ms += c * scale;
          scale /= 10;
          j++;
        }
        if (j === i + 1) return undefined;
        ms = Math.floor(ms);
        i = j;
      }
    }
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return undefined;
  }
  let offsetMin = 0;
  if (i < len) {
    const timeSeen = i > 10;
    if (s.charCodeAt(i) === 32) i++;
    const c = s.charCodeAt(i);
    if ((c === 90 || c === 122) && i === len - 1) {
      // Z
    } else if ((c === 43 || c === 45) && timeSeen) {
      const oh = digitsAt(s, i + 1, 2);
      let om = 0;
      let j = i + 3;
      if (j < len) {
        if (s.charCodeAt(j) === 58) j++;
        if (j + 2 !== len) return undefined;
        om = digitsAt(s, j, 2);
      } else if (j !== len) return undefined;
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
      offsetMin = (c === 45 ? -1 : 1) * (oh * 60 + om);
    } else return undefined;
  }
  if (dateOnly) return s.slice(0, 10);
  return isoFromMillis(utcMillis(y, mo, d, h, mi, sec, ms) - offsetMin * 60_000);
}

const MONTHS = new Map<string, number>();
[
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
].forEach((name, i) => {
  MONTHS.set(name, i + 1);
  MONTHS.set(name.slice(0, 3), i + 1);
});
MONTHS.set('sept', 9);
const WEEKDAYS = new Set(
  ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'].flatMap((d) => [
    d,
    d.slice(0, 3),
  ]),
);

// "January 15, 2020", "Jan. 15 2020", "Monday, January 15th, 2020"
const WRITTEN_MDY = /^(?:([A-Za-z]+),?\s+)?([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$/;
// "15 January 2020", "15 Jan. 2020", "15-Jan-2020", "Mon, 15 January 2020"
const WRITTEN_DMY = /^(?:([A-Za-z]+),?\s+)?(\d{1,2})(?:st|nd|rd|th)?[\s-]+([A-Za-z]+)\.?,?[\s-]+(\d{4})$/;

/** A written English date → 'YYYY-MM-DD', or undefined. */
function parseWrittenDate(s: string): string | undefined {
  let m = WRITTEN_MDY.exec(s);
  let monthName: string;
  let day: string;
  if (m) {
    monthName = m[2]!;
    day = m[3]!;
  } else {
    m = WRITTEN_DMY.exec(s);
    if (!m) return undefined;
    monthName = m[3]!;
    day = m[2]!;
  }
  if (m[1] !== undefined && !WEEKDAYS.has(m[1].toLowerCase())) return undefined;
  const mo = MONTHS.get(monthName.toLowerCase());
  const y = +m[4]!;
  const d = +day;
  return mo !== undefined && validDate(y, mo, d) ? ymd(y, mo, d) : undefined;
}

type Part = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'millis';
const TOKENS: readonly (readonly [string, Part, number])[] = [
  // [token, part, digits (0 = one or two)] — longest first so "MM" wins over "M".
  ['YYYY', 'year', 4],
  ['SSS', 'millis', 3],
  ['MM', 'month', 2],
  ['DD', 'day', 2],
  ['HH', 'hour', 2],
  ['mm', 'minute', 2],
  ['ss', 'second', 2],
  ['M', 'month', 0],
  ['D', 'day', 0],
  ['H', 'hour', 0],
];

interface CompiledFormat {
  regex: RegExp;
  /** Capture group index of each part present. */
  groups: Partial<Record<Part, number>>;
}

/**
 * Compiles a layout like "DD/MM/YYYY HH:mm" once into an anchored regex. Two-letter tokens
 * accept one or two digits between separators ("5/1/2020" is common in exports) and exactly
 * two when next to another token ("YYYYMMDD").
 */
export function compileFormat(format: string): CompiledFormat {
  let source = '^';
  const groups: Partial<Record<Part, number>> = {};
  let group = 0;
  let afterToken = false;
  let i = 0;
  while (i < format.length) {
    const token = TOKENS.find(([t]) => format.startsWith(t, i));
    if (token) {
      const [t, part, digits] = token;
      if (groups[part] !== undefined) {
        throw new TributaryError('config_invalid', `format "${format}" has the ${part} twice`);
      }
      const next = format.slice(i + t.length);
      const adjacent = afterToken || TOKENS.some(([u]) => next.startsWith(u));
      const width = digits === 4 || digits === 3 ? `{${digits}}` : digits === 2 && adjacent ? '{2}' : '{1,2}';
      afterToken = true;
      source += `(\\d${width})`;
      groups[part] = ++group;
      i += t.length;
      continue;
    }
    const ch = format[i]!;
    if (/[A-Za-z]/.test(ch) && ch !== 'T') {
      throw new TributaryError(
        'config_invalid',
        `format "${format}" has an unknown token at "${format.slice(i)}"; use YYYY MM DD M D HH H mm ss SSS (or epoch_s / epoch_ms)`,
      );
    }
    source += ch === ' ' ? '\\s+' : ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    afterToken = false;
    i++;
  }
  if (groups.year === undefined || groups.month === undefined || groups.day === undefined) {
    throw new TributaryError(
      'config_invalid',
      `format "${format}" needs a year (YYYY), a month (MM or M) and a day (DD or D)`,
    );
  }
  return { regex: new RegExp(`${source}$`), groups };
}

/** Parses with a compiled format → [y, mo, d, h, mi, s, ms] or undefined; calendar and clock checked. */
function parseWithFormat(f: CompiledFormat, s: string): number[] | undefined {
  const m = f.regex.exec(s);
  if (!m) return undefined;
  const g = f.groups;
  const get = (i: number | undefined) => (i === undefined ? 0 : +m[i]!);
  const y = get(g.year);
  const mo = get(g.month);
  const d = get(g.day);
  const h = get(g.hour);
  const mi = get(g.minute);
  const sec = get(g.second);
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || sec > 59) return undefined;
  return [y, mo, d, h, mi, sec, get(g.millis)];
}

type Epoch = 'epoch_s' | 'epoch_ms';
const EPOCH_TEXT = /^[+-]?\d+(?:\.\d+)?$/;

function epochMillis(kind: Epoch, v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && EPOCH_TEXT.test(v)) n = Number(v);
  else return undefined;
  return Math.round(kind === 'epoch_s' ? n * 1000 : n);
}

const DATE_EXPECTED = 'YYYY-MM-DD or a written date like "January 15, 2020"; set format for numeric forms';

function dateConverter(format: string | undefined): Converter {
  if (format === 'epoch_s' || format === 'epoch_ms') {
    const kind = format;
    const fromEpoch = (v: unknown) => {
      const ms = epochMillis(kind, v);
      return ms === undefined ? undefined : isoFromMillis(ms)?.slice(0, 10);
    };
    return {
      fromString: fromEpoch,
      fromOther: (v) => (v instanceof Date ? dateOfDate(v) : fromEpoch(v)),
      noun: 'a date',
      expected: kind === 'epoch_s' ? 'seconds since 1970-01-01' : 'milliseconds since 1970-01-01',
    };
  }
  const compiled = format === undefined ? undefined : compileFormat(format);
  return {
    fromString(s) {
      // ISO first: it is unambiguous and the most common form.
      const iso = s.length >= 10 && s.charCodeAt(4) === 45 /* - */ ? parseIsoTimestamp(s, true) : undefined;
      if (iso !== undefined) return iso;
      if (compiled) {
        const p = parseWithFormat(compiled, s);
        if (p) return ymd(p[0]!, p[1]!, p[2]!);
      }
      return parseWrittenDate(s);
    },
    fromOther: (v) => (v instanceof Date ? dateOfDate(v) : undefined),
    noun: 'a date',
    expected:
      format === undefined
        ? DATE_EXPECTED
        : `${format}, YYYY-MM-DD or a written date like "January 15, 2020"`,
  };
}

const dateOfDate = (v: Date) => isoFromMillis(v.getTime())?.slice(0, 10);

function timestampConverter(format: string | undefined): Converter {
  if (format === 'epoch_s' || format === 'epoch_ms') {
    const kind = format;
    const fromEpoch = (v: unknown) => {
      const ms = epochMillis(kind, v);
      return ms === undefined ? undefined : isoFromMillis(ms);
    };
    return {
      fromString: fromEpoch,
      fromOther: (v) => (v instanceof Date ? isoFromMillis(v.getTime()) : fromEpoch(v)),
      noun: 'a timestamp',
      expected:
        kind === 'epoch_s' ? 'seconds since 1970-01-01T00:00:00Z' : 'milliseconds since 1970-01-01T00:00:00Z',
    };
  }
  const compiled = format === undefined ? undefined : compileFormat(format);
  return {
    fromString(s) {
      const iso = s.length >= 10 && s.charCodeAt(4) === 45 ? parseIsoTimestamp(s, false) : undefined;
      if (iso !== undefined) return iso;
      if (compiled) {
        const p = parseWithFormat(compiled, s);
        if (p) return isoFromMillis(utcMillis(p[0]!, p[1]!, p[2]!, p[3]!, p[4]!, p[5]!, p[6]!));
      }
      const written = parseWrittenDate(s);
      return written === undefined ? undefined : `${written}T00:00:00.000Z`;
    },
    fromOther: (v) => (v instanceof Date ? isoFromMillis(v.getTime()) : undefined),
    noun: 'a timestamp',
    expected:
      format === undefined
        ? 'ISO 8601 like 2020-01-15T10:30:00Z; numbers need format: epoch_s or epoch_ms; set format for other layouts'
        : `${format} or ISO 8601 like 2020-01-15T10:30:00Z`,
  };
}
