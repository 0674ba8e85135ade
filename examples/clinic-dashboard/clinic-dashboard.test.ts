/**
 * The clinic-dashboard example end to end, on each real database: the Airtable emulator serves the
 * seed's 20,077 conversations, this folder's config (unchanged) imports them into seven tables,
 * records change in the emulator, an incremental import follows, and every table is compared
 * with what the emulator holds.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExpectationResult } from '../../src/pipeline/after-run.ts';
import { exampleWithEmulator } from '../../test/helpers/airtable-example.ts';
import { testDatabaseFactories } from '../../test/helpers/databases.ts';

const CONFIG = join(import.meta.dirname, 'tributary.config.yaml');

interface Fields {
  'Conversation ID'?: string;
  Clinic?: string;
  Automation?: string;
  'User ID'?: string;
  'Customer Name'?: string;
  Engaged?: boolean;
  'Lead Created'?: string;
  Booking?: string;
}

const factories = await testDatabaseFactories();

for (const factory of factories) {
  describe(`examples/clinic-dashboard on ${factory.name}`, () => {
    const ctx = exampleWithEmulator({
      config: CONFIG,
      database: factory.create,
      emulator: { dataset: 'clinic' },
    });

    const records = () =>
      ctx.emulator.admin.list(ctx.baseId, 'Conversations') as { id: string; fields: Fields }[];
    const column = async (sql: string) =>
      (await ctx.t.dest.query<{ v: unknown }>(sql)).map((r) => String(r.v));
    const sorted = (values: Iterable<string>) => [...values].sort();

    it('imports the 20,077 conversations into seven tables with the seed’s numbers', async () => {
      const run = await ctx.t.sync('conversations', { trigger: 'startup' });
      assert.equal(run.status, 'succeeded', run.error ?? '');
      assert.deepEqual([run.read, run.inserted, run.updated, run.quarantined], [20_077, 20_077, 0, 0]);

      const all = records();
      assert.equal(all.length, 20_077);
      const booked = all.filter((r) => r.fields.Booking?.includes('2025'));
      const leads = all.filter((r) => r.fields['Lead Created'] === 'Yes');
      const engaged = all.filter((r) => r.fields.Engaged === true);
      // The seed's dashboard numbers, exactly.
      assert.deepEqual([booked.length, leads.length, engaged.length], [3_122, 13_908, 7_910]);

      assert.deepEqual(await column('SELECT count(*) AS v FROM conversations'), ['20077']);
      assert.deepEqual(
        sorted(await column('SELECT conversation AS v FROM bookings')),
        sorted(booked.map((r) => r.id)),
      );
      assert.deepEqual(
        sorted(await column('SELECT conversation AS v FROM leads')),
        sorted(leads.map((r) => r.id)),
      );
      assert.deepEqual(await column('SELECT count(*) AS v FROM conversations WHERE engaged'), ['7910']);
      assert.deepEqual(
        sorted(await column('SELECT name AS v FROM clients')),
        sorted(new Set(all.map((r) => r.fields.Clinic!))),
      );
      assert.deepEqual(
        sorted(await column('SELECT name AS v FROM locations')),
        sorted(new Set(all.map((r) => r.fields.Clinic!))),
      );
      assert.deepEqual(
        sorted(await column('SELECT name AS v FROM automations')),
        sorted(new Set(all.map((r) => r.fields.Automation!))),
      );
      assert.deepEqual(
        sorted(await column(`SELECT location || '/' || automation AS v FROM location_automations`)),
        sorted(new Set(all.map((r) => `${r.fields.Clinic}/${r.fields.Automation}`))),
      );
      // Customers: one per user id, named as in the last conversation that names them.
      const customers = new Map<string, string | null>();
      for (const r of all)
        if (r.fields['User ID']) customers.set(r.fields['User ID'], r.fields['Customer Name'] ?? null);
      const stored = await ctx.t.dest.query<{ external_id: string; name: string | null }>(
        'SELECT external_id, name FROM customers',
      );
      assert.deepEqual(new Map(stored.map((c) => [c.external_id, c.name])), customers);
      // Every reference resolves.
      assert.deepEqual(
        await column(
          `SELECT count(*) AS v FROM conversations c
            WHERE NOT EXISTS (SELECT 1 FROM clients p WHERE p.name = c.client)
               OR NOT EXISTS (SELECT 1 FROM locations p WHERE p.name = c.location)
               OR NOT EXISTS (SELECT 1 FROM automations p WHERE p.name = c.automation)
               OR (c.customer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers p WHERE p.external_id = c.customer))`,
        ),
        ['0'],
      );

      const [row] = await ctx.t.state.listRuns({ sync: 'conversations', limit: 1 });
      assert.equal(row!.trigger, 'startup');
      assert.deepEqual([row!.read, row!.inserted, row!.quarantined], [20_077, 20_077, 0]);
      const expectations = row!.metadata!.expectations as ExpectationResult[];
      assert.deepEqual(
        expectations.filter((e) => !e.ok).map((e) => e.name),
        [],
      );
      const byName = new Map(expectations.map((e) => [e.name, e.actual]));
      assert.equal(byName.get('conversations'), 20_077);
      assert.equal(byName.get('booking_rate'), 3_122 / 20_077);
      assert.equal(byName.get('lead_rate'), 13_908 / 20_077);
      assert.ok(Math.abs(byName.get('engagement_rate')! - 7_910 / 20_077) < 1e-9);
      const tables = row!.metadata!.tables as Record<string, { inserted: number }>;
      assert.equal(tables.bookings!.inserted, 3_122);
      assert.equal(tables.leads!.inserted, 13_908);
    });

    it('an incremental import after changes in Airtable reads only them and fixes every table', async () => {
      const all = records();
      const booked = all.find((r) => r.fields.Booking?.includes('2025'))!;
      const lead = all.find(
        (r) => r.fields['Lead Created'] === 'Yes' && !r.fields.Booking?.includes('2025'),
      )!;
      const named = all.find((r) => r.fields['User ID'] && r.id !== booked.id && r.id !== lead.id)!;
      const userId = named.fields['User ID']!;
      ctx.emulator.admin.update(ctx.baseId, 'Conversations', booked.id, { Booking: 'Declined' });
      ctx.emulator.admin.update(ctx.baseId, 'Conversations', lead.id, { 'Lead Created': 'No' });
      ctx.emulator.admin.update(ctx.baseId, 'Conversations', named.id, {
        'Customer Name': 'Renamed Customer',
        Engaged: true,
      });
      const created = ctx.emulator.admin.create(ctx.baseId, 'Conversations', {
        'Conversation ID': 'conv_new_1',
        Clinic: 'JointChiro Selby',
        Automation: 'Website Chat',
        'User ID': 'user_new_1',
        'Customer Name': 'New Patient',
        Started: '2025-01-20',
        'Lead Created': 'Yes',
        Booking: '14/03/2025 10:00',
      });

      const run = await ctx.t.sync('conversations', { trigger: 'schedule' });
      assert.equal(run.status, 'succeeded', run.error ?? '');
      assert.ok(
        run.read < 100,
        `an incremental import reads the changed records (and the lookback), not ${run.read}`,
      );
      assert.equal(run.inserted, 1);
      assert.equal(run.updated, 3); // each changed record's last_modified moved, at least
      assert.equal(run.unchanged, run.read - 4); // records inside the 5-minute lookback, read again and left alone
      assert.equal(run.quarantined, 0);

      const bookings = new Set(await column('SELECT conversation AS v FROM bookings'));
      assert.ok(!bookings.has(booked.id) && bookings.has(created.id));
      assert.equal(bookings.size, 3_122);
      const leads = new Set(await column('SELECT conversation AS v FROM leads'));
      assert.ok(!leads.has(lead.id) && leads.has(created.id));
      assert.equal(leads.size, 13_908);
      assert.deepEqual(await column(`SELECT name AS v FROM customers WHERE external_id = '${userId}'`), [
        'Renamed Customer',
      ]);
      assert.deepEqual(await column(`SELECT name AS v FROM clients WHERE name = 'JointChiro Selby'`), [
        'JointChiro Selby',
      ]);
      const [newBooking] = await ctx.t.data('bookings', { where: { conversation: created.id } });
      assert.equal(newBooking!.booked_for, '2025-03-14T10:00:00.000Z');
      assert.deepEqual(await column('SELECT count(*) AS v FROM conversations'), ['20078']);

      const [row] = await ctx.t.state.listRuns({ sync: 'conversations', limit: 1 });
      assert.equal(row!.trigger, 'schedule');
      assert.deepEqual([row!.read, row!.inserted, row!.updated], [run.read, 1, run.updated]);
      const tables = row!.metadata!.tables as Record<string, { inserted: number; deleted: number }>;
      assert.deepEqual([tables.bookings!.inserted, tables.bookings!.deleted], [1, 1]);
      assert.deepEqual([tables.leads!.inserted, tables.leads!.deleted], [1, 1]);
      assert.equal(tables.clients!.inserted, 1);
      const overview = (await ctx.t.overview()).find((s) => s.name === 'conversations')!;
      assert.equal(overview.expectations.length, 6);
      assert.ok(overview.expectations.every((e) => e.ok));
    });
  });
}
