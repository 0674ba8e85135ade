import PgBoss from 'pg-boss';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/types.ts';
import type { SqlExecutor } from '../destinations/destination.ts';
import type { JobHandler, JobQueue, SyncJob } from './job-queue.ts';

/**
 * PostgreSQL mode: one pg-boss queue shared by every instance (reference/libraries.md §4).
 *
 * - One queue for all syncs: in pg-boss 10 each queue is a partition table.
 * - Policy `standard`, no singletonKey. `stately` would keep one *active* job per sync, but a
 *   worker killed with SIGKILL leaves its job active until it expires, which would block the sync
 *   for that long. One active run per sync is the lease's job (tributary_leases); a tick that
 *   finds the sync running is skipped by the scheduler and by the executor.
 * - Job ids are deterministic per tick, and pg-boss inserts with ON CONFLICT DO NOTHING, so a
 *   tick sent twice is one job.
 * - No pg-boss retries: a failed run keeps its pass open and the next tick resumes it; an
 *   interrupted one is resumed by the orphan sweep.
 */
const QUEUE = 'tributary-sync';
/** A job still active after this long is expired by pg-boss; runs renew their own lease instead. */
const EXPIRE_HOURS = 23;

export class PgBossQueue implements JobQueue {
  readonly kind = 'pg-boss';
  readonly transactional = true;
  readonly #boss: PgBoss;
  readonly #logger: Logger;
  readonly #inFlight = new Set<Promise<void>>();
  #working = false;

  private constructor(boss: PgBoss, logger: Logger) {
    this.#boss = boss;
    this.#logger = logger;
  }

  static async start(connectionString: string, logger: Logger): Promise<PgBossQueue> {
    const boss = new PgBoss({
      connectionString,
      application_name: 'tributary-queue',
      max: 4,
      // Schedules live in tributary_schedules (dynamic, per sync); pg-boss's cron is minute-grained.
      schedule: false,
      retryLimit: 0,
      expireInHours: EXPIRE_HOURS,
      // Completed jobs stay a week, so a deterministic id re-sent late is still recognised.
      deleteAfterDays: 7,
    });
    boss.on('error', (err) => logger.warn(`queue: ${errorMessage(err)}`));
    await boss.start();
    // Several instances starting together race to create the queue: creation is idempotent but
    // can deadlock (supabase/storage#703), so a failed attempt is retried.
    for (let attempt = 1; ; attempt++) {
      try {
        if (!(await boss.getQueue(QUEUE))) {
          await boss.createQueue(QUEUE, {
            name: QUEUE,
            policy: 'standard',
            retryLimit: 0,
            expireInHours: EXPIRE_HOURS,
          });
        }
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
    return new PgBossQueue(boss, logger);
  }

  async send(job: SyncJob, within?: SqlExecutor): Promise<boolean> {
    // pg-boss runs its INSERT through `db` when given: inside the caller's transaction.
    const db = within && {
      executeSql: async (text: string, values?: unknown[]) => ({ rows: await within.query(text, values) }),
    };
    const id = await this.#boss.send(QUEUE, job, {
      id: job.id,
      retryLimit: 0,
      expireInHours: EXPIRE_HOURS,
      ...(db ? { db } : {}),
    });
    return id !== null;
  }

  async work(handler: JobHandler, concurrency: number): Promise<void> {
    this.#working = true;
    // pg-boss 10 runs one batch at a time per worker: `concurrency` workers run that many jobs.
    for (let i = 0; i < Math.max(1, concurrency); i++) {
      await this.#boss.work<SyncJob>(QUEUE, { batchSize: 1, pollingIntervalSeconds: 1 }, async (jobs) => {
        for (const job of jobs) {
          const done = handler(job.data).catch((err: unknown) =>
            this.#logger.error(`job for ${job.data.sync} failed: ${errorMessage(err)}`, {
              sync: job.data.sync,
            }),
          );
          this.#inFlight.add(done);
          try {
            await done;
          } finally {
            this.#inFlight.delete(done);
          }
        }
      });
    }
  }

  async stopWorking(): Promise<void> {
    if (this.#working) {
      this.#working = false;
      await this.#boss.offWork(QUEUE).catch(() => {});
    }
    await Promise.allSettled([...this.#inFlight]);
  }

  depth(): Promise<number> {
    return this.#boss.getQueueSize(QUEUE);
  }

  async close(): Promise<void> {
    await this.stopWorking();
    await this.#boss.stop({ graceful: true, wait: true, close: true, timeout: 10_000 });
  }
}
