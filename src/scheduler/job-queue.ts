import { createHash } from 'node:crypto';
import type { SqlExecutor } from '../destinations/destination.ts';
import type { RunTrigger } from '../core/types.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/types.ts';

/**
 * The run queue between whoever asks for a run (a schedule tick, the API, a startup run, the
 * orphan sweep) and whoever executes it. Embedded (SQLite) it is an in-process list; on
 * PostgreSQL it is a pg-boss queue shared by every instance (pg-boss-queue.ts). Both drop a job
 * whose id was sent before, which is how a tick claimed twice still runs once.
 */
export interface SyncJob {
  /** A UUID. Deterministic for ticks (sync + tick time) and for queued API runs (run id). */
  id: string;
  sync: string;
  trigger: RunTrigger;
  /** The queued run row to claim (API runs). */
  runId?: number;
  full?: boolean;
  limit?: number;
  /** The scheduled tick this job is for (ISO), for logs. */
  tick?: string;
}

export type JobHandler = (job: SyncJob) => Promise<void>;

export interface JobQueue {
  readonly kind: string;
  /**
   * Whether `send(job, within)` inserts the job in the caller's database transaction, so the job
   * exists exactly when that transaction commits (the queue lives in the destination database).
   */
  readonly transactional: boolean;
  /**
   * True when a new job was queued, false when a job with this id was sent before. `within`
   * is used only by transactional queues; others ignore it, and callers send after committing.
   */
  send(job: SyncJob, within?: SqlExecutor): Promise<boolean>;
  /** Starts taking jobs, running at most `concurrency` at once. */
  work(handler: JobHandler, concurrency: number): Promise<void>;
  /** Stops taking new jobs and waits for the handlers in flight. */
  stopWorking(): Promise<void>;
  /** Jobs waiting to start. */
  depth(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A name-based UUID (RFC 4122 version 5 layout over SHA-1), so every instance derives the same
 * job id for the same tick without talking to the others.
 */
export function deterministicUuid(name: string): string {
  const h = createHash('sha1').update('tributary-job:').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Ids remembered for de-duplication; a tick's id is only ever re-sent within seconds. */
const REMEMBERED_IDS = 10_000;

/**
 * Embedded mode: jobs wait in memory and run in this process. Two jobs of one sync never run at
 * once here (the second waits), so a queued API run starts right after the scheduled one ends.
 */
export class InProcessQueue implements JobQueue {
  readonly kind = 'in-process';
  readonly transactional = false;
  readonly #waiting: SyncJob[] = [];
  readonly #seen = new Set<string>();
  readonly #running = new Map<string, Promise<void>>();
  #handler: JobHandler | null = null;
  #concurrency = 1;
  #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  send(job: SyncJob): Promise<boolean> {
    if (this.#seen.has(job.id)) return Promise.resolve(false);
    this.#seen.add(job.id);
    if (this.#seen.size > REMEMBERED_IDS) this.#seen.delete(this.#seen.values().next().value!);
    this.#waiting.push(job);
    this.#pump();
    return Promise.resolve(true);
  }

  work(handler: JobHandler, concurrency: number): Promise<void> {
    this.#handler = handler;
    this.#concurrency = Math.max(1, concurrency);
    this.#pump();
    return Promise.resolve();
  }

  async stopWorking(): Promise<void> {
    this.#handler = null;
    await Promise.allSettled([...this.#running.values()]);
  }

  depth(): Promise<number> {
    return Promise.resolve(this.#waiting.length);
  }

  async close(): Promise<void> {
    await this.stopWorking();
    this.#waiting.length = 0;
  }

  #pump(): void {
    const handler = this.#handler;
    if (!handler) return;
    for (let i = 0; i < this.#waiting.length && this.#running.size < this.#concurrency;) {
      const job = this.#waiting[i]!;
      if (this.#running.has(job.sync)) {
        i++;
        continue;
      }
      this.#waiting.splice(i, 1);
      const done = handler(job)
        .catch((err: unknown) =>
          this.#logger.error(`job for ${job.sync} failed: ${errorMessage(err)}`, { sync: job.sync }),
        )
        .finally(() => {
          this.#running.delete(job.sync);
          this.#pump();
        });
      this.#running.set(job.sync, done);
    }
  }
}
