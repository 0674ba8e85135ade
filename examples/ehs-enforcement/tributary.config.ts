// EHS enforcement: Airtable cases and notices → cases, notices and de-duplicated offenders.
// A TypeScript config, because matching offenders needs code (offenders.ts); everything else
// is the same shape as YAML. In your own project: import { defineConfig } from 'tributary'.
import { defineConfig, type RawRecord } from 'tributary';
import { offenderKey } from './offenders.ts';

const airtable = (table: string) => ({
  type: 'airtable',
  baseId: '${AIRTABLE_BASE_ID}',
  table,
  token: '${AIRTABLE_TOKEN}',
  endpoint: '${AIRTABLE_ENDPOINT:-https://api.airtable.com}',
  lastModifiedField: 'Last Modified',
  ratePerSecond: '${AIRTABLE_RATE_PER_SECOND:-5}',
});

/** Reject what the seed's record validator rejected: no regulator id, no offender. */
const validate = (r: RawRecord) => {
  const problems: string[] = [];
  if (typeof r.regulator_id !== 'string' || !/^[A-Z]+-[A-Z]{2}-\d+$/.test(r.regulator_id)) {
    problems.push(`regulator_id ${JSON.stringify(r.regulator_id ?? null)} is not like HSE-IN-0000123`);
  }
  if (typeof r.offender_name !== 'string' || r.offender_name.trim() === '')
    problems.push('offender_name is missing');
  return problems;
};

/** Both tables feed one offenders table, keyed by normalised name and postcode. */
const withOffender = (r: RawRecord) => ({
  ...r,
  offender_key: offenderKey(r.offender_name, r.offender_postcode),
});

const offenders = {
  primaryKey: 'offender_key',
  columns: {
    offender_key: 'text',
    // The latest spelling seen wins; the key does not change with it.
    name: { type: 'text', from: 'offender_name' },
    postcode: { type: 'text', from: 'offender_postcode' },
  },
} as const;

// Rebuilt after every notices run (`tributary sync --all` runs cases first, then notices), and
// swapped in whole: the admin page never sees it missing or half-built.
const summary = {
  table: 'offender_summary',
  query: `SELECT o.offender_key, o.name, o.postcode,
            (SELECT count(*) FROM cases c WHERE c.offender_key = o.offender_key) AS cases,
            (SELECT count(*) FROM notices n WHERE n.offender_key = o.offender_key) AS notices,
            (SELECT coalesce(sum(c.fine), 0) FROM cases c WHERE c.offender_key = o.offender_key) AS total_fines
          FROM offenders o`,
};

const expectations = (table: string) => ({
  [`${table}_imported`]: { rows: table, min: 1, required: true },
  [`${table}_have_offenders`]: { notNull: { table, columns: ['offender_key'] }, required: true },
  [`${table}_offenders_exist`]: {
    sql: `SELECT count(*) FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM offenders o WHERE o.offender_key = t.offender_key)`,
    max: 0,
    required: true,
  },
});

export default defineConfig({
  database: '${DATABASE_URL:-sqlite:./data/ehs.db}',
  syncs: {
    cases: {
      description: 'Court cases and cautions',
      source: airtable('Cases'),
      validate,
      transform: withOffender,
      target: {
        table: 'cases',
        primaryKey: 'regulator_id',
        columns: {
          regulator_id: 'text',
          regulator: 'text',
          offender_key: { type: 'text', references: 'offenders' },
          offender_name: 'text',
          action_type: { type: 'text', from: 'offence_action_type' },
          action_date: { type: 'date', from: 'offence_action_date' },
          hearing_date: { type: 'date', from: 'offence_hearing_date' },
          result: { type: 'text', from: 'offence_result' },
          fine: { type: 'numeric', from: 'offence_fine' },
          costs: { type: 'numeric', from: 'offence_costs' },
          breaches: { type: 'json', from: 'offence_breaches' },
          description: { type: 'text', from: 'offence_description' },
          last_modified: { type: 'timestamptz', from: 'Last Modified' },
        },
      },
      related: { offenders },
      incremental: { cursor: 'last_modified', lookback: '5m' },
      schedule: 'every 60m',
      batchSize: 200,
      errorThreshold: 0.1,
      expect: expectations('cases'),
    },
    notices: {
      description: 'Improvement, prohibition and other notices',
      source: airtable('Notices'),
      validate,
      transform: withOffender,
      target: {
        table: 'notices',
        primaryKey: 'regulator_id',
        columns: {
          regulator_id: 'text',
          regulator: 'text',
          notice_type: 'text',
          offender_key: { type: 'text', references: 'offenders' },
          offender_name: 'text',
          local_authority: 'text',
          issue_date: 'date',
          compliance_date: 'date',
          fine_amount: 'numeric',
          appeal_lodged: { type: 'boolean', default: false },
          legislation: 'json',
          description: 'text',
          last_modified: { type: 'timestamptz', from: 'Last Modified' },
        },
      },
      related: { offenders },
      incremental: { cursor: 'last_modified', lookback: '5m' },
      schedule: 'every 60m',
      batchSize: 200,
      afterRun: [summary],
      expect: expectations('notices'),
    },
  },
});
