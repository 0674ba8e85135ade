/**
 * Several instances on one PostgreSQL (issue 4, "multi-instance"): three `tributary serve`
 * processes with the same schedule (every 3 s) share the pg-boss queue for about 40 s. Checked:
 * every tick ran exactly once across the three, no two runs of a sync overlapped, a worker
 * SIGKILLed mid-run lost its lease and another instance resumed the run from its checkpoint with
 * exact data, a cancel sent to one instance stopped a run on another, and an SSE client on one
 * instance saw runs executing on the others and could resume its stream on another instance.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Tributary } from '../src/tributary.ts';
import { createPostgresDatabase, postgresAdminUrl, type TestDatabase } from './helpers/databases.ts';
import { createProject, type TestProject } from './helpers/project.ts';
import { numberedCsv, spawnTributary, waitFor } from './helpers/service.ts';
import { openStream } from './helpers/sse.ts';

const SECONDS = Number(process.env.MULTI_INSTANCE_SECONDS ?? 40);
const TICK_S = 3;
const BIG_ROWS = 150_000;
const BATCH = 1000;

interface Instance {
  child: ChildProcess;
  url: string;
  id: string;
  exited: Promise<unknown>;
  output: () => string;
}

const pgUrl = await postgresAdminUrl();

/** An SSE client that keeps every event (with its id; `reset` frames as type reset). */
function stream(url: string, headers: Record<string, string> = {}) {
  const events: { id: string; type: string; instance: string; runId?: number }[] = [];
  const s = openStream(url, headers, (f) => {
    if (f.event === 'reset') events.push({ id: f.id ?? '', type: 'reset', instance: '' });
    else if (f.data)
      events.push({ id: f.id ?? '', ...(f.data as { type: string; instance: string; runId?: number }) });
  });
  return { events, request: { destroy: s.close } };
}

describe(
  'multi-instance on PostgreSQL',
  { skip: pgUrl ? false : 'no PostgreSQL server (see test/helpers/databases.ts)' },
  () => {
    let db: TestDatabase;
    let project: TestProject;
    let t: Tributary;
    const instances: Instance[] = [];

    before(async () => {
      db = (await createPostgresDatabase())!;
      project = createProject(db.url);
      project.write('tick.csv', 'id,name\n1,a\n2,b\n3,c\n');
      project.write('big.csv', numberedCsv(BIG_ROWS));
      project.writeConfig({
        syncs: {
          ticker: {
            source: { type: 'csv', path: 'tick.csv' },
            target: { table: 'ticker', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
            schedule: `every ${TICK_S}s`,
          },
          big: {
            source: { type: 'csv', path: 'big.csv' },
            target: { table: 'big', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
            batchSize: BATCH,
          },
        },
      });
      t = await project.open();
    });
    after(async () => {
      for (const i of instances) i.child.kill('SIGKILL');
      await Promise.all(instances.map((i) => i.exited));
      await t?.close();
      project.remove();
      await db?.drop();
    });

    const start = async (): Promise<Instance> => {
      const { child, output, exited } = spawnTributary(project.configFile, ['serve', '--port', '0'], {
        DATABASE_URL: db.url,
        TRIBUTARY_TOKEN: '',
        TRIBUTARY_LOG_LEVEL: 'info',
      });
      const url = await waitFor(
        'an instance to listen',
        () => /listening on (http:\/\/\S+)/.exec(output())?.[1],
        90_000,
      );
      const health = (await (await fetch(`${url}/health`)).json()) as { instance: string };
      const inst = { child, url, id: health.instance, exited, output };
      instances.push(inst);
      return inst;
    };
    const post = (url: string, body: unknown = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    it(`three instances for ${SECONDS}s: ticks once each, no overlaps, a SIGKILLed run resumed elsewhere, cancel anywhere, events everywhere`, async () => {
      const [a, b, c] = [await start(), await start(), await start()];
      assert.equal(new Set([a.id, b.id, c.id]).size, 3);
      const began = Date.now();

      // An SSE client on every instance (one of them will be killed).
      const streams = new Map(instances.map((i) => [i, stream(`${i.url}/api/events`)]));

      // The big import, started through instance b; whichever instance takes it is killed mid-run.
      const res = await post(`${b.url}/api/syncs/big/runs`);
      assert.equal(res.status, 202);
      const { runId } = (await res.json()) as { runId: number };
      const running = await waitFor(
        'the big run to commit a few batches',
        async () => {
          const run = await t.state.getRun(runId);
          return run && run.batches >= 5 ? run : undefined;
        },
        90_000,
      );
      const victim = instances.find((i) => i.id === running.instance)!;
      assert.ok(victim, `run ${runId} ran on a known instance (${running.instance})`);
      victim.child.kill('SIGKILL');
      await victim.exited;
      const survivors = instances.filter((i) => i !== victim);

      // Another instance notices the dead holder, takes the lease and resumes from the checkpoint.
      const resumed = await waitFor(
        'another instance to finish the import',
        async () => {
          const runs = await t.state.listRuns({ sync: 'big', limit: 10 });
          return runs.find((r) => r.id > runId && r.status === 'succeeded');
        },
        120_000,
      );
      assert.notEqual(resumed.instance, victim.id);
      const killed = (await t.state.getRun(runId))!;
      assert.equal(killed.status, 'interrupted');
      assert.equal(await t.dest.countRows('big'), BIG_ROWS);
      const agg = await t.dest.query<{ n: unknown; s: unknown }>(
        'SELECT count(DISTINCT id) AS n, sum(id) AS s FROM big',
      );
      assert.equal(Number(agg[0]!.n), BIG_ROWS);
      assert.equal(Number(agg[0]!.s), (BIG_ROWS * (BIG_ROWS + 1)) / 2);
      const bigRuns = await t.state.listRuns({ sync: 'big', limit: 10 });
      assert.equal(
        bigRuns.reduce((n, r) => n + r.inserted, 0),
        BIG_ROWS,
        'each row inserted once across the two runs',
      );
      assert.ok(
        resumed.read < BIG_ROWS,
        'the resumed run continued from the checkpoint instead of starting over',
      );

      // Cancel from any instance: a run started through one survivor, cancelled through the other.
      // (The run row is finished in the transaction that releases its lease: the sync is free.)
      const again = await post(`${survivors[0]!.url}/api/syncs/big/runs`, { full: true });
      assert.equal(again.status, 202);
      const { runId: cancelId } = (await again.json()) as { runId: number };
      await waitFor(
        'the second big run to start',
        async () => ((await t.state.getRun(cancelId))?.batches ?? 0) >= 1 || undefined,
        60_000,
      );
      assert.equal((await post(`${survivors[1]!.url}/api/runs/${cancelId}/cancel`)).status, 202);
      const cancelled = await waitFor(
        'the cancel to land',
        async () => {
          const run = await t.state.getRun(cancelId);
          return run && run.status !== 'running' ? run : undefined;
        },
        60_000,
      );
      assert.equal(cancelled.status, 'cancelled');

      // A client resumes on another instance with an id it got from instance a: event ids are
      // given where the event happened, so every instance knows them.
      // The watcher is the survivor that did not resume the import, so the resumed run's events
      // (and the victim's) reached it from another instance; which instance takes a job is
      // pg-boss's polling race, so the ticker's runs may all be on one.
      const watcher = survivors.find((i) => i.id !== resumed.instance)!;
      const other = survivors.find((i) => i !== watcher)!;
      const events = streams.get(watcher)!.events;
      const from = events.find((e) => e.type === 'batch.written' && e.runId === runId)!;
      const resumed2 = stream(`${other.url}/api/events`, { 'last-event-id': from.id });
      await waitFor('the replay on another instance', () =>
        resumed2.events.some((e) => e.type === 'run.finished' && e.runId === cancelId),
      );
      resumed2.request.destroy();
      assert.ok(!resumed2.events.some((e) => e.type === 'reset'), 'resumed, not reset');
      // Other runs' events may interleave differently on each instance, but one run's events
      // keep their order: the replay of the killed run starts with the event after `from`.
      const ofRun = (list: typeof events) => list.filter((e) => e.runId === runId).map((e) => e.id);
      const seen = ofRun(events);
      assert.equal(
        ofRun(resumed2.events)[0],
        seen[seen.indexOf(from.id) + 1],
        'the replay starts after the last id seen',
      );
      assert.ok(!resumed2.events.some((e) => e.id === from.id), 'the event already seen is not replayed');

      // Let the schedule tick for the rest of the window, then stop gracefully.
      const left = SECONDS * 1000 - (Date.now() - began);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      for (const i of survivors) i.child.kill('SIGTERM');
      await Promise.all(survivors.map((i) => i.exited));
      for (const st of streams.values()) st.request.destroy();

      // Every tick exactly once: one job per claimed tick, distinct, on the 3 s grid without gaps
      // (a tick that found the sync running would be counted as skipped instead).
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const jobs = (
        await client.query<{ tick: string }>(
          `SELECT data->>'tick' AS tick FROM pgboss.job
           WHERE data->>'sync' = 'ticker' AND data->>'tick' IS NOT NULL ORDER BY 1`,
        )
      ).rows.map((r) => r.tick);
      // A ticker run cut short by the SIGKILL is resumed by a job of its own (no tick). A tick
      // sent just before the SIGTERMs may still wait in the queue (workers poll): it runs at the
      // next start, so it counts as neither run nor skipped here.
      const count = async (where: string) =>
        Number(
          (
            await client.query<{ n: string }>(
              `SELECT count(*) AS n FROM pgboss.job WHERE data->>'sync' = 'ticker' AND ${where}`,
            )
          ).rows[0]!.n,
        );
      const resumeJobs = await count(`data->>'tick' IS NULL`);
      const waiting = await count(`data->>'tick' IS NOT NULL AND state IN ('created', 'retry')`);
      const schedule = (
        await client.query<{ skip_count: number }>(
          `SELECT skip_count FROM tributary_schedules WHERE sync = 'ticker'`,
        )
      ).rows[0]!;
      await client.end();
      assert.ok(jobs.length >= SECONDS / TICK_S / 2, `ticks happened (${jobs.length})`);
      assert.equal(new Set(jobs).size, jobs.length, 'no tick sent twice');
      const span = (Date.parse(jobs.at(-1)!) - Date.parse(jobs[0]!)) / (TICK_S * 1000) + 1;
      for (const tick of jobs)
        assert.equal((Date.parse(tick) - Date.parse(jobs[0]!)) % (TICK_S * 1000), 0, 'ticks on the grid');
      // Every tick on the grid was either sent once or skipped (and counted): none lost.
      assert.ok(
        jobs.length <= span && jobs.length + schedule.skip_count >= span,
        `${jobs.length} jobs + ${schedule.skip_count} skips cover ${span} ticks`,
      );

      // Each job ran at most once (a job that found the sync busy is skipped and counted instead).
      const tickerRuns = (await t.state.listRuns({ sync: 'ticker', limit: 1000 })).filter(
        (r) => r.trigger === 'schedule',
      );
      assert.ok(
        tickerRuns.length <= jobs.length + resumeJobs &&
          tickerRuns.length + schedule.skip_count + waiting >= jobs.length,
        `${tickerRuns.length} runs for ${jobs.length} ticks, ${resumeJobs} resumed, ${waiting} still queued`,
      );
      // Which instance takes a job is pg-boss's polling race, not a guarantee: the spread is
      // reported, not asserted (all on one instance happened in CI). Exactly-once is asserted above.
      const spread = new Set(tickerRuns.map((r) => r.instance)).size;
      console.log(
        `# multi-instance: ${jobs.length} ticks over ${span} slots, ${tickerRuns.length} runs on ${spread} instance(s), ${schedule.skip_count} skipped; instance ${instances.indexOf(victim)} was killed`,
      );
      for (const sync of ['ticker', 'big']) {
        const runs = (await t.state.listRuns({ sync, limit: 1000 })).sort((x, y) =>
          x.startedAt.localeCompare(y.startedAt),
        );
        for (let i = 1; i < runs.length; i++) {
          assert.ok(
            runs[i]!.startedAt >= runs[i - 1]!.finishedAt!,
            `${sync}: run ${runs[i]!.id} started before run ${runs[i - 1]!.id} ended`,
          );
        }
      }

      // The SSE client on a surviving instance saw runs that executed on the other instances,
      // the killed one's included.
      assert.ok(
        events.some(
          (e) => e.type === 'run.finished' && e.runId === resumed.id && e.instance === resumed.instance,
        ),
        `the watcher streamed the run finished on another instance (${events.length} events)`,
      );
      assert.ok(
        events.some((e) => e.type === 'batch.written' && e.runId === runId && e.instance === victim.id),
      );
    });
  },
);
