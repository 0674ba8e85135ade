/** The public entry point (package "exports") gives programs the same engine as the CLI. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Tributary, TributaryError, defineConfig } from '../src/index.ts';
import { createSqliteDatabase } from './helpers/databases.ts';
import { createProject, csv } from './helpers/project.ts';

describe('library API', async () => {
  const db = await createSqliteDatabase();
  const project = createProject(db.url);
  after(async () => {
    project.remove();
    await db.drop();
  });

  it('opens a config, runs a sync with events, and reports its result', async () => {
    project.write(
      'a.csv',
      csv(
        ['id', 'v'],
        [
          [1, 'x'],
          [2, 'y'],
        ],
      ),
    );
    project.writeConfig({
      syncs: {
        a: {
          source: { type: 'csv', path: 'a.csv' },
          target: { table: 'a', primaryKey: 'id', columns: { id: 'integer', v: 'text' } },
        },
      },
    });
    const t = await Tributary.open({ configFile: project.configFile });
    try {
      const events: string[] = [];
      const r = await t.sync('a', { onEvent: (e) => events.push(e.type) });
      assert.deepEqual([r.status, r.inserted], ['succeeded', 2]);
      assert.deepEqual(events, ['run.started', 'batch.written', 'run.finished']);
      await assert.rejects(
        t.sync('missing'),
        (e: unknown) => e instanceof TributaryError && e.code === 'sync_not_found',
      );
    } finally {
      await t.close();
    }
  });

  it('defineConfig is the identity, for typed configs', () => {
    const c = { syncs: {} };
    assert.equal(defineConfig(c), c);
  });
});
