import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { targetSchema, type TargetConfig } from '../config/schema.ts';
import { compileMapper, compileGetter } from './map.ts';

const target = (t: unknown): TargetConfig => targetSchema.parse(t);

const PHARMACY = target({
  table: 'licenses',
  primaryKey: ['state', 'license_number'],
  nullIf: ['Not On File', 'Not Available', 'N/A', '---', 'Unknown'],
  columns: {
    license_number: 'text',
    state: { type: 'text', from: 'address.state' },
    status: { type: 'text', from: 'license_status' },
    issue_date: 'date',
    expiration_date: 'date',
    city: { type: 'text', from: 'address.city' },
    zip: { type: 'text', from: 'address.zip_code', required: true },
  },
});

describe('compileMapper', () => {
  test('maps the pharmacy seed record, sentinels to NULL', () => {
    const m = compileMapper(PHARMACY);
    assert.deepEqual(m.primaryKey, ['state', 'license_number']);
    assert.deepEqual(
      m.columns.map((c) => `${c.name}:${c.type}`),
      [
        'license_number:text',
        'state:text',
        'status:text',
        'issue_date:date',
        'expiration_date:date',
        'city:text',
        'zip:text',
      ],
    );
    const r = m.map({
      license_number: 'FL12345',
      license_status: 'Active',
      issue_date: 'January 15, 2020',
      expiration_date: 'Not On File',
      address: { street: '123 Main St', city: ' Tampa ', state: 'FL', zip_code: '33601' },
    });
    assert.deepEqual(r, {
      ok: true,
      row: {
        license_number: 'FL12345',
        state: 'FL',
        status: 'Active',
        issue_date: '2020-01-15',
        expiration_date: null,
        city: 'Tampa',
        zip: '33601',
      },
    });
    for (const sentinel of ['Not On File', 'Not Available', 'N/A', '---', 'Unknown']) {
      const out = m.map({
        license_number: 'X',
        issue_date: sentinel,
        address: { state: 'FL', zip_code: '1' },
      });
      assert.ok(out.ok && out.row.issue_date === null, sentinel);
    }
  });

  test('a literal dotted field name wins over the path', () => {
    const get = compileGetter('address.city');
    assert.equal(get({ 'address.city': 'Literal', address: { city: 'Nested' } }), 'Literal');
    assert.equal(get({ address: { city: 'Nested' } }), 'Nested');
    assert.equal(get({ address: 'flat' }), undefined);
    assert.equal(get({}), undefined);
    assert.equal(compileGetter('items.1.name')({ items: [{ name: 'a' }, { name: 'b' }] }), 'b');
    // Only own fields: a record without "constructor" has no value there.
    assert.equal(compileGetter('constructor')({}), undefined);
    assert.equal(compileGetter('a.toString')({ a: {} }), undefined);
  });

  test('invalid values reject the record with location, key and payload', () => {
    const m = compileMapper(PHARMACY);
    const record = {
      license_number: 'FL1',
      issue_date: 'Not On Fil',
      address: { state: 'FL', zip_code: '33601' },
    };
    assert.deepEqual(m.map(record, 'line 42'), {
      ok: false,
      rejection: {
        code: 'invalid_value',
        message:
          'line 42: issue_date: "Not On Fil" is not a date (expected YYYY-MM-DD or a written date like "January 15, 2020"; set format for numeric forms)',
        recordKey: 'FL|FL1',
        payload: record,
      },
    });
  });

  test('every problem of a record is reported; a missing key outranks them', () => {
    const m = compileMapper(PHARMACY);
    const r = m.map(
      { license_number: '  ', issue_date: '15/01/2020', address: { state: 'FL' } },
      'file.json',
    );
    assert.deepEqual(r, {
      ok: false,
      rejection: {
        code: 'missing_primary_key',
        message:
          'file.json: license_number: primary key is missing; ' +
          'issue_date: "15/01/2020" is not a date (expected YYYY-MM-DD or a written date like "January 15, 2020"; set format for numeric forms); ' +
          'zip: required value is missing (from "address.zip_code")',
        recordKey: null,
        payload: { license_number: '  ', issue_date: '15/01/2020', address: { state: 'FL' } },
      },
    });
  });

  test('required columns: missing_value', () => {
    const m = compileMapper(PHARMACY);
    const r = m.map({ license_number: 'A1', address: { state: 'FL', zip_code: 'N/A' } });
    assert.ok(!r.ok);
    assert.equal(r.rejection.code, 'missing_value');
    assert.equal(r.rejection.message, 'zip: required value is missing (from "address.zip_code")');
    assert.equal(r.rejection.recordKey, 'FL|A1');
  });

  test('a NULL primary key (sentinel) is missing_primary_key', () => {
    const m = compileMapper(
      target({ table: 't', primaryKey: 'id', columns: { id: 'integer', name: 'text' } }),
    );
    const r = m.map({ id: 'N/A', name: 'x' }, 'line 3');
    assert.ok(!r.ok);
    // No target-level nullIf here: "N/A" is simply not an integer.
    assert.equal(r.rejection.code, 'invalid_value');
    const missing = m.map({ name: 'x' }, 'line 4');
    assert.ok(!missing.ok);
    assert.equal(missing.rejection.code, 'missing_primary_key');
    assert.equal(missing.rejection.message, 'line 4: id: primary key is missing');
    assert.equal(missing.rejection.recordKey, null);
  });

  test('onInvalid: null turns a bad value into NULL, but a key still must exist', () => {
    const m = compileMapper(
      target({
        table: 't',
        primaryKey: 'id',
        columns: {
          id: { type: 'integer', onInvalid: 'null' },
          amount: { type: 'numeric', onInvalid: 'null' },
          ok: 'boolean',
        },
      }),
    );
    assert.deepEqual(m.map({ id: 1, amount: '1,234.50', ok: 'yes' }), {
      ok: true,
      row: { id: 1, amount: null, ok: true },
    });
    const r = m.map({ id: 'one', amount: '2', ok: 'no' });
    assert.ok(!r.ok);
    assert.equal(r.rejection.code, 'missing_primary_key');
    assert.equal(r.rejection.message, 'id: primary key is missing');
  });

  test("a column's nullIf replaces the target's", () => {
    const m = compileMapper(
      target({
        table: 't',
        nullIf: ['-'],
        columns: { a: 'text', b: { type: 'text', nullIf: ['none'] } },
      }),
    );
    assert.deepEqual(m.map({ a: '-', b: '-' }), { ok: true, row: { a: null, b: '-' } });
    assert.deepEqual(m.map({ a: 'none', b: 'NONE' }), { ok: true, row: { a: 'none', b: null } });
  });

  // A measurement, not a timed assertion (DESIGN: quality bars are benchmarks). 100k records by
  // default to keep `npm test` quick; TRIBUTARY_BENCH=1 maps the full million.
  test('speed: records of 8 columns per second', () => {
    const m = compileMapper(
      target({
        table: 'bench',
        primaryKey: 'id',
        nullIf: ['N/A'],
        columns: {
          id: 'integer',
          name: 'text',
          city: { type: 'text', from: 'address.city' },
          amount: 'numeric',
          active: 'boolean',
          born: 'date',
          updated: 'timestamptz',
          tags: 'json',
        },
      }),
    );
    const N = process.env.TRIBUTARY_BENCH === '1' ? 1_000_000 : 100_000;
    const records = Array.from({ length: 1000 }, (_, i) => ({
      id: String(i),
      name: ` Name ${i} `,
      address: { city: i % 10 === 0 ? 'N/A' : `City ${i % 50}` },
      amount: `${i}.${i % 100}`,
      active: i % 2 ? 'true' : 'f',
      born: i % 3 ? '2020-01-15' : 'January 15, 2020',
      updated: i % 2 ? '2020-01-15T10:30:00.000Z' : '2020-01-15T10:30:00+02:00',
      tags: ['a', i],
    }));
    let ok = 0;
    const start = performance.now();
    for (let i = 0; i < N; i++) if (m.map(records[i % 1000]!).ok) ok++;
    const ms = performance.now() - start;
    assert.equal(ok, N);
    console.log(
      `map(): ${N} records × 8 columns in ${ms.toFixed(0)} ms = ${Math.round((N / ms) * 1000).toLocaleString('en')} records/s`,
    );
  });
});
