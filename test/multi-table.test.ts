/**
 * One source record → several tables (DESIGN "sync": one stream → one or more tables), on each
 * real database: parents written before children in the batch's transaction, references holding
 * the parent's key, children replaced when their record is read again, a record all or nothing,
 * and the TS-config hooks (validate, transform, before/after batch, after run) and expectations.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestDatabase } from './helpers/databases.ts';
import { testDatabaseFactories } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';
import { Tributary } from '../src/tributary.ts';

interface Conversation {
  id: string;
  Clinic: string;
  'User ID'?: string;
  'Customer Name'?: string;
  Booking?: string;
  'Lead Created': 'Yes' | 'No';
  Engaged?: boolean;
}

const CLINICS = ['Leeds', 'York', 'Hull'];
function conversations(n: number): Conversation[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    const c: Conversation = {
      id: `c${String(i).padStart(3, '0')}`,
      Clinic: CLINICS[i % 3]!,
      'Lead Created': i % 2 ? 'Yes' : 'No',
    };
    if (i % 7 !== 0) {
      c['User ID'] = `u${i % 10}`;
      c['Customer Name'] = `Customer ${i % 10}`;
    }
    if (i % 4 === 0) c.Booking = `2025-03-${String((i % 28) + 1).padStart(2, '0')} 10:00`;
    else if (i % 5 === 0) c.Booking = 'Declined';
    if (i % 3 === 0) c.Engaged = true;
    return c;
  });
}
const jsonl = (records: object[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

const clinicSync = (extra: Record<string, unknown> = {}) => ({
  source: { type: 'jsonl', path: 'conversations.jsonl' },
  target: {
    table: 'conversations',
    primaryKey: 'id',
    columns: {
      id: 'text',
      clinic: { type: 'text', from: 'Clinic', references: 'clients' },
      customer: { type: 'text', from: 'User ID', references: 'customers' },
      engaged: { type: 'boolean', from: 'Engaged', nullIf: [] },
    },
  },
  related: {
    bookings: {
      primaryKey: 'conversation',
      when: { field: 'Booking', contains: '2025' },
      columns: {
        conversation: { type: 'text', from: 'id', references: 'conversations' },
        booked_for: { type: 'timestamptz', from: 'Booking', format: 'YYYY-MM-DD HH:mm' },
      },
    },
    leads: {
      primaryKey: 'conversation',
      when: { field: 'Lead Created', equals: 'Yes' },
      columns: {
        conversation: { type: 'text', from: 'id', references: 'conversations' },
        source: { type: 'text', value: 'chatbot' },
      },
    },
    clients: { primaryKey: 'name', columns: { name: { type: 'text', from: 'Clinic' } } },
    customers: {
      primaryKey: 'external_id',
      columns: {
        external_id: { type: 'text', from: 'User ID' },
        name: { type: 'text', from: 'Customer Name' },
      },
    },
  },
  batchSize: 8,
  ...extra,
});

const factories = await testDatabaseFactories();

for (const factory of factories) {
  describe(`multi-table syncs on ${factory.name}`, () => {
    let db: TestDatabase;
    let project: TestProject;
    let t: Tributary | undefined;

    const reopen = async (syncs: Record<string, unknown>) => {
      await t?.close();
      project.writeConfig({ syncs });
      t = await project.open();
      return t;
    };
    /** A tributary.config.ts (functions need one); `body` is the syncs object literal. */
    const reopenTs = async (body: string) => {
      await t?.close();
      const file = join(project.dir, 'tributary.config.ts');
      writeFileSync(file, `export default { database: ${JSON.stringify(db.url)}, syncs: ${body} };\n`);
      t = await Tributary.open({ configFile: file, env: { ...process.env, DATABASE_URL: undefined } });
      return t;
    };
    const ids = async (sql: string) => (await t!.dest.query<{ v: unknown }>(sql)).map((r) => String(r.v));
    interface RunMeta {
      tables: Record<string, { inserted: number; updated: number; unchanged: number; deleted: number }>;
      childrenDeleted?: Record<string, number>;
      expectations: { name: string; ok: boolean; actual: number }[];
    }
    const lastRunMetadata = async () =>
      (await t!.state.listRuns({ limit: 1 }))[0]!.metadata as unknown as RunMeta;

    before(async () => {
      db = await factory.create();
      project = createProject(db.url);
    });
    after(async () => {
      await t?.close();
      await db.drop();
      project.remove();
    });

    it('routes each record to its tables, parents first, with references to parent keys', async () => {
      if (factory.name === 'postgres') {
        // Immediate foreign keys: a child written before its parent would fail the batch.
        const dest = await db.open();
        await dest.execute('CREATE TABLE clients (name text PRIMARY KEY)');
        await dest.execute('CREATE TABLE customers (external_id text PRIMARY KEY, name text)');
        await dest.execute(
          'CREATE TABLE conversations (id text PRIMARY KEY, clinic text REFERENCES clients(name), customer text REFERENCES customers(external_id))',
        );
        await dest.execute(
          'CREATE TABLE bookings (conversation text PRIMARY KEY REFERENCES conversations(id))',
        );
        await dest.close();
      }
      const records = conversations(40);
      project.write('conversations.jsonl', jsonl(records));
      await reopen({ conversations: clinicSync() });
      const run = await t!.sync('conversations');
      assert.equal(run.status, 'succeeded', run.error ?? '');
      assert.deepEqual([run.read, run.inserted, run.quarantined], [40, 40, 0]);

      assert.deepEqual(await ids('SELECT name AS v FROM clients ORDER BY name'), ['Hull', 'Leeds', 'York']);
      const customers = await t!.dest.query<{ external_id: string; name: string }>(
        'SELECT external_id, name FROM customers ORDER BY external_id',
      );
      const expectedCustomers = [
        ...new Set(records.filter((r) => r['User ID']).map((r) => r['User ID']!)),
      ].sort();
      assert.deepEqual(
        customers.map((c) => c.external_id),
        expectedCustomers,
      );
      assert.ok(customers.every((c) => c.name === `Customer ${c.external_id.slice(1)}`));

      const bookings = records.filter((r) => r.Booking?.includes('2025')).map((r) => r.id);
      assert.deepEqual(await ids('SELECT conversation AS v FROM bookings ORDER BY conversation'), bookings);
      const leads = records.filter((r) => r['Lead Created'] === 'Yes').map((r) => r.id);
      assert.deepEqual(await ids('SELECT conversation AS v FROM leads ORDER BY conversation'), leads);
      assert.deepEqual(await ids(`SELECT DISTINCT source AS v FROM leads`), ['chatbot']);
      // Conversation 7 has no User ID: no customer row, and its reference is NULL rather than ''.
      const c007 = (await t!.data('conversations', { where: { id: 'c007' } }))[0]!;
      assert.equal(c007.customer, null);
      assert.equal(c007.clinic, 'York');
      // Every reference resolves to a parent row.
      const orphans = await ids(
        `SELECT count(*) AS v FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM clients p WHERE p.name = c.clinic)
           OR (c.customer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers p WHERE p.external_id = c.customer))`,
      );
      assert.deepEqual(orphans, ['0']);
      const tables = (await lastRunMetadata()).tables;
      assert.deepEqual(tables.clients, { inserted: 3, updated: 0, unchanged: 12, deleted: 0 }); // 5 batches × 3 clinics
      assert.equal(tables.bookings!.inserted, bookings.length);
      assert.equal(tables.leads!.inserted, leads.length);
    });

    it('a re-sync of unchanged records writes nothing in any table', async () => {
      const run = await t!.sync('conversations');
      assert.deepEqual([run.read, run.inserted, run.updated, run.unchanged], [40, 0, 0, 40]);
      const tables = (await lastRunMetadata()).tables;
      for (const [name, c] of Object.entries(tables))
        assert.deepEqual([c.inserted, c.updated, c.deleted], [0, 0, 0], name);
    });

    it('replaces a record’s children when it is read again; shared parents stay', async () => {
      const records = conversations(40);
      const c004 = records[3]!; // had a booking
      delete c004.Booking;
      records[0]!['Lead Created'] = 'No'; // c001 was a lead
      records[31]!['Customer Name'] = 'Renamed'; // c032, the last conversation of u2: the latest information wins
      records.push({
        id: 'c041',
        Clinic: 'Selby',
        'Lead Created': 'Yes',
        'User ID': 'u99',
        'Customer Name': 'New',
      });
      project.write('conversations.jsonl', jsonl(records));
      const run = await t!.sync('conversations');
      assert.equal(run.status, 'succeeded', run.error ?? '');
      assert.deepEqual([run.inserted, run.updated], [1, 0]); // c004 and c001 own columns did not change
      const bookings = await ids('SELECT conversation AS v FROM bookings');
      assert.ok(!bookings.includes('c004'));
      const leads = await ids('SELECT conversation AS v FROM leads');
      assert.ok(!leads.includes('c001') && leads.includes('c041'));
      assert.deepEqual(await ids(`SELECT name AS v FROM customers WHERE external_id = 'u2'`), ['Renamed']);
      assert.deepEqual(await ids('SELECT name AS v FROM clients ORDER BY name'), [
        'Hull',
        'Leeds',
        'Selby',
        'York',
      ]);
      const tables = (await lastRunMetadata()).tables;
      assert.equal(tables.bookings!.deleted, 1);
      assert.equal(tables.leads!.deleted, 1);
    });

    it('a record delivered twice in one batch gets the children of its last version only', async () => {
      const records: Conversation[] = conversations(40);
      records.push(
        { id: 'c050', Clinic: 'Leeds', 'Lead Created': 'Yes', Booking: '2025-05-01 09:00' },
        { id: 'c050', Clinic: 'Leeds', 'Lead Created': 'No', Booking: 'Declined' },
      );
      project.write('conversations.jsonl', jsonl(records));
      const run = await t!.sync('conversations');
      assert.equal(run.status, 'succeeded', run.error ?? '');
      // Both versions have the same own columns: inserted once, then unchanged.
      assert.deepEqual([run.inserted, run.updated], [1, 0]);
      assert.deepEqual(await ids(`SELECT conversation AS v FROM bookings WHERE conversation = 'c050'`), []);
      assert.deepEqual(await ids(`SELECT conversation AS v FROM leads WHERE conversation = 'c050'`), []);
    });

    it('quarantines the whole record when one of its rows is invalid, naming the table', async () => {
      const records = conversations(40);
      records[9]!.Booking = '2025-13-45 10:00'; // c010: not a date
      project.write('conversations.jsonl', jsonl(records));
      const run = await t!.sync('conversations');
      assert.equal(run.status, 'partial');
      assert.equal(run.quarantined, 1);
      const [q] = await t!.state.listQuarantine({ sync: 'conversations', limit: 1 });
      assert.equal(q!.recordKey, 'c010');
      assert.match(q!.message, /table bookings: booked_for/);
      assert.deepEqual(await ids(`SELECT conversation AS v FROM bookings WHERE conversation = 'c010'`), []);
    });

    it('deletes children of records that hard deletes remove', async () => {
      // Tributary declares no foreign keys; the ones this file's first test added would need ON DELETE CASCADE.
      if (factory.name === 'postgres')
        await t!.dest.execute('ALTER TABLE bookings DROP CONSTRAINT bookings_conversation_fkey');
      const before = {
        bookings: await t!.dest.countRows('bookings'),
        leads: await t!.dest.countRows('leads'),
      };
      const records = conversations(12);
      project.write('conversations.jsonl', jsonl(records));
      await reopen({ conversations: clinicSync({ deletes: 'hard' }) });
      const run = await t!.sync('conversations');
      assert.equal(run.status, 'succeeded', run.error ?? '');
      assert.deepEqual(await ids('SELECT count(*) AS v FROM conversations'), ['12']);
      assert.deepEqual(await ids('SELECT conversation AS v FROM bookings ORDER BY conversation'), [
        'c004',
        'c008',
        'c012',
      ]);
      assert.deepEqual(await ids('SELECT conversation AS v FROM leads ORDER BY conversation'), [
        'c001',
        'c003',
        'c005',
        'c007',
        'c009',
        'c011',
      ]);
      assert.deepEqual((await lastRunMetadata()).childrenDeleted, {
        bookings: before.bookings - 3,
        leads: before.leads - 6,
      });
    });

    it('rejects bad table wiring at config load with the path and the problem', async () => {
      const bad = clinicSync();
      (bad.target.columns as Record<string, unknown>).clinic = {
        type: 'integer',
        from: 'Clinic',
        references: 'clinics',
      };
      (bad.related.bookings.columns.conversation as Record<string, unknown>).references = 'conversations';
      project.writeConfig({ syncs: { conversations: bad } });
      await assert.rejects(
        project.open(),
        /syncs\.conversations\.target\.columns\.clinic\.references.*"clinics" is not a table of this sync/s,
      );
      const cyclic = clinicSync();
      (cyclic.related.clients.columns as Record<string, unknown>).name = {
        type: 'text',
        from: 'Clinic',
        references: 'customers',
      };
      (cyclic.related.customers.columns as Record<string, unknown>).name = {
        type: 'text',
        from: 'Customer Name',
        references: 'clients',
      };
      (cyclic.related.customers.columns as Record<string, unknown>).external_id = {
        type: 'text',
        from: 'User ID',
      };
      project.writeConfig({ syncs: { conversations: cyclic } });
      await assert.rejects(
        project.open(),
        /cycle: (clients → customers → clients|customers → clients → customers)/,
      );
    });

    it('runs validate, transform and batch hooks inside the batch transaction', async () => {
      const records = conversations(20);
      records[4]!.Clinic = 'DELETED';
      project.write('conversations.jsonl', jsonl(records));
      await reopenTs(`{
        conversations: {
          source: { type: 'jsonl', path: 'conversations.jsonl' },
          target: { table: 'conv_ts', primaryKey: 'id', columns: { id: 'text', clinic_key: { type: 'text', references: 'clinics_ts' } } },
          related: { clinics_ts: { primaryKey: 'key', columns: { key: { type: 'text', from: 'clinic_key' }, label: { type: 'text', from: 'Clinic' } } } },
          batchSize: 6,
          validate: (r) => (r.Clinic === 'DELETED' ? 'clinic was deleted' : undefined),
          transform: (r) => ({ ...r, clinic_key: String(r.Clinic).toLowerCase() }),
          beforeBatch: async ({ tx, batch }) => {
            await tx.execute('CREATE TABLE IF NOT EXISTS hook_log (batch integer, phase text, rows integer)');
            await tx.execute("INSERT INTO hook_log VALUES ($1, 'before', (SELECT count(*) FROM conv_ts))", [batch]);
          },
          afterBatch: async ({ tx, batch, rows }) => {
            await tx.execute("INSERT INTO hook_log VALUES ($1, 'after', (SELECT count(*) FROM conv_ts))", [batch]);
            if (rows.conv_ts === 0) throw new Error('no rows');
          },
        },
      }`);
      const run = await t!.sync('conversations');
      assert.equal(run.status, 'partial', run.error ?? '');
      assert.equal(run.quarantined, 1);
      const [q] = await t!.state.listQuarantine({ sync: 'conversations', limit: 1 });
      assert.equal(q!.reasonCode, 'validation_failed');
      assert.match(q!.message, /clinic was deleted/);
      assert.deepEqual(await ids('SELECT key AS v FROM clinics_ts ORDER BY key'), ['hull', 'leeds', 'york']);
      // before sees the rows of earlier batches only, after sees this batch's too: same transaction.
      const log = await t!.dest.query<{ batch: unknown; phase: string; rows: unknown }>(
        'SELECT batch, phase, rows FROM hook_log ORDER BY batch, phase DESC',
      );
      assert.deepEqual(
        log.map((l) => [Number(l.batch), l.phase, Number(l.rows)]),
        [
          [1, 'before', 0],
          [1, 'after', 5],
          [2, 'before', 5],
          [2, 'after', 11],
          [3, 'before', 11],
          [3, 'after', 17],
          [4, 'before', 17],
          [4, 'after', 19],
        ],
      );
    });

    it('a failing hook rolls its batch back and fails the run with the hook named', async () => {
      project.write('conversations.jsonl', jsonl(conversations(4)));
      await reopenTs(`{
        broken: {
          source: { type: 'jsonl', path: 'conversations.jsonl' },
          target: { table: 'conv_broken', primaryKey: 'id', columns: { id: 'text' } },
          afterBatch: () => { throw new Error('audit table is full'); },
        },
      }`);
      const run = await t!.sync('broken');
      assert.equal(run.status, 'failed');
      assert.match(run.error ?? '', /afterBatch hook failed: audit table is full/);
      assert.equal(await t!.dest.countRows('conv_broken'), 0);
    });

    it('builds derived tables after the run and checks expectations, failing the run on a required one', async () => {
      const records = conversations(40);
      project.write('conversations.jsonl', jsonl(records));
      const expect = (bookingsMin: number, required: boolean) => ({
        conversations: { rows: 'conversations', min: 40, max: 40, required: true },
        booking_rate: { rate: ['bookings', 'conversations'], min: bookingsMin, max: 1, required },
        unique_customers: { unique: { table: 'customers', columns: ['external_id'] } },
        clinic_set: { notNull: { table: 'conversations', columns: ['clinic'] } },
        stats_built: { sql: 'SELECT count(*) FROM clinic_stats', min: 3 },
      });
      const afterRun = [
        {
          table: 'clinic_stats',
          query: 'SELECT clinic, count(*) AS conversations FROM conversations GROUP BY clinic',
        },
        { sql: "UPDATE customers SET name = upper(name) WHERE external_id = 'u1'" },
      ];
      await reopen({ conversations: clinicSync({ afterRun, expect: expect(0.2, false) }) });
      const ok = await t!.sync('conversations', { full: true });
      assert.equal(ok.status, 'succeeded', ok.error ?? '');
      const meta = await lastRunMetadata();
      const byName = Object.fromEntries(meta.expectations.map((e) => [e.name, e]));
      assert.deepEqual(Object.fromEntries(Object.entries(byName).map(([k, v]) => [k, [v.ok, v.actual]])), {
        conversations: [true, 40],
        booking_rate: [true, 0.25],
        unique_customers: [true, 0],
        clinic_set: [true, 0],
        stats_built: [true, 3],
      });
      const stats = await t!.dest.query<{ clinic: string; conversations: unknown }>(
        'SELECT clinic, conversations FROM clinic_stats ORDER BY clinic',
      );
      assert.deepEqual(
        stats.map((s) => [s.clinic, Number(s.conversations)]),
        [
          ['Hull', 13],
          ['Leeds', 13],
          ['York', 14],
        ],
      );
      assert.deepEqual(await ids(`SELECT name AS v FROM customers WHERE external_id = 'u1'`), ['CUSTOMER 1']);

      // A warning only: the run succeeds, the failure is stored with it.
      await reopen({ conversations: clinicSync({ afterRun, expect: expect(0.3, false) }) });
      const warned = await t!.sync('conversations');
      assert.equal(warned.status, 'succeeded');
      const failedWarning = (await lastRunMetadata()).expectations.find((e) => e.name === 'booking_rate');
      assert.equal(failedWarning!.ok, false);

      // Required: the run fails and says which check, with the number.
      await reopen({ conversations: clinicSync({ afterRun, expect: expect(0.3, true) }) });
      const failed = await t!.sync('conversations');
      assert.equal(failed.status, 'failed');
      assert.match(
        failed.error ?? '',
        /expectations failed: booking_rate: got 0\.2500, expected between 0\.3 and 1/,
      );
      const status = await t!.state.getStatus('conversations');
      assert.equal(status!.lastStatus, 'failed');
    });
  });
}
