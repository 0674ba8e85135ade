/**
 * DESIGN guarantee 2, "crash anywhere, lose nothing": the CLI is killed with SIGKILL at random
 * moments while importing a large file, then run again until it completes. The table must then
 * hold exactly the file's rows (none missing, none duplicated, every value right), and the run
 * rows must add up: every row inserted exactly once across all runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { testDatabaseFactories, type TestDatabase } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';
import type { Tributary } from '../src/tributary.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'tributary.js');
const ROWS = Number(process.env.CRASH_TEST_ROWS ?? 120_000);
const KILLS = Number(process.env.CRASH_TEST_KILLS ?? 4);

/** Deterministic pseudo-random numbers (mulberry32), so a failing kill schedule can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rowText = (i: number) =>
  `${i},"Name ${i}, with comma",${(i * 7) % 100000}.${String(i % 100).padStart(2, '0')},2024-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')}\n`;

async function writeBigCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write('id,name,amount,day\n');
  let chunk = '';
  for (let i = 1; i <= rows; i++) {
    chunk += rowText(i);
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

const factories = await testDatabaseFactories();
const seed = Number(process.env.CRASH_TEST_SEED ?? Date.now() % 100000);

for (const factory of factories) {
  describe(`crash safety on ${factory.name} (seed ${seed})`, () => {
    let db: TestDatabase;
    let project: TestProject;
    let t: Tributary;

    before(async () => {
      db = await factory.create();
      project = createProject(db.url);
      await writeBigCsv(join(project.dir, 'big.csv'), ROWS);
      project.writeConfig({
        syncs: {
          big: {
            source: { type: 'csv', path: 'big.csv' },
            target: {
              table: 'big',
              primaryKey: 'id',
              columns: { id: 'integer', name: 'text', amount: 'numeric', day: 'date' },
            },
            batchSize: 2000,
          },
        },
      });
    });
    after(async () => {
      await t?.close();
      await db.drop();
      project.remove();
    });

    it(`survives ${KILLS} SIGKILLs at random points and ends with exactly the file's rows`, async () => {
      const rand = random(seed + factory.name.length);
      const kills: string[] = [];
      const runCli = () =>
        spawn(process.execPath, [BIN, '--config', project.configFile, 'sync', 'big', '--json'], {
          env: { ...process.env, DATABASE_URL: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });

      // Kill points are chosen in batches, not seconds, so each one provably lands mid-import on a
      // fast or slow machine: once the live run has committed batch N (random), wait a random
      // 0-150 ms more (inside the next batch's work) and SIGKILL.
      t = await project.open();
      const totalBatches = Math.ceil(ROWS / 2000);
      let committedBefore = 0;
      for (let k = 0; k < KILLS; k++) {
        const child = runCli();
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
        let done = false;
        void exited.then(() => (done = true));
        const target =
          committedBefore +
          1 +
          Math.floor(rand() * Math.max(1, (totalBatches - committedBefore) / (KILLS - k + 1)));
        let committed = committedBefore;
        while (!done && committed < target) {
          const rows = await t.dest.query<{ b: unknown }>(
            "SELECT coalesce(sum(batches), 0) AS b FROM tributary_runs WHERE sync = 'big'",
          );
          committed = Number(rows[0]!.b);
          await new Promise((r) => setTimeout(r, 10));
        }
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 150)));
        child.kill('SIGKILL');
        const [code, signal] = await exited;
        kills.push(`after batch ${committed}→${signal ?? `exit ${code}`}`);
        committedBefore = committed;
        if (signal === null) {
          // It finished before the kill: the import is complete already; the checks below still hold.
          assert.equal(code, 0, stdout);
          break;
        }
      }
      assert.ok(
        kills.filter((k) => k.endsWith('SIGKILL')).length >= Math.min(2, KILLS),
        `at least two kills landed mid-import: ${kills.join(', ')}`,
      );

      const final = runCli();
      let out = '';
      final.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(final, 'exit')) as [number | null];
      assert.equal(code, 0, `final run failed after kills ${kills.join(', ')}: ${out}`);
      const last = JSON.parse(out.trim().split('\n').pop()!);
      assert.equal(last.status, 'succeeded');

      assert.equal(await t.dest.countRows('big'), ROWS, `row count after kills ${kills.join(', ')}`);
      const agg = await t.dest.query<{ n: unknown; s: unknown; mn: unknown; mx: unknown }>(
        'SELECT count(DISTINCT id) AS n, sum(id) AS s, min(id) AS mn, max(id) AS mx FROM big',
      );
      assert.equal(Number(agg[0]!.n), ROWS);
      assert.equal(Number(agg[0]!.s), (ROWS * (ROWS + 1)) / 2);
      assert.deepEqual([Number(agg[0]!.mn), Number(agg[0]!.mx)], [1, ROWS]);

      // Every value, compared against the generator.
      const sample = await t.dest.query<{ id: unknown; name: unknown; amount: unknown; day: unknown }>(
        'SELECT id, name, amount, day FROM big ORDER BY id',
      );
      let mismatches = 0;
      for (const r of sample) {
        const i = Number(r.id);
        const expected = rowText(i)
          .trim()
          .replace(`"Name ${i}, with comma"`, `Name ${i}, with comma`)
          .split(',');
        // expected: [id, 'Name i', ' with comma', amount, day]
        const name = `${expected[1]},${expected[2]}`;
        if (r.name !== name || String(r.amount) !== expected[3] || String(r.day).slice(0, 10) !== expected[4])
          mismatches++;
      }
      assert.equal(mismatches, 0);

      // Counters are consistent: each row was inserted exactly once across all the runs.
      const runs = await t.state.listRuns({ sync: 'big', limit: 100 });
      const inserted = runs.reduce((sum, r) => sum + r.inserted, 0);
      assert.equal(
        inserted,
        ROWS,
        `Σ inserted over runs ${runs.map((r) => `${r.id}:${r.status}:${r.inserted}`).join(' ')}`,
      );
      assert.ok(
        runs.every((r) => r.status === 'succeeded' || r.status === 'interrupted'),
        runs.map((r) => r.status).join(','),
      );
      for (const r of runs)
        assert.equal(r.read, r.inserted + r.updated + r.unchanged + r.quarantined, `run ${r.id} adds up`);
      const status = await t.state.getStatus('big');
      assert.equal(status!.pass, null, 'the pass is closed');
      assert.ok(
        runs.filter((r) => r.status === 'interrupted').length >= 2,
        'killed runs are recorded as interrupted',
      );
      console.log(
        `# crash test (${factory.name}): ${kills.join(', ')}; runs ${runs.map((r) => `${r.id}:${r.status}:${r.inserted}`).join(' ')}`,
      );
    });
  });
}
