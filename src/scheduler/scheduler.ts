import type { SyncConfig } from '../config/schema.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/types.ts';
import type { SyncStatusRow } from '../state/state-store.ts';
import type { Tributary } from '../tributary.ts';
import { deterministicUuid, type JobQueue, type SyncJob } from './job-queue.ts';
import type { RunExecutor } from './run-executor.ts';
import { SCHEDULE_OFF, parseSchedule, type Schedule } from './schedule.ts';
import type { ScheduleStore } from './schedule-store.ts';

export interface SchedulerOptions {
  /** Time zone of cron expressions without a TZ= prefix. */
  timezone: string;
  /** How often the tick loop looks for due ticks (ms). Ticks are claimed at most this late. */
  tickMs: number;
  /** Every this many ticks, runs left 'running' by a dead process are resumed. */
  sweepEveryTicks: number;
  logger: Logger;
}

export const SCHEDULER_DEFAULTS = { timezone: 'UTC', tickMs: 1000, sweepEveryTicks: 5 } as const;

/** Service-wide switch in tributary_settings: "false" stops scheduled runs on every instance. */
const RUNNING_KEY = 'scheduler.running';
/** Instances starting within this window of each other do one runOnStart run between them. */
const STARTUP_WINDOW_MS = 60_000;

export interface SyncScheduleState {
  sync: string;
  /** The effective schedule (runtime override, else config), or null for manual only. */
  schedule: string | null;
  enabled: boolean;
  nextRunAt: string | null;
  lastTickAt: string | null;
  skipCount: number;
  lastSkipAt: string | null;
  lastSkipReason: string | null;
  /** Why the schedule is not used, when it cannot be parsed. */
  problem: string | null;
}

export interface SchedulerState {
  /** The service-wide switch (POST /api/scheduler/start|stop). */
  running: boolean;
  /** Whether this instance runs a tick loop (false with --no-scheduler and in `tributary worker`). */
  local: boolean;
  timezone: string;
  syncs: SyncScheduleState[];
}

/** The schedule and switch in force for a sync: runtime overrides (CLI, API) win over the config. */
export function effectiveSchedule(
  sync: SyncConfig,
  status: SyncStatusRow | null | undefined,
): { spec: string | null; enabled: boolean } {
  const raw = status?.schedule ?? sync.schedule ?? null;
  return {
    spec: raw === null || raw.trim() === SCHEDULE_OFF ? null : raw.trim(),
    enabled: status?.enabled ?? sync.enabled ?? true,
  };
}

/**
 * The tick loop. Schedules live in tributary_schedules, kept in step with the config and the
 * runtime switches on every tick (so `tributary schedule`, `enable`, `disable` and PATCH take
 * effect within a tick, without a restart). Each due tick is claimed with a compare-and-set on
 * next_run_at, so with any number of instances every tick is claimed exactly once; the claimer
 * sends one job with an id derived from the sync and the tick time. A tick that was due while
 * the service was down (or stopped) is claimed once, and the next one is computed from now:
 * missed ticks run once, not once each.
 */
export class Scheduler {
  readonly #parsed = new Map<string, Schedule | Error>();
  #timer: NodeJS.Timeout | undefined;
  #ticks = 0;
  #loop: Promise<void> | null = null;
  #stopped = true;

  constructor(
    readonly t: Tributary,
    readonly store: ScheduleStore,
    readonly queue: JobQueue,
    readonly executor: RunExecutor,
    readonly options: SchedulerOptions,
  ) {}

  get local(): boolean {
    return !this.#stopped;
  }

  /** Starts this instance's tick loop and sends the runOnStart runs. */
  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    await this.runOnStart();
    this.#schedule(0);
  }

  /** Stops this instance's tick loop (runs in progress are not touched). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#loop;
  }

  async isRunning(): Promise<boolean> {
    return (await this.store.getSetting(RUNNING_KEY)) !== 'false';
  }

  /** The service-wide switch: false stops scheduled runs on every instance until set true. */
  async setRunning(running: boolean): Promise<void> {
    await this.store.setSetting(RUNNING_KEY, String(running));
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#loop = this.tick()
        .catch((err: unknown) => this.options.logger.warn(`scheduler tick failed: ${errorMessage(err)}`))
        .finally(() => {
          this.#loop = null;
          this.#schedule(this.options.tickMs);
        });
    }, delay);
    this.#timer.unref();
  }

  #parse(spec: string): Schedule | Error {
    let s = this.#parsed.get(spec);
    if (!s) {
      try {
        s = parseSchedule(spec, this.options.timezone);
      } catch (err) {
        s = err instanceof Error ? err : new Error(String(err));
        this.options.logger.warn(errorMessage(err));
      }
      this.#parsed.set(spec, s);
    }
    return s;
  }

  /** One pass of the loop; public so tests drive it with a chosen clock. */
  async tick(now = new Date()): Promise<void> {
    const { t, store } = this;
    const statuses = new Map((await t.state.listStatuses()).map((s) => [s.sync, s]));
    const rows = new Map((await store.list()).map((r) => [r.sync, r]));
    const running = await this.isRunning();

    for (const name of t.syncNames) {
      const { spec, enabled } = effectiveSchedule(t.syncConfig(name), statuses.get(name));
      const row = rows.get(name);
      const schedule = spec === null ? null : this.#parse(spec);
      if (spec === null || schedule instanceof Error || schedule === null) {
        if (row) await store.remove(name);
        continue;
      }
      if (!row) {
        await store.insert(name, spec, schedule.next(now).toISOString());
        continue;
      }
      if (row.spec !== spec) {
        await store.changeSpec(name, row.spec, spec, schedule.next(now).toISOString());
        continue;
      }
      const due = new Date(row.nextRunAt);
      if (!running || due.getTime() > now.getTime()) continue;
      const next = schedule.next(now, due).toISOString();
      await this.#claimTick(name, spec, row.nextRunAt, next, enabled);
    }
    for (const name of rows.keys()) if (!t.syncNames.includes(name)) await store.remove(name);

    if (this.#ticks++ % this.options.sweepEveryTicks === 0) await this.resumeOrphans();
  }

  /**
   * Claims the tick due at `due` and sends its job. With a queue in the database (pg-boss) both
   * happen in one transaction, so an instance killed between them loses neither: the tick is
   * still due and another instance claims it. A tick that finds the sync running is skipped and
   * recorded by the instance that won it; a disabled sync's ticks pass without running.
   */
  async #claimTick(sync: string, spec: string, due: string, next: string, enabled: boolean): Promise<void> {
    const { queue, store } = this;
    const lease = enabled ? await this.t.state.liveLease(sync) : null;
    const job: SyncJob | null =
      enabled && !lease
        ? { id: deterministicUuid(`${sync}|tick|${due}`), sync, trigger: 'schedule', tick: due }
        : null;
    const won = await this.t.dest.transaction(async (tx) => {
      if (!(await store.claimTick(sync, spec, due, next, tx))) return false; // another instance won it
      if (job && queue.transactional) {
        await queue.send(job, tx);
        await store.setJob(sync, job.id, tx);
      }
      return true;
    });
    if (!won) return;
    if (job && !queue.transactional) {
      await queue.send(job);
      await store.setJob(sync, job.id);
    }
    if (lease) {
      await this.executor.skip(
        sync,
        `tick ${due} skipped: the sync was still running${lease.runId ? ` (run ${lease.runId})` : ''}`,
      );
    }
  }

  /**
   * runOnStart: one run per sync when the service starts (a full import when the target is
   * empty, incremental otherwise; the executor decides). Instances that start together share it.
   */
  async runOnStart(now = new Date()): Promise<void> {
    if (!(await this.isRunning())) return; // the service-wide stop holds startup runs too
    const statuses = new Map((await this.t.state.listStatuses()).map((s) => [s.sync, s]));
    for (const name of this.t.syncNames) {
      const sync = this.t.syncConfig(name);
      if (sync.runOnStart !== true || !effectiveSchedule(sync, statuses.get(name)).enabled) continue;
      const claimed = await this.store.claimSetting(
        `startup:${name}`,
        now.toISOString(),
        new Date(now.getTime() - STARTUP_WINDOW_MS).toISOString(),
      );
      if (!claimed) continue;
      if (await this.t.state.liveLease(name)) {
        await this.executor.skip(name, 'startup run skipped: the sync was already running');
        continue;
      }
      await this.queue.send({
        id: deterministicUuid(`${name}|startup|${now.toISOString()}`),
        sync: name,
        trigger: 'startup',
      });
    }
  }

  /**
   * A run still marked 'running' whose sync has no live lease belonged to a process that died
   * (SIGKILL, lost machine). Another run of the sync resumes its pass from the last checkpoint;
   * the job id is derived from the dead run, so however many instances notice, it runs once.
   */
  async resumeOrphans(): Promise<void> {
    const running = await this.t.state.listRuns({ status: 'running', limit: 100 });
    const statuses = new Map((await this.t.state.listStatuses()).map((s) => [s.sync, s]));
    for (const run of running) {
      if (!this.t.syncNames.includes(run.sync)) continue;
      if (!effectiveSchedule(this.t.syncConfig(run.sync), statuses.get(run.sync)).enabled) continue;
      if (await this.t.state.liveLease(run.sync)) continue;
      const sent = await this.queue.send({
        id: deterministicUuid(`resume|${run.id}`),
        sync: run.sync,
        trigger: run.trigger,
      });
      if (sent)
        this.options.logger.info(`run ${run.id} of ${run.sync} was orphaned by a dead process; resuming it`, {
          sync: run.sync,
        });
    }
  }

  async state(): Promise<SchedulerState> {
    const statuses = new Map((await this.t.state.listStatuses()).map((s) => [s.sync, s]));
    const rows = new Map((await this.store.list()).map((r) => [r.sync, r]));
    return {
      running: await this.isRunning(),
      local: this.local,
      timezone: this.options.timezone,
      syncs: this.t.syncNames.map((name) => {
        const { spec, enabled } = effectiveSchedule(this.t.syncConfig(name), statuses.get(name));
        const row = rows.get(name);
        const parsed = spec === null ? null : this.#parse(spec);
        return {
          sync: name,
          schedule: spec,
          enabled,
          nextRunAt: row && row.spec === spec ? row.nextRunAt : null,
          lastTickAt: row?.lastTickAt ?? null,
          skipCount: row?.skipCount ?? 0,
          lastSkipAt: row?.lastSkipAt ?? null,
          lastSkipReason: row?.lastSkipReason ?? null,
          problem: parsed instanceof Error ? parsed.message : null,
        };
      }),
    };
  }
}
