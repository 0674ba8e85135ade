/**
 * DESIGN guarantee 8 on the database side: a lost database connection is a transient error; the
 * batch is retried on a fresh connection and the run ends with exactly the source's data.
 * The fault is real: PostgreSQL itself terminates the run's connections mid-import.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPostgresDatabase, postgresAdminUrl, type TestDatabase } from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import { Tributary } from '../src/tributary.ts';

const reason = (await postgresAdminUrl())
  ? false
  : 'no PostgreSQL server reachable (set TRIBUTARY_TEST_PG_URL)';

describe('lost database connections', { skip: reason }, () => {
  let db: TestDatabase;
  let project: TestProject;
  let t: Tributary;
  const ROWS = 20_000;
  const warnings: string[] = [];

  before(async () => {
    db = (await createPostgresDatabase())!;
    project = createProject(db.url);
    project.write(
      'rows.csv',
      csv(
        ['id', 'name'],
        Array.from({ length: ROWS }, (_, i) => [i + 1, `row ${i + 1}`]),
      ),
    );
    project.writeConfig({
      syncs: {
        rows: {
          source: { type: 'csv', path: 'rows.csv' },
          target: { table: 'rows', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
          batchSize: 500,
        },
      },
    });
    const note = (m: string) => warnings.push(m);
    t = await Tributary.open({
      configFile: project.configFile,
      logger: { debug() {}, info() {}, warn: note, error: note },
    });
  });
  after(async () => {
    await t?.close();
    await db.drop();
    project.remove();
  });

  it('retries the batch on a new connection when PostgreSQL terminates the connection mid-run', async () => {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    let terminated = 0;
    const kills: Promise<void>[] = [];
    try {
      const result = await t.sync('rows', {
        onEvent: (e) => {
          if (e.type === 'batch.written' && (e.batch === 3 || e.batch === 20)) {
            kills.push(
              admin
                .query<{ ok: boolean }>(
                  'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
                )
                .then((r) => {
                  terminated += r.rows.filter((x) => x.ok).length;
                }),
            );
          }
        },
      });
      await Promise.all(kills);
      assert.ok(terminated >= 2, `connections were really terminated (${terminated})`);
      assert.equal(result.status, 'succeeded', result.error ?? '');
      assert.ok(
        warnings.some((w) => /transient database error, retrying/.test(w)),
        `a batch was retried: ${warnings.join(' | ')}`,
      );
      assert.equal(result.inserted, ROWS);
      assert.equal(result.read, ROWS);
      assert.equal(await t.dest.countRows('rows'), ROWS);
      const run = await t.state.getRun(result.runId!);
      assert.equal(run!.inserted, ROWS, 'no batch was counted twice');
      assert.equal(run!.batches, ROWS / 500, 'each batch committed once');
    } finally {
      await admin.end();
    }
  });
});
