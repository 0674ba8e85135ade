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
      // run.finished comes once the sync is free: a listener may start the next run at once.
      let next: Promise<unknown> | undefined;
      let lease: Promise<unknown> | undefined;
      const r = await t.sync('a', {
        onEvent: (e) => {
          events.push(e.type);
          if (e.type !== 'run.finished') return;
          lease = t.state.liveLease('a');
          next = t.sync('a');
        },
      });
      assert.deepEqual([r.status, r.inserted], ['succeeded', 2]);
      assert.deepEqual(events, ['run.started', 'batch.written', 'run.finished']);
      assert.equal(await lease, null, 'the lease is released before run.finished');
      const second = (await next) as { status: string; unchanged: number };
      assert.deepEqual([second.status, second.unchanged], ['succeeded', 2], 'not refused as busy');
      // ...in the run's final transaction, with the finished run row (then again, as a fallback).
      const releases: boolean[] = [];
      const release = t.state.releaseLease.bind(t.state);
      t.state.releaseLease = (sync, db) => {
        releases.push(db !== undefined);
        return release(sync, db);
      };
      assert.equal((await t.sync('a')).status, 'succeeded');
      assert.deepEqual(releases, [true, false]);
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
