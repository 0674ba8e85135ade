import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { TributaryError } from '../../core/errors.ts';
import type { Row } from '../../core/types.ts';
import { createPostgresDatabase, type TestDatabase } from '../../../test/helpers/databases.ts';
import type { Destination, TableSpec } from '../destination.ts';
import { createPostgresDestination } from './index.ts';
import { parseTimestamptz } from './postgres-types.ts';

const NOW = '2024-06-01T12:00:00.000Z';
const LATER = '2024-06-02T12:00:00.000Z';

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

const people = (softDelete = false, name = 'people'): TableSpec => ({
  name,
  columns: [
    { name: 'id', type: 'text' },
    { name: 'age', type: 'integer' },
  ],
  primaryKey: ['id'],
  softDelete,
});

const person = (id: string, age: number | null): Row => ({ id, age });

describe('postgres-types', () => {
  test('timestamptz text becomes ISO UTC with milliseconds', () => {
    assert.equal(parseTimestamptz('2024-05-06 07:08:09.123456+00'), '2024-05-06T07:08:09.123Z');
    assert.equal(parseTimestamptz('2024-05-06 07:08:09+00'), '2024-05-06T07:08:09.000Z');
    assert.equal(parseTimestamptz('2024-05-06 07:08:09.5+02'), '2024-05-06T05:08:09.500Z');
    assert.equal(parseTimestamptz('2024-05-06 00:08:09-05:30'), '2024-05-06T05:38:09.000Z');
    assert.equal(parseTimestamptz('infinity'), 'infinity');
  });
});

describe('PostgresDestination', async () => {
  const db: TestDatabase | null = await createPostgresDatabase();
  let dest: Destination;

  before(async () => {
    if (db) dest = await db.open();
  });
  after(async () => {
    await dest?.close();
    await db?.drop();
  });

  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, { skip: db ? false : 'no PostgreSQL server' }, fn);
  };

  const write = (spec: TableSpec, rows: Row[], now = NOW, trackSeen?: string, d = dest) =>
    d.transaction((tx) =>
      d.writeBatch(tx, spec, rows, { mode: 'merge', now, ...(trackSeen ? { trackSeen } : {}) }),
    );

  it('creates the table with system columns and primary key, idempotently', async () => {
    await dest.ensureTable(everyType);
    await dest.ensureTable(everyType);
    assert.deepEqual(await dest.describeTable('every_type'), [
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'text' },
      { name: 'big', type: 'bigint' },
      { name: 'amount', type: 'numeric' },
      { name: 'active', type: 'boolean' },
      { name: 'day', type: 'date' },
      { name: 'at', type: 'timestamp with time zone' },
      { name: 'doc', type: 'json' },
      { name: '_tributary_hash', type: 'text' },
      { name: '_tributary_updated_at', type: 'timestamp with time zone' },
    ]);
    assert.equal(await dest.tableExists('every_type'), true);
    assert.equal(await dest.tableExists('nope'), false);
    assert.equal(await dest.describeTable('nope'), null);
  });

  it('round-trips every type in its canonical form', async () => {
    const rows: Row[] = [
      {
        id: 1,
        name: 'tab\there, newline\nthere, back\\slash, "quotes", ünïcödé',
        big: '9007199254740993',
        amount: '12345678901234567890.125',
        active: true,
        day: '2024-02-29',
        at: '2024-05-06T07:08:09.123Z',
        doc: '{"z": [1, 2.50, "x y"], "a": -1.5e-7}',
      },
      { id: 2, name: null, big: null, amount: null, active: false, day: null, at: null, doc: null },
    ];
    assert.deepEqual(await write(everyType, rows), { inserted: 2, updated: 0, unchanged: 0 });
    assert.deepEqual(await dest.readRows(everyType), rows);
    assert.deepEqual(await dest.readRows(everyType, { where: { doc: rows[0]!.doc as string } }), [rows[0]]);
    const [sys] = await dest.readRows(everyType, { includeSystem: true, limit: 1 });
    assert.equal(sys?._tributary_updated_at, NOW);
    assert.equal(typeof sys?._tributary_hash, 'string');
  });

  it('merges: inserts new keys, updates changed rows, leaves unchanged rows untouched', async () => {
    const spec = people();
    await dest.ensureTable(spec);
    assert.deepEqual(await write(spec, [person('a', 1), person('b', 2)]), {
      inserted: 2,
      updated: 0,
      unchanged: 0,
    });
    assert.deepEqual(await write(spec, [person('a', 1), person('b', 3), person('c', null)], LATER), {
      inserted: 1,
      updated: 1,
      unchanged: 1,
    });
    const rows = await dest.readRows(spec, { includeSystem: true });
    assert.deepEqual(
      rows.map((r) => [r.id, r.age, r._tributary_updated_at]),
      [
        ['a', 1, NOW],
        ['b', 3, LATER],
        ['c', null, LATER],
      ],
    );
    const [{ xmin }] = (await dest.query<{ xmin: string }>(
      `SELECT xmin::text FROM people WHERE id = 'a'`,
    )) as [{ xmin: string }];
    assert.deepEqual(await write(spec, [person('a', 1)], LATER), { inserted: 0, updated: 0, unchanged: 1 });
    const [{ xmin: after }] = (await dest.query<{ xmin: string }>(
      `SELECT xmin::text FROM people WHERE id = 'a'`,
    )) as [{ xmin: string }];
    assert.equal(after, xmin, 'an unchanged row is not rewritten');
  });

  it('falls back from the direct COPY of an empty table when a key already exists', async () => {
    const spec = people(false, 'direct');
    await dest.ensureTable(spec);
    assert.deepEqual(await write(spec, [person('a', 1)]), { inserted: 1, updated: 0, unchanged: 0 });
    // This instance remembered the table as empty, so the next batch tries a direct COPY, hits
    // the existing key and must redo the batch through the hash lookup.
    assert.deepEqual(await write(spec, [person('b', 2), person('a', 5)]), {
      inserted: 1,
      updated: 1,
      unchanged: 0,
    });
    assert.deepEqual(
      (await dest.readRows(spec)).map((r) => [r.id, r.age]),
      [
        ['a', 5],
        ['b', 2],
      ],
    );
  });

  it('keeps the caller transaction usable after a direct COPY conflict', async () => {
    const spec = people(false, 'direct_tx');
    await dest.ensureTable(spec);
    await write(spec, [person('a', 1)]);
    const counts = await dest.transaction(async (tx) => {
      await tx.execute('CREATE TABLE IF NOT EXISTS tributary_probe (n int)');
      await tx.execute('INSERT INTO tributary_probe VALUES (1)');
      const r = await dest.writeBatch(tx, spec, [person('a', 1), person('z', 9)], {
        mode: 'merge',
        now: NOW,
      });
      await tx.execute('INSERT INTO tributary_probe VALUES (2)');
      return r;
    });
    assert.deepEqual(counts, { inserted: 1, updated: 0, unchanged: 1 });
    assert.deepEqual(await dest.query('SELECT n FROM tributary_probe ORDER BY n'), [{ n: 1 }, { n: 2 }]);
  });

  it('counts exactly across lookup slices of a large batch', async () => {
    const spec = people(false, 'large');
    await dest.ensureTable(spec);
    const rows = Array.from({ length: 7000 }, (_, i) => person(`k${i}`, i));
    await write(spec, rows.slice(0, 6000));
    const again = rows.map((r, i) => (i % 1000 === 999 ? { ...r, age: -1 } : r));
    assert.deepEqual(await write(spec, again), { inserted: 1000, updated: 6, unchanged: 5994 });
    assert.deepEqual(await dest.readRows(spec, { where: { id: 'k5999' } }), [person('k5999', -1)]);
  });

  it('merges on a composite key', async () => {
    const spec: TableSpec = {
      name: 'composite',
      columns: [
        { name: 'org', type: 'text' },
        { name: 'day', type: 'date' },
        { name: 'n', type: 'bigint' },
      ],
      primaryKey: ['org', 'day'],
      softDelete: false,
    };
    await dest.ensureTable(spec);
    await write(spec, [{ org: 'x', day: '2024-01-01', n: '1' }]);
    assert.deepEqual(
      await write(spec, [
        { org: 'x', day: '2024-01-01', n: '2' },
        { org: 'x', day: '2024-01-02', n: '1' },
        { org: 'y', day: '2024-01-01', n: '1' },
      ]),
      { inserted: 2, updated: 1, unchanged: 0 },
    );
    assert.deepEqual(
      await write(spec, [
        { org: 'x', day: '2024-01-01', n: '2' },
        { org: 'y', day: '2024-01-01', n: '1' },
      ]),
      { inserted: 0, updated: 0, unchanged: 2 },
    );
    assert.equal(await dest.countRows('composite'), 3);
  });

  it('soft-deletes unseen rows after a full pass, and revives a row that reappears', async () => {
    const spec = people(true, 'soft');
    await dest.ensureTable(spec);
    await write(spec, [person('a', 1), person('b', 2), person('c', 3)], NOW, 'run1');
    const deleted = await dest.transaction(async (tx) => {
      await dest.clearSeen(tx, spec, null);
      await dest.writeBatch(tx, spec, [person('a', 1)], { mode: 'merge', now: LATER, trackSeen: 'run2' });
      await dest.writeBatch(tx, spec, [person('c', 3)], { mode: 'merge', now: LATER, trackSeen: 'run2' });
      return dest.applyDeletes(tx, spec, 'run2', 'soft', LATER);
    });
    assert.equal(deleted, 1);
    const rows = await dest.readRows(spec, { includeSystem: true });
    assert.deepEqual(
      rows.map((r) => [r.id, r._deleted_at]),
      [
        ['a', null],
        ['b', LATER],
        ['c', null],
      ],
    );
    assert.deepEqual(await dest.query('SELECT count(*)::int AS n FROM tributary_seen_soft'), [{ n: 0 }]);
    assert.deepEqual(await write(spec, [person('b', 2)]), { inserted: 0, updated: 1, unchanged: 0 });
    assert.equal(
      (await dest.readRows(spec, { where: { id: 'b' }, includeSystem: true }))[0]?._deleted_at,
      null,
    );
  });

  it('hard-deletes unseen rows; a pass that saw nothing deletes everything', async () => {
    const spec = people(false, 'hard');
    await dest.ensureTable(spec);
    await write(spec, [person('a', 1), person('b', 2)]);
    const n = await dest.transaction(async (tx) => {
      await dest.writeBatch(tx, spec, [person('b', 2)], { mode: 'merge', now: NOW, trackSeen: 'r1' });
      return dest.applyDeletes(tx, spec, 'r1', 'hard', NOW);
    });
    assert.equal(n, 1);
    assert.deepEqual(await dest.readRows(spec), [person('b', 2)]);
    const spec2 = people(false, 'hard_empty');
    await dest.ensureTable(spec2);
    await write(spec2, [person('a', 1)]);
    assert.equal(await dest.transaction((tx) => dest.applyDeletes(tx, spec2, 'r9', 'hard', NOW)), 1);
  });

  it('adds missing columns and reports conflicting ones', async () => {
    const spec = people(false, 'evolving');
    await dest.ensureTable(spec);
    await write(spec, [person('a', 1)]);
    const wider: TableSpec = {
      ...spec,
      softDelete: true,
      columns: [...spec.columns, { name: 'email', type: 'text' }],
    };
    await dest.ensureTable(wider);
    assert.deepEqual(
      (await dest.describeTable('evolving'))?.map((c) => c.name),
      ['id', 'age', '_tributary_hash', '_tributary_updated_at', 'email', '_deleted_at'],
    );
    assert.deepEqual(await write(wider, [{ id: 'a', age: 1, email: 'a@x' }]), {
      inserted: 0,
      updated: 1,
      unchanged: 0,
    });

    const conflicting: TableSpec = { ...spec, columns: [spec.columns[0]!, { name: 'age', type: 'date' }] };
    await assert.rejects(dest.ensureTable(conflicting), (err: unknown) => {
      assert.ok(err instanceof TributaryError);
      assert.equal(err.code, 'schema_conflict');
      assert.match(err.message, /"evolving".*"age".*integer.*date/);
      return true;
    });
    await assert.rejects(dest.ensureTable({ ...spec, primaryKey: ['age'] }), { code: 'schema_conflict' });
  });

  it('appends every row, keys or not', async () => {
    const spec: TableSpec = {
      name: 'events',
      columns: [{ name: 'what', type: 'text' }],
      primaryKey: [],
      softDelete: false,
    };
    await dest.ensureTable(spec);
    const batch = [{ what: 'x' }, { what: 'x' }, { what: 'y' }];
    const r = await dest.transaction((tx) => dest.writeBatch(tx, spec, batch, { mode: 'append', now: NOW }));
    assert.deepEqual(r, { inserted: 3, updated: 0, unchanged: 0 });
    assert.deepEqual(await dest.readRows(spec), batch);
  });

  it('replaces a table through a shadow, repeatedly', async () => {
    const spec = people(false, 'replaced');
    await dest.ensureTable(spec);
    await write(spec, [person('old', 1), person('older', 2)]);
    for (const round of [1, 2]) {
      const shadow = await dest.createShadow(spec);
      assert.equal(shadow.name, 'replaced__tributary_new');
      const old = await dest.transaction(async (tx) => {
        await dest.writeBatch(tx, shadow, [person(`new${round}`, round)], { mode: 'replace', now: NOW });
        return dest.swapShadow(tx, spec, shadow);
      });
      assert.equal(old, round === 1 ? 2 : 1);
      assert.deepEqual(await dest.readRows(spec), [person(`new${round}`, round)]);
      assert.equal(await dest.tableExists(shadow.name), false);
    }
    // Merge still works on the swapped-in table (primary key intact).
    assert.deepEqual(await write(spec, [person('new2', 2), person('x', 0)]), {
      inserted: 1,
      updated: 0,
      unchanged: 1,
    });
  });

  it('rolls back everything when the transaction fails', async () => {
    const spec = people(false, 'rollback');
    await dest.ensureTable(spec);
    await assert.rejects(
      dest.transaction(async (tx) => {
        await dest.writeBatch(tx, spec, [person('a', 1)], { mode: 'merge', now: NOW });
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await dest.countRows('rollback'), 0);
  });

  it('reports database errors with the table name and a stable code', async () => {
    const spec = people(false, 'no_such_table');
    await assert.rejects(write(spec, [person('a', 1)]), (err: unknown) => {
      assert.ok(err instanceof TributaryError);
      assert.equal(err.code, 'destination_error');
      assert.equal(err.transient, false);
      assert.match(err.message, /no_such_table/);
      return true;
    });
    const ints: TableSpec = {
      ...people(false, 'bad_values'),
      columns: [
        { name: 'id', type: 'text' },
        { name: 'age', type: 'integer' },
      ],
    };
    await dest.ensureTable(ints);
    await assert.rejects(write(ints, [{ id: 'a', age: 'x' }]), /bad_values/);
  });

  it('reports an unreachable server as transient, without the password', async () => {
    await assert.rejects(createPostgresDestination('postgres://me:s3cret@127.0.0.1:1/db'), (err: unknown) => {
      assert.ok(err instanceof TributaryError);
      assert.equal(err.code, 'destination_unavailable');
      assert.equal(err.transient, true);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  it('reads with where, orderBy and limit, validating column names', async () => {
    const spec = people(false, 'readable');
    await dest.ensureTable(spec);
    await write(spec, [person('a', 3), person('b', 2), person('c', 1)]);
    assert.deepEqual(await dest.readRows(spec, { where: { age: '2' } }), [person('b', 2)]);
    assert.deepEqual(await dest.readRows(spec, { orderBy: ['age'], limit: 2 }), [
      person('c', 1),
      person('b', 2),
    ]);
    assert.deepEqual(await dest.readRows(spec, { where: { age: 'abc' } }), []);
    await assert.rejects(dest.readRows(spec, { where: { 'age; drop': '1' } }), { code: 'usage' });
  });

  it('runs multi-statement migrations, query and execute', async () => {
    await dest.migrate([
      {
        name: '001',
        sql:
          'CREATE TABLE IF NOT EXISTS tributary_m (id int primary key, at timestamptz, d date, n int8);' +
          "INSERT INTO tributary_m VALUES (1, '2024-01-01T10:00:00+02:00', '2024-01-02', 5) ON CONFLICT DO NOTHING;",
      },
    ]);
    assert.deepEqual(await dest.query('SELECT * FROM tributary_m'), [
      { id: 1, at: '2024-01-01T08:00:00.000Z', d: '2024-01-02', n: '5' },
    ]);
    assert.equal(await dest.execute('UPDATE tributary_m SET n = n + $1', [1]), 1);
  });

  it('passes a second instance with an existing table straight to the hash lookup', async () => {
    const spec = people();
    const other = await db!.open();
    try {
      assert.deepEqual(await write(spec, [person('a', 1), person('d', 4)], NOW, undefined, other), {
        inserted: 1,
        updated: 0,
        unchanged: 1,
      });
    } finally {
      await other.close();
    }
  });
});

test("pg's global type parsers are untouched (ours are installed on our Pool only)", () => {
  assert.ok(pg.types.getTypeParser(1082)('2024-01-01') instanceof Date);
});
