import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { generateNotices, NOTICE_COLUMNS } from './generate-notices.ts';
import { corruptNotices } from './corrupt-notices.ts';
import { writeCsv } from './write-csv.ts';
import { writeJsonl } from './write-jsonl.ts';

test('same seed, same records; another seed, other records', () => {
  const a = [...generateNotices(500, 7)];
  const b = [...generateNotices(500, 7)];
  const c = [...generateNotices(500, 8)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('output is pinned: changing it needs a GENERATOR_VERSION bump', () => {
  const digest = createHash('sha256')
    .update(JSON.stringify([...generateNotices(1000, 1)]))
    .digest('hex');
  assert.equal(digest.slice(0, 16), PINNED);
});

test('regulator ids are unique and offenders repeat, sometimes respelled', () => {
  const records = [...generateNotices(20_000, 3)];
  assert.equal(new Set(records.map((r) => r.regulator_id)).size, records.length);
  const byAddress = new Map<string, Set<string>>();
  for (const r of records)
    byAddress.set(r.address, (byAddress.get(r.address) ?? new Set()).add(r.offender_name));
  const repeated = records.length - byAddress.size;
  assert.ok(repeated > records.length / 2, 'most notices belong to a repeat offender');
  assert.ok(
    [...byAddress.values()].some((names) => names.size > 1),
    'some offenders appear under several spellings',
  );
  const sentinels = records.filter((r) => r.issue_date === 'N/A' || r.issue_date === 'Not On File').length;
  assert.ok(sentinels > 0 && sentinels < records.length * 0.05);
});

test('clean records have only ISO dates or null', () => {
  for (const r of generateNotices(5000, 1, { messy: false })) {
    for (const d of [r.issue_date, r.compliance_date])
      assert.ok(d === null || /^\d{4}-\d{2}-\d{2}$/.test(d), String(d));
  }
});

test('CSV and JSONL round-trip through a real parser, quotes and newlines included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tributary-demo-'));
  try {
    const records = [...corruptNotices(generateNotices(3000, 2), 0.01, 2)];
    assert.equal(await writeCsv(join(dir, 'n.csv'), records), 3000);
    assert.equal(await writeJsonl(join(dir, 'n.jsonl'), records), 3000);
    const rows: Record<string, string>[] = parse(await readFile(join(dir, 'n.csv'), 'utf8'), {
      columns: true,
    });
    assert.equal(rows.length, 3000);
    assert.deepEqual(
      Object.keys(rows[0]!),
      NOTICE_COLUMNS.map(([name]) => name),
    );
    assert.ok(rows.some((r) => r.description!.includes('\n')));
    assert.ok(rows.some((r) => r.description!.includes('"')));
    for (const [i, row] of rows.entries()) assert.equal(row.description, records[i]!.description);
    const lines = (await readFile(join(dir, 'n.jsonl'), 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 3000);
    assert.ok(rows.some((r) => r.fine_amount === 'twelve pounds'));
    assert.ok(rows.some((r) => r.regulator_id === ''));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// First 16 hex digits of the SHA-256 of generateNotices(1000, 1) as JSON.
const PINNED = 'f75b336bfdcdf78d';
