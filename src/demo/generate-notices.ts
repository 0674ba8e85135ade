import type { ColumnType } from '../core/types.ts';
import { createRandom, mixSeed, type Random } from './random.ts';
import * as W from './notice-words.ts';

/**
 * Deterministic, realistic enforcement notices (the shape of the EHS enforcement seed) for the
 * bundled demo, tests and the benchmark. Same (count, seed, options) → same records, forever:
 * no clock, no Math.random, and each record's values are drawn in a fixed order. Changing that
 * order or the word lists changes the data: bump GENERATOR_VERSION so cached files regenerate.
 */
export const GENERATOR_VERSION = 1;

export interface NoticeRecord {
  /** Unique, e.g. "HSE-IN-0001234". null only in a corrupted record. */
  regulator_id: string | null;
  regulator: string;
  notice_type: string;
  /** The same offender recurs across notices, sometimes spelled differently ("ACME LTD" / "Acme Limited"). */
  offender_name: string;
  offender_postcode: string;
  address: string;
  local_authority: string;
  /** Five digits as text: leading zeros are significant ("01110"). */
  sic_code: string;
  employees: number | null;
  /** One or two sentences; may hold commas, double quotes and a newline. */
  description: string;
  /** YYYY-MM-DD, or (messy) "January 15, 2020" or a sentinel such as "Not On File"; null (not messy) when unknown. */
  issue_date: string | null;
  compliance_date: string | null;
  /** Decimal text with two places ("1250.00"), or null. Text so the CSV keeps the two places. */
  fine_amount: string | null;
  appeal_lodged: boolean;
  /** Legislation breached: a JSON array. */
  legislation: string[];
  /** Above 2^31, so it needs bigint; digits as text. */
  inspection_id: string;
  /** ISO 8601 timestamp with zone. */
  last_modified: string;
}

/** A record as the writers accept it: a NoticeRecord, or one corrupted with wrongly typed values. */
export type NoticeRow = { readonly [K in keyof NoticeRecord]: unknown };

/** Field order of the files, and the column type each field should be declared with. */
export const NOTICE_COLUMNS: readonly (readonly [keyof NoticeRecord, ColumnType])[] = [
  ['regulator_id', 'text'],
  ['regulator', 'text'],
  ['notice_type', 'text'],
  ['offender_name', 'text'],
  ['offender_postcode', 'text'],
  ['address', 'text'],
  ['local_authority', 'text'],
  ['sic_code', 'text'],
  ['employees', 'integer'],
  ['description', 'text'],
  ['issue_date', 'date'],
  ['compliance_date', 'date'],
  ['fine_amount', 'numeric'],
  ['appeal_lodged', 'boolean'],
  ['legislation', 'json'],
  ['inspection_id', 'bigint'],
  ['last_modified', 'timestamptz'],
];

export interface GenerateOptions {
  /**
   * true (default): dates sometimes written "January 15, 2020" and a small share of sentinels
   * ("Not On File", "N/A", "---", "Unknown"), as real exports have. false: ISO dates or empty,
   * so `psql \copy` can load the same file in the benchmark.
   */
  messy?: boolean;
}

const DAY_MS = 86_400_000;
/** Issue dates fall in 2015-01-01 … 2024-12-31; fixed so output never depends on today. */
const FIRST_ISSUE = Date.UTC(2015, 0, 1);
const ISSUE_DAYS = 3653;
/** Ids are 7 digits: HSE-IN-0001234. */
const MAX_COUNT = 10_000_000;
/** Coprime with MAX_COUNT, so (i * STRIDE + offset) mod MAX_COUNT is a bijection: unique, not sequential-looking. */
const ID_STRIDE = 7_919_317;
/** Offenders are recomputed on a cache miss, so this bounds memory without changing output. */
const OFFENDER_CACHE = 20_000;
const LETTERS = [...W.POSTCODE_LETTERS];

interface Offender {
  name: string;
  postcode: string;
  address: string;
  localAuthority: string;
  sicCode: string;
  employees: number | null;
}

export function* generateNotices(
  count: number,
  seed = 1,
  options: GenerateOptions = {},
): Generator<NoticeRecord> {
  if (!Number.isSafeInteger(count) || count < 0 || count > MAX_COUNT) {
    throw new RangeError(`count must be an integer from 0 to ${MAX_COUNT}, got ${count}`);
  }
  const messy = options.messy ?? true;
  const rnd = createRandom(mixSeed(seed, 0x0a11ce));
  // About four notices per offender; repeat offenders dominate (squared draw favours low numbers).
  const offenderCount = Math.max(20, Math.round(count / 4));
  const idOffset = mixSeed(seed, 7) % MAX_COUNT;
  const regulators = W.REGULATORS.map((r) => [r, r.weight] as const);
  const offenders = new Map<number, Offender>();

  for (let i = 0; i < count; i++) {
    const regulator = rnd.weighted(regulators);
    const noticeType = rnd.weighted(regulator.notices);
    const seq = (i * ID_STRIDE + idOffset) % MAX_COUNT;
    const regulatorId = `${regulator.code}-${W.NOTICE_CODES[noticeType] ?? 'XX'}-${String(seq).padStart(7, '0')}`;

    const offenderIndex = Math.floor(offenderCount * rnd.next() ** 2);
    let offender = offenders.get(offenderIndex);
    if (!offender) {
      if (offenders.size >= OFFENDER_CACHE) offenders.clear();
      offender = makeOffender(seed, offenderIndex);
      offenders.set(offenderIndex, offender);
    }

    const issueDay = FIRST_ISSUE + rnd.int(0, ISSUE_DAYS - 1) * DAY_MS;
    const immediate = noticeType.startsWith('Immediate');
    const complianceDay = immediate ? issueDay : issueDay + rnd.int(21, 120) * DAY_MS;
    const modified = issueDay + rnd.int(0, 400) * DAY_MS + rnd.int(0, DAY_MS / 1000 - 1) * 1000;

    const safety = regulator.domain === 'safety';
    yield {
      regulator_id: regulatorId,
      regulator: regulator.code,
      notice_type: noticeType,
      offender_name: rnd.chance(0.15) ? respell(offender.name, rnd) : offender.name,
      offender_postcode: rnd.chance(0.05)
        ? offender.postcode.replace(' ', '').toLowerCase()
        : offender.postcode,
      address: offender.address,
      local_authority: offender.localAuthority,
      sic_code: offender.sicCode,
      employees: offender.employees,
      description: describe(safety, rnd),
      issue_date: writeDate(issueDay, messy, 0.06, 0.03, rnd),
      compliance_date: writeDate(complianceDay, messy, 0.06, 0.07, rnd),
      fine_amount: rnd.chance(0.25) ? fine(rnd) : null,
      appeal_lodged: rnd.chance(0.07),
      legislation: pickSome(safety ? W.SAFETY_LEGISLATION : W.ENVIRONMENT_LEGISLATION, rnd.int(1, 3), rnd),
      inspection_id: String(4_000_000_000 + rnd.int(0, 999_999_999)),
      last_modified: writeTimestamp(modified, messy && rnd.chance(0.1)),
    };
  }
}

/** An offender is a pure function of (seed, index), so nothing is kept in memory for 1M rows. */
function makeOffender(seed: number, index: number): Offender {
  const r = createRandom(mixSeed(seed, index + 1_000_003));
  const [trade, sicCode] = r.pick(W.TRADES);
  const [area, town, localAuthority] = r.pick(W.PLACES);
  const name = r.chance(0.12)
    ? `${r.pick(W.FIRST_NAMES)} ${r.pick(W.SURNAMES)} t/a ${r.pick(W.NAME_PREFIXES)} ${trade}`
    : `${r.pick(W.NAME_PREFIXES)} ${trade} ${r.weighted(W.COMPANY_SUFFIXES)}`;
  const postcode = `${area}${r.int(1, 28)} ${r.int(0, 9)}${r.pick(LETTERS)}${r.pick(LETTERS)}`;
  const address = r.chance(0.4)
    ? `Unit ${r.int(1, 40)}, ${r.pick(W.ESTATES)}, ${town}`
    : `${r.int(1, 250)} ${r.pick(W.STREETS)}, ${town}`;
  const employees = r.chance(0.1) ? null : Math.round(Math.exp(r.next() * Math.log(5000)));
  return { name, postcode, address, localAuthority, sicCode, employees };
}

/** How the same firm's name drifts between notices: case, Ltd/Limited, stray spaces. */
function respell(name: string, rnd: Random): string {
  switch (rnd.int(0, 3)) {
    case 0:
      return name.toUpperCase();
    case 1:
      return name.includes(' Ltd') ? name.replace(' Ltd', ' Limited') : name.replace(' Limited', ' Ltd');
    case 2:
      return name.replace(' ', '  ');
    default:
      return name
        .toLowerCase()
        .replace(/\b\w/g, (c) => c.toUpperCase())
        .replace(' Plc', ' plc');
  }
}

function describe(safety: boolean, rnd: Random): string {
  const template = rnd.pick(safety ? W.SAFETY_SENTENCES : W.ENVIRONMENT_SENTENCES);
  let text = template
    .replace('{task}', () => rnd.pick(W.TASKS))
    .replace('{machine}', () => rnd.pick(W.MACHINES))
    .replace('{hazard}', () => rnd.pick(W.HAZARDS))
    .replace('{substance}', () => rnd.pick(W.SUBSTANCES))
    .replace('{river}', () => rnd.pick(W.RIVERS))
    .replace(
      '{permit}',
      () => `EPR/${rnd.pick(['AB', 'CP', 'FB', 'JP'])}${rnd.int(1000, 9999)}${rnd.pick(['XY', 'TZ', 'LM'])}`,
    );
  // Quotes and newlines are rare in real exports but must survive the round trip (CSV quoting).
  if (rnd.chance(0.08)) text += ` Inspector noted "${rnd.pick(W.QUOTES)}".`;
  if (rnd.chance(0.02)) text += `\n${rnd.pick(W.FOLLOW_UPS)}`;
  return text;
}

function writeDate(
  ms: number,
  messy: boolean,
  longShare: number,
  sentinelShare: number,
  rnd: Random,
): string | null {
  const r = rnd.next();
  const d = new Date(ms);
  if (!messy) return r < sentinelShare ? null : d.toISOString().slice(0, 10);
  if (r < sentinelShare) return rnd.pick(W.DATE_SENTINELS);
  if (r < sentinelShare + longShare)
    return `${W.MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
  return d.toISOString().slice(0, 10);
}

/** UTC "Z" form, or (messy) the same instant written with a +01:00 offset. */
function writeTimestamp(ms: number, withOffset: boolean): string {
  if (!withOffset) return new Date(ms).toISOString().replace('.000Z', 'Z');
  return new Date(ms + 3_600_000).toISOString().replace('.000Z', '+01:00');
}

/** Log-uniform between £100 and £250,000; a third are round hundreds, as courts and notices tend to be. */
function fine(rnd: Random): string {
  const pounds = Math.exp(Math.log(100) + rnd.next() * (Math.log(250_000) - Math.log(100)));
  return rnd.chance(0.33) ? (Math.round(pounds / 100) * 100).toFixed(2) : pounds.toFixed(2);
}

function pickSome(items: readonly string[], n: number, rnd: Random): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const item = rnd.pick(items);
    if (!out.includes(item)) out.push(item);
  }
  return out;
}
