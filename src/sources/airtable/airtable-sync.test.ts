/** End to end: the engine syncs the Airtable emulator's Notices into SQLite, then incrementally. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSqliteDatabase, type TestDatabase } from '../../../test/helpers/databases.ts';
import { createProject, type TestProject } from '../../../test/helpers/project.ts';
import { startAirtableEmulator, type AirtableEmulator } from '../../emulators/airtable/airtable-emulator.ts';
import { Tributary } from '../../tributary.ts';

const TOKEN = 'patSyncTest.0123456789abcdef';
const RECORDS = 150;

describe('airtable sync (engine + emulator + SQLite)', () => {
  let e: AirtableEmulator;
  let db: TestDatabase;
  let project: TestProject;
  before(async () => {
    e = await startAirtableEmulator({ records: RECORDS, seed: 5, penaltyMs: 300, token: TOKEN });
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.writeConfig({
      syncs: {
        notices: {
          source: {
            type: 'airtable',
            baseId: e.bases[0]!.id,
            table: 'Notices',
            token: '${AIRTABLE_TOKEN}',
            endpoint: e.url,
            lastModifiedField: 'Last Modified',
            rateLimitPenaltyMs: 300,
          },
          target: {
            table: 'notices',
            primaryKey: 'id',
            columns: {
              id: { type: 'text', from: '_id' },
              regulator_id: 'text',
              offender_name: 'text',
              issue_date: 'date',
              fine_amount: 'numeric',
              appeal_lodged: 'boolean',
              legislation: 'json',
              last_modified: { type: 'timestamptz', from: 'Last Modified' },
            },
          },
          incremental: { cursor: 'last_modified' },
        },
      },
    });
  });
  after(async () => {
    await e.close();
    project.remove();
    await db.drop();
  });

  test('full sync reads every record; an incremental sync updates exactly the changed ones', async () => {
    const t = await Tributary.open({
      configFile: project.configFile,
      env: { ...process.env, DATABASE_URL: undefined, AIRTABLE_TOKEN: TOKEN },
    });
    try {
      const first = await t.sync('notices');
      assert.equal(first.status, 'succeeded', first.error ?? '');
      assert.equal(first.read, RECORDS);
      assert.equal(first.inserted, RECORDS);

      const base = e.bases[0]!.id;
      const res = await fetch(`${e.url}/v0/${base}/Notices?pageSize=3`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const { records } = (await res.json()) as { records: { id: string }[] };
      for (const [i, r] of records.entries())
        e.admin.update(base, 'Notices', r.id, { offender_name: `Renamed ${i}` });

      const second = await t.sync('notices');
      assert.equal(second.status, 'succeeded', second.error ?? '');
      assert.equal(second.updated, 3);
      assert.equal(second.inserted, 0);
      // Inclusive cursor: at most the record(s) at the previous high-water mark come back unchanged.
      assert.ok(second.read < RECORDS, `incremental read ${second.read} records`);
    } finally {
      await t.close();
    }
  });
});
