/**
 * The EHS enforcement example end to end, on each real database: the Airtable emulator serves
 * cases and notices (offender names spelt several ways, postcodes written several ways), this
 * folder's TS config imports them with offenders matched by normalised name and postcode, records
 * change in the emulator, an incremental import follows, and the tables are compared with the
 * emulator's records.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExpectationResult } from '../../src/pipeline/after-run.ts';
import { exampleWithEmulator } from '../../test/helpers/airtable-example.ts';
import { testDatabaseFactories } from '../../test/helpers/databases.ts';
import { offenderKey } from './offenders.ts';

const CONFIG = join(import.meta.dirname, 'tributary.config.ts');
const RECORDS = 600;

interface Fields {
  regulator_id?: string;
  offender_name?: string;
  offender_postcode?: string;
  offence_fine?: number;
}

const factories = await testDatabaseFactories();

for (const factory of factories) {
  describe(`examples/ehs-enforcement on ${factory.name}`, () => {
    const ctx = exampleWithEmulator({
      config: CONFIG,
      database: factory.create,
      emulator: { dataset: 'enforcement', records: RECORDS, seed: 7 },
    });

    const list = (table: 'Cases' | 'Notices') =>
      ctx.emulator.admin.list(ctx.baseId, table) as { id: string; fields: Fields }[];
    const column = async (sql: string) =>
      (await ctx.t.dest.query<{ v: unknown }>(sql)).map((r) => String(r.v));
    const sorted = (values: Iterable<string>) => [...values].sort();
    const expectedOffenders = () => {
      const keys = new Set<string>();
      for (const r of [...list('Cases'), ...list('Notices')])
        keys.add(offenderKey(r.fields.offender_name, r.fields.offender_postcode)!);
      return sorted(keys);
    };

    it('imports cases and notices with offenders matched by normalised name and postcode', async () => {
      for (const sync of ['cases', 'notices']) {
        const run = await ctx.t.sync(sync);
        assert.equal(run.status, 'succeeded', `${sync}: ${run.error ?? ''}`);
        assert.deepEqual([run.read, run.inserted, run.quarantined], [RECORDS, RECORDS, 0]);
      }
      assert.deepEqual(
        sorted(await column('SELECT regulator_id AS v FROM cases')),
        sorted(list('Cases').map((r) => r.fields.regulator_id!)),
      );
      assert.deepEqual(
        sorted(await column('SELECT regulator_id AS v FROM notices')),
        sorted(list('Notices').map((r) => r.fields.regulator_id!)),
      );

      const offenders = expectedOffenders();
      assert.deepEqual(sorted(await column('SELECT offender_key AS v FROM offenders')), offenders);
      // The data spells names several ways: matching must have merged some of them.
      const spellings = new Set(
        [...list('Cases'), ...list('Notices')].map(
          (r) => `${r.fields.offender_name}|${r.fields.offender_postcode}`,
        ),
      );
      assert.ok(
        offenders.length < spellings.size,
        `${spellings.size} spellings → ${offenders.length} offenders`,
      );
      // Each row points at the offender its own spelling normalises to.
      for (const [table, airtable] of [
        ['cases', 'Cases'],
        ['notices', 'Notices'],
      ] as const) {
        const stored = new Map(
          (
            await ctx.t.dest.query<{ regulator_id: string; offender_key: string }>(
              `SELECT regulator_id, offender_key FROM ${table}`,
            )
          ).map((r) => [r.regulator_id, r.offender_key]),
        );
        for (const r of list(airtable))
          assert.equal(
            stored.get(r.fields.regulator_id!),
            offenderKey(r.fields.offender_name, r.fields.offender_postcode),
          );
      }

      // The derived summary, built after the notices run, counts both tables.
      const summary = await ctx.t.dest.query<{ cases: unknown; notices: unknown }>(
        'SELECT sum(cases) AS cases, sum(notices) AS notices FROM offender_summary',
      );
      assert.deepEqual([Number(summary[0]!.cases), Number(summary[0]!.notices)], [RECORDS, RECORDS]);
      assert.deepEqual(await column('SELECT count(*) AS v FROM offender_summary'), [
        String(offenders.length),
      ]);

      for (const sync of ['cases', 'notices']) {
        const [run] = await ctx.t.state.listRuns({ sync, limit: 1 });
        const expectations = run!.metadata!.expectations as ExpectationResult[];
        assert.equal(expectations.length, 3);
        assert.deepEqual(
          expectations.filter((e) => !e.ok),
          [],
          sync,
        );
      }
    });

    it('an incremental import merges a new spelling into its offender and rejects bad records', async () => {
      const [first] = list('Cases');
      const name = first!.fields.offender_name!;
      const postcode = first!.fields.offender_postcode!;
      const respelt = `${name.toUpperCase().replace(/ LTD$/, ' LIMITED')}.`;
      ctx.emulator.admin.create(ctx.baseId, 'Cases', {
        regulator_id: 'HSE-CC-9999001',
        regulator: 'HSE',
        offender_name: respelt,
        offender_postcode: postcode.replace(' ', '').toLowerCase(),
        offence_action_type: 'Court Case',
        offence_action_date: '2025-02-03',
        offence_fine: 12_500,
      });
      ctx.emulator.admin.create(ctx.baseId, 'Cases', {
        regulator_id: 'not an id',
        offender_name: 'Nobody Ltd',
      });
      ctx.emulator.admin.update(ctx.baseId, 'Cases', first!.id, { offence_fine: 777 });
      // More changes, so one bad record stays under the 10% errorThreshold of the run.
      const others = list('Cases').slice(1, 13);
      for (const r of others)
        ctx.emulator.admin.update(ctx.baseId, 'Cases', r.id, { offence_description: 'Updated after appeal' });
      const offendersBefore = await ctx.t.dest.countRows('offenders');

      const run = await ctx.t.sync('cases');
      assert.equal(run.status, 'partial', run.error ?? '');
      assert.equal(run.inserted, 1);
      assert.equal(run.updated, 13);
      assert.equal(run.quarantined, 1);
      assert.ok(run.read < 50, `incremental read ${run.read}`);
      const [rejected] = await ctx.t.state.listQuarantine({ sync: 'cases', limit: 1 });
      assert.equal(rejected!.reasonCode, 'validation_failed');
      assert.match(rejected!.message, /regulator_id "not an id" is not like HSE-IN-0000123/);

      // The new spelling found the existing offender: no new row, the same key on both cases.
      assert.equal(await ctx.t.dest.countRows('offenders'), offendersBefore);
      const keys = await column(
        `SELECT offender_key AS v FROM cases WHERE regulator_id IN ('HSE-CC-9999001', '${first!.fields.regulator_id}')`,
      );
      assert.equal(new Set(keys).size, 1);
      assert.deepEqual(
        await column(`SELECT fine AS v FROM cases WHERE regulator_id = '${first!.fields.regulator_id}'`),
        ['777'],
      );
      const [row] = await ctx.t.state.listRuns({ sync: 'cases', limit: 1 });
      assert.deepEqual([row!.status, row!.inserted, row!.updated, row!.quarantined], ['partial', 1, 13, 1]);
    });
  });
}
