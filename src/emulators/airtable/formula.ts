/**
 * A small subset of Airtable's formula language, enough for `filterByFormula` as connectors use
 * it: field references (`{Name}`, by name or field ID, or a bare one-word name), string and
 * number literals, `= != < > <= >= & + - * /`, and the functions in FUNCTIONS below, notably the
 * incremental patterns from source-apis.md:
 *   IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE("2024-05-01T00:00:00.000Z"))
 *   LAST_MODIFIED_TIME() >= DATETIME_PARSE('…')   or   NOT(IS_BEFORE({Last Modified}, '…'))
 * Parse once per request, evaluate per record.
 */

/** A formula value. Dates are JS Dates; multiple-select cells are arrays. */
export type FormulaValue = number | string | boolean | Date | null | readonly unknown[];

/** What a formula can see of one record. */
export interface FormulaRecord {
  /** The cell value by field name or ID (undefined when the field does not exist), date cells as Date. */
  field(nameOrId: string): FormulaValue | undefined;
  id: string;
  createdTime: Date;
  lastModifiedTime: Date;
}

export type Formula = (record: FormulaRecord, now: Date) => FormulaValue;

/** A formula that cannot be parsed, or a reference to an unknown field: Airtable answers 422. */
export class FormulaSyntaxError extends Error {
  override name = 'FormulaSyntaxError';
}

/** `#Error!` during evaluation: the record is left out, as Airtable does. */
class FormulaEvalError extends Error {}

/** Airtable's rule: a record is included unless the result is 0, false, "", NaN, [] or #Error!. */
export function isIncluded(formula: Formula, record: FormulaRecord, now: Date): boolean {
  let value: FormulaValue;
  try {
    value = formula(record, now);
  } catch (err) {
    if (err instanceof FormulaEvalError) return false;
    throw err;
  }
  if (value === null || value === false || value === '' || value === 0) return false;
  if (typeof value === 'number' && Number.isNaN(value)) return false;
  if (Array.isArray(value) && value.length === 0) return false;
  if (value instanceof Date && Number.isNaN(value.getTime())) return false;
  return true;
}

/** Compiles a formula; `knownField` rejects references to fields the table does not have. */
export function parseFormula(text: string, knownField: (nameOrId: string) => boolean): Formula {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const take = (): Token => {
    const t = tokens[pos++];
    if (!t) throw new FormulaSyntaxError('unexpected end of formula');
    return t;
  };
  const expectOp = (op: string): void => {
    const t = take();
    if (t.kind !== 'op' || t.value !== op) throw new FormulaSyntaxError(`expected "${op}"`);
  };

  // Precedence, loosest first: comparison, &, + -, * /, unary minus.
  const LEVELS: readonly (readonly string[])[] = [
    ['=', '!=', '<', '>', '<=', '>='],
    ['&'],
    ['+', '-'],
    ['*', '/'],
  ];

  function binary(level: number): Formula {
    const ops = LEVELS[level];
    if (!ops) return unary();
    let left = binary(level + 1);
    for (;;) {
      const t = peek();
      if (!t || t.kind !== 'op' || !ops.includes(t.value)) return left;
      pos++;
      const right = binary(level + 1);
      const l = left;
      const op = t.value;
      left = (r, now) => applyOperator(op, l(r, now), right(r, now));
    }
  }

  function unary(): Formula {
    const t = peek();
    if (t?.kind === 'op' && t.value === '-') {
      pos++;
      const inner = unary();
      return (r, now) => -toNumber(inner(r, now));
    }
    return primary();
  }

  function primary(): Formula {
    const t = take();
    switch (t.kind) {
      case 'number': {
        const n = Number(t.value);
        return () => n;
      }
      case 'string': {
        const s = t.value;
        return () => s;
      }
      case 'field':
        return fieldRef(t.value);
      case 'op': {
        if (t.value !== '(') throw new FormulaSyntaxError(`unexpected "${t.value}"`);
        const inner = binary(0);
        expectOp(')');
        return inner;
      }
      case 'name': {
        const next = peek();
        if (next?.kind === 'op' && next.value === '(') {
          pos++;
          const args: Formula[] = [];
          if (!(peek()?.kind === 'op' && peek()?.value === ')')) {
            for (;;) {
              args.push(binary(0));
              const sep = take();
              if (sep.kind === 'op' && sep.value === ')') break;
              if (sep.kind !== 'op' || sep.value !== ',') throw new FormulaSyntaxError('expected "," or ")"');
            }
          } else {
            pos++;
          }
          return call(t.value, args);
        }
        const upper = t.value.toUpperCase();
        if (upper === 'TRUE') return () => true;
        if (upper === 'FALSE') return () => false;
        return fieldRef(t.value);
      }
    }
  }

  function fieldRef(name: string): Formula {
    if (!knownField(name)) throw new FormulaSyntaxError(`unknown field names: ${name}`);
    return (r) => r.field(name) ?? null;
  }

  function call(name: string, args: Formula[]): Formula {
    const fn = FUNCTIONS[name.toUpperCase()];
    if (!fn) throw new FormulaSyntaxError(`unknown function ${name}`);
    if (args.length < fn.min || args.length > fn.max) {
      throw new FormulaSyntaxError(`wrong number of arguments to ${name.toUpperCase()}`);
    }
    return (r, now) => fn.run(args, r, now);
  }

  if (tokens.length === 0) throw new FormulaSyntaxError('empty formula');
  const formula = binary(0);
  if (pos !== tokens.length) throw new FormulaSyntaxError(`unexpected "${tokens[pos]!.value}"`);
  return formula;
}

type Token = { kind: 'number' | 'string' | 'field' | 'name'; value: string } | { kind: 'op'; value: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '{') {
      const end = text.indexOf('}', i + 1);
      if (end < 0) throw new FormulaSyntaxError('unterminated field reference');
      tokens.push({ kind: 'field', value: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '"' || c === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        const d = text[j];
        if (d === undefined) throw new FormulaSyntaxError('unterminated string');
        if (d === c) break;
        if (d === '\\' && j + 1 < text.length) {
          const e = text[j + 1]!;
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          j += 2;
        } else {
          value += d;
          j++;
        }
      }
      tokens.push({ kind: 'string', value });
      i = j + 1;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m) throw new FormulaSyntaxError(`bad number at ${i}`);
      tokens.push({ kind: 'number', value: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'name', value: m[0] });
      i += m[0].length;
    } else {
      const two = text.slice(i, i + 2);
      if (two === '!=' || two === '<=' || two === '>=') {
        tokens.push({ kind: 'op', value: two });
        i += 2;
      } else if ('=<>&+-*/(),'.includes(c)) {
        tokens.push({ kind: 'op', value: c });
        i++;
      } else {
        throw new FormulaSyntaxError(`unexpected character "${c}"`);
      }
    }
  }
  return tokens;
}

interface FunctionSpec {
  min: number;
  max: number;
  run(args: readonly Formula[], r: FormulaRecord, now: Date): FormulaValue;
}

const each = (args: readonly Formula[], r: FormulaRecord, now: Date): FormulaValue[] =>
  args.map((a) => a(r, now));
const arg = (args: readonly Formula[], i: number, r: FormulaRecord, now: Date): FormulaValue =>
  args[i]!(r, now);

const FUNCTIONS: Record<string, FunctionSpec> = {
  AND: { min: 1, max: Infinity, run: (a, r, n) => each(a, r, n).every(truthy) },
  OR: { min: 1, max: Infinity, run: (a, r, n) => each(a, r, n).some(truthy) },
  NOT: { min: 1, max: 1, run: (a, r, n) => !truthy(arg(a, 0, r, n)) },
  IF: {
    min: 2,
    max: 3,
    run: (a, r, n) => (truthy(arg(a, 0, r, n)) ? arg(a, 1, r, n) : a[2] ? arg(a, 2, r, n) : null),
  },
  TRUE: { min: 0, max: 0, run: () => true },
  FALSE: { min: 0, max: 0, run: () => false },
  BLANK: { min: 0, max: 0, run: () => null },
  RECORD_ID: { min: 0, max: 0, run: (_a, r) => r.id },
  CREATED_TIME: { min: 0, max: 0, run: (_a, r) => r.createdTime },
  // Airtable accepts field arguments to limit which edits count; the emulator keeps one time per record.
  LAST_MODIFIED_TIME: { min: 0, max: Infinity, run: (_a, r) => r.lastModifiedTime },
  NOW: { min: 0, max: 0, run: (_a, _r, n) => n },
  // The optional format argument is accepted and ignored: ISO 8601 text is what connectors send.
  DATETIME_PARSE: { min: 1, max: 3, run: (a, r, n) => toDate(arg(a, 0, r, n)) },
  IS_AFTER: { min: 2, max: 2, run: (a, r, n) => ms(arg(a, 0, r, n)) > ms(arg(a, 1, r, n)) },
  IS_BEFORE: { min: 2, max: 2, run: (a, r, n) => ms(arg(a, 0, r, n)) < ms(arg(a, 1, r, n)) },
  IS_SAME: {
    min: 2,
    max: 3,
    run: (a, r, n) => {
      const unit = a[2] ? String(arg(a, 2, r, n)) : 'millisecond';
      return truncate(ms(arg(a, 0, r, n)), unit) === truncate(ms(arg(a, 1, r, n)), unit);
    },
  },
  LEN: { min: 1, max: 1, run: (a, r, n) => toText(arg(a, 0, r, n)).length },
  LOWER: { min: 1, max: 1, run: (a, r, n) => toText(arg(a, 0, r, n)).toLowerCase() },
  UPPER: { min: 1, max: 1, run: (a, r, n) => toText(arg(a, 0, r, n)).toUpperCase() },
  TRIM: { min: 1, max: 1, run: (a, r, n) => toText(arg(a, 0, r, n)).trim() },
  CONCATENATE: { min: 1, max: Infinity, run: (a, r, n) => each(a, r, n).map(toText).join('') },
  // 1-based position, 0 when absent (Airtable's FIND is case-sensitive, SEARCH is not).
  FIND: { min: 2, max: 3, run: (a, r, n) => toText(arg(a, 1, r, n)).indexOf(toText(arg(a, 0, r, n))) + 1 },
  SEARCH: {
    min: 2,
    max: 3,
    run: (a, r, n) =>
      toText(arg(a, 1, r, n))
        .toLowerCase()
        .indexOf(toText(arg(a, 0, r, n)).toLowerCase()) + 1,
  },
};

function truthy(v: FormulaValue): boolean {
  if (v === null || v === false || v === '' || v === 0) return false;
  if (typeof v === 'number' && Number.isNaN(v)) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

function toText(v: FormulaValue): string {
  if (v === null) return '';
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(String).join(', ');
  return String(v);
}

function toNumber(v: FormulaValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null || v === '') return 0;
  if (v instanceof Date) return v.getTime();
  const n = Number(toText(v));
  if (Number.isNaN(n)) throw new FormulaEvalError('not a number');
  return n;
}

function toDate(v: FormulaValue): Date {
  if (v instanceof Date) return v;
  if (typeof v === 'string') {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new FormulaEvalError(`not a date: ${toText(v)}`);
}

function ms(v: FormulaValue): number {
  return toDate(v).getTime();
}

function truncate(t: number, unit: string): number {
  const d = new Date(t);
  switch (unit.toLowerCase().replace(/s$/, '')) {
    case 'year':
      return Date.UTC(d.getUTCFullYear(), 0);
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth());
    case 'day':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    case 'hour':
      return t - (t % 3_600_000);
    case 'minute':
      return t - (t % 60_000);
    case 'second':
      return t - (t % 1000);
    default:
      return t;
  }
}

function applyOperator(op: string, a: FormulaValue, b: FormulaValue): FormulaValue {
  switch (op) {
    case '&':
      return toText(a) + toText(b);
    case '+':
      return toNumber(a) + toNumber(b);
    case '-':
      return toNumber(a) - toNumber(b);
    case '*':
      return toNumber(a) * toNumber(b);
    case '/':
      return toNumber(a) / toNumber(b);
  }
  const c = compare(a, b);
  if (c === null) return false;
  switch (op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    default:
      return c >= 0;
  }
}

/**
 * Dates compare as instants (a string on the other side is parsed, so
 * `LAST_MODIFIED_TIME() >= '2024-01-01T00:00:00.000Z'` works), numbers numerically, the rest as
 * text; a blank equals "" and 0. null when the two cannot be compared (a blank against a date).
 */
function compare(a: FormulaValue, b: FormulaValue): number | null {
  if (a instanceof Date || b instanceof Date) {
    if (a === null || b === null) return null;
    const x = ms(a);
    const y = ms(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  const numeric = (v: FormulaValue): boolean => typeof v === 'number' || typeof v === 'boolean' || v === null;
  if ((numeric(a) && (numeric(b) || isNumericText(b))) || (numeric(b) && isNumericText(a))) {
    const x = toNumber(a);
    const y = toNumber(b);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  const x = toText(a);
  const y = toText(b);
  return x === y ? 0 : x < y ? -1 : 1;
}

function isNumericText(v: FormulaValue): boolean {
  return typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v));
}
