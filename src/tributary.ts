import type { Config, SyncConfig } from './config/schema.ts';
import { loadConfig } from './config/load.ts';
import { TributaryError } from './core/errors.ts';
import type { Logger, Row } from './core/types.ts';
import { silentLogger } from './core/types.ts';
import type { Destination } from './destinations/destination.ts';
import { openDestination } from './destinations/index.ts';
import { quoteIdent } from './destinations/identifiers.ts';
import { CleanFailure, compileCleaner } from './pipeline/clean.ts';
import type { ExpectationResult } from './pipeline/after-run.ts';
import { compileRouter } from './pipeline/route.ts';
import { parseSchedule } from './scheduler/schedule.ts';
import { ScheduleStore } from './scheduler/schedule-store.ts';
import { effectiveSchedule } from './scheduler/scheduler.ts';
import { createSource, runSync, selectStream, type RunOptions, type RunResult } from './pipeline/run-sync.ts';
import type { CheckResult } from './sources/source.ts';
import { StateStore, migrateState, type SyncStatusRow } from './state/state-store.ts';

export interface OpenOptions {
  /** Config file; default: discovery in `cwd` (see config/load.ts). */
  configFile?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

/** A sync as configured, joined with its runtime state: what `status` and the API show. */
export interface SyncOverview {
  name: string;
  description: string | null;
  source: string;
  table: string;
  mode: 'incremental' | 'full';
  enabled: boolean;
  schedule: string | null;
  status: SyncStatusRow | null;
  /** Every table the sync writes, parents first. */
  tables: string[];
  /** The checks of the sync's last completed pass (empty when it has none). */
  expectations: ExpectationResult[];
  /**
   * When the scheduler will start it next: the service's claimed tick when it has one, otherwise
   * the schedule's next time from now. Null when manual-only or disabled.
   */
  nextRunAt: string | null;
}

/**
 * The library API: one configured Tributary over one database. The CLI and the service are thin
 * layers over it.
 */
export class Tributary {
  private constructor(
    readonly config: Config,
    readonly configFile: string,
    readonly baseDir: string,
    readonly dest: Destination,
    readonly state: StateStore,
    readonly logger: Logger,
  ) {}

  static async open(options: OpenOptions = {}): Promise<Tributary> {
    const loaded = await loadConfig({ file: options.configFile, cwd: options.cwd, env: options.env });
    const dest = await openDestination(loaded.config.database, loaded.baseDir);
    try {
      await migrateState(dest);
    } catch (err) {
      await dest.close();
      throw err;
    }
    return new Tributary(
      loaded.config,
      loaded.file,
      loaded.baseDir,
      dest,
      new StateStore(dest),
      options.logger ?? silentLogger,
    );
  }

  get syncNames(): string[] {
    return Object.keys(this.config.syncs);
  }

  syncConfig(name: string): SyncConfig {
    const sync = this.config.syncs[name];
    if (!sync) {
      const known = this.syncNames;
      throw new TributaryError(
        'sync_not_found',
        `no sync named "${name}" in ${this.configFile}${known.length ? `; configured syncs: ${known.join(', ')}` : ''}`,
      );
    }
    return sync;
  }

  async sync(name: string, options: RunOptions = {}): Promise<RunResult> {
    const sync = this.syncConfig(name);
    return runSync(
      { dest: this.dest, state: this.state, name, sync, baseDir: this.baseDir },
      { logger: this.logger, ...options },
    );
  }

  /** Can we reach the source, and does the destination accept the target table? */
  async check(name: string): Promise<CheckResult> {
    const sync = this.syncConfig(name);
    const source = createSource({ sync, baseDir: this.baseDir }, this.logger);
    const result = await source.check();
    if (!result.ok) return result;
    await selectStream(source, sync);
    return { ok: true, message: `${result.message}; database ${this.dest.description} reachable` };
  }

  async overview(): Promise<SyncOverview[]> {
    const statuses = new Map((await this.state.listStatuses()).map((s) => [s.sync, s]));
    const expectations = new Map<string, ExpectationResult[]>();
    for (const [name, s] of statuses) {
      if (!this.config.syncs[name]?.expect || s.lastRunId === null) continue;
      const run = await this.state.getRun(s.lastRunId);
      const found = run?.metadata?.expectations;
      if (Array.isArray(found)) expectations.set(name, found as ExpectationResult[]);
    }
    const ticks = new Map((await new ScheduleStore(this.dest).list()).map((r) => [r.sync, r]));
    const nextRun = (name: string, status: SyncStatusRow | null): string | null => {
      const { spec, enabled } = effectiveSchedule(this.config.syncs[name]!, status);
      if (!enabled || spec === null) return null;
      const tick = ticks.get(name);
      if (tick && tick.spec === spec) return tick.nextRunAt;
      try {
        return parseSchedule(spec, this.config.service?.timezone ?? 'UTC')
          .next(new Date())
          .toISOString();
      } catch {
        return null; // an invalid runtime schedule; `tributary schedule` refuses to store one
      }
    };
    return this.syncNames.map((name) => {
      const sync = this.config.syncs[name]!;
      const status = statuses.get(name) ?? null;
      return {
        nextRunAt: nextRun(name, status),
        tables: compileRouter(sync).writeOrder.map((p) => p.spec.name),
        expectations: expectations.get(name) ?? [],
        name,
        description: sync.description ?? null,
        source: describeSource(sync),
        table: sync.target.table,
        mode: sync.incremental ? 'incremental' : 'full',
        enabled: status?.enabled ?? sync.enabled ?? true,
        schedule: status?.schedule ?? sync.schedule ?? null,
        status,
      };
    });
  }

  /** Rows of a table this config manages, in canonical form. */
  async data(
    table: string,
    options: { where?: Record<string, string>; limit?: number } = {},
  ): Promise<Row[]> {
    const written = Object.values(this.config.syncs).flatMap((sync) =>
      compileRouter(sync).writeOrder.map((plan) => ({ sync, plan })),
    );
    const entry = written.find((w) => w.plan.spec.name === table);
    if (!entry) {
      const tables = [...new Set(written.map((w) => w.plan.spec.name))];
      throw new TributaryError(
        'usage',
        `no configured sync writes a table named "${table}"; tables: ${tables.join(', ') || '(none)'}`,
      );
    }
    const { sync, plan } = entry;
    const spec = plan.spec;
    const declaredColumns = plan.isTarget ? sync.target.columns : sync.related![table]!.columns;
    // Filter values are cleaned like imported values, so "id=abc" on an integer column is a clear
    // error on every engine and "issued=January 15, 2020" finds 2020-01-15.
    const where: Record<string, string> = {};
    for (const [col, raw] of Object.entries(options.where ?? {})) {
      const column = spec.columns.find((c) => c.name === col);
      if (!column) {
        throw new TributaryError(
          'usage',
          `table ${table} has no column "${col}"; columns: ${spec.columns.map((c) => c.name).join(', ')}`,
        );
      }
      const declared = declaredColumns[col];
      const value = compileCleaner(col, {
        type: column.type,
        format: typeof declared === 'object' ? declared.format : undefined,
      })(raw);
      if (value instanceof CleanFailure) throw new TributaryError('usage', `--where ${value.message}`);
      if (value === null) throw new TributaryError('usage', `--where ${col}: give a value to match`);
      where[col] = String(value);
    }
    if (!(await this.dest.tableExists(table))) return [];
    return this.dest.readRows(spec, { where, limit: options.limit ?? 20 });
  }

  async close(): Promise<void> {
    await this.dest.close();
  }

  /** True when the sync's target table does not exist or holds no row (runOnStart then runs a full import). */
  async targetIsEmpty(name: string): Promise<boolean> {
    const table = this.syncConfig(name).target.table;
    if (!(await this.dest.tableExists(table))) return true;
    return (await this.dest.query(`SELECT 1 AS one FROM ${quoteIdent(table)} LIMIT 1`)).length === 0;
  }
}

function describeSource(sync: SyncConfig): string {
  const s = sync.source as Record<string, unknown>;
  const where = [s.path, s.url, s.baseId, s.table].find((v): v is string => typeof v === 'string') ?? '';
  return `${sync.source.type}${where ? ` ${where}` : ''}`;
}
