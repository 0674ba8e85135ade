/**
 * The runner's guarantees (DESIGN "Guarantees"), end to end from a file source into each real
 * database: effectively-once merges, unchanged rows untouched, deletes only after a complete pass,
 * quarantine without stopping, incremental cursors, one active run per sync, cancellation, resume.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestDatabase } from './helpers/databases.ts';
import { testDatabaseFactories } from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import type { Tributary } from '../src/tributary.ts';

const HEADER = ['id', 'name', 'amount', 'issued', 'modified'];
const columns = {
  id: 'integer',
  name: 'text',
  amount: 'numeric',
  issued: { type: 'date', nullIf: ['Not On File', 'N/A'] },
  modified: 'timestamptz',
};

function rowsFor(n: number, change: (i: number) => string = () => ''): (string | number)[][] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    return [
      i,
      `Name ${i}${change(i)}`,
      `${i}.50`,
      `2024-01-${String((i % 28) + 1).padStart(2, '0')}`,
      `2024-02-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
    ];
  });
}

const factories = await testDatabaseFactories();

for (const factory of factories) {
  describe(`sync engine on ${factory.name}`, () => {
    let db: TestDatabase;
    let project: TestProject;
    let t: Tributary;

    const reopen = async (config: Record<string, unknown>) => {
      await t?.close();
      project.writeConfig(config);
      t = await project.open();
    };
    const fullSync = (extra: Record<string, unknown> = {}) => ({
      syncs: {
        items: {
          source: { type: 'csv', path: 'items.csv' },
          target: { table: 'items', primaryKey: 'id', columns },
          batchSize: 7,
          ...extra,
        },
      },
    });

    before(async () => {
      db = await factory.create();
      project = createProject(db.url);
    });
    after(async () => {
      await t?.close();
      await db.drop();
      project.remove();
    });

    it('loads a file, then a re-sync counts every row unchanged and rewrites nothing', async () => {
      project.write('items.csv', csv(HEADER, rowsFor(50)));
      await reopen(fullSync());
      const first = await t.sync('items');
      assert.equal(first.status, 'succeeded');
      assert.deepEqual(
        {
          read: first.read,
          inserted: first.inserted,
          updated: first.updated,
          unchanged: first.unchanged,
          quarantined: first.quarantined,
        },
        { read: 50, inserted: 50, updated: 0, unchanged: 0, quarantined: 0 },
      );
      assert.equal(await t.dest.countRows('items'), 50);
      const before = await t.dest.query<{ u: string }>('SELECT max(_tributary_updated_at) AS u FROM items');

      const second = await t.sync('items');
      assert.deepEqual(
        {
          read: second.read,
          inserted: second.inserted,
          updated: second.updated,
          unchanged: second.unchanged,
        },
        { read: 50, inserted: 0, updated: 0, unchanged: 50 },
      );
      const afterRows = await t.dest.query<{ u: string }>(
        'SELECT max(_tributary_updated_at) AS u FROM items',
      );
      assert.equal(String(afterRows[0]!.u), String(before[0]!.u), 'no row was rewritten');

      const run = await t.state.getRun(second.runId!);
      assert.equal(run!.status, 'succeeded');
      assert.equal(run!.batches, 8); // ceil(50 / 7)
      assert.equal(run!.unchanged, 50);
    });

    it('updates exactly the rows whose source changed', async () => {
      project.write(
        'items.csv',
        csv(
          HEADER,
          rowsFor(50, (i) => (i % 10 === 0 ? ' (renamed)' : '')),
        ),
      );
      const r = await t.sync('items');
      assert.deepEqual(
        { inserted: r.inserted, updated: r.updated, unchanged: r.unchanged },
        { inserted: 0, updated: 5, unchanged: 45 },
      );
      const rows = await t.data('items', { where: { id: '20' } });
      assert.equal(rows[0]!.name, 'Name 20 (renamed)');
      assert.equal(rows[0]!.amount, '20.50');
      assert.equal(rows[0]!.issued, '2024-01-21');
    });

    it('quarantines bad records with reasons while the good ones land', async () => {
      const rows = rowsFor(20);
      rows[2] = [3, 'Bad amount', 'twelve pounds', '2024-01-01', '2024-02-01T00:00:00Z'];
      rows[5] = ['', 'No key', '1.00', '2024-01-01', '2024-02-01T00:00:00Z'];
      rows[8] = [9, 'Sentinel date', '9.50', 'Not On File', '2024-02-01T00:00:00Z'];
      project.write('items.csv', csv(HEADER, rows));
      await reopen(fullSync({ errorThreshold: 0.5 }));
      const r = await t.sync('items');
      assert.equal(r.status, 'partial');
      assert.equal(r.quarantined, 2);
      assert.equal(r.read, 20);
      const q = await t.state.listQuarantine({ runId: r.runId! });
      const codes = q.map((x) => x.reasonCode).sort();
      assert.deepEqual(codes, ['invalid_value', 'missing_primary_key']);
      const bad = q.find((x) => x.reasonCode === 'invalid_value')!;
      assert.equal(bad.recordKey, '3');
      assert.match(bad.message, /amount/);
      assert.match(bad.message, /twelve pounds/);
      assert.match(bad.message, /line 4/);
      assert.equal((bad.payload as Record<string, unknown>).amount, 'twelve pounds');
      const sentinel = await t.data('items', { where: { id: '9' } });
      assert.equal(sentinel[0]!.issued, null, 'nullIf sentinel became NULL, record kept');
    });

    it('fails the run once rejected records pass errorThreshold', async () => {
      const rows = rowsFor(10).map((r, i) => (i < 5 ? [r[0]!, r[1]!, 'bad', r[3]!, r[4]!] : r));
      project.write('items.csv', csv(HEADER, rows));
      await reopen(fullSync({ errorThreshold: 0.2 }));
      const r = await t.sync('items');
      assert.equal(r.status, 'failed');
      assert.match(r.error!, /5 of 10 records were rejected/);
      const status = (await t.state.getStatus('items'))!;
      assert.equal(status.lastStatus, 'failed');
      assert.equal(status.pass, null, 'a pass failed for bad data is not resumed');
    });

    const deletesSync = (table: string, deletes: string, batchSize: number) => ({
      syncs: {
        [table]: {
          source: { type: 'csv', path: `${table}.csv` },
          target: { table, primaryKey: 'id', columns },
          deletes,
          batchSize,
        },
      },
    });

    it('soft-deletes removed rows only after a complete pass, and revives them when they return', async () => {
      project.write('soft.csv', csv(HEADER, rowsFor(30)));
      await reopen(deletesSync('soft', 'soft', 5));
      const initial = await t.sync('soft');
      assert.equal(initial.inserted, 30);
      project.write(
        'soft.csv',
        csv(
          HEADER,
          rowsFor(30).filter((r) => Number(r[0]) % 3 !== 0),
        ),
      );

      // An incomplete pass (stopped by --limit) must not delete anything.
      const partial = await t.sync('soft', { limit: 10 });
      assert.equal(partial.status, 'succeeded');
      assert.equal(partial.deleted, 0);
      const marked = await t.dest.query<{ n: unknown }>(
        'SELECT count(*) AS n FROM soft WHERE _deleted_at IS NOT NULL',
      );
      assert.equal(Number(marked[0]!.n), 0);

      // The next run continues the open pass and completes it: now the 10 missing rows are soft-deleted.
      const rest = await t.sync('soft');
      assert.equal(rest.read, 10, 'the continuing run reads only what the stopped one had not');
      assert.equal(rest.deleted, 10);
      const deleted = await t.dest.query<{ id: unknown }>(
        'SELECT id FROM soft WHERE _deleted_at IS NOT NULL ORDER BY id',
      );
      assert.deepEqual(
        deleted.map((r) => Number(r.id)),
        [3, 6, 9, 12, 15, 18, 21, 24, 27, 30],
      );
      assert.equal(await t.dest.countRows('soft'), 30, 'soft delete keeps the rows');

      project.write('soft.csv', csv(HEADER, rowsFor(30)));
      const back = await t.sync('soft');
      assert.equal(back.updated, 10, 'returning rows are revived');
      assert.equal(back.deleted, 0);
      const still = await t.dest.query<{ n: unknown }>(
        'SELECT count(*) AS n FROM soft WHERE _deleted_at IS NOT NULL',
      );
      assert.equal(Number(still[0]!.n), 0);
    });

    it('hard-deletes removed rows after a complete pass', async () => {
      project.write('hard.csv', csv(HEADER, rowsFor(30)));
      await reopen(deletesSync('hard', 'hard', 7));
      assert.equal((await t.sync('hard')).inserted, 30);
      project.write('hard.csv', csv(HEADER, rowsFor(25)));
      const r = await t.sync('hard');
      assert.equal(r.deleted, 5);
      assert.equal(await t.dest.countRows('hard'), 25);
      const ids = await t.dest.query<{ m: unknown }>('SELECT max(id) AS m FROM hard');
      assert.equal(Number(ids[0]!.m), 25);
    });

    it('skips deletes when the pass quarantined records (their rows may still exist at the source)', async () => {
      project.write('guard.csv', csv(HEADER, rowsFor(10)));
      await reopen({
        syncs: { guard: { ...deletesSync('guard', 'hard', 4).syncs.guard, errorThreshold: 0.5 } },
      });
      await t.sync('guard');
      const rows = rowsFor(8);
      rows[0] = [1, 'Name 1', 'not a number', '2024-01-02', '2024-02-01T00:00:01Z'];
      project.write('guard.csv', csv(HEADER, rows));
      const r = await t.sync('guard');
      assert.equal(r.status, 'partial');
      assert.equal(r.deleted, 0);
      assert.equal(await t.dest.countRows('guard'), 10);
      const run = await t.state.getRun(r.runId!);
      assert.match(String(run!.metadata!.deletesSkipped), /1 records of this pass were quarantined/);
    });

    it('handles a key repeated in one batch as an insert followed by an update', async () => {
      const rows = rowsFor(6);
      rows.push([2, 'Name 2 again', '2.50', '2024-01-03', '2024-02-01T00:00:02Z']);
      project.write('dups.csv', csv(HEADER, rows));
      await reopen({
        syncs: {
          dups: {
            source: { type: 'csv', path: 'dups.csv' },
            target: { table: 'dups', primaryKey: 'id', columns },
            batchSize: 100,
          },
        },
      });
      const r = await t.sync('dups');
      assert.deepEqual(
        { read: r.read, inserted: r.inserted, updated: r.updated, status: r.status },
        { read: 7, inserted: 6, updated: 1, status: 'succeeded' },
      );
      const two = await t.data('dups', { where: { id: '2' } });
      assert.equal(two[0]!.name, 'Name 2 again', 'the last occurrence wins');
    });

    it('reads incrementally from the cursor, inclusive, with lookback', async () => {
      const base = (i: number, m: string) => [i, `N${i}`, '1.00', '2024-01-01', m];
      project.write(
        'inc.csv',
        csv(HEADER, [
          base(1, '2024-03-01T10:00:00Z'),
          base(2, '2024-03-01T11:00:00Z'),
          base(3, '2024-03-01T12:00:00Z'),
        ]),
      );
      await reopen({
        syncs: {
          inc: {
            source: { type: 'csv', path: 'inc.csv' },
            target: { table: 'inc', primaryKey: 'id', columns },
            incremental: { cursor: 'modified', lookback: '30m' },
          },
        },
      });
      const first = await t.sync('inc');
      assert.equal(first.inserted, 3);
      assert.equal((await t.state.getStatus('inc'))!.cursor, '2024-03-01T12:00:00.000Z');

      // Row 3 is exactly at the cursor (inclusive) and row 2 inside the lookback? No: 11:00 < 11:30.
      project.write(
        'inc.csv',
        csv(HEADER, [
          base(1, '2024-03-01T10:00:00Z'),
          base(2, '2024-03-01T11:00:00Z'),
          [3, 'N3 changed', '1.00', '2024-01-01', '2024-03-01T12:00:00Z'],
          base(4, '2024-03-01T13:00:00Z'),
        ]),
      );
      const second = await t.sync('inc');
      assert.deepEqual(
        {
          read: second.read,
          inserted: second.inserted,
          updated: second.updated,
          unchanged: second.unchanged,
        },
        { read: 4, inserted: 1, updated: 1, unchanged: 2 },
      );
      const run = await t.state.getRun(second.runId!);
      assert.equal(run!.cursorStart, '2024-03-01T11:30:00.000Z');
      assert.equal(run!.cursorEnd, '2024-03-01T13:00:00.000Z');
      assert.equal(run!.fullRefresh, false);

      // A record stamped in the future cannot move the cursor past the run's start.
      project.write('inc.csv', csv(HEADER, [base(5, '2999-01-01T00:00:00Z')]));
      await t.sync('inc');
      const cursor = String((await t.state.getStatus('inc'))!.cursor);
      assert.ok(
        cursor < '2999' && cursor >= '2024-03-01T13:00:00.000Z',
        `cursor clamped to the run start, got ${cursor}`,
      );
    });

    it('allows one active run per sync', async () => {
      project.write('items.csv', csv(HEADER, rowsFor(10)));
      await reopen(fullSync());
      const lease = await t.state.acquireLease('items');
      assert.equal(lease.ok, true);
      await assert.rejects(t.sync('items'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'sync_busy');
        assert.match(err.message, /already running/);
        return true;
      });
      await t.state.releaseLease('items');
      assert.equal((await t.sync('items')).status, 'succeeded');
    });

    it('stops on cancel after the current batch and the next run resumes the pass', async () => {
      project.write('cancel.csv', csv(HEADER, rowsFor(40)));
      await reopen(deletesSync('cancel', 'none', 4));
      await t.sync('cancel');
      project.write(
        'cancel.csv',
        csv(
          HEADER,
          rowsFor(40, () => ' v2'),
        ),
      );
      const controller = new AbortController();
      const r = await t.sync('cancel', {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'batch.written' && e.batch === 3) controller.abort('cancel');
        },
      });
      assert.equal(r.status, 'cancelled');
      assert.equal(r.read, 12);
      assert.equal((await t.state.getRun(r.runId!))!.status, 'cancelled');
      assert.notEqual((await t.state.getStatus('cancel'))!.pass, null, 'the pass stays open');
      const resumed = await t.sync('cancel');
      assert.equal(resumed.status, 'succeeded');
      assert.equal(resumed.read, 28);
      assert.equal(resumed.updated, 28);
      // The resumed run says which pass it finished, beside what its end recorded.
      assert.equal((await t.state.getRun(resumed.runId!))!.metadata?.resumedPassOf, r.runId);
      const all = await t.data('cancel', { limit: 100 });
      assert.equal(all.length, 40);
      assert.ok(all.every((row) => String(row.name).endsWith(' v2')));
    });

    it('cancels on request through the run row (as `tributary cancel` from another process does)', async () => {
      project.write(
        'cancel.csv',
        csv(
          HEADER,
          rowsFor(2000, () => ' v3'),
        ),
      );
      let request: Promise<boolean> | undefined;
      const r = await t.sync('cancel', {
        onEvent: (e) => {
          if (e.type === 'batch.written' && e.batch === 1) request = t.state.requestCancel(e.runId);
        },
      });
      assert.equal(await request, true);
      assert.equal(r.status, 'cancelled');
      assert.ok(r.read < 2000, `stopped early, read ${r.read}`);
      assert.equal((await t.state.getRun(r.runId!))!.status, 'cancelled');
      assert.equal(await t.state.requestCancel(r.runId!), false, 'a finished run cannot be cancelled');
    });

    it('replaces a table atomically with write: replace', async () => {
      project.write('rep.csv', csv(HEADER, rowsFor(12)));
      await reopen({
        syncs: {
          rep: {
            source: { type: 'csv', path: 'rep.csv' },
            target: { table: 'rep', primaryKey: 'id', columns },
            write: 'replace',
            batchSize: 5,
          },
        },
      });
      await t.sync('rep');
      project.write('rep.csv', csv(HEADER, rowsFor(4)));
      const r = await t.sync('rep');
      assert.equal(r.status, 'succeeded');
      assert.equal(await t.dest.countRows('rep'), 4);
      const run = await t.state.getRun(r.runId!);
      assert.equal(run!.metadata!.replacedRows, 12);
    });

    it('appends every record with write: append', async () => {
      project.write('log.csv', csv(HEADER, rowsFor(5)));
      await reopen({
        syncs: {
          log: {
            source: { type: 'csv', path: 'log.csv' },
            target: { table: 'log', columns },
            write: 'append',
          },
        },
      });
      await t.sync('log');
      const r = await t.sync('log');
      assert.equal(r.inserted, 5);
      assert.equal(await t.dest.countRows('log'), 10);
    });

    it('a limit below one batch stops the read there, and the next run continues the pass', async () => {
      project.write('items.csv', csv(HEADER, rowsFor(50)));
      await reopen({
        syncs: {
          limited: {
            ...fullSync().syncs.items,
            target: { table: 'limited', primaryKey: 'id', columns },
            batchSize: 1000,
          },
        },
      });
      const first = await t.sync('limited', { limit: 12 });
      assert.deepEqual([first.status, first.read, first.inserted], ['succeeded', 12, 12]);
      assert.equal(await t.dest.countRows('limited'), 12);
      const rest = await t.sync('limited');
      assert.deepEqual([rest.read, rest.inserted], [38, 38]);
      assert.equal(await t.dest.countRows('limited'), 50);
    });

    it('dry run reads and validates without writing', async () => {
      project.write(
        'dry.csv',
        csv(HEADER, [...rowsFor(3), [4, 'x', 'bad', '2024-01-01', '2024-01-01T00:00:00Z']]),
      );
      await reopen({
        syncs: {
          dry: {
            source: { type: 'csv', path: 'dry.csv' },
            target: { table: 'dry', primaryKey: 'id', columns },
          },
        },
      });
      const r = await t.sync('dry', { dryRun: true });
      assert.deepEqual(
        { runId: r.runId, read: r.read, quarantined: r.quarantined },
        { runId: null, read: 4, quarantined: 1 },
      );
      assert.equal(await t.dest.tableExists('dry'), false);
    });
  });
}
