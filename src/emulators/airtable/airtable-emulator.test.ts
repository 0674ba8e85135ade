import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAirtableEmulator, type AirtableEmulator } from './airtable-emulator.ts';

interface Page {
  records: { id: string; createdTime: string; fields: Record<string, unknown> }[];
  offset?: string;
}

const FAST = { ratePerSecond: 100_000 };

/** Every response shape the tests read: a page, an error, or admin stats. */
interface Body extends Page {
  error: { type: string; message?: string };
  bases: Record<string, { requests: number; rateLimited: number }>;
}

async function get(
  e: AirtableEmulator,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${e.url}${path}`, { headers });
  return { status: res.status, body: (await res.json()) as Body };
}

async function listAll(e: AirtableEmulator, path: string, query = ''): Promise<Page['records']> {
  const out: Page['records'] = [];
  let offset: string | undefined;
  do {
    const sep = query ? '&' : '';
    const off = offset ? `${sep}offset=${encodeURIComponent(offset)}` : '';
    const { status, body } = await get(e, `${path}?${query}${off}`);
    assert.equal(status, 200, JSON.stringify(body));
    out.push(...(body as Page).records);
    offset = (body as Page).offset;
  } while (offset);
  return out;
}

describe('airtable emulator', () => {
  let e: AirtableEmulator;
  let base: string;
  before(async () => {
    e = await startAirtableEmulator({ ...FAST, records: 250, seed: 7 });
    base = e.bases[0]!.id;
  });
  after(() => e.close());

  test('pagination walks every record exactly once; last page has no offset', async () => {
    const all = await listAll(e, `/v0/${base}/Notices`, 'pageSize=30');
    assert.equal(all.length, 250);
    assert.equal(new Set(all.map((r) => r.id)).size, 250);
    for (const r of all) {
      assert.match(r.id, /^rec[A-Za-z0-9]{14}$/);
      assert.match(r.createdTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      // Empty values are left out, never sent as null / "" / false / [].
      for (const v of Object.values(r.fields)) assert.ok(v !== null && v !== '' && v !== false);
    }
    assert.ok(
      all.some((r) => !('fine_amount' in r.fields)),
      'some notices have no fine',
    );
    const first = await get(e, `/v0/${base}/Notices?pageSize=30`);
    assert.match(first.body.offset ?? '', /^itr[A-Za-z0-9]{14}\/rec[A-Za-z0-9]{14}$/);
  });

  test('data is deterministic for a seed and differs between seeds', async () => {
    const same = await startAirtableEmulator({ ...FAST, records: 250, seed: 7 });
    const other = await startAirtableEmulator({ ...FAST, records: 250, seed: 8 });
    try {
      const a = await get(e, `/v0/${base}/Cases?pageSize=5`);
      const b = await get(same, `/v0/${base}/Cases?pageSize=5`);
      const c = await get(other, `/v0/${base}/Cases?pageSize=5`);
      assert.deepEqual(a.body.records, b.body.records);
      assert.notDeepEqual(a.body.records, c.body.records);
      assert.equal(other.bases[0]!.id, base, 'base IDs do not depend on the seed');
    } finally {
      await Promise.all([same.close(), other.close()]);
    }
  });

  test('fields[] returns only listed fields; returnFieldsByFieldId keys by fld…', async () => {
    const q = 'fields%5B%5D=regulator_id&fields%5B%5D=Last+Modified&pageSize=10';
    const { body } = await get(e, `/v0/${base}/Cases?${q}`);
    for (const r of body.records)
      assert.deepEqual(Object.keys(r.fields).sort(), ['Last Modified', 'regulator_id']);
    const byId = await get(
      e,
      `/v0/${base}/Cases?fields[]=regulator_id&returnFieldsByFieldId=true&pageSize=3`,
    );
    const fld = e.bases[0]!.tables[0]!.fields.find((f) => f.name === 'regulator_id')!.id;
    for (const r of byId.body.records) assert.deepEqual(Object.keys(r.fields), [fld]);
    const bad = await get(e, `/v0/${base}/Cases?fields[]=nope`);
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.type, 'UNKNOWN_FIELD_NAME');
  });

  test('sort[0][field] / sort[0][direction] across pages', async () => {
    const q = 'sort%5B0%5D%5Bfield%5D=offence_action_date&sort%5B0%5D%5Bdirection%5D=desc&pageSize=40';
    const dates = (await listAll(e, `/v0/${base}/Cases`, q)).map(
      (r) => r.fields.offence_action_date as string | undefined,
    );
    const present = dates.filter((d): d is string => d !== undefined);
    assert.deepEqual(present, [...present].sort().reverse());
    // Blanks sort first ascending, so last descending.
    assert.ok(
      dates.indexOf(undefined) === -1 || dates.slice(dates.indexOf(undefined)).every((d) => d === undefined),
    );
    const asc = await listAll(e, `/v0/${base}/Cases`, 'sort[0][field]=Last+Modified');
    const times = asc.map((r) => r.fields['Last Modified'] as string);
    assert.deepEqual(times, [...times].sort());
  });

  test('POST listRecords takes the same parameters in a JSON body', async () => {
    const res = await fetch(`${e.url}/v0/${base}/Cases/listRecords`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        pageSize: 7,
        fields: ['regulator_id'],
        sort: [{ field: 'regulator_id', direction: 'asc' }],
      }),
    });
    const body = (await res.json()) as Page;
    assert.equal(body.records.length, 7);
    const ids = body.records.map((r) => r.fields.regulator_id as string);
    assert.deepEqual(ids, [...ids].sort());
    const next = await fetch(`${e.url}/v0/${base}/Cases/listRecords`, {
      method: 'POST',
      body: JSON.stringify({ pageSize: 7, offset: body.offset, fields: ['regulator_id'] }),
    });
    const page2 = (await next.json()) as Page;
    assert.ok(page2.records.every((r) => !ids.includes(r.fields.regulator_id as string)));
    const long = await get(e, `/v0/${base}/Cases?filterByFormula=${'x'.repeat(16_000)}`);
    assert.equal(long.status, 414);
  });

  test('filterByFormula: incremental bounds (IS_AFTER is strict, >= and NOT(IS_BEFORE) are inclusive)', async () => {
    const target = (await get(e, `/v0/${base}/Notices?pageSize=1`)).body.records[0]!;
    const updated = e.admin.update(base, 'Notices', target.id, { description: 'edited' });
    const bound = updated.fields['Last Modified'] as string;
    const ids = async (formula: string): Promise<string[]> =>
      (await listAll(e, `/v0/${base}/Notices`, `filterByFormula=${encodeURIComponent(formula)}`)).map(
        (r) => r.id,
      );
    assert.deepEqual(await ids(`IS_AFTER(LAST_MODIFIED_TIME(), '${bound}')`), []);
    assert.deepEqual(
      await ids(
        `IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE("${new Date(Date.parse(bound) - 1).toISOString()}"))`,
      ),
      [target.id],
    );
    assert.deepEqual(await ids(`LAST_MODIFIED_TIME() >= DATETIME_PARSE('${bound}')`), [target.id]);
    assert.deepEqual(await ids(`NOT(IS_BEFORE({Last Modified}, '${bound}'))`), [target.id]);
    const hse = await ids(`AND({regulator} = 'HSE', OR({fine_amount} > 1000, {appeal_lodged}))`);
    assert.ok(hse.length > 0 && hse.length < 250);
    const bad = await get(e, `/v0/${base}/Notices?filterByFormula=${encodeURIComponent('{nope} = 1')}`);
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.type, 'INVALID_FILTER_BY_FORMULA');
  });

  test('expired offsets answer 422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE; malformed ones INVALID_OFFSET_VALUE', async () => {
    const short = await startAirtableEmulator({ ...FAST, records: 30, iteratorTtlMs: 100 });
    try {
      const b = short.bases[0]!.id;
      const first = await get(short, `/v0/${b}/Cases?pageSize=10`);
      await sleep(150);
      const stale = await get(
        short,
        `/v0/${b}/Cases?pageSize=10&offset=${encodeURIComponent(first.body.offset ?? '')}`,
      );
      assert.equal(stale.status, 422);
      assert.deepEqual(stale.body, { error: { type: 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE' } });
      const again = await get(short, `/v0/${b}/Cases?pageSize=10`);
      short.admin.expireIterators();
      const restarted = await get(
        short,
        `/v0/${b}/Cases?offset=${encodeURIComponent(again.body.offset ?? '')}`,
      );
      assert.equal(restarted.status, 422);
      const bad = await get(short, `/v0/${b}/Cases?offset=garbage`);
      assert.equal(bad.body.error.type, 'INVALID_OFFSET_VALUE');
    } finally {
      await short.close();
    }
  });

  test('admin create / update / delete show in the next list', async () => {
    const post = await fetch(`${e.url}/__admin/${base}/Cases/records`, {
      method: 'POST',
      body: JSON.stringify({
        fields: { regulator_id: 'HSE-CC-9999999', offender_name: 'New Co Ltd', offence_fine: 0 },
      }),
    });
    const created = (await post.json()) as Page['records'][number];
    assert.equal(post.status, 200);
    assert.match(created.id, /^rec[A-Za-z0-9]{14}$/);
    let all = await listAll(e, `/v0/${base}/Cases`);
    assert.equal(all.find((r) => r.id === created.id)?.fields.offence_fine, 0, 'zero is a value, not empty');

    const before = created.fields['Last Modified'] as string;
    await sleep(5);
    const patch = await fetch(`${e.url}/__admin/${base}/Cases/records/${created.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ fields: { offender_name: 'Renamed Ltd', offence_fine: null } }),
    });
    assert.equal(patch.status, 200);
    all = await listAll(e, `/v0/${base}/Cases`);
    const row = all.find((r) => r.id === created.id)!;
    assert.equal(row.fields.offender_name, 'Renamed Ltd');
    assert.ok(!('offence_fine' in row.fields));
    assert.ok((row.fields['Last Modified'] as string) > before);

    const del = await fetch(`${e.url}/__admin/${base}/Cases/records/${created.id}`, { method: 'DELETE' });
    assert.deepEqual(await del.json(), { id: created.id, deleted: true });
    all = await listAll(e, `/v0/${base}/Cases`);
    assert.ok(!all.some((r) => r.id === created.id));
    assert.equal((await get(e, `/v0/${base}/Cases/${created.id}`)).status, 404);

    const stats = await get(e, '/__admin/stats');
    assert.ok(stats.body.bases[base]!.requests > 10);
  });

  test('unknown base or table: 403 INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND; unknown route: 404', async () => {
    // Airtable cannot tell "no such base or table" from "your token may not see it".
    for (const path of [`/v0/appAAAAAAAAAAAAAA/Cases`, `/v0/${base}/Nope`]) {
      const r = await get(e, path);
      assert.equal(r.status, 403, path);
      assert.equal(r.body.error.type, 'INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND');
      assert.match(r.body.error.message!, /model names and\/or ids are correct/);
    }
    assert.deepEqual((await get(e, '/v1/whatever')).body, { error: 'NOT_FOUND' });
    const tableById = await get(e, `/v0/${base}/${e.bases[0]!.tables[1]!.id}?pageSize=1`);
    assert.equal(tableById.status, 200);
  });

  test('pageSize over 100 and cellFormat=string without timeZone/userLocale are rejected', async () => {
    assert.equal((await get(e, `/v0/${base}/Cases?pageSize=101`)).status, 422);
    assert.equal((await get(e, `/v0/${base}/Cases?cellFormat=string`)).status, 422);
    const ok = await get(
      e,
      `/v0/${base}/Cases?cellFormat=string&timeZone=Europe%2FLondon&userLocale=en-gb&pageSize=50`,
    );
    assert.equal(ok.status, 200);
    for (const r of ok.body.records)
      for (const v of Object.values(r.fields)) assert.equal(typeof v, 'string');
    assert.equal((await get(e, `/v0/${base}/Cases?pageSize=100`)).body.records.length, 100);
  });
});

describe('airtable emulator: auth', () => {
  test('a configured token is required as Bearer', async () => {
    const e = await startAirtableEmulator({ ...FAST, records: 3, token: 'patSecret' });
    try {
      const b = e.bases[0]!.id;
      const none = await get(e, `/v0/${b}/Cases`);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.type, 'AUTHENTICATION_REQUIRED');
      assert.equal((await get(e, `/v0/${b}/Cases`, { authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await get(e, `/v0/${b}/Cases?api_key=patSecret`)).status, 401);
      assert.equal((await get(e, `/v0/${b}/Cases`, { authorization: 'Bearer patSecret' })).status, 200);
    } finally {
      await e.close();
    }
  });
});

describe('airtable emulator: rate limit', () => {
  test('a burst beyond the rate gets 429 and the base stays penalised for penaltyMs', async () => {
    // The emulator's clock is driven by hand: the burst happens at one instant and the penalty is
    // probed at chosen instants, however slowly the requests travel on a loaded machine.
    let clock = 1_000_000;
    const e = await startAirtableEmulator({ records: 3, ratePerSecond: 5, penaltyMs: 300, now: () => clock });
    try {
      const b = e.bases[0]!.id;
      const statuses = await Promise.all(
        Array.from({ length: 10 }, () => get(e, `/v0/${b}/Cases`).then((r) => r.status)),
      );
      // A bucket of 5 (the burst Airtable tolerates in a second), then 429s.
      assert.equal(statuses.filter((s) => s === 200).length, 5);
      assert.equal(statuses.filter((s) => s === 429).length, 5);
      const limited = await get(e, `/v0/${b}/Cases`);
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.body, {
        error: { type: 'RATE_LIMIT_REACHED', message: 'Rate limit exceeded. Please try again later' },
      });
      // 200 ms refills a token at 5/s, but the penalty (from the first 429) still holds...
      clock += 200;
      assert.equal((await get(e, `/v0/${b}/Cases`)).status, 429);
      // ...up to its last ms, and the 429s sent during it did not extend it.
      clock += 99;
      assert.equal((await get(e, `/v0/${b}/Cases`)).status, 429);
      clock += 1;
      assert.equal((await get(e, `/v0/${b}/Cases`)).status, 200);
      // Admin routes are never limited.
      assert.equal((await get(e, '/__admin/stats')).body.bases[b]!.rateLimited, 8);
    } finally {
      await e.close();
    }
  });
});

describe('airtable emulator: faults', () => {
  /**
   * Statuses in request order, plus the emulator's own count of slowed responses: a slow response
   * is a 200 like any other, and judging it by the clock would fail on a loaded machine.
   */
  async function outcomes(seed: number, n: number): Promise<{ statuses: string[]; slow: number }> {
    const e = await startAirtableEmulator({
      ...FAST,
      seed,
      records: 2,
      faults: '429:0.1,500:0.1,reset:0.05,slow:0.05',
      slowMs: 20,
    });
    try {
      const b = e.bases[0]!.id;
      const statuses: string[] = [];
      for (let i = 0; i < n; i++) {
        try {
          const res = await fetch(`${e.url}/v0/${b}/Cases`);
          await res.arrayBuffer();
          statuses.push(String(res.status));
        } catch {
          statuses.push('reset');
        }
      }
      const stats = e.admin.stats().bases[b]!;
      assert.equal(stats.faults.reset ?? 0, statuses.filter((o) => o === 'reset').length);
      return { statuses, slow: stats.faults.slow ?? 0 };
    } finally {
      await e.close();
    }
  }

  test('happen at roughly the configured rates, deterministically for a seed', async () => {
    const n = 400;
    const a = await outcomes(3, n);
    const near = (k: string, c: number, p: number): void => {
      assert.ok(Math.abs(c - n * p) < n * p * 0.5 + 5, `${k}: ${c} of ${n}, expected about ${n * p}`);
    };
    const count = (k: string): number => a.statuses.filter((o) => o === k).length;
    near('429', count('429'), 0.1);
    near('500', count('500'), 0.1);
    near('reset', count('reset'), 0.05);
    near('slow', a.slow, 0.05);
    assert.deepEqual((await outcomes(3, 60)).statuses, a.statuses.slice(0, 60));
    assert.notDeepEqual((await outcomes(4, 60)).statuses, a.statuses.slice(0, 60));
  });
});

describe('airtable emulator: clinic dataset', () => {
  type Rec = Page['records'][number];
  const BOOKING_FORMATS = /^(2025-\d\d-\d\d \d\d:\d\d|\d\d\/\d\d\/2025 \d\d:\d\d)$/;

  /** The seed's measures, counted the way its import counts them. */
  function measure(records: Rec[]): { bookings: number; leads: number; engaged: number } {
    return {
      bookings: records.filter((r) => ((r.fields.Booking as string | undefined) ?? '').includes('2025'))
        .length,
      leads: records.filter((r) => r.fields['Lead Created'] === 'Yes').length,
      engaged: records.filter((r) => r.fields.Engaged === true).length,
    };
  }

  /** Shape checks that hold at any size. */
  function assertRealistic(records: Rec[]): void {
    const names = new Map<string, string>();
    const clinics = new Map<string, string>();
    for (const { fields: f } of records) {
      assert.deepEqual(
        Object.keys(f).filter(
          (k) =>
            ![
              'Conversation ID',
              'Clinic',
              'Automation',
              'User ID',
              'Customer Name',
              'Started',
              'Engaged',
              'Lead Created',
              'Booking',
              'Last Modified',
            ].includes(k),
        ),
        [],
        'only the documented field names',
      );
      assert.match(f['Conversation ID'] as string, /^conv_\d{6}$/);
      assert.match(f.Started as string, /^2025-\d\d-\d\d$/);
      assert.ok(f['Lead Created'] === 'Yes' || f['Lead Created'] === 'No');
      assert.ok(f.Engaged === undefined || f.Engaged === true, 'an unticked checkbox is left out');
      const booking = f.Booking as string | undefined;
      if (booking?.includes('2025')) {
        assert.match(booking, BOOKING_FORMATS);
        assert.equal(f.Engaged, true, 'a booking comes from an engaged conversation');
        assert.equal(f['Lead Created'], 'Yes', 'a booking is a lead');
      } else if (booking !== undefined) {
        assert.match(booking, /^[A-Za-z ]+$/, 'no booking: a word, never a date');
      }
      // One customer, one name and one clinic, whichever conversation mentions them.
      const user = f['User ID'] as string;
      assert.equal(names.get(user) ?? f['Customer Name'], f['Customer Name'], `name of ${user}`);
      assert.equal(clinics.get(user) ?? f.Clinic, f.Clinic, `clinic of ${user}`);
      names.set(user, f['Customer Name'] as string);
      clinics.set(user, f.Clinic as string);
    }
    assert.equal(new Set(records.map((r) => r.fields['Conversation ID'])).size, records.length);
    assert.ok(names.size < records.length / 2, `${names.size} customers for ${records.length} conversations`);
  }

  test('defaults to the seed: 20,077 conversations, exactly 3,122 bookings, 13,908 leads, 7,910 engaged', async () => {
    const e = await startAirtableEmulator({ ...FAST, dataset: 'clinic' });
    try {
      const base = e.bases[0]!;
      assert.deepEqual(
        base.tables.map((t) => t.name),
        ['Conversations'],
      );
      const all = await listAll(e, `/v0/${base.id}/Conversations`);
      assert.equal(all.length, 20_077);
      assert.equal(new Set(all.map((r) => r.id)).size, 20_077);
      assert.deepEqual(measure(all), { bookings: 3122, leads: 13_908, engaged: 7910 });
      assertRealistic(all);

      const bookings = all.map((r) => r.fields.Booking as string | undefined);
      const iso = bookings.filter((b) => b !== undefined && /^2025-/.test(b)).length;
      const dmy = bookings.filter((b) => b !== undefined && /^\d\d\/\d\d\/2025 /.test(b)).length;
      assert.equal(iso + dmy, 3122);
      assert.ok(iso > dmy && dmy > 300, `"YYYY-MM-DD HH:mm" ${iso}, "DD/MM/YYYY HH:mm" ${dmy}`);
      assert.ok(
        bookings.filter((b) => b === undefined).length > 10_000,
        'most conversations without a booking have the cell empty',
      );
      assert.ok(bookings.includes('Declined') && bookings.includes('Call back'));

      const perUser = new Map<string, number>();
      for (const r of all)
        perUser.set(r.fields['User ID'] as string, (perUser.get(r.fields['User ID'] as string) ?? 0) + 1);
      const repeat = [...perUser.values()].filter((n) => n >= 3).length;
      assert.ok(repeat > 1000, `${repeat} customers have 3 or more conversations`);
    } finally {
      await e.close();
    }
  });

  test('other sizes keep the seed’s shares exactly (rounded) and deterministically', async () => {
    const [a, same, other] = await Promise.all([
      startAirtableEmulator({ ...FAST, dataset: 'clinic', records: 500, seed: 9 }),
      startAirtableEmulator({ ...FAST, dataset: 'clinic', records: 500, seed: 9 }),
      startAirtableEmulator({ ...FAST, dataset: 'clinic', records: 500, seed: 10 }),
    ]);
    try {
      const path = `/v0/${a.bases[0]!.id}/Conversations`;
      const [ra, rsame, rother] = await Promise.all([
        listAll(a, path),
        listAll(same, path),
        listAll(other, path),
      ]);
      // 500 × 3,122 / 20,077 = 77.75; × 13,908 / 20,077 = 346.4; × 7,910 / 20,077 = 197.0.
      assert.equal(ra.length, 500);
      assert.deepEqual(measure(ra), { bookings: 78, leads: 346, engaged: 197 });
      assert.deepEqual(measure(rother), { bookings: 78, leads: 346, engaged: 197 });
      assertRealistic(ra);
      assert.deepEqual(rsame, ra, 'same seed, same records');
      const booked = (rs: Rec[]) =>
        rs
          .filter((r) => ((r.fields.Booking as string | undefined) ?? '').includes('2025'))
          .map((r) => r.fields['Conversation ID']);
      assert.notDeepEqual(booked(rother), booked(ra), 'another seed books other conversations');
    } finally {
      await Promise.all([a.close(), same.close(), other.close()]);
    }
  });

  test('`tributary emulate airtable --dataset clinic` serves the seed’s 20,077 conversations by default', async () => {
    const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'tributary.js');
    const child = spawn(
      process.execPath,
      [bin, 'emulate', 'airtable', '--dataset', 'clinic', '--port', '0'],
      {
        env: { ...process.env, AIRTABLE_TOKEN: '' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      let out = '';
      const [url, base] = await new Promise<[string, string]>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const u = /listening on (http:\/\/\S+)/.exec(out);
          const b = /base (app\w+) \(clinic\): Conversations/.exec(out);
          if (u && b) resolve([u[1]!, b[1]!]);
        });
        child.once('exit', () => reject(new Error(`emulator exited: ${out}`)));
      });
      const res = await fetch(`${url}/__admin/${base}/Conversations/records`);
      const { records } = (await res.json()) as Page;
      assert.equal(records.length, 20_077);
      assert.deepEqual(measure(records), { bookings: 3122, leads: 13_908, engaged: 7910 });
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    }
  });

  test('the admin endpoint lists every record without touching the rate limit or faults', async () => {
    const e = await startAirtableEmulator({ dataset: 'clinic', records: 40, faults: '500:1' });
    try {
      const base = e.bases[0]!.id;
      const res = await fetch(`${e.url}/__admin/${base}/Conversations/records`);
      assert.equal(res.status, 200);
      const { records } = (await res.json()) as Page;
      assert.equal(records.length, 40);
      assert.deepEqual(records, e.admin.list(base, 'Conversations'));
      const api = await get(e, `/v0/${base}/Conversations`);
      assert.equal(api.status, 500, 'every API request fails with faults 500:1');
      const stats = e.admin.stats();
      assert.equal(stats.requests, 1, 'only the API request counts');
      assert.deepEqual(stats.faults, { '500': 1 });
    } finally {
      await e.close();
    }
  });
});
