import { TributaryError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/types.ts';
import { zeroCounts } from '../core/types.ts';
import type { Tributary } from '../tributary.ts';
import type { EventBus } from './event-bus.ts';
import type { SyncJob } from './job-queue.ts';
import type { ScheduleStore } from './schedule-store.ts';

/**
 * Executes queued jobs in this process: one run each, through the library API. It never throws:
 * a run that cannot start is recorded (a skipped tick on the schedule row, a queued API run
 * ended as failed) and announced on the event bus like any run.
 */
export class RunExecutor {
  readonly #active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #closing = false;

  constructor(
    readonly t: Tributary,
    readonly schedules: ScheduleStore,
    readonly bus: EventBus,
    readonly logger: Logger,
  ) {}

  /** Syncs running in this process now. */
  get running(): string[] {
    return [...this.#active.keys()];
  }

  readonly handle = (job: SyncJob): Promise<void> => {
    if (this.#closing) {
      // A queued API run stays queued (the next start re-sends it); a tick taken while stopping is recorded.
      return job.runId === undefined
        ? this.skip(job.sync, `${job.trigger} run skipped: the instance was stopping`)
        : Promise.resolve();
    }
    const controller = new AbortController();
    const done = this.#run(job, controller.signal).finally(() => {
      if (this.#active.get(job.sync)?.done === done) this.#active.delete(job.sync);
    });
    this.#active.set(job.sync, { controller, done });
    return done;
  };

  async #run(job: SyncJob, signal: AbortSignal): Promise<void> {
    const { t, logger } = this;
    try {
      if (job.tick) {
        // A run that started after this tick was due (a startup run, a manual one) already did its work.
        const status = await t.state.getStatus(job.sync);
        if (status?.lastAttemptAt && Date.parse(status.lastAttemptAt) >= Date.parse(job.tick)) {
          await this.skip(
            job.sync,
            `tick ${job.tick} skipped: run ${status.lastRunId ?? '?'} started after it was due`,
          );
          return;
        }
      }
      // runOnStart: a full import when the target is empty, incremental otherwise.
      const full = job.full ?? (job.trigger === 'startup' ? await t.targetIsEmpty(job.sync) : undefined);
      await t.sync(job.sync, {
        trigger: job.trigger,
        full,
        limit: job.limit,
        runId: job.runId,
        signal,
        logger,
        onEvent: (event) => this.bus.publish(event),
      });
    } catch (err) {
      const message = errorMessage(err);
      const code = err instanceof TributaryError ? err.code : 'internal';
      if (code === 'cancelled' && job.runId !== undefined) {
        // Cancelled while queued: the API already ended the row, or it ends it here.
        await this.#abandon(job, 'cancelled', 'cancelled before it started', 'cancelled');
        return;
      }
      if (job.runId !== undefined) {
        await this.#abandon(job, 'failed', message, code);
      } else if (code === 'sync_busy') {
        await this.skip(job.sync, message);
      } else {
        logger.error(`could not start ${job.trigger} run of ${job.sync}: ${message}`, { sync: job.sync });
      }
    }
  }

  /** Records a tick (or startup run) that did not run, on the schedule row and the event bus. */
  async skip(sync: string, reason: string): Promise<void> {
    this.logger.info(`skipped a run of ${sync}: ${reason}`, { sync });
    await this.schedules.recordSkip(sync, reason).catch((err: unknown) => {
      this.logger.warn(`could not record a skipped tick of ${sync}: ${errorMessage(err)}`, { sync });
    });
    this.bus.publish({ type: 'tick.skipped', sync, reason, at: new Date().toISOString() });
  }

  async #abandon(job: SyncJob, status: 'cancelled' | 'failed', error: string, code: string): Promise<void> {
    const runId = job.runId!;
    try {
      if (!(await this.t.state.abandonQueuedRun(runId, status, error, code))) return;
    } catch (err) {
      this.logger.error(`could not end queued run ${runId}: ${errorMessage(err)}`, { sync: job.sync });
      return;
    }
    this.bus.publish({
      type: 'run.finished',
      runId,
      sync: job.sync,
      status,
      counts: zeroCounts(),
      durationMs: 0,
      error,
      at: new Date().toISOString(),
    });
  }

  /**
   * Graceful shutdown: every run in this process stops after its current batch and is marked
   * interrupted (the next run resumes it from its checkpoint). Resolves when all have stopped.
   */
  async shutdown(): Promise<void> {
    this.#closing = true;
    for (const { controller } of this.#active.values()) controller.abort('interrupt');
    await Promise.allSettled([...this.#active.values()].map((a) => a.done));
  }
}
