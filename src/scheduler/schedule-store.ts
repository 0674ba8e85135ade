import type { SqlExecutor } from '../destinations/destination.ts';

/**
 * SQL over tributary_schedules and tributary_settings (migrations 002_service.sql). Every
 * statement that decides who does something is a compare-and-set, so instances need no other
 * coordination: the UPDATE that matched a row won.
 */
export interface ScheduleRow {
  sync: string;
  spec: string;
  /** ISO time of the next tick. */
  nextRunAt: string;
  lastTickAt: string | null;
  lastJobId: string | null;
  skipCount: number;
  lastSkipAt: string | null;
  lastSkipReason: string | null;
}

const str = (v: unknown): string | null =>
  v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v);

function toRow(r: Record<string, unknown>): ScheduleRow {
  return {
    sync: String(r.sync),
    spec: String(r.spec),
    nextRunAt: String(r.next_run_at),
    lastTickAt: str(r.last_tick_at),
    lastJobId: str(r.last_job_id),
    skipCount: Number(r.skip_count ?? 0),
    lastSkipAt: str(r.last_skip_at),
    lastSkipReason: str(r.last_skip_reason),
  };
}

export class ScheduleStore {
  constructor(readonly db: SqlExecutor) {}

  async list(): Promise<ScheduleRow[]> {
    return (await this.db.query('SELECT * FROM tributary_schedules ORDER BY sync')).map(toRow);
  }

  /** Adds the row unless another instance just did. */
  async insert(sync: string, spec: string, nextRunAt: string): Promise<void> {
    await this.db.execute(
      `INSERT INTO tributary_schedules (sync, spec, next_run_at, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (sync) DO NOTHING`,
      [sync, spec, nextRunAt, new Date().toISOString()],
    );
  }

  /** A changed schedule takes effect from now: new spec, next tick recomputed. */
  async changeSpec(sync: string, oldSpec: string, spec: string, nextRunAt: string): Promise<boolean> {
    const n = await this.db.execute(
      'UPDATE tributary_schedules SET spec = $3, next_run_at = $4, updated_at = $5 WHERE sync = $1 AND spec = $2',
      [sync, oldSpec, spec, nextRunAt, new Date().toISOString()],
    );
    return n > 0;
  }

  async remove(sync: string): Promise<void> {
    await this.db.execute('DELETE FROM tributary_schedules WHERE sync = $1', [sync]);
  }

  /**
   * Claims the tick due at `due`: moves next_run_at to `next` only if no one else moved it first.
   * Exactly one caller gets true per tick, across every instance.
   */
  async claimTick(
    sync: string,
    spec: string,
    due: string,
    next: string,
    db: SqlExecutor = this.db,
  ): Promise<boolean> {
    const n = await db.execute(
      `UPDATE tributary_schedules SET next_run_at = $4, last_tick_at = $3, updated_at = $5
       WHERE sync = $1 AND spec = $2 AND next_run_at = $3`,
      [sync, spec, due, next, new Date().toISOString()],
    );
    return n > 0;
  }

  async setJob(sync: string, jobId: string, db: SqlExecutor = this.db): Promise<void> {
    await db.execute('UPDATE tributary_schedules SET last_job_id = $2 WHERE sync = $1', [sync, jobId]);
  }

  async recordSkip(sync: string, reason: string): Promise<void> {
    await this.db.execute(
      `UPDATE tributary_schedules SET skip_count = skip_count + 1, last_skip_at = $2, last_skip_reason = $3
       WHERE sync = $1`,
      [sync, new Date().toISOString(), reason],
    );
  }

  // ── settings ─────────────────────────────────────────────────────────────

  async getSetting(key: string): Promise<string | null> {
    const rows = await this.db.query<{ value: unknown }>(
      'SELECT value FROM tributary_settings WHERE key = $1',
      [key],
    );
    return str(rows[0]?.value);
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.db.execute(
      `INSERT INTO tributary_settings (key, value, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [key, value, new Date().toISOString()],
    );
  }

  /**
   * Sets `key` to `value` only when it is absent or its value sorts before `ifBefore` (ISO
   * times): a claim that at most one instance wins per period.
   */
  async claimSetting(key: string, value: string, ifBefore: string): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO tributary_settings (key, value, updated_at) VALUES ($1, $2, $4)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
       WHERE tributary_settings.value < $3
       RETURNING key`,
      [key, value, ifBefore, new Date().toISOString()],
    );
    return rows.length > 0;
  }
}
