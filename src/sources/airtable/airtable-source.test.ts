import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAirtableEmulator, type AirtableEmulator } from '../../emulators/airtable/airtable-emulator.ts';
import type { Checkpoint, CursorValue, RawRecord } from '../../core/types.ts';
import { silentLogger } from '../../core/types.ts';
import { HttpError } from '../http/http-error.ts';
import { capturingLogger } from '../http/http-testing.ts';
import type { Page, Stream } from '../source.ts';
import { airtableSourceFactory, type AirtableSource } from './airtable-source.ts';

/** Against the real emulator over HTTP; fast rates so the file stays well under its time budget. */
const TOKEN = 'patTestToken.0123456789abcdef';
const RATE = 50;
const RECORDS = 120;

interface RawApiRecord {
  id: string;
  createdTime: string;
  fields: Record<string, unknown>;
}

function source(
  e: AirtableEmulator,
  overrides: Record<string, unknown> = {},
  logger = silentLogger,
): AirtableSource {
  const config = airtableSourceFactory.configSchema.parse({
    type: 'airtable',
    baseId: e.bases[0]!.id,
    table: 'Notices',
    token: TOKEN,
    endpoint: e.url,
    ratePerSecond: RATE,
    rateLimitPenaltyMs: 300,
    ...overrides,
  });
  return airtableSourceFactory.create(config, { baseDir: '.', logger }) as AirtableSource;
}

async function stream(e: AirtableEmulator, overrides: Record<string, unknown> = {}): Promise<Stream> {
  const [s] = await source(e, overrides).streams();
  return s!;
}

async function readPages(
  s: Stream,
  opts: {
    checkpoint?: Checkpoint | null;
    cursor?: CursorValue | null;
    pageSize?: number;
    logger?: typeof silentLogger;
    onPage?: (page: Page, index: number) => void;
  } = {},
): Promise<Page[]> {
  const pages: Page[] = [];
  for await (const page of s.read({
    checkpoint: opts.checkpoint ?? null,
    cursor: opts.cursor ?? null,
    signal: new AbortController().signal,
    logger: opts.logger ?? silentLogger,
    pageSize: opts.pageSize ?? 1000,
  })) {
    // Checkpoints are stored as JSON: make sure they survive it.
    pages.push({ ...page, checkpoint: JSON.parse(JSON.stringify(page.checkpoint)) as Checkpoint });
    opts.onPage?.(page, pages.length - 1);
  }
  return pages;
}

const ctx = () => ({
  checkpoint: null,
  cursor: null,
  signal: new AbortController().signal,
  logger: silentLogger,
  pageSize: 1000,
});

const records = (pages: Page[]): RawRecord[] => pages.flatMap((p) => p.records);
const ids = (rs: RawRecord[]): string[] => rs.map((r) => r._id as string).sort();

/** The emulator's table as the source should deliver it, listed by plain fetch. */
async function truth(e: AirtableEmulator): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  let offset: string | undefined;
  do {
    const q = offset ? `?offset=${encodeURIComponent(offset)}` : '';
    const res = await fetch(`${e.url}/v0/${e.bases[0]!.id}/Notices${q}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { records: RawApiRecord[]; offset?: string };
    for (const r of body.records) out.push({ ...r.fields, _id: r.id, _createdTime: r.createdTime });
    offset = body.offset;
  } while (offset);
  return out;
}

const byId = (rs: RawRecord[]) => [...rs].sort((a, b) => String(a._id).localeCompare(String(b._id)));

describe('airtable source', () => {
  let e: AirtableEmulator;
  let all: RawRecord[];
  before(async () => {
    e = await startAirtableEmulator({
      records: RECORDS,
      seed: 3,
      ratePerSecond: RATE,
      penaltyMs: 300,
      token: TOKEN,
    });
    all = await truth(e);
    assert.equal(all.length, RECORDS);
  });
  after(() => e.close());

  test('full read returns exactly the emulator records, flat, in pages no larger than asked', async () => {
    const pages = await readPages(await stream(e), { pageSize: 25 });
    assert.equal(pages.length, Math.ceil(RECORDS / 25));
    for (const p of pages) assert.ok(p.records.length <= 25);
    const got = records(pages);
    assert.deepEqual(byId(got), byId(all));
    // Empty cells are absent (not null/false), and metadata is flat.
    const r = got[0]!;
    assert.match(r._id as string, /^rec/);
    assert.match(r._createdTime as string, /Z$/);
    assert.ok(
      got.some((x) => !('appeal_lodged' in x)),
      'unchecked checkboxes are left out',
    );
    assert.deepEqual(pages.at(-1)!.checkpoint.offset, null);
    // The token never reaches a checkpoint.
    assert.ok(!JSON.stringify(pages.map((p) => p.checkpoint)).includes(TOKEN));
  });

  test('resume from a mid checkpoint returns exactly the rest; from the last, nothing', async () => {
    const s = await stream(e);
    // A run that stops after two committed pages (the offset is still alive, as after a crash).
    const first: Page[] = [];
    for await (const page of s.read({ ...ctx(), pageSize: 20 })) {
      first.push(JSON.parse(JSON.stringify(page)) as Page);
      if (first.length === 2) break;
    }
    const before = records(first);
    const rest = records(await readPages(s, { pageSize: 20, checkpoint: first[1]!.checkpoint }));
    assert.equal(before.length + rest.length, RECORDS);
    assert.deepEqual(ids([...before, ...rest]), ids(all));
    const pages = await readPages(s, { pageSize: 20 });
    assert.deepEqual(await readPages(s, { checkpoint: pages.at(-1)!.checkpoint }), []);
  });

  test('an expired offset restarts the pass from the first page and still yields every record', async () => {
    const logger = capturingLogger();
    const pages = await readPages(await stream(e), {
      pageSize: 20,
      logger,
      onPage: (_p, i) => {
        if (i === 2) e.admin.expireIterators();
      },
    });
    const got = records(pages);
    assert.ok(got.length > RECORDS, 'the first pages are read again after the restart');
    assert.deepEqual([...new Set(ids(got))], ids(all));
    assert.ok(logger.lines.some((l) => l.startsWith('warn') && l.includes('expired')));
  });

  test('a checkpoint whose offset has expired restarts cleanly', async () => {
    const s = await stream(e);
    const pages = await readPages(s, { pageSize: 30 });
    e.admin.expireIterators();
    const again = records(await readPages(s, { pageSize: 30, checkpoint: pages[0]!.checkpoint }));
    assert.deepEqual(ids(again), ids(all));
  });

  test('incremental: exactly the records modified at or after the cursor', async () => {
    const since = new Date().toISOString();
    const targets = all.slice(5, 8).map((r) => r._id as string);
    const updated = targets.map((id, i) =>
      e.admin.update(e.bases[0]!.id, 'Notices', id, { offender_name: `Changed ${i}` }),
    );
    // Inclusive: a cursor equal to the first update's time still returns it.
    const firstTime = updated[0]!.fields['Last Modified'] as string;
    for (const [overrides, cursor] of [
      [{}, since],
      [{ lastModifiedField: 'Last Modified' }, firstTime],
      [{ filterByFormula: "{regulator_id} != ''" }, firstTime],
    ] as const) {
      const got = records(await readPages(await stream(e, overrides), { cursor, pageSize: 10 }));
      assert.deepEqual(ids(got), [...targets].sort(), JSON.stringify(overrides));
      assert.ok(got.every((r) => String(r.offender_name).startsWith('Changed ')));
    }
    // The user's filter is ANDed with the bound, not replaced by it.
    const none = records(
      await readPages(await stream(e, { filterByFormula: "{regulator_id} = 'no such id'" }), {
        cursor: since,
      }),
    );
    assert.deepEqual(none, []);
    all = await truth(e);
  });

  test('a query too long for a GET goes by POST …/listRecords', async () => {
    const long = 'x'.repeat(16_000);
    const got = records(
      await readPages(await stream(e, { filterByFormula: `{regulator_id} != '${long}'` }), { pageSize: 50 }),
    );
    assert.deepEqual(ids(got), ids(all));
  });

  test('options: fields, sort, view, returnFieldsByFieldId, cellFormat string', async () => {
    const sorted = records(
      await readPages(
        await stream(e, {
          fields: ['regulator_id', 'employees'],
          sort: [{ field: 'regulator_id', direction: 'desc' }],
          view: 'Grid view',
        }),
      ),
    );
    assert.equal(sorted.length, RECORDS);
    for (const r of sorted)
      for (const k of Object.keys(r))
        assert.ok(['regulator_id', 'employees', '_id', '_createdTime'].includes(k), k);
    const keys = sorted.map((r) => String(r.regulator_id));
    assert.deepEqual(keys, [...keys].sort().reverse());
    const byFieldId = records(
      await readPages(await stream(e, { returnFieldsByFieldId: true }), { pageSize: 5 }),
    );
    assert.ok(Object.keys(byFieldId[0]!).some((k) => k.startsWith('fld')));
    assert.throws(() =>
      airtableSourceFactory.configSchema.parse({
        type: 'airtable',
        baseId: 'a',
        table: 't',
        token: 'x',
        cellFormat: 'string',
      }),
    );
    const strings = records(
      await readPages(
        await stream(e, { cellFormat: 'string', timeZone: 'Europe/London', userLocale: 'en-gb' }),
      ),
    );
    assert.ok(strings.every((r) => Object.entries(r).every(([, v]) => typeof v === 'string')));
  });

  test('401 fails fast with a message that names the problem but not the token', async () => {
    const bad = 'patWrongToken.fedcba9876543210';
    const before = e.admin.stats().requests;
    await assert.rejects(readPages(await stream(e, { token: bad })), (err: unknown) => {
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'auth_failed');
      assert.ok(!err.message.includes(bad) && !err.message.includes(TOKEN), err.message);
      assert.match(err.message, /credentials|token/i);
      return true;
    });
    assert.equal(e.admin.stats().requests - before, 1, 'no retries on 401');
  });

  test('check(): ok, bad token, missing base, missing table', async () => {
    assert.equal((await source(e).check()).ok, true);
    const bad = 'patWrongToken.fedcba9876543210';
    const token = await source(e, { token: bad }).check();
    assert.equal(token.ok, false);
    assert.match(token.message, /token/i);
    assert.ok(!token.message.includes(bad));
    const base = await source(e, { baseId: 'appNOSUCHBASE000000' }).check();
    assert.equal(base.ok, false);
    assert.match(base.message, /base "appNOSUCHBASE000000" or table "Notices" was not found/);
    const table = await source(e, { table: 'Nope' }).check();
    assert.equal(table.ok, false);
    assert.match(table.message, /table "Nope" was not found/);
  });
});

describe('airtable source under faults', () => {
  let e: AirtableEmulator;
  before(async () => {
    e = await startAirtableEmulator({
      records: RECORDS,
      seed: 11,
      ratePerSecond: RATE,
      penaltyMs: 300,
      faults: '429:0.05,500:0.04,reset:0.04',
    });
  });
  after(() => e.close());

  test('429 / 500 / connection resets still give exactly all records', async () => {
    const logger = capturingLogger();
    const [s] = await source(e, {}, logger).streams();
    const got = records(await readPages(s!, { pageSize: 8, logger }));
    assert.ok(
      logger.lines.some((l) => l.includes('retry')),
      'retries are logged',
    );
    assert.ok(!logger.lines.some((l) => l.includes(TOKEN)), 'the token never reaches a log line');
    const stats = e.admin.stats();
    const faults = Object.values(stats.bases)[0]!.faults;
    assert.ok(Object.values(faults).reduce((a, b) => a + (b ?? 0), 0) > 0, 'some faults were injected');
    assert.equal(got.length, RECORDS);
    assert.equal(new Set(ids(got)).size, RECORDS);
  });
});
