import { createRandom, mixSeed, type Random } from '../../demo/random.ts';
import { generateNotices } from '../../demo/generate-notices.ts';

/**
 * The emulator's in-memory bases. Data is a pure function of (dataset, seed, record count); base,
 * table, field and view IDs depend on the dataset only, so a config written against one seed
 * keeps working with another.
 */

export type DatasetName = 'enforcement' | 'clinic';

export type FieldType =
  | 'singleLineText'
  | 'multilineText'
  | 'number'
  | 'currency'
  | 'checkbox'
  | 'date'
  | 'singleSelect'
  | 'multipleSelects'
  | 'lastModifiedTime';

export interface FieldSpec {
  id: string;
  name: string;
  type: FieldType;
}

export interface StoredRecord {
  id: string;
  /** Epoch ms. */
  createdTime: number;
  /** Epoch ms; the value of LAST_MODIFIED_TIME() and of any lastModifiedTime field. */
  lastModified: number;
  /** Cell values by field name; lastModifiedTime fields are computed, never stored. */
  cells: Record<string, unknown>;
}

export interface TableData {
  id: string;
  name: string;
  fields: FieldSpec[];
  views: { id: string; name: string }[];
  /** Insertion order is the view order. */
  records: Map<string, StoredRecord>;
  /** Counter for IDs of records created through the admin endpoint. */
  created: number;
  /** Per-table seed, so new record IDs are deterministic too. */
  seed: number;
}

export interface BaseData {
  id: string;
  name: string;
  tables: TableData[];
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Airtable IDs are a three-letter prefix and 14 base-62 characters (17 in all). */
export function airtableId(prefix: 'app' | 'tbl' | 'fld' | 'viw' | 'rec' | 'itr', seed: number): string {
  const rnd = createRandom(seed);
  let id = prefix;
  for (let i = 0; i < 14; i++) id += rnd.pick([...ID_CHARS]);
  return id;
}

/** A stable 32-bit hash of a name, for IDs that must not depend on the seed. */
function nameSeed(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function newRecordId(table: TableData): string {
  for (;;) {
    const id = airtableId('rec', mixSeed(table.seed, table.created++));
    if (!table.records.has(id)) return id;
  }
}

function makeTable(
  baseName: string,
  name: string,
  seed: number,
  fields: readonly (readonly [string, FieldType])[],
): TableData {
  const key = `${baseName}/${name}`;
  return {
    id: airtableId('tbl', nameSeed(key)),
    name,
    fields: fields.map(([fieldName, type]) => ({
      id: airtableId('fld', nameSeed(`${key}/${fieldName}`)),
      name: fieldName,
      type,
    })),
    views: [{ id: airtableId('viw', nameSeed(`${key}/Grid view`)), name: 'Grid view' }],
    records: new Map(),
    created: 0,
    seed: mixSeed(seed, nameSeed(key)),
  };
}

function addRecord(
  table: TableData,
  createdTime: number,
  lastModified: number,
  cells: Record<string, unknown>,
): void {
  const id = newRecordId(table);
  table.records.set(id, { id, createdTime, lastModified, cells });
}

export function createDataset(name: DatasetName, seed: number, records: number): BaseData[] {
  return name === 'clinic' ? [clinicBase(seed, records)] : [enforcementBase(seed, records)];
}

/** `2019-03-04T10:11:12Z` (the generator's form) → epoch ms. */
const parseTime = (text: string): number => Date.parse(text);
const day = (iso: string | null): number | undefined =>
  iso ? Date.parse(`${iso}T00:00:00.000Z`) : undefined;

/** The EHS enforcement seed: Airtable tables of court cases / cautions and of notices, unique by regulator_id. */
function enforcementBase(seed: number, count: number): BaseData {
  const base = 'enforcement';
  const cases = makeTable(base, 'Cases', seed, [
    ['regulator_id', 'singleLineText'],
    ['regulator', 'singleSelect'],
    ['offender_name', 'singleLineText'],
    ['offender_address', 'multilineText'],
    ['offender_postcode', 'singleLineText'],
    ['offender_local_authority', 'singleLineText'],
    ['offence_action_type', 'singleSelect'],
    ['offence_action_date', 'date'],
    ['offence_hearing_date', 'date'],
    ['offence_result', 'singleSelect'],
    ['offence_fine', 'currency'],
    ['offence_costs', 'currency'],
    ['offence_breaches', 'multipleSelects'],
    ['offence_description', 'multilineText'],
    ['Last Modified', 'lastModifiedTime'],
  ]);
  const notices = makeTable(base, 'Notices', seed, [
    ['regulator_id', 'singleLineText'],
    ['regulator', 'singleSelect'],
    ['notice_type', 'singleSelect'],
    ['offender_name', 'singleLineText'],
    ['offender_postcode', 'singleLineText'],
    ['address', 'multilineText'],
    ['local_authority', 'singleLineText'],
    ['sic_code', 'singleLineText'],
    ['employees', 'number'],
    ['description', 'multilineText'],
    ['issue_date', 'date'],
    ['compliance_date', 'date'],
    ['fine_amount', 'currency'],
    ['appeal_lodged', 'checkbox'],
    ['legislation', 'multipleSelects'],
    ['inspection_id', 'singleLineText'],
    ['Last Modified', 'lastModifiedTime'],
  ]);

  // messy: false — Airtable date fields hold ISO dates, never "Not On File".
  for (const n of generateNotices(count, seed, { messy: false })) {
    const modified = parseTime(n.last_modified);
    addRecord(notices, Math.min(day(n.issue_date) ?? modified, modified), modified, {
      regulator_id: n.regulator_id,
      regulator: n.regulator,
      notice_type: n.notice_type,
      offender_name: n.offender_name,
      offender_postcode: n.offender_postcode,
      address: n.address,
      local_authority: n.local_authority,
      sic_code: n.sic_code,
      employees: n.employees,
      description: n.description,
      issue_date: n.issue_date,
      compliance_date: n.compliance_date,
      fine_amount: n.fine_amount === null ? null : Number(n.fine_amount),
      appeal_lodged: n.appeal_lodged,
      legislation: n.legislation,
      inspection_id: n.inspection_id,
    });
  }

  // Cases reuse the notice generator (offenders, places, legislation) under a derived seed.
  const rnd = createRandom(mixSeed(seed, 0xca5e));
  for (const n of generateNotices(count, mixSeed(seed, 0xca5e5), { messy: false })) {
    const caution = rnd.chance(0.3);
    const seq = (n.regulator_id ?? '').split('-').pop() ?? '0';
    const modified = parseTime(n.last_modified);
    const actionDay = day(n.issue_date);
    const hearing =
      !caution && actionDay !== undefined && rnd.chance(0.8)
        ? new Date(actionDay + rnd.int(30, 300) * 86_400_000).toISOString().slice(0, 10)
        : null;
    const fine = caution ? null : Math.round(Math.exp(Math.log(500) + rnd.next() * Math.log(2000)) / 50) * 50;
    addRecord(cases, Math.min(actionDay ?? modified, modified), modified, {
      regulator_id: `${n.regulator}-${caution ? 'CA' : 'CC'}-${seq}`,
      regulator: n.regulator,
      offender_name: n.offender_name,
      offender_address: n.address,
      offender_postcode: n.offender_postcode,
      offender_local_authority: n.local_authority,
      offence_action_type: caution ? 'Caution' : 'Court Case',
      offence_action_date: n.issue_date,
      offence_hearing_date: hearing,
      offence_result: caution
        ? null
        : rnd.weighted([
            ['Guilty', 85],
            ['Not Guilty', 5],
            ['Withdrawn', 4],
            ['Adjourned', 6],
          ] as const),
      offence_fine: fine,
      offence_costs: caution ? null : Math.round(rnd.next() * 12_000 * 100) / 100,
      offence_breaches: n.legislation,
      offence_description: n.description,
    });
  }
  return { id: airtableId('app', nameSeed(base)), name: base, tables: [cases, notices] };
}

/**
 * The clinic-dashboard seed (seeds/002): one table of chatbot conversations, with the totals that
 * seed's import is checked against after every run.
 */
export const CLINIC_TOTALS = {
  conversations: 20_077,
  /** Records whose "Booking" text contains "2025". */
  bookings: 3_122,
  /** "Lead Created" = "Yes". */
  leads: 13_908,
  /** "Engaged" checkbox ticked. */
  engaged: 7_910,
} as const;

/** Records per table when the caller names no count: the clinic seed's own size for its dataset. */
export const DATASET_DEFAULT_RECORDS: Record<DatasetName, number> = {
  enforcement: 1000,
  clinic: CLINIC_TOTALS.conversations,
};

/**
 * Exact counts of the clinic dataset at `conversations` records: the seed's shares, rounded, so
 * 20,077 conversations give exactly 3,122 bookings, 13,908 leads and 7,910 engaged.
 */
export function clinicCounts(conversations: number): { bookings: number; leads: number; engaged: number } {
  const share = (n: number): number => Math.round((conversations * n) / CLINIC_TOTALS.conversations);
  return {
    bookings: share(CLINIC_TOTALS.bookings),
    leads: share(CLINIC_TOTALS.leads),
    engaged: share(CLINIC_TOTALS.engaged),
  };
}

/** Exactly `k` of `items` (k ≤ length), by a seeded partial Fisher–Yates shuffle: counts are exact, not drawn. */
function chooseExactly(items: readonly number[], k: number, rnd: Random): Set<number> {
  const a = [...items];
  for (let i = 0; i < k; i++) {
    const j = rnd.int(i, a.length - 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return new Set(a.slice(0, k));
}

const CLINICS = [
  ['JointChiro Leeds', 40],
  ['JointChiro York', 25],
  ['JointChiro Harrogate', 20],
  ['JointChiro Wakefield', 15],
] as const;
const AUTOMATIONS = [
  ['New Patient Offer', 40],
  ['Website Chat', 30],
  ['Missed Call', 18],
  ['Reactivation', 12],
] as const;
const FIRST_NAMES = (
  'Olivia Amelia Isla Ava Mia Grace Sophie Emily Ella Lucy Hannah Chloe Priya Aisha Zara Fatima ' +
  'Megan Rachel Karen Susan Oliver George Harry Jack Noah Leo Oscar Jacob Thomas James Daniel ' +
  'Mohammed Arjun Ryan Liam Mark Paul David Steven Peter'
).split(' ');
const LAST_NAMES = (
  'Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans Walker ' +
  'White Roberts Green Hall Wood Jackson Clarke Patel Khan Hussain Ahmed Shah Lewis Harrison Scott ' +
  'Hughes Barker Atkinson Holmes Lee Moore Turner Fletcher Dawson Marsden'
).split(' ');
/** What the bot writes in "Booking" when no appointment was made: words only, never a date. */
const NO_BOOKING = [
  ['Declined', 35],
  ['Call back', 30],
  ['No answer', 15],
  ['Not interested', 12],
  ['Cancelled', 8],
] as const;

const DAY_MS = 86_400_000;
const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Clinic dataset, one table "Conversations" (field names are a contract: the clinic example's
 * config maps them):
 * - Conversation ID `conv_000001`…, in creation order; `createdTime` and "Started" (a date) fall
 *   between 2025-01-01 and 2025-12-10.
 * - User ID: a 10-digit chatbot subscriber id. About 2.6 conversations per customer, so most
 *   customers appear several times; each has one Customer Name and one Clinic, both derived from
 *   the user id, so they never disagree between that customer's conversations.
 * - Exactly `clinicCounts(n)` engaged, leads and bookings, chosen by seeded shuffles (not coin
 *   flips): the seed's 20,077 / 3,122 / 13,908 / 7,910 at the default size, proportional
 *   (rounded) at any other. Every booking is also engaged and a lead.
 * - Booking: on booked conversations the appointment, 1–15 days after the start, always in 2025,
 *   as "YYYY-MM-DD HH:mm" (about 80 %) or "DD/MM/YYYY HH:mm" (the rest). Otherwise empty (left
 *   out of the response, as Airtable does) for about three quarters, or a word such as
 *   "Declined" / "Call back": never a date, never "2025".
 */
function clinicBase(seed: number, count: number): BaseData {
  const base = 'clinic';
  const conversations = makeTable(base, 'Conversations', seed, [
    ['Conversation ID', 'singleLineText'],
    ['Clinic', 'singleSelect'],
    ['Automation', 'singleSelect'],
    ['User ID', 'singleLineText'],
    ['Customer Name', 'singleLineText'],
    ['Started', 'date'],
    ['Engaged', 'checkbox'],
    ['Lead Created', 'singleSelect'],
    ['Booking', 'singleLineText'],
    ['Last Modified', 'lastModifiedTime'],
  ]);

  // Which conversations engaged, became leads, booked: exact counts.
  const pick = createRandom(mixSeed(seed, 0xb00c));
  const n = clinicCounts(count);
  const all = Array.from({ length: count }, (_, i) => i);
  const engaged = chooseExactly(all, n.engaged, pick);
  const booked = chooseExactly(
    [...engaged].sort((a, b) => a - b),
    n.bookings,
    pick,
  );
  const others = all.filter((i) => !booked.has(i));
  const leads = new Set([...booked, ...chooseExactly(others, n.leads - n.bookings, pick)]);

  // Customers: distinct ids, each with a name and home clinic derived from the id alone.
  const customers = Math.max(1, Math.round(count / 2.6));
  const userIds: string[] = [];
  const taken = new Set<string>();
  const idSeed = mixSeed(seed, 0x05e7);
  for (let k = 0; userIds.length < customers; k++) {
    const id = String(1_000_000_000 + mixSeed(idSeed, k));
    if (!taken.has(id)) userIds.push(id);
    taken.add(id);
  }
  const customerOf = (userId: string): { name: string; clinic: string } => {
    const r = createRandom(nameSeed(userId));
    return { name: `${r.pick(FIRST_NAMES)} ${r.pick(LAST_NAMES)}`, clinic: r.weighted(CLINICS) };
  };

  const rnd = createRandom(mixSeed(seed, 0xc11c));
  const from = Date.UTC(2025, 0, 1);
  const to = Date.UTC(2025, 11, 10);
  const starts = Array.from({ length: count }, () => from + rnd.int(0, (to - from) / 1000) * 1000).sort(
    (a, b) => a - b,
  );
  for (let i = 0; i < count; i++) {
    const started = starts[i]!;
    const userId = rnd.pick(userIds);
    const customer = customerOf(userId);
    let booking = '';
    if (booked.has(i)) {
      let at = Math.floor(started / DAY_MS) * DAY_MS + rnd.int(1, 14) * DAY_MS;
      if (new Date(at).getUTCDay() === 0) at += DAY_MS; // clinics are closed on Sundays
      const d = new Date(at + rnd.int(32, 74) * 15 * 60_000); // 08:00–18:30
      const [y, m, day, hh, mm] = [
        d.getUTCFullYear(),
        pad2(d.getUTCMonth() + 1),
        pad2(d.getUTCDate()),
        pad2(d.getUTCHours()),
        pad2(d.getUTCMinutes()),
      ];
      booking = rnd.chance(0.8) ? `${y}-${m}-${day} ${hh}:${mm}` : `${day}/${m}/${y} ${hh}:${mm}`;
    } else if (rnd.chance(0.25)) {
      booking = rnd.weighted(NO_BOOKING);
    }
    addRecord(conversations, started, started + rnd.int(60, 20 * 86_400) * 1000, {
      'Conversation ID': `conv_${String(i + 1).padStart(6, '0')}`,
      Clinic: customer.clinic,
      Automation: rnd.weighted(AUTOMATIONS),
      'User ID': userId,
      'Customer Name': customer.name,
      Started: new Date(started).toISOString().slice(0, 10),
      Engaged: engaged.has(i),
      'Lead Created': leads.has(i) ? 'Yes' : 'No',
      Booking: booking,
    });
  }
  return { id: airtableId('app', nameSeed(base)), name: base, tables: [conversations] };
}
