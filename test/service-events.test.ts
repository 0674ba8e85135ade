/**
 * Live events (GET /api/events) over a real socket: a run's started / batch written / finished
 * events with counters, rate and ETA, heartbeats, resumption with Last-Event-ID, a reset for an
 * id this process never issued, and (PostgreSQL) a reset when the connection that carries other
 * instances' events was lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../src/core/types.ts';
import { PgNotifyBus } from '../src/scheduler/event-bus.ts';
import {
  createPostgresDatabase,
  createSqliteDatabase,
  postgresAdminUrl,
  type TestDatabase,
} from './helpers/databases.ts';
import { createProject, csv, type TestProject } from './helpers/project.ts';
import { startTestService, waitFor, type TestService } from './helpers/service.ts';
import { openStream } from './helpers/sse.ts';

const ROWS = 60;

describe('live events over SSE (real socket)', () => {
  let db: TestDatabase;
  let project: TestProject;
  let s: TestService;

  before(async () => {
    db = await createSqliteDatabase();
    project = createProject(db.url);
    const rows = Array.from({ length: ROWS }, (_, i) => [i + 1, `name ${i + 1}`]);
    project.write('items.csv', csv(['id', 'name'], rows));
    project.writeConfig({
      syncs: {
        items: {
          source: { type: 'csv', path: 'items.csv' },
          target: { table: 'items', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
          batchSize: 10,
        },
        quiet: {
          source: { type: 'csv', path: 'items.csv' },
          target: { table: 'quiet', primaryKey: 'id', columns: { id: 'integer', name: 'text' } },
        },
      },
    });
    s = await startTestService(project, { heartbeatMs: 100 });
  });
  after(async () => {
    await s?.close();
    project.remove();
    await db.drop();
  });

  const startRun = async (sync: string) => {
    const res = await fetch(`${s.url}/api/syncs/${sync}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 202);
    return ((await res.json()) as { runId: number }).runId;
  };

  it('streams a run: queued, started, batches with counters, rate and ETA, finished; heartbeats between', async () => {
    const stream = openStream(`${s.url}/api/events?sync=items`);
    await waitFor('the stream to open', () => stream.status() === 200 && stream.frames.length > 0);
    assert.match(stream.contentType(), /^text\/event-stream/);
    const runId = await startRun('items');
    await startRun('quiet'); // filtered out by ?sync=items
    await waitFor('run.finished', () =>
      stream.events().some((f) => f.event === 'run.finished' && f.data.runId === runId),
    );
    await waitFor('a heartbeat', () => stream.frames.some((f) => f.comment?.startsWith('heartbeat')));
    stream.close();

    const events = stream.events();
    assert.ok(
      events.every((e) => e.data.sync === 'items'),
      'only the filtered sync',
    );
    const types = events.map((e) => e.event);
    assert.equal(types[0], 'run.queued');
    assert.equal(types[1], 'run.started');
    assert.equal(types.at(-1), 'run.finished');
    const batches = events.filter((e) => e.event === 'batch.written');
    assert.equal(batches.length, ROWS / 10);
    batches.forEach((b, i) => {
      assert.equal(b.data.batch, i + 1);
      assert.equal(b.data.counts.read, (i + 1) * 10, 'counters are cumulative');
      assert.equal(b.data.counts.inserted, (i + 1) * 10);
      assert.equal(typeof b.data.rate, 'number');
      assert.equal(b.data.progress.unit, 'bytes');
      assert.equal(typeof b.data.etaMs, 'number');
      assert.equal(b.data.instance, s.ctx.instance);
    });
    const finished = events.at(-1)!.data;
    assert.equal(finished.status, 'succeeded');
    assert.equal(finished.counts.inserted, ROWS);
    // Ids increase by one within this process.
    const seqs = events.map((e) => Number(e.id!.split('-')[1]));
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!);
  });

  it('a client that reconnects with Last-Event-ID gets exactly the events it missed', async () => {
    const first = openStream(`${s.url}/api/events`);
    await waitFor('the stream to open', () => first.frames.length > 0);
    const runId = await startRun('items');
    await waitFor('two events', () => first.events().filter((e) => e.data.runId === runId).length >= 2);
    first.close();
    // The client got as far as the run's second event (it may have received more before closing:
    // a fast run can finish first; what it saw after that point is thrown away).
    const received = first.events();
    const cut = received.indexOf(received.filter((e) => e.data.runId === runId)[1]!);
    const seen = received.slice(0, cut + 1);
    const last = seen.at(-1)!;

    await waitFor(
      'the run to finish',
      async () => (await s.ctx.t.state.getRun(runId))?.status === 'succeeded',
    );
    await waitFor(
      'its event to reach the hub',
      () => s.ctx.hub.since(last.id!)?.some((e) => e.event.type === 'run.finished') ?? false,
    );
    const second = openStream(`${s.url}/api/events`, { 'last-event-id': last.id! });
    await waitFor('the replay', () =>
      second.events().some((e) => e.event === 'run.finished' && e.data.runId === runId),
    );
    second.close();
    const replayed = second.events();
    const all = [...seen, ...replayed].filter((e) => e.data.runId === runId).map((e) => e.event);
    assert.equal(all[0], 'run.queued');
    assert.equal(all.filter((t) => t === 'run.started').length, 1, 'nothing twice');
    assert.equal(all.filter((t) => t === 'batch.written').length, ROWS / 10, 'nothing missed');
    assert.equal(all.at(-1), 'run.finished');
    const firstReplayed = Number(replayed[0]!.id!.split('-')[1]);
    assert.equal(
      firstReplayed,
      Number(last.id!.split('-')[1]) + 1,
      'replay starts right after the last id seen',
    );
  });

  it('an id from another process (or older than the ring) gets a reset event', async () => {
    const stream = openStream(`${s.url}/api/events`, { 'last-event-id': 'deadbeef-12' });
    await waitFor('the reset', () => stream.frames.some((f) => f.event === 'reset'));
    stream.close();
    assert.equal(stream.events().length, 0);
  });

  it('an unknown sync filter is a 404', async () => {
    const res = await fetch(`${s.url}/api/events?sync=nope`);
    assert.equal(res.status, 404);
  });
});

const pgUrl = await postgresAdminUrl();
describe(
  'live events across instances (PostgreSQL): a lost LISTEN connection',
  { skip: pgUrl ? false : 'no PostgreSQL server (see test/helpers/databases.ts)' },
  () => {
    let db: TestDatabase;
    let project: TestProject;
    let s: TestService;
    before(async () => {
      db = (await createPostgresDatabase())!;
      project = createProject(db.url);
      project.write('items.csv', csv(['id'], [[1]]));
      project.writeConfig({
        syncs: {
          items: {
            source: { type: 'csv', path: 'items.csv' },
            target: { table: 'items', primaryKey: 'id', columns: { id: 'integer' } },
          },
        },
      });
      s = await startTestService(project, { scheduler: false });
    });
    after(async () => {
      await s?.close();
      project.remove();
      await db.drop();
    });

    it('tells clients to reload, refuses resuming from before the gap, and carries other instances’ events again', async () => {
      const skipped = (reason: string) =>
        ({ type: 'tick.skipped', sync: 'items', reason, at: new Date().toISOString() }) as const;
      const stream = openStream(`${s.url}/api/events`);
      await waitFor('the stream to open', () => stream.status() === 200);
      s.ctx.bus.publish(skipped('before the gap'));
      const before = await waitFor('the first event', () =>
        stream.events().find((e) => e.data.reason === 'before the gap'),
      );

      // The connection that carries other instances' events is cut (as by a server restart).
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      try {
        const cut = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE application_name = 'tributary-events' AND datname = current_database()`,
        );
        assert.ok(cut.rowCount! >= 1, 'the LISTEN connection was found');
      } finally {
        await admin.end();
      }
      const reset = await waitFor('a reset once reconnected', () =>
        stream.frames.find((f) => f.event === 'reset'),
      );
      assert.match(reset.data.reason, /lost and is back; events may have been missed: reload the state/);

      // Another instance's events arrive again.
      const other = await PgNotifyBus.start(db.url, 'another-instance', silentLogger);
      try {
        other.publish(skipped('after the gap'));
        const after = await waitFor('an event from another instance', () =>
          stream.events().find((e) => e.data.reason === 'after the gap'),
        );
        assert.equal(after.data.instance, 'another-instance');
      } finally {
        await other.close();
      }

      // Resuming from an id before the gap would silently miss events: a reset instead.
      const resumed = openStream(`${s.url}/api/events`, { 'last-event-id': before.id! });
      await waitFor('the reset', () => resumed.frames.some((f) => f.event === 'reset'));
      resumed.close();
      assert.equal(resumed.events().length, 0, 'nothing replayed across the gap');
      stream.close();
    });
  },
);
