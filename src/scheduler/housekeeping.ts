import { parseDuration } from '../core/duration.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/types.ts';
import type { StateStore } from '../state/state-store.ts';

/**
 * Run-history retention: finished runs (and their quarantined records) older than the retention
 * period are deleted, at start and then hourly, by every instance that runs a scheduler (the
 * deletes are idempotent, so instances need not agree who does it).
 */
export const HOUSEKEEPING_DEFAULTS = {
  /** DESIGN: history is kept 90 days unless `service.historyRetention` says otherwise. */
  historyRetention: '90d',
  intervalMs: 3_600_000,
} as const;

export class Housekeeping {
  #timer: NodeJS.Timeout | undefined;
  readonly #retentionMs: number | null;

  constructor(
    readonly state: StateStore,
    retention: string | undefined,
    readonly logger: Logger,
    readonly intervalMs: number = HOUSEKEEPING_DEFAULTS.intervalMs,
  ) {
    const r = retention ?? HOUSEKEEPING_DEFAULTS.historyRetention;
    this.#retentionMs = r === 'off' ? null : parseDuration(r);
  }

  /** Deletes what is past retention; returns the runs deleted. */
  async sweep(now = new Date()): Promise<number> {
    if (this.#retentionMs === null) return 0;
    const before = new Date(now.getTime() - this.#retentionMs).toISOString();
    const deleted = await this.state.deleteRunsFinishedBefore(before);
    if (deleted > 0) this.logger.info(`history retention: deleted ${deleted} runs finished before ${before}`);
    return deleted;
  }

  start(): void {
    const run = () => {
      this.sweep().catch((err: unknown) =>
        this.logger.warn(`history retention failed: ${errorMessage(err)}`),
      );
    };
    run();
    this.#timer = setInterval(run, this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
