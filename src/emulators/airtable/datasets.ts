import { createRandom, mixSeed } from '../../demo/random.ts';
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

/** The clinic-dashboard seed: one table of chatbot conversations (Clinic, User ID, Booking, Lead Created). */
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
  const rnd = createRandom(mixSeed(seed, 0xc11c));
  const clinics = ['JointChiro Leeds', 'JointChiro York', 'JointChiro Harrogate', 'JointChiro Wakefield'];
  const automations = ['New Patient Offer', 'Reactivation', 'Missed Call', 'Website Chat'];
  const names = [
    'Sam Patel',
    'Alex Jones',
    'Jo Smith',
    'Chris Brown',
    'Priya Shah',
    'Tom Hughes',
    'Amy Clarke',
  ];
  const start = Date.UTC(2024, 0, 1);
  for (let i = 0; i < count; i++) {
    const created = start + rnd.int(0, 540 * 86_400) * 1000;
    const engaged = rnd.chance(0.394);
    const lead = rnd.chance(0.693);
    const booked = rnd.chance(0.155);
    addRecord(conversations, created, created + rnd.int(0, 30 * 86_400) * 1000, {
      'Conversation ID': `conv_${String(i + 1).padStart(6, '0')}`,
      Clinic: rnd.pick(clinics),
      Automation: rnd.pick(automations),
      'User ID': `user_${rnd.int(1, Math.max(10, Math.round(count * 0.8)))}`,
      'Customer Name': rnd.chance(0.9) ? rnd.pick(names) : '',
      Started: new Date(created).toISOString().slice(0, 10),
      Engaged: engaged,
      'Lead Created': lead ? 'Yes' : 'No',
      Booking: booked
        ? `2025-0${rnd.int(1, 9)}-${String(rnd.int(1, 28)).padStart(2, '0')} 10:00`
        : rnd.chance(0.2)
          ? 'Declined'
          : '',
    });
  }
  return { id: airtableId('app', nameSeed(base)), name: base, tables: [conversations] };
}
