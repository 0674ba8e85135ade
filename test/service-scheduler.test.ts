/**
 * The scheduler, driven tick by tick with a chosen clock (no waiting on real time): schedule
 * parsing with time zones and intervals, exactly-once claims across schedulers, missed ticks
 * running once, runtime switches without restart, skipped ticks recorded, runOnStart choosing a
 * full or an incremental import, and the service-wide stop / start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../src/core/types.ts';
import { LocalEventBus, type ServiceEvent } from '../src/scheduler/event-bus.ts';
import {
  InProcessQueue,
  deterministicUuid,
  type JobQueue,
  type SyncJob,
} from '../src/scheduler/job-queue.ts';
import { PgBossQueue } from '../src/scheduler/pg-boss-queue.ts';
import { RunExecutor } from '../src/scheduler/run-executor.ts';
import { parseSchedule, scheduleProblem } from '../src/scheduler/schedule.ts';
import { ScheduleStore } from '../src/scheduler/schedule-store.ts';
import { Scheduler } from '../src/scheduler/scheduler.ts';
import type { Tributary } from '../src/tributary.ts';
import {
  createPostgresDatabase,
  createSqliteDatabase,
  postgresAdminUrl,
  testDatabaseFactories,
  type TestDatabase,
} from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import { waitFor } from './helpers/service.ts';

/** Schedule maths is checked at a fixed instant (a day before Berlin's switch to summer time). */
const FIXED = new Date('2026-03-28T12:00:00.000Z');
const fixed = (ms: number) => new Date(FIXED.getTime() + ms);
/** The tick loop is driven from the next full hour on: ahead of the real clock that run rows use. */
const T0 = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;

describe('schedule expressions', () => {
  it('reads intervals, cron expressions, time zones; rejects bad ones with a reason', () => {
    const every = parseSchedule('every 10m');
    assert.equal(every.next(FIXED).toISOString(), '2026-03-28T12:10:00.000Z');
    // Ticks missed while down collapse into the next one on the same cadence.
    assert.equal(every.next(fixed(35 * MIN), FIXED).toISOString(), '2026-03-28T12:40:00.000Z');
    assert.equal(parseSchedule('every 30s').next(FIXED).toISOString(), '2026-03-28T12:00:30.000Z');
    assert.equal(parseSchedule('every 2h').next(FIXED).toISOString(), '2026-03-28T14:00:00.000Z');

    const utc = parseSchedule('0 6,18 * * *');
    assert.equal(utc.timezone, 'UTC');
    assert.equal(utc.next(FIXED).toISOString(), '2026-03-28T18:00:00.000Z');
    // Berlin moves to summer time on 2026-03-29: 06:00 local is 05:00 UTC the day before, 04:00 after.
    const berlin = parseSchedule('TZ=Europe/Berlin 0 6 * * *');
    assert.equal(berlin.next(FIXED).toISOString(), '2026-03-29T04:00:00.000Z');
    assert.equal(
      parseSchedule('0 6 * * *', 'Europe/Berlin')
        .next(fixed(-12 * 60 * MIN))
        .toISOString(),
      '2026-03-28T05:00:00.000Z',
    );
    assert.equal(parseSchedule('CRON_TZ=America/New_York 30 9 * * 1-5').timezone, 'America/New_York');

    assert.match(scheduleProblem('61 * * * *')!, /minute/);
    assert.match(scheduleProblem('TZ=Mars/Olympus 0 6 * * *')!, /unknown time zone/);
    assert.match(scheduleProblem('every 0s')!, /shortest interval/);
    assert.match(scheduleProblem('sometimes')!, /not valid/);
    assert.equal(scheduleProblem('off'), null);
    assert.equal(scheduleProblem('every 5m'), null);
  });
});

/** A scheduler over its own Tributary and queue, as one instance would have. */
async function instance(project: TestProject, queue: JobQueue = new InProcessQueue(silentLogger)) {
  const t = await project.open();
  const bus = new LocalEventBus(`test-${Math.random()}`);
  const events: ServiceEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const store = new ScheduleStore(t.dest);
  const executor = new RunExecutor(t, store, bus, silentLogger);
  const scheduler = new Scheduler(t, store, queue, executor, {
    timezone: 'UTC',
    tickMs: 1000,
    sweepEveryTicks: 1000,
    logger: silentLogger,
  });
  const sent: SyncJob[] = [];
  const send = queue.send.bind(queue);
  queue.send = (job, within) => {
    sent.push(job);
    return send(job, within);
  };
  return { t, queue, store, executor, scheduler, sent, events };
}

for (const factory of await testDatabaseFactories()) {
  describe(`scheduler claims on ${factory.name}`, () => {
    let db: TestDatabase;
    let project: TestProject;
    before(async () => {
      db = await factory.create();
      project = createProject(db.url);
      project.write('a.csv', csv(['id'], [[1]]));
      project.writeConfig({
        syncs: {
          a: {
            source: { type: 'csv', path: 'a.csv' },
            target: { table: 'a', primaryKey: 'id', columns: { id: 'integer' } },
            schedule: 'every 1m',
          },
          b: {
            source: { type: 'csv', path: 'a.csv' },
            target: { table: 'b', primaryKey: 'id', columns: { id: 'integer' } },
            schedule: '*/2 * * * *',
          },
        },
      });
    });
    after(async () => {
      project.remove();
      await db.drop();
    });

    it('three schedulers ticking together claim each tick exactly once; missed ticks run once', async () => {
      const instances = [await instance(project), await instance(project), await instance(project)];
      try {
        await Promise.all(instances.map((i) => i.scheduler.tick(T0)));
        // 30 minutes, ticked every 20 s by all three at once: 30 ticks of a, 15 of b.
        for (let ms = 20_000; ms <= 30 * MIN; ms += 20_000) {
          await Promise.all(instances.map((i) => i.scheduler.tick(at(ms))));
        }
        const jobs = instances.flatMap((i) => i.sent);
        const ticks = (sync: string) => jobs.filter((j) => j.sync === sync).map((j) => j.tick!);
        assert.equal(ticks('a').length, 30);
        assert.equal(new Set(ticks('a')).size, 30, 'no tick twice');
        assert.equal(ticks('b').length, 15);

        // Down for 3 hours: 180 missed ticks of a run once, then the cadence resumes.
        const before = instances.map((i) => i.sent.length);
        await Promise.all(instances.map((i) => i.scheduler.tick(at(210 * MIN + 5000))));
        const after = instances.flatMap((i, n) => i.sent.slice(before[n]));
        assert.deepEqual(after.map((j) => j.sync).sort(), ['a', 'b']);
        const row = (await instances[0]!.store.list()).find((r) => r.sync === 'a')!;
        assert.equal(row.nextRunAt, at(211 * MIN).toISOString());
      } finally {
        for (const i of instances) {
          await i.queue.close();
          await i.t.close();
        }
      }
    });

    it('claims a tick and sends its job in one transaction: a failed send leaves the tick due', async () => {
      // A queue in the database inserts its job through the claim's transaction; here the insert
      // is a row in a table of our own, and a send can be made to fail after making it.
      const base = new InProcessQueue(silentLogger);
      let failNext = false;
      const queue: JobQueue = {
        kind: 'test-transactional',
        transactional: true,
        async send(job, within) {
          assert.ok(within, 'a transactional queue is given the transaction');
          await within.execute('INSERT INTO test_jobs (id) VALUES ($1)', [job.id]);
          if (failNext) {
            failNext = false;
            throw new Error('the queue failed');
          }
          return base.send(job);
        },
        work: (handler, concurrency) => base.work(handler, concurrency),
        stopWorking: () => base.stopWorking(),
        depth: () => base.depth(),
        close: () => base.close(),
      };
      const i = await instance(project, queue);
      try {
        await i.t.dest.execute('CREATE TABLE test_jobs (id text PRIMARY KEY)');
        await i.scheduler.tick(at(400 * MIN)); // schedule rows up to date
        const due = (await i.store.list()).find((r) => r.sync === 'a')!.nextRunAt;
        const id = deterministicUuid(`a|tick|${due}`);
        const jobRows = () => i.t.dest.query('SELECT id FROM test_jobs WHERE id = $1', [id]);
        const t1 = new Date(Date.parse(due) + 1000);
        failNext = true;
        await assert.rejects(i.scheduler.tick(t1), /the queue failed/);
        assert.equal((await i.store.list()).find((r) => r.sync === 'a')!.nextRunAt, due, 'still due');
        assert.equal((await jobRows()).length, 0, 'the job insert was rolled back with the claim');

        await i.scheduler.tick(t1);
        const row = (await i.store.list()).find((r) => r.sync === 'a')!;
        assert.notEqual(row.nextRunAt, due, 'claimed on the next tick');
        assert.equal(row.lastJobId, id);
        assert.deepEqual(await jobRows(), [{ id }]);
      } finally {
        await i.t.dest.execute('DROP TABLE IF EXISTS test_jobs');
        await i.queue.close();
        await i.t.close();
      }
    });
  });
}

describe('scheduler behaviour (SQLite)', () => {
  let db: TestDatabase;
  let project: TestProject;
  let i: Awaited<ReturnType<typeof instance>>;
  let t: Tributary;

  before(async () => {
    db = await createSqliteDatabase();
    project = createProject(db.url);
    project.write(
      'n.csv',
      csv(
        ['id', 'v', 'ts'],
        [
          [1, 'a', '2024-01-01T00:00:00Z'],
          [2, 'b', '2024-01-02T00:00:00Z'],
        ],
      ),
    );
    project.writeConfig({
      syncs: {
        n: {
          source: { type: 'csv', path: 'n.csv' },
          target: { table: 'n', primaryKey: 'id', columns: { id: 'integer', v: 'text', ts: 'timestamptz' } },
          incremental: { cursor: 'ts' },
          schedule: 'every 10m',
          runOnStart: true,
        },
      },
    });
    i = await instance(project);
    t = i.t;
    await i.queue.work(i.executor.handle, 2);
  });
  after(async () => {
    await i.queue.close();
    await t.close();
    project.remove();
    await db.drop();
  });

  const runs = () => t.state.listRuns({ sync: 'n', limit: 100 });
  const settled = () =>
    waitFor('runs to settle', async () =>
      (await runs()).every((r) => r.status !== 'running' && r.status !== 'queued') &&
      i.executor.running.length === 0
        ? true
        : undefined,
    );

  it('runOnStart: a full import when the target is empty, incremental once it has rows', async () => {
    await i.scheduler.runOnStart(T0);
    await waitFor('the startup run', async () => (await runs()).find((r) => r.status === 'succeeded'));
    const [first] = await runs();
    assert.equal(first!.trigger, 'startup');
    assert.equal(first!.fullRefresh, true);
    assert.equal(first!.inserted, 2);

    // Another instance starting within a minute shares that run.
    await i.scheduler.runOnStart(at(30_000));
    assert.equal(i.sent.filter((j) => j.trigger === 'startup').length, 1);

    await i.scheduler.runOnStart(at(2 * MIN));
    await settled();
    const second = (await runs())[0]!;
    assert.equal(second.trigger, 'startup');
    assert.equal(second.fullRefresh, false, 'incremental when the target has rows');

    await t.dest.execute('DELETE FROM n');
    await i.scheduler.runOnStart(at(4 * MIN));
    await settled();
    const third = (await runs())[0]!;
    assert.equal(third.fullRefresh, true, 'full again once the target is empty');
    assert.equal(third.inserted, 2);
  });

  it('runtime switches (CLI and API store them) take effect at the next tick, without a restart', async () => {
    await i.scheduler.tick(at(5 * MIN));
    let row = (await i.store.list())[0]!;
    assert.equal(row.spec, 'every 10m');
    const sentBefore = i.sent.length;

    await t.state.setEnabled('n', false);
    await i.scheduler.tick(at(16 * MIN));
    assert.equal(i.sent.length, sentBefore, 'a disabled sync does not run');
    row = (await i.store.list())[0]!;
    assert.ok(new Date(row.nextRunAt) > at(16 * MIN), 'its ticks still pass');

    await t.state.setEnabled('n', null);
    await t.state.setSchedule('n', 'every 1m');
    await i.scheduler.tick(at(17 * MIN));
    row = (await i.store.list())[0]!;
    assert.equal(row.spec, 'every 1m');
    assert.equal(row.nextRunAt, at(18 * MIN).toISOString());
    const runsBefore = (await runs()).length;
    await i.scheduler.tick(at(18 * MIN));
    assert.equal(i.sent.length, sentBefore + 1);
    await settled();
    const [latest] = await runs();
    assert.equal((await runs()).length, runsBefore + 1);
    assert.equal(latest!.trigger, 'schedule');

    await t.state.setSchedule('n', 'off');
    await i.scheduler.tick(at(19 * MIN));
    assert.equal((await i.store.list()).length, 0, 'off removes the schedule');
    await t.state.setSchedule('n', null);
    await i.scheduler.tick(at(20 * MIN));
    assert.equal((await i.store.list())[0]!.spec, 'every 10m', 'back to the config');
  });

  it('a tick that finds the sync still running is skipped and recorded', async () => {
    await settled();
    const lease = await t.state.acquireLease('n');
    assert.equal(lease.ok, true);
    try {
      const sentBefore = i.sent.length;
      await i.scheduler.tick(at(31 * MIN));
      assert.equal(i.sent.length, sentBefore, 'no job for a busy sync');
      const row = (await i.store.list())[0]!;
      assert.equal(row.skipCount, 1);
      assert.match(row.lastSkipReason!, /still running/);
      assert.ok(i.events.some((e) => e.type === 'tick.skipped' && e.sync === 'n'));
      const state = await i.scheduler.state();
      assert.equal(state.syncs[0]!.skipCount, 1);
    } finally {
      await t.state.releaseLease('n');
    }
  });

  it('a tick whose sync already ran after it was due does not run again (runOnStart + a missed tick: one run)', async () => {
    await settled();
    const before = (await runs()).length;
    await i.executor.handle({
      id: deterministicUuid('late'),
      sync: 'n',
      trigger: 'schedule',
      tick: new Date(Date.now() - MIN).toISOString(),
    });
    assert.equal((await runs()).length, before);
    assert.ok(i.events.some((e) => e.type === 'tick.skipped' && /started after it was due/.test(e.reason)));
  });

  it('the service-wide stop holds every tick; start runs the missed ones once', async () => {
    await i.scheduler.setRunning(false);
    const sentBefore = i.sent.length;
    await i.scheduler.tick(at(45 * MIN));
    await i.scheduler.tick(at(65 * MIN));
    assert.equal(i.sent.length, sentBefore);
    assert.equal((await i.scheduler.state()).running, false);
    await i.scheduler.setRunning(true);
    await i.scheduler.tick(at(66 * MIN));
    assert.equal(i.sent.length, sentBefore + 1);
    await settled();
  });

  it('a run left running by a dead process is resumed from its checkpoint', async () => {
    // Simulate a crash: a run row still 'running' and a lease held by a process that is gone.
    const runId = await t.state.createRun({
      sync: 'n',
      trigger: 'schedule',
      fullRefresh: true,
      cursorStart: null,
    });
    await t.dest.execute(
      `INSERT INTO tributary_leases (sync, run_id, instance, host, pid, acquired_at, expires_at) VALUES ('n', $1, 'dead', 'elsewhere', 1, $2, $3)`,
      [runId, new Date(Date.now() - 120_000).toISOString(), new Date(Date.now() - 60_000).toISOString()],
    );
    await Promise.all([i.scheduler.resumeOrphans(), i.scheduler.resumeOrphans()]);
    const resumeId = deterministicUuid(`resume|${runId}`);
    assert.ok(i.sent.some((j) => j.id === resumeId));
    await waitFor(
      'the orphan to be taken over',
      async () => (await t.state.getRun(runId))?.status === 'interrupted',
    );
    await settled();
    const latest = (await runs())[0]!;
    assert.notEqual(latest.id, runId);
    assert.equal(latest.status, 'succeeded');
    assert.equal(
      (await runs()).filter((r) => r.id > runId).length,
      1,
      'resumed once, however often the orphan was noticed',
    );
    assert.ok(i.sent.filter((j) => j.id === resumeId).length <= 2);
  });
});

const pgUrl = await postgresAdminUrl();
describe(
  'pg-boss queue',
  { skip: pgUrl ? false : 'no PostgreSQL server (see test/helpers/databases.ts)' },
  () => {
    it('sends a job inside the caller’s transaction: rolled back, it never existed; committed, once', async () => {
      const db = (await createPostgresDatabase())!;
      const dest = await db.open();
      const queue = await PgBossQueue.start(db.url, silentLogger);
      try {
        const job: SyncJob = { id: deterministicUuid('pg-boss-tx'), sync: 's', trigger: 'schedule' };
        await assert.rejects(
          dest.transaction(async (tx) => {
            assert.equal(await queue.send(job, tx), true);
            throw new Error('roll back');
          }),
          /roll back/,
        );
        assert.equal(await queue.depth(), 0, 'the rolled-back job does not exist');
        assert.equal(await dest.transaction((tx) => queue.send(job, tx)), true);
        assert.equal(await queue.send(job), false, 'the same id again is not a new job');
        assert.equal(await queue.depth(), 1);
      } finally {
        await queue.close();
        await dest.close();
        await db.drop();
      }
    });
  },
);
