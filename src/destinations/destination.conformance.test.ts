/**
 * The one conformance suite every destination passes (STYLE 6): the same assertions, with exact
 * values, against each real database test/helpers/databases.ts offers here — SQLite always,
 * PostgreSQL when a server answers (the helper prints why it is skipped otherwise).
 * Each describe block gets its own fresh database.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { TributaryError } from '../core/errors.ts';
import type { Row, WriteMode } from '../core/types.ts';
import { testDatabaseFactories, type TestDatabase } from '../../test/helpers/databases.ts';
import type { Destination, TableSpec, WriteResult } from './destination.ts';
import { shadowTableName } from './identifiers.ts';
import { encodeRow, hashLine } from './row-encoding.ts';

const T1 = '2024-06-01T12:00:00.000Z';
const T2 = '2024-06-02T12:00:00.000Z';
const T3 = '2024-06-03T12:00:00.000Z';
const T4 = '2024-06-04T12:00:00.000Z';

/** A fresh database for the enclosing describe block, dropped after it. */
function freshDestination(factory: { create: () => Promise<TestDatabase> }): { dest: Destination } {
  const ctx = {} as { db: TestDatabase; dest: Destination };
  before(async () => {
    ctx.db = await factory.create();
    ctx.dest = await ctx.db.open();
  });
  after(async () => {
    await ctx.dest?.close();
    await ctx.db?.drop();
  });
  return ctx;
}

function write(
  dest: Destination,
  spec: TableSpec,
  rows: Row[],
  now: string,
  options: { mode?: WriteMode; trackSeen?: string } = {},
): Promise<WriteResult> {
  return dest.transaction((tx) =>
    dest.writeBatch(tx, spec, rows, { mode: options.mode ?? 'merge', now, trackSeen: options.trackSeen }),
  );
}

const counts = (inserted: number, updated: number, unchanged: number): WriteResult => ({
  inserted,
  updated,
  unchanged,
});

const hashOf = (spec: TableSpec, row: Row): string => hashLine(encodeRow(row, spec.columns));

// ── fixtures ───────────────────────────────────────────────────────────────────────────────

const everyType: TableSpec = {
  name: 'every_type',
  columns: [
    { name: 'id', type: 'integer' },
    { name: 'name', type: 'text' },
    { name: 'big', type: 'bigint' },
    { name: 'amount', type: 'numeric' },
    { name: 'active', type: 'boolean' },
    { name: 'day', type: 'date' },
    { name: 'at', type: 'timestamptz' },
    { name: 'doc', type: 'json' },
  ],
  primaryKey: ['id'],
  softDelete: false,
};

const everyTypeRows: Row[] = [
  {
    id: -2147483648,
    name: '',
    big: '0',
    amount: '42',
    active: false,
    day: '1999-12-31',
    at: '1970-01-01T00:00:00.000Z',
    doc: '[]',
  },
  {
    id: 1,
    name: 'plain',
    big: '9007199254740993',
    amount: '12345678901234567890.123',
    active: true,
    day: '2024-02-29',
    at: '2024-02-29T23:59:59.123Z',
    // Keys already in jsonb's order (shorter first), so this checks nesting, not key order.
    doc: '{"a":1,"b":{"c":[1,2,{"d":"x"}],"ok":true,"none":null},"list":["x","y"]}',
  },
  {
    id: 2,
    name: 'Zoë 日本語 🚀 «q» \'single\' "double"',
    big: '-9223372036854775808',
    amount: '-0.5',
    active: false,
    day: '2000-01-01',
    at: '2023-12-31T23:59:59.999Z',
    doc: '[1,"two",null,true,{"k":"v"}]',
  },
  {
    id: 3,
    name: 'tab\there\nnewline\r\nCRLF back\\slash \\N \\t',
    big: '9223372036854775807',
    amount: '0.001',
    active: null,
    day: '2024-01-02',
    at: '2024-07-04T09:08:07.060Z',
    doc: '"just a string with \\"quotes\\""',
  },
  { id: 4, name: null, big: null, amount: null, active: null, day: null, at: null, doc: null },
  {
    id: 2147483647,
    name: 'max',
    big: '-1',
    amount: '99999999999999999999999999.99',
    active: true,
    day: '2024-12-31',
    at: '2024-12-31T23:59:59.001Z',
    doc: '{"n":-1.5e-7}',
  },
];

const people: TableSpec = {
  name: 'people',
  columns: [
    { name: 'id', type: 'text' },
    { name: 'name', type: 'text' },
    { name: 'age', type: 'integer' },
  ],
  primaryKey: ['id'],
  softDelete: false,
};

const person = (n: number, age: number | null = 20 + n, name = `Person ${n}`): Row => ({
  id: `k${String(n).padStart(2, '0')}`,
  name,
  age,
});

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ── the suite ──────────────────────────────────────────────────────────────────────────────

for (const factory of await testDatabaseFactories()) {
  describe(`destination conformance: ${factory.name}`, () => {
    describe('tables and types', () => {
      const ctx = freshDestination(factory);

      it('declares sensible capabilities', () => {
        const c = ctx.dest.capabilities;
        assert.equal(typeof c.bulkCopy, 'boolean');
        assert.equal(typeof c.transactionalDdl, 'boolean');
        assert.ok(
          Number.isInteger(c.maxParameters) && c.maxParameters >= 999,
          `maxParameters ${c.maxParameters}`,
        );
        assert.ok(Number.isInteger(c.defaultBatchSize) && c.defaultBatchSize > 0);
      });

      it('creates a table with all 8 column types plus the system columns', async () => {
        assert.equal(await ctx.dest.tableExists('every_type'), false);
        assert.equal(await ctx.dest.describeTable('every_type'), null);
        await ctx.dest.ensureTable(everyType);
        assert.equal(await ctx.dest.tableExists('every_type'), true);
        const columns = await ctx.dest.describeTable('every_type');
        assert.deepEqual(
          columns?.map((c) => c.name),
          [
            'id',
            'name',
            'big',
            'amount',
            'active',
            'day',
            'at',
            'doc',
            '_tributary_hash',
            '_tributary_updated_at',
          ],
        );
        assert.equal(await ctx.dest.countRows('every_type'), 0);
      });

      it('ensureTable is idempotent', async () => {
        await ctx.dest.ensureTable(everyType);
        assert.equal((await ctx.dest.describeTable('every_type'))?.length, 10);
      });

      it('round-trips every type to its canonical Cell form, nulls included', async () => {
        assert.deepEqual(await write(ctx.dest, everyType, everyTypeRows, T1), counts(6, 0, 0));
        assert.deepEqual(await ctx.dest.readRows(everyType), everyTypeRows);
      });

      it('rewriting the same values finds them all unchanged (values read back hash alike)', async () => {
        const readBack = await ctx.dest.readRows(everyType);
        assert.deepEqual(await write(ctx.dest, everyType, readBack, T2), counts(0, 0, 6));
      });

      it('keeps the key order of JSON objects', async () => {
        const spec: TableSpec = {
          name: 'json_order',
          columns: [
            { name: 'id', type: 'integer' },
            { name: 'doc', type: 'json' },
          ],
          primaryKey: ['id'],
          softDelete: false,
        };
        await ctx.dest.ensureTable(spec);
        const rows = [{ id: 1, doc: '{"zeta":1,"alpha":{"nested":true,"a":[]}}' }];
        await write(ctx.dest, spec, rows, T1);
        assert.deepEqual(await ctx.dest.readRows(spec), rows);
      });

      it('adds a newly declared column to an existing table; old rows read NULL there', async () => {
        const widened: TableSpec = {
          ...everyType,
          columns: [...everyType.columns, { name: 'extra', type: 'text' }],
        };
        await ctx.dest.ensureTable(widened);
        const names = (await ctx.dest.describeTable('every_type'))?.map((c) => c.name);
        assert.deepEqual(names?.includes('extra'), true);
        const rows = await ctx.dest.readRows(widened, { limit: 2 });
        assert.deepEqual(rows, [
          { ...everyTypeRows[0], extra: null },
          { ...everyTypeRows[1], extra: null },
        ]);
        // The hash covers every declared column, so each row is rewritten once to fill the new one.
        const refill = everyTypeRows.map((r) => ({ ...r, extra: r.id === 1 ? 'filled' : null }));
        assert.deepEqual(await write(ctx.dest, widened, refill, T3), counts(0, 6, 0));
        assert.deepEqual(await ctx.dest.readRows(widened, { where: { id: '1' } }), [refill[1]]);
        assert.deepEqual(await write(ctx.dest, widened, refill, T4), counts(0, 0, 6));
      });

      it('refuses a column whose declared type conflicts with the existing one', async () => {
        const conflicting: TableSpec = {
          ...everyType,
          columns: everyType.columns.map((c) => (c.name === 'name' ? { name: 'name', type: 'integer' } : c)),
        };
        await assert.rejects(ctx.dest.ensureTable(conflicting), (err: unknown) => {
          assert.ok(err instanceof TributaryError, String(err));
          assert.equal(err.code, 'schema_conflict');
          assert.equal(err.transient, false);
          assert.match(err.message, /every_type/);
          assert.match(err.message, /\bname\b/);
          return true;
        });
        // Nothing was changed by the refused call.
        assert.equal((await ctx.dest.describeTable('every_type'))?.length, 11);
      });
    });

    describe('merge', () => {
      const ctx = freshDestination(factory);

      it('counts a first write as all inserted and stamps hash and time', async () => {
        await ctx.dest.ensureTable(people);
        const rows = range(1, 10).map((n) => person(n));
        assert.deepEqual(await write(ctx.dest, people, rows, T1), counts(10, 0, 0));
        assert.deepEqual(
          await ctx.dest.readRows(people, { includeSystem: true }),
          rows.map((r) => ({ ...r, _tributary_hash: hashOf(people, r), _tributary_updated_at: T1 })),
        );
      });

      it('counts a rewrite of the same rows as unchanged and does not touch them', async () => {
        const rows = range(1, 10).map((n) => person(n));
        assert.deepEqual(await write(ctx.dest, people, rows, T2), counts(0, 0, 10));
        const stored = await ctx.dest.readRows(people, { includeSystem: true });
        assert.deepEqual(
          stored.map((r) => r._tributary_updated_at),
          range(1, 10).map(() => T1),
        );
      });

      it('counts exactly the changed rows as updated and restamps only them', async () => {
        const rows = range(1, 10).map((n) => (n % 4 === 0 || n === 1 ? person(n, 99) : person(n)));
        assert.deepEqual(await write(ctx.dest, people, rows, T3), counts(0, 3, 7));
        const stored = await ctx.dest.readRows(people, { includeSystem: true });
        assert.deepEqual(
          stored.map((r) => [r.id, r.age, r._tributary_updated_at]),
          rows.map((r) => [r.id, r.age, r.age === 99 ? T3 : T1]),
        );
      });

      it('counts a mixed batch exactly: new, changed (to and from NULL), unchanged', async () => {
        const batch = [
          person(11),
          person(12),
          person(1, null), // 99 → NULL
          person(2, 22, 'Renamed'),
          ...range(3, 8).map((n) => (n % 4 === 0 ? person(n, 99) : person(n))),
        ];
        assert.deepEqual(await write(ctx.dest, people, batch, T4), counts(2, 2, 6));
        assert.equal(await ctx.dest.countRows('people'), 12);
        const stored = await ctx.dest.readRows(people, { where: { id: 'k01' } });
        assert.deepEqual(stored, [{ id: 'k01', name: 'Person 1', age: null }]);
        assert.deepEqual(await write(ctx.dest, people, [person(1, 30)], T4), counts(0, 1, 0)); // NULL → 30
      });

      it('writes a batch larger than one statement may carry, with exact counts', async () => {
        const spec: TableSpec = {
          name: 'wide_batch',
          columns: [
            { name: 'id', type: 'integer' },
            ...range(1, 9).map((i) => ({ name: `c${i}`, type: 'text' as const })),
          ],
          primaryKey: ['id'],
          softDelete: false,
        };
        await ctx.dest.ensureTable(spec);
        const make = (i: number, tag: string): Row => {
          const row: Row = { id: i };
          for (let c = 1; c <= 9; c++) row[`c${c}`] = `${tag}-${i}-${c}`;
          return row;
        };
        const total = Math.ceil((ctx.dest.capabilities.maxParameters * 2) / 12) + 7;
        const rows = range(1, total).map((i) => make(i, 'a'));
        assert.deepEqual(await write(ctx.dest, spec, rows, T1), counts(total, 0, 0));
        assert.deepEqual(await write(ctx.dest, spec, rows, T2), counts(0, 0, total));
        const changed = rows.map((r, i) => (i % 7 === 0 ? make(Number(r.id), 'b') : r));
        const expectUpdated = Math.ceil(total / 7);
        assert.deepEqual(
          await write(ctx.dest, spec, changed, T3),
          counts(0, expectUpdated, total - expectUpdated),
        );
        assert.equal(await ctx.dest.countRows('wide_batch'), total);
        assert.deepEqual(await ctx.dest.readRows(spec, { where: { id: '8' } }), [make(8, 'b')]);
      });
    });

    describe('append and replace', () => {
      const ctx = freshDestination(factory);
      const events: TableSpec = {
        name: 'events',
        columns: [
          { name: 'at', type: 'timestamptz' },
          { name: 'kind', type: 'text' },
          { name: 'n', type: 'integer' },
        ],
        primaryKey: [],
        softDelete: false,
      };
      const catalog: TableSpec = {
        name: 'catalog',
        columns: [
          { name: 'sku', type: 'text' },
          { name: 'price', type: 'numeric' },
        ],
        primaryKey: ['sku'],
        softDelete: false,
      };

      it('append inserts every row, every time', async () => {
        await ctx.dest.ensureTable(events);
        const rows: Row[] = [
          { at: '2024-01-01T00:00:00.000Z', kind: 'open', n: 1 },
          { at: '2024-01-01T00:00:01.500Z', kind: 'click', n: 2 },
          { at: '2024-01-01T00:00:02.250Z', kind: null, n: 3 },
        ];
        assert.deepEqual(await write(ctx.dest, events, rows, T1, { mode: 'append' }), counts(3, 0, 0));
        assert.deepEqual(await write(ctx.dest, events, rows, T2, { mode: 'append' }), counts(3, 0, 0));
        assert.equal(await ctx.dest.countRows('events'), 6);
        assert.deepEqual(await ctx.dest.readRows(events, { orderBy: ['n', '_tributary_updated_at'] }), [
          rows[0],
          rows[0],
          rows[1],
          rows[1],
          rows[2],
          rows[2],
        ]);
      });

      it('replace builds a shadow table and swaps it in, returning the old row count', async () => {
        await ctx.dest.ensureTable(catalog);
        const old: Row[] = [
          { sku: 'a', price: '1.50' },
          { sku: 'b', price: '2' },
          { sku: 'c', price: null },
        ];
        await write(ctx.dest, catalog, old, T1);

        const shadow = await ctx.dest.createShadow(catalog);
        assert.equal(shadow.name, shadowTableName('catalog'));
        assert.deepEqual(shadow.columns, catalog.columns);
        assert.equal(await ctx.dest.tableExists(shadow.name), true);
        const fresh: Row[] = [
          { sku: 'x', price: '10.25' },
          { sku: 'y', price: '0.01' },
        ];
        assert.deepEqual(await write(ctx.dest, shadow, fresh, T2, { mode: 'replace' }), counts(2, 0, 0));
        assert.deepEqual(await ctx.dest.readRows(catalog), old, 'readers see the old table until the swap');

        assert.equal(await ctx.dest.transaction((tx) => ctx.dest.swapShadow(tx, catalog, shadow)), 3);
        assert.deepEqual(await ctx.dest.readRows(catalog), fresh);
        assert.equal(await ctx.dest.tableExists(shadow.name), false);
        assert.deepEqual(
          (await ctx.dest.readRows(catalog, { includeSystem: true })).map((r) => r._tributary_updated_at),
          [T2, T2],
        );
      });

      it('replaces again from the swapped-in table, and merges into it afterwards', async () => {
        const shadow = await ctx.dest.createShadow(catalog);
        assert.deepEqual(
          await write(ctx.dest, shadow, [{ sku: 'z', price: '3' }], T3, { mode: 'replace' }),
          counts(1, 0, 0),
        );
        assert.equal(await ctx.dest.transaction((tx) => ctx.dest.swapShadow(tx, catalog, shadow)), 2);
        assert.deepEqual(
          await write(
            ctx.dest,
            catalog,
            [
              { sku: 'z', price: '3' },
              { sku: 'w', price: '4' },
            ],
            T4,
          ),
          counts(1, 0, 1),
        );
      });
    });

    describe('deletes', () => {
      const ctx = freshDestination(factory);
      const members: TableSpec = {
        name: 'members',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'name', type: 'text' },
        ],
        primaryKey: ['id'],
        softDelete: true,
      };
      const items: TableSpec = { ...members, name: 'items', softDelete: false };
      const member = (id: number): Row => ({ id, name: `member ${id}` });
      const pass = async (
        spec: TableSpec,
        ids: number[],
        marker: string,
        now: string,
      ): Promise<WriteResult> => write(ctx.dest, spec, ids.map(member), now, { trackSeen: marker });
      const applyDeletes = (
        spec: TableSpec,
        marker: string,
        mode: 'soft' | 'hard',
        now: string,
      ): Promise<number> => ctx.dest.transaction((tx) => ctx.dest.applyDeletes(tx, spec, marker, mode, now));

      it('soft: creates the _deleted_at column and deletes nothing after a complete pass', async () => {
        await ctx.dest.ensureTable(members);
        assert.deepEqual(
          (await ctx.dest.describeTable('members'))?.map((c) => c.name),
          ['id', 'name', '_tributary_hash', '_tributary_updated_at', '_deleted_at'],
        );
        assert.deepEqual(await pass(members, range(1, 5), 'run-1', T1), counts(5, 0, 0));
        assert.equal(await applyDeletes(members, 'run-1', 'soft', T1), 0);
      });

      it('soft: marks the rows a pass did not see, and only them', async () => {
        assert.deepEqual(await pass(members, range(1, 3), 'run-2', T2), counts(0, 0, 3));
        assert.equal(await applyDeletes(members, 'run-2', 'soft', T2), 2);
        assert.equal(await ctx.dest.countRows('members'), 5);
        const stored = await ctx.dest.readRows(members, { includeSystem: true });
        assert.deepEqual(
          stored.map((r) => [r.id, r._deleted_at]),
          [
            [1, null],
            [2, null],
            [3, null],
            [4, T2],
            [5, T2],
          ],
        );
        assert.deepEqual(
          (await ctx.dest.readRows(members)).map((r) => Object.keys(r).sort()),
          range(1, 5).map(() => ['id', 'name']),
          'system columns are hidden by default',
        );
      });

      it('soft: does not count or restamp rows already deleted', async () => {
        await pass(members, range(1, 3), 'run-3', T3);
        assert.equal(await applyDeletes(members, 'run-3', 'soft', T3), 0);
        const stored = await ctx.dest.readRows(members, { includeSystem: true });
        assert.deepEqual(
          stored.map((r) => r._deleted_at),
          [null, null, null, T2, T2],
        );
      });

      it('soft: a deleted row written again is revived and counted as updated', async () => {
        assert.deepEqual(await write(ctx.dest, members, [member(4), member(1)], T4), counts(0, 1, 1));
        const [row4] = await ctx.dest.readRows(members, { includeSystem: true, where: { id: '4' } });
        assert.deepEqual(row4, {
          ...member(4),
          _tributary_hash: hashOf(members, member(4)),
          _tributary_updated_at: T4,
          _deleted_at: null,
        });
      });

      it('hard: removes the rows a pass did not see, with an exact count', async () => {
        await ctx.dest.ensureTable(items);
        assert.deepEqual(await pass(items, range(1, 6), 'h-1', T1), counts(6, 0, 0));
        assert.equal(await applyDeletes(items, 'h-1', 'hard', T1), 0);
        assert.deepEqual(await pass(items, [2, 4, 6], 'h-2', T2), counts(0, 0, 3));
        assert.equal(await applyDeletes(items, 'h-2', 'hard', T2), 3);
        assert.equal(await ctx.dest.countRows('items'), 3);
        assert.deepEqual(await ctx.dest.readRows(items), [2, 4, 6].map(member));
      });

      it('seen sets are per marker, and applyDeletes clears its own', async () => {
        await pass(items, [2, 4, 6], 'h-3', T3);
        await pass(items, [2], 'h-other', T3);
        assert.equal(await applyDeletes(items, 'h-3', 'hard', T3), 0);
        // h-3's set is gone: applying it again would see nothing and delete everything.
        await pass(items, [4, 6], 'h-other', T3);
        assert.equal(await applyDeletes(items, 'h-other', 'hard', T3), 0);
        assert.equal(await ctx.dest.countRows('items'), 3);
      });

      it('clearSeen drops one marker, or all of them with null', async () => {
        await pass(items, [2], 'h-4', T4);
        await ctx.dest.transaction((tx) => ctx.dest.clearSeen(tx, items, 'h-4'));
        await pass(items, [4], 'h-4', T4);
        assert.equal(await applyDeletes(items, 'h-4', 'hard', T4), 2, 'only 4 was still seen; 2 and 6 go');
        assert.deepEqual(await ctx.dest.readRows(items), [member(4)]);

        await pass(items, [4], 'h-5', T4);
        await pass(items, [4], 'h-6', T4);
        await ctx.dest.transaction((tx) => ctx.dest.clearSeen(tx, items, null));
        await pass(items, [7], 'h-6', T4);
        assert.equal(await applyDeletes(items, 'h-6', 'hard', T4), 1, 'h-6 forgot 4 with the null clear');
        assert.deepEqual(await ctx.dest.readRows(items), [member(7)]);
      });
    });

    describe('composite primary keys', () => {
      const ctx = freshDestination(factory);
      const scores: TableSpec = {
        name: 'scores',
        columns: [
          { name: 'region', type: 'text' },
          { name: 'id', type: 'integer' },
          { name: 'score', type: 'numeric' },
        ],
        primaryKey: ['region', 'id'],
        softDelete: false,
      };

      it('merges, orders and deletes by the whole key', async () => {
        await ctx.dest.ensureTable(scores);
        const rows: Row[] = [
          { region: 'south', id: 1, score: '1.5' },
          { region: 'north', id: 2, score: '2.5' },
          { region: 'north', id: 1, score: '3.5' },
        ];
        assert.deepEqual(await write(ctx.dest, scores, rows, T1, { trackSeen: 'c-1' }), counts(3, 0, 0));
        assert.deepEqual(await ctx.dest.readRows(scores), [rows[2], rows[1], rows[0]]);
        const next: Row[] = [
          { region: 'south', id: 1, score: '9' },
          { region: 'north', id: 1, score: '3.5' },
          { region: 'south', id: 2, score: '4' },
        ];
        assert.deepEqual(await write(ctx.dest, scores, next, T2, { trackSeen: 'c-2' }), counts(1, 1, 1));
        assert.equal(
          await ctx.dest.transaction((tx) => ctx.dest.applyDeletes(tx, scores, 'c-2', 'hard', T2)),
          1,
        );
        assert.deepEqual(await ctx.dest.readRows(scores), [next[1], next[0], next[2]]);
        assert.deepEqual(await ctx.dest.readRows(scores, { where: { region: 'south', id: '2' } }), [next[2]]);
      });
    });

    describe('transactions and state SQL', () => {
      const ctx = freshDestination(factory);
      const ledger: TableSpec = {
        name: 'ledger',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'note', type: 'text' },
        ],
        primaryKey: ['id'],
        softDelete: false,
      };
      const stateTable = {
        name: '001_test_state',
        sql: `CREATE TABLE IF NOT EXISTS tributary_test_state (
          sync TEXT PRIMARY KEY,
          cursor TEXT,
          runs INTEGER NOT NULL DEFAULT 0
        )`,
      };

      it('migrate runs idempotent scripts, twice without harm', async () => {
        await ctx.dest.migrate([stateTable]);
        await ctx.dest.migrate([stateTable]);
        assert.equal(await ctx.dest.tableExists('tributary_test_state'), true);
        await ctx.dest.ensureTable(ledger);
      });

      it('runs state-style SQL with $n placeholders (repeated, out of order) through the Tx', async () => {
        const result = await ctx.dest.transaction(async (tx) => {
          const inserted = await tx.execute(
            'INSERT INTO tributary_test_state (sync, cursor, runs) VALUES ($1, $2, $3)',
            ['a', 'c1', 1],
          );
          const upserted = await tx.execute(
            `INSERT INTO tributary_test_state (sync, cursor, runs) VALUES ($1, $2, $3)
             ON CONFLICT (sync) DO UPDATE SET cursor = $2, runs = tributary_test_state.runs + $3`,
            ['a', 'c2', 2],
          );
          const updated = await tx.execute(
            'UPDATE tributary_test_state SET cursor = $2 WHERE sync = $1 AND runs >= $3 AND $3 > 0',
            ['a', 'c3', 3],
          );
          const missed = await tx.execute('UPDATE tributary_test_state SET runs = 0 WHERE sync = $1', [
            'nope',
          ]);
          const returned = await tx.query<{ sync: string; runs: number }>(
            'INSERT INTO tributary_test_state (sync, cursor, runs) VALUES ($1, $2, $3) RETURNING sync, runs',
            ['b', undefined, 7],
          );
          const read = await tx.query('SELECT sync, cursor, runs FROM tributary_test_state WHERE sync = $1', [
            'a',
          ]);
          return { inserted, upserted, updated, missed, returned, read };
        });
        assert.deepEqual(result, {
          inserted: 1,
          upserted: 1,
          updated: 1,
          missed: 0,
          returned: [{ sync: 'b', runs: 7 }],
          read: [{ sync: 'a', cursor: 'c3', runs: 3 }],
        });
        assert.deepEqual(
          await ctx.dest.query('SELECT sync, cursor, runs FROM tributary_test_state ORDER BY sync'),
          [
            { sync: 'a', cursor: 'c3', runs: 3 },
            { sync: 'b', cursor: null, runs: 7 },
          ],
        );
        assert.equal(await ctx.dest.execute('DELETE FROM tributary_test_state WHERE sync = $1', ['b']), 1);
      });

      it('a throw inside transaction rolls back rows and state alike and rethrows the error', async () => {
        const boom = new Error('boom');
        await assert.rejects(
          ctx.dest.transaction(async (tx) => {
            await ctx.dest.writeBatch(
              tx,
              ledger,
              [
                { id: 1, note: 'x' },
                { id: 2, note: 'y' },
                { id: 3, note: null },
              ],
              {
                mode: 'merge',
                now: T1,
              },
            );
            await tx.execute('UPDATE tributary_test_state SET cursor = $1 WHERE sync = $2', [
              'rolled-back',
              'a',
            ]);
            throw boom;
          }),
          (err: unknown) => err === boom,
        );
        assert.equal(await ctx.dest.countRows('ledger'), 0);
        assert.deepEqual(
          await ctx.dest.query('SELECT cursor FROM tributary_test_state WHERE sync = $1', ['a']),
          [{ cursor: 'c3' }],
        );
      });

      it('commits rows and state together when the function resolves', async () => {
        const result = await ctx.dest.transaction(async (tx) => {
          const r = await ctx.dest.writeBatch(tx, ledger, [{ id: 1, note: 'kept' }], {
            mode: 'merge',
            now: T2,
          });
          await tx.execute('UPDATE tributary_test_state SET cursor = $1 WHERE sync = $2', ['after-1', 'a']);
          return r;
        });
        assert.deepEqual(result, counts(1, 0, 0));
        assert.deepEqual(await ctx.dest.readRows(ledger), [{ id: 1, note: 'kept' }]);
        assert.deepEqual(
          await ctx.dest.query('SELECT cursor FROM tributary_test_state WHERE sync = $1', ['a']),
          [{ cursor: 'after-1' }],
        );
      });

      it('concurrent transactions both commit, without interleaving their writes', async () => {
        const batch = (from: number): Row[] => range(from, from + 9).map((id) => ({ id, note: `n${id}` }));
        const slow = ctx.dest.transaction(async (tx) => {
          const a = await ctx.dest.writeBatch(tx, ledger, batch(10).slice(0, 5), { mode: 'merge', now: T3 });
          await sleep(20);
          const b = await ctx.dest.writeBatch(tx, ledger, batch(10).slice(5), { mode: 'merge', now: T3 });
          return a.inserted + b.inserted;
        });
        const fast = ctx.dest.transaction((tx) =>
          ctx.dest.writeBatch(tx, ledger, batch(20), { mode: 'merge', now: T3 }),
        );
        const [slowInserted, fastResult] = await Promise.all([slow, fast]);
        assert.equal(slowInserted, 10);
        assert.deepEqual(fastResult, counts(10, 0, 0));
        assert.equal(await ctx.dest.countRows('ledger'), 21);
      });
    });

    describe('readRows', () => {
      const ctx = freshDestination(factory);
      const cities: TableSpec = {
        name: 'cities',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'city', type: 'text' },
          { name: 'score', type: 'integer' },
          { name: 'active', type: 'boolean' },
        ],
        primaryKey: ['id'],
        softDelete: false,
      };
      const rows: Row[] = [
        { id: 1, city: 'Leeds', score: 30, active: true },
        { id: 2, city: 'York', score: 10, active: false },
        { id: 3, city: 'Leeds', score: 20, active: false },
        { id: 4, city: 'Hull', score: 30, active: null },
        { id: 5, city: 'Leeds', score: 5, active: true },
        { id: 6, city: 'York', score: 40, active: true },
      ];

      it('orders by the primary key by default', async () => {
        await ctx.dest.ensureTable(cities);
        await write(ctx.dest, cities, [...rows].reverse(), T1);
        assert.deepEqual(await ctx.dest.readRows(cities), rows);
      });

      it('filters with where (text values compared by column type), orders and limits', async () => {
        assert.deepEqual(await ctx.dest.readRows(cities, { where: { city: 'Leeds' } }), [
          rows[0],
          rows[2],
          rows[4],
        ]);
        assert.deepEqual(await ctx.dest.readRows(cities, { where: { score: '30' } }), [rows[0], rows[3]]);
        assert.deepEqual(await ctx.dest.readRows(cities, { where: { active: 'true' } }), [
          rows[0],
          rows[4],
          rows[5],
        ]);
        assert.deepEqual(
          await ctx.dest.readRows(cities, { where: { city: 'Leeds' }, orderBy: ['score'], limit: 2 }),
          [rows[4], rows[2]],
        );
        assert.deepEqual(await ctx.dest.readRows(cities, { orderBy: ['score', 'id'], limit: 3 }), [
          rows[4],
          rows[1],
          rows[2],
        ]);
        assert.deepEqual(await ctx.dest.readRows(cities, { where: { city: 'Nowhere' } }), []);
        assert.deepEqual(await ctx.dest.readRows(cities, { limit: 0 }), []);
      });
    });

    describe('child rows and indexes', () => {
      const ctx = freshDestination(factory);
      const children: TableSpec = {
        name: 'child_rows',
        columns: [
          { name: 'parent', type: 'integer' },
          { name: 'n', type: 'integer' },
          { name: 'label', type: 'text' },
        ],
        primaryKey: ['parent', 'n'],
        softDelete: false,
        indexes: ['parent'],
      };
      const row = (parent: number, n: number): Row => ({ parent, n, label: `${parent}.${n}` });

      it('creates the declared indexes, and ensureTable stays idempotent', async () => {
        await ctx.dest.ensureTable(children);
        await ctx.dest.ensureTable(children);
        const probe = await ctx.dest.query<{ n: unknown }>(
          ctx.dest.capabilities.bulkCopy
            ? "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'child_rows' AND indexname = 'child_rows__parent_idx'"
            : "SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'child_rows__parent_idx'",
        );
        assert.equal(Number(probe[0]!.n), 1);
      });

      it("deleteChildren removes exactly the given parents' rows that are not kept", async () => {
        await write(
          ctx.dest,
          children,
          [row(1, 1), row(1, 2), row(1, 3), row(2, 1), row(2, 2), row(3, 1)],
          T1,
        );
        const deleted = await ctx.dest.transaction((tx) =>
          ctx.dest.deleteChildren(tx, children, 'parent', [1, 2, 4], [row(1, 2), row(4, 1)]),
        );
        assert.equal(deleted, 4);
        assert.deepEqual(
          (await ctx.dest.readRows(children)).map((r) => [r.parent, r.n]),
          [
            [1, 2],
            [3, 1],
          ],
        );
        assert.equal(
          await ctx.dest.transaction((tx) => ctx.dest.deleteChildren(tx, children, 'parent', [], [])),
          0,
        );
      });
    });
  });
}
