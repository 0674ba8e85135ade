import { readFileSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint, CursorValue, Rejection, RunCounts, RunStatus, RunTrigger } from '../core/types.ts';
import type { Destination, SqlExecutor } from '../destinations/destination.ts';

/**
 * Tributary's own tables (tributary_sync_status, tributary_runs, tributary_quarantine,
 * tributary_leases) live in the destination database, so a batch's rows, checkpoint and counters
 * commit in one transaction. SQL is written once with $n placeholders and ISO-text times, which
 * both engines accept; the DDL differs per engine and lives in migrations/<engine>/NNN_*.sql.
 */

const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');

/** Creates or upgrades the state tables. Safe to call from several processes at once. */
export async function migrateState(dest: Destination): Promise<string[]> {
  await dest.execute(
    'CREATE TABLE IF NOT EXISTS tributary_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  const applied = new Set(
    (await dest.query<{ name: string }>('SELECT name FROM tributary_migrations')).map((r) => r.name),
  );
  // The migration folder is chosen by the engine's SQL dialect: DDL is the one place it differs.
  const dir = join(MIGRATIONS_DIR, dest.kind);
  const pending = readdirSync(dir)
    .filter((f) => f.endsWith('.sql') && !applied.has(f))
    .sort();
  for (const name of pending) {
    await dest.migrate([{ name, sql: readFileSync(join(dir, name), 'utf8') }]);
    await dest.execute(
      'INSERT INTO tributary_migrations (name, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [name, new Date().toISOString()],
    );
  }
  return pending;
}

/** The pass in progress: what a resumed run needs to continue exactly where the last one stopped. */
export interface PassState {
  /** Run that started the pass; also the marker of its seen-key set. */
  runId: number;
  full: boolean;
  checkpoint: Checkpoint | null;
  /** Inclusive lower bound of this incremental pass (lookback applied), null for full passes. */
  cursorFrom: CursorValue | null;
  /** Highest cursor value written so far in this pass. */
  cursorMax: CursorValue | null;
  startedAt: string;
  /** Records quarantined so far in this pass: deletes wait for a pass without rejections. */
  quarantined?: number;
}

export interface SyncStatusRow {
  sync: string;
  cursor: CursorValue | null;
  pass: PassState | null;
  lastRunId: number | null;
  lastStatus: RunStatus | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  successCount: number;
  failureCount: number;
  lastRecordCount: number | null;
  enabled: boolean | null;
  schedule: string | null;
}

export interface RunRow extends RunCounts {
  id: number;
  sync: string;
  trigger: RunTrigger;
  status: RunStatus;
  fullRefresh: boolean;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  batches: number;
  error: string | null;
  errorCode: string | null;
  instance: string | null;
  checkpoint: Checkpoint | null;
  cursorStart: CursorValue | null;
  cursorEnd: CursorValue | null;
  metadata: Record<string, unknown> | null;
  heartbeatAt: string | null;
  cancelRequestedAt: string | null;
}

export interface QuarantineRow {
  id: number;
  runId: number;
  sync: string;
  recordKey: string | null;
  reasonCode: string;
  message: string;
  payload: unknown;
  createdAt: string;
}

export interface LeaseHolder {
  sync: string;
  runId: number | null;
  instance: string;
  host: string;
  pid: number;
  acquiredAt: string;
  expiresAt: string;
}

type DbRow = Record<string, unknown>;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null =>
  v === null || v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v);
const boolOrNull = (v: unknown): boolean | null =>
  v === null || v === undefined ? null : v === true || v === 1 || v === '1' || v === 't';
/** JSON columns come back as text from both engines (jsonb is decoded to text by the PG destination). */
function json<T>(v: unknown): T | null {
  if (v === null || v === undefined) return null;
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
const jsonText = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

function toStatus(r: DbRow): SyncStatusRow {
  return {
    sync: String(r.sync),
    cursor: json<CursorValue>(r.cursor),
    pass: json<PassState>(r.pass),
    lastRunId: numOrNull(r.last_run_id),
    lastStatus: strOrNull(r.last_status) as RunStatus | null,
    lastError: strOrNull(r.last_error),
    lastAttemptAt: strOrNull(r.last_attempt_at),
    lastSuccessAt: strOrNull(r.last_success_at),
    successCount: num(r.success_count),
    failureCount: num(r.failure_count),
    lastRecordCount: numOrNull(r.last_record_count),
    enabled: boolOrNull(r.enabled),
    schedule: strOrNull(r.schedule),
  };
}

function toRun(r: DbRow): RunRow {
  return {
    id: num(r.id),
    sync: String(r.sync),
    trigger: String(r.trigger) as RunTrigger,
    status: String(r.status) as RunStatus,
    fullRefresh: boolOrNull(r.full_refresh) ?? false,
    startedAt: String(r.started_at),
    finishedAt: strOrNull(r.finished_at),
    durationMs: numOrNull(r.duration_ms),
    read: num(r.read),
    inserted: num(r.inserted),
    updated: num(r.updated),
    unchanged: num(r.unchanged),
    deleted: num(r.deleted),
    quarantined: num(r.quarantined),
    batches: num(r.batches),
    error: strOrNull(r.error),
    errorCode: strOrNull(r.error_code),
    instance: strOrNull(r.instance),
    checkpoint: json<Checkpoint>(r.checkpoint),
    cursorStart: json<CursorValue>(r.cursor_start),
    cursorEnd: json<CursorValue>(r.cursor_end),
    metadata: json<Record<string, unknown>>(r.metadata),
    heartbeatAt: strOrNull(r.heartbeat_at),
    cancelRequestedAt: strOrNull(r.cancel_requested_at),
  };
}

function toQuarantine(r: DbRow): QuarantineRow {
  return {
    id: num(r.id),
    runId: num(r.run_id),
    sync: String(r.sync),
    recordKey: strOrNull(r.record_key),
    reasonCode: String(r.reason_code),
    message: String(r.message),
    payload: json<unknown>(r.payload),
    createdAt: String(r.created_at),
  };
}

/** Who this process is, for leases and run rows. */
export const INSTANCE = {
  host: hostname(),
  pid: process.pid,
  id: `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`,
};

export const LEASE_TTL_MS = 60_000;

/** What a run starts with, whether its row is new (createRun) or was queued (claimQueuedRun). */
export interface RunStart {
  sync: string;
  fullRefresh: boolean;
  cursorStart: CursorValue | null;
  metadata?: Record<string, unknown>;
}

/** full_refresh, started_at, instance, cursor_start, metadata: in that order. */
function startFields(input: RunStart, now: string): unknown[] {
  return [
    input.fullRefresh ? 1 : 0,
    now,
    INSTANCE.id,
    jsonText(input.cursorStart),
    jsonText(input.metadata ?? null),
  ];
}

export class StateStore {
  constructor(readonly dest: Destination) {}

  // ── sync status ────────────────────────────────────────────────────────────

  async ensureStatus(sync: string, tx: SqlExecutor = this.dest): Promise<void> {
    await tx.execute(
      'INSERT INTO tributary_sync_status (sync, updated_at) VALUES ($1, $2) ON CONFLICT (sync) DO NOTHING',
      [sync, new Date().toISOString()],
    );
  }

  async getStatus(sync: string, tx: SqlExecutor = this.dest): Promise<SyncStatusRow | null> {
    const rows = await tx.query('SELECT * FROM tributary_sync_status WHERE sync = $1', [sync]);
    return rows[0] ? toStatus(rows[0]) : null;
  }

  async listStatuses(): Promise<SyncStatusRow[]> {
    return (await this.dest.query('SELECT * FROM tributary_sync_status ORDER BY sync')).map(toStatus);
  }

  async setPass(
    tx: SqlExecutor,
    sync: string,
    pass: PassState | null,
    cursor?: CursorValue | null,
  ): Promise<void> {
    const now = new Date().toISOString();
    if (cursor === undefined) {
      await tx.execute('UPDATE tributary_sync_status SET pass = $2, updated_at = $3 WHERE sync = $1', [
        sync,
        jsonText(pass),
        now,
      ]);
    } else {
      await tx.execute(
        'UPDATE tributary_sync_status SET pass = $2, cursor = $3, updated_at = $4 WHERE sync = $1',
        [sync, jsonText(pass), jsonText(cursor), now],
      );
    }
  }

  /** Forgets the committed cursor and any open pass, so the next run reads everything. */
  async resetSync(sync: string): Promise<void> {
    await this.dest.execute(
      'UPDATE tributary_sync_status SET cursor = NULL, pass = NULL, updated_at = $2 WHERE sync = $1',
      [sync, new Date().toISOString()],
    );
  }

  async setEnabled(sync: string, enabled: boolean | null): Promise<void> {
    await this.ensureStatus(sync);
    await this.dest.execute(
      'UPDATE tributary_sync_status SET enabled = $2, updated_at = $3 WHERE sync = $1',
      [sync, enabled === null ? null : enabled ? 1 : 0, new Date().toISOString()],
    );
  }

  async setSchedule(sync: string, schedule: string | null): Promise<void> {
    await this.ensureStatus(sync);
    await this.dest.execute(
      'UPDATE tributary_sync_status SET schedule = $2, updated_at = $3 WHERE sync = $1',
      [sync, schedule, new Date().toISOString()],
    );
  }

  // ── runs ───────────────────────────────────────────────────────────────────

  async createRun(input: RunStart & { trigger: RunTrigger }): Promise<number> {
    const now = new Date().toISOString();
    const rows = await this.dest.query<{ id: unknown }>(
      `INSERT INTO tributary_runs (sync, trigger, status, full_refresh, started_at, instance, cursor_start, metadata, heartbeat_at)
       VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $4) RETURNING id`,
      [input.sync, input.trigger, ...startFields(input, now)],
    );
    const runId = num(rows[0]?.id);
    await this.#noteAttempt(input.sync, runId, now);
    return runId;
  }

  /** The sync's status points at its newest run. */
  async #noteAttempt(sync: string, runId: number, now: string): Promise<void> {
    await this.dest.execute(
      'UPDATE tributary_sync_status SET last_run_id = $2, last_attempt_at = $3, updated_at = $3 WHERE sync = $1',
      [sync, runId, now],
    );
  }

  /**
   * Adds one batch's counters and checkpoint to the run, inside the batch's transaction, and
   * reports whether someone asked to cancel the run (so a cancel takes effect at the next batch,
   * at no extra round trip).
   */
  async recordBatch(
    tx: SqlExecutor,
    runId: number,
    delta: RunCounts,
    checkpoint: Checkpoint | null,
  ): Promise<{ cancelRequested: boolean }> {
    const rows = await tx.query<{ cancel_requested_at: unknown }>(
      `UPDATE tributary_runs SET read = read + $2, inserted = inserted + $3, updated = updated + $4,
         unchanged = unchanged + $5, deleted = deleted + $6, quarantined = quarantined + $7,
         batches = batches + 1, checkpoint = $8, heartbeat_at = $9
       WHERE id = $1
       RETURNING cancel_requested_at`,
      [
        runId,
        delta.read,
        delta.inserted,
        delta.updated,
        delta.unchanged,
        delta.deleted,
        delta.quarantined,
        jsonText(checkpoint),
        new Date().toISOString(),
      ],
    );
    return { cancelRequested: rows[0]?.cancel_requested_at != null };
  }

  async finishRun(
    tx: SqlExecutor,
    run: {
      id: number;
      sync: string;
      status: RunStatus;
      startedAt: number;
      read: number;
      error?: string | null;
      errorCode?: string | null;
      cursorEnd?: CursorValue | null;
      metadata?: Record<string, unknown>;
      deleted?: number;
    },
  ): Promise<void> {
    const now = new Date();
    const iso = now.toISOString();
    await tx.execute(
      `UPDATE tributary_runs SET status = $2, finished_at = $3, duration_ms = $4, error = $5, error_code = $6,
         cursor_end = $7, metadata = COALESCE($8, metadata), deleted = deleted + $9
       WHERE id = $1`,
      [
        run.id,
        run.status,
        iso,
        now.getTime() - run.startedAt,
        run.error ?? null,
        run.errorCode ?? null,
        jsonText(run.cursorEnd ?? null),
        jsonText(run.metadata ?? null),
        run.deleted ?? 0,
      ],
    );
    const succeeded = run.status === 'succeeded' || run.status === 'partial';
    const failed = run.status === 'failed';
    await tx.execute(
      `UPDATE tributary_sync_status SET last_status = $2, last_error = $3, last_run_id = $4,
         success_count = success_count + $5, failure_count = failure_count + $6,
         last_success_at = CASE WHEN $5 = 1 THEN $7 ELSE last_success_at END,
         last_record_count = CASE WHEN $5 = 1 THEN $8 ELSE last_record_count END,
         updated_at = $7
       WHERE sync = $1`,
      [run.sync, run.status, run.error ?? null, run.id, succeeded ? 1 : 0, failed ? 1 : 0, iso, run.read],
    );
  }

  async getRun(id: number): Promise<RunRow | null> {
    const rows = await this.dest.query('SELECT * FROM tributary_runs WHERE id = $1', [id]);
    return rows[0] ? toRun(rows[0]) : null;
  }

  async listRuns(filter: { sync?: string; status?: string; limit?: number } = {}): Promise<RunRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.sync) where.push(`sync = $${params.push(filter.sync)}`);
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    const sql = `SELECT * FROM tributary_runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT $${params.push(filter.limit ?? 20)}`;
    return (await this.dest.query(sql, params)).map(toRun);
  }

  async requestCancel(runId: number): Promise<boolean> {
    const n = await this.dest.execute(
      "UPDATE tributary_runs SET cancel_requested_at = $2 WHERE id = $1 AND status IN ('queued', 'running')",
      [runId, new Date().toISOString()],
    );
    return n > 0;
  }

  /** Renews the run's heartbeat and returns whether someone asked to cancel it. */
  async heartbeat(runId: number): Promise<{ cancelRequested: boolean }> {
    const rows = await this.dest.query<{ cancel_requested_at: unknown }>(
      'UPDATE tributary_runs SET heartbeat_at = $2 WHERE id = $1 RETURNING cancel_requested_at',
      [runId, new Date().toISOString()],
    );
    return { cancelRequested: rows[0]?.cancel_requested_at != null };
  }

  // ── quarantine ─────────────────────────────────────────────────────────────

  async quarantine(
    tx: SqlExecutor,
    runId: number,
    sync: string,
    rejections: readonly Rejection[],
  ): Promise<void> {
    if (rejections.length === 0) return;
    const now = new Date().toISOString();
    // Multi-row insert in chunks: 6 parameters a row stays far below both engines' limits.
    const CHUNK = 500;
    for (let start = 0; start < rejections.length; start += CHUNK) {
      const chunk = rejections.slice(start, start + CHUNK);
      const params: unknown[] = [runId, sync, now];
      const values = chunk.map((r) => {
        const base = params.length;
        params.push(r.recordKey, r.code, r.message, safePayload(r.payload));
        return `($1, $2, $${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $3)`;
      });
      await tx.execute(
        `INSERT INTO tributary_quarantine (run_id, sync, record_key, reason_code, message, payload, created_at)
         VALUES ${values.join(', ')}`,
        params,
      );
    }
  }

  async listQuarantine(
    filter: { sync?: string; runId?: number; limit?: number } = {},
  ): Promise<QuarantineRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.sync) where.push(`sync = $${params.push(filter.sync)}`);
    if (filter.runId !== undefined) where.push(`run_id = $${params.push(filter.runId)}`);
    const sql = `SELECT * FROM tributary_quarantine ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT $${params.push(filter.limit ?? 50)}`;
    return (await this.dest.query(sql, params)).map(toQuarantine);
  }

  // ── leases (one active run per sync) ───────────────────────────────────────

  /**
   * Takes the sync's lease when it is free or expired. A lease held by a process on this host
   * that no longer exists (killed with SIGKILL) is taken over at once rather than after its TTL.
   */
  async acquireLease(sync: string): Promise<{ ok: true } | { ok: false; holder: LeaseHolder }> {
    const now = new Date();
    const iso = now.toISOString();
    const expires = new Date(now.getTime() + LEASE_TTL_MS).toISOString();
    const taken = await this.dest.query(
      `INSERT INTO tributary_leases (sync, run_id, instance, host, pid, acquired_at, expires_at)
       VALUES ($1, NULL, $2, $3, $4, $5, $6)
       ON CONFLICT (sync) DO UPDATE SET run_id = NULL, instance = excluded.instance, host = excluded.host,
         pid = excluded.pid, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
       WHERE tributary_leases.expires_at < $5
       RETURNING instance`,
      [sync, INSTANCE.id, INSTANCE.host, INSTANCE.pid, iso, expires],
    );
    if (taken.length > 0) return { ok: true };
    const holder = await this.getLease(sync);
    if (!holder) return this.acquireLease(sync);
    if (holder.host === INSTANCE.host && holder.pid !== INSTANCE.pid && !processAlive(holder.pid)) {
      const n = await this.dest.execute(
        `UPDATE tributary_leases SET run_id = NULL, instance = $2, host = $3, pid = $4, acquired_at = $5, expires_at = $6
         WHERE sync = $1 AND instance = $7`,
        [sync, INSTANCE.id, INSTANCE.host, INSTANCE.pid, iso, expires, holder.instance],
      );
      if (n > 0) return { ok: true };
    }
    return { ok: false, holder };
  }

  async getLease(sync: string): Promise<LeaseHolder | null> {
    const rows = await this.dest.query('SELECT * FROM tributary_leases WHERE sync = $1', [sync]);
    const r = rows[0];
    if (!r) return null;
    return {
      sync: String(r.sync),
      runId: numOrNull(r.run_id),
      instance: String(r.instance),
      host: String(r.host),
      pid: num(r.pid),
      acquiredAt: String(r.acquired_at),
      expiresAt: String(r.expires_at),
    };
  }

  async setLeaseRun(sync: string, runId: number): Promise<void> {
    await this.dest.execute('UPDATE tributary_leases SET run_id = $2 WHERE sync = $1 AND instance = $3', [
      sync,
      runId,
      INSTANCE.id,
    ]);
  }

  /** Extends our lease; false when it was lost (taken over after expiry). */
  async renewLease(sync: string): Promise<boolean> {
    const n = await this.dest.execute(
      'UPDATE tributary_leases SET expires_at = $2 WHERE sync = $1 AND instance = $3',
      [sync, new Date(Date.now() + LEASE_TTL_MS).toISOString(), INSTANCE.id],
    );
    return n > 0;
  }

  /** Releases this process's lease on `sync`; with `db`, as part of that transaction. */
  async releaseLease(sync: string, db: SqlExecutor = this.dest): Promise<void> {
    await db.execute('DELETE FROM tributary_leases WHERE sync = $1 AND instance = $2', [sync, INSTANCE.id]);
  }

  /**
   * Marks runs of `sync` still 'running' as interrupted. Called right after taking the lease:
   * holding it proves no other run of the sync is alive, so those rows are leftovers of a crash.
   */
  async interruptOrphans(sync: string): Promise<number> {
    const now = new Date().toISOString();
    return this.dest.execute(
      `UPDATE tributary_runs SET status = 'interrupted', finished_at = COALESCE(heartbeat_at, started_at),
         error = 'the process running it stopped (crash, kill or lost connection); the next run resumed from its last checkpoint',
         error_code = 'interrupted'
       WHERE sync = $1 AND status = 'running' AND started_at < $2`,
      [sync, now],
    );
  }

  // ── the service: queued runs, liveness, statistics, retention ─────────────

  /**
   * A run row in status 'queued' (the API answers with its id at once; a worker claims it with
   * claimQueuedRun). started_at holds the time it was queued until it is claimed.
   */
  async createQueuedRun(input: {
    sync: string;
    trigger: RunTrigger;
    metadata?: Record<string, unknown>;
  }): Promise<number> {
    await this.ensureStatus(input.sync);
    const rows = await this.dest.query<{ id: unknown }>(
      `INSERT INTO tributary_runs (sync, trigger, status, started_at, metadata)
       VALUES ($1, $2, 'queued', $3, $4) RETURNING id`,
      [input.sync, input.trigger, new Date().toISOString(), jsonText(input.metadata ?? null)],
    );
    return num(rows[0]?.id);
  }

  /**
   * Turns a queued run into the running one, like createRun does for a new row. False when the
   * row is no longer queued or its cancel was requested: then the caller must not run it.
   */
  async claimQueuedRun(runId: number, input: RunStart): Promise<boolean> {
    const now = new Date().toISOString();
    const n = await this.dest.execute(
      `UPDATE tributary_runs SET status = 'running', full_refresh = $3, started_at = $4, instance = $5,
         cursor_start = $6, metadata = $7, heartbeat_at = $4
       WHERE id = $1 AND sync = $2 AND status = 'queued' AND cancel_requested_at IS NULL`,
      [runId, input.sync, ...startFields(input, now)],
    );
    if (n === 0) return false;
    await this.#noteAttempt(input.sync, runId, now);
    return true;
  }

  /** Ends a run that never started (cancelled while queued, or its sync was busy). False if it was not queued. */
  async abandonQueuedRun(
    runId: number,
    status: 'cancelled' | 'failed',
    error: string,
    errorCode: string,
  ): Promise<boolean> {
    const now = new Date().toISOString();
    const n = await this.dest.execute(
      `UPDATE tributary_runs SET status = $2, finished_at = $3, duration_ms = 0, error = $4, error_code = $5
       WHERE id = $1 AND status = 'queued'`,
      [runId, status, now, error, errorCode],
    );
    return n > 0;
  }

  /** The sync's lease when a live process holds it (not expired, holder not a dead process on this host). */
  async liveLease(sync: string): Promise<LeaseHolder | null> {
    const holder = await this.getLease(sync);
    if (!holder || holder.expiresAt < new Date().toISOString()) return null;
    if (holder.host === INSTANCE.host && holder.pid !== INSTANCE.pid && !processAlive(holder.pid))
      return null;
    return holder;
  }

  /** Run counts and summed counters by sync and status, for /api/stats and /metrics. */
  async runTotals(
    since?: string,
  ): Promise<{ sync: string; status: RunStatus; runs: number; counts: RunCounts }[]> {
    const rows = await this.dest.query(
      `SELECT sync, status, count(*) AS runs, sum(read) AS read, sum(inserted) AS inserted, sum(updated) AS updated,
         sum(unchanged) AS unchanged, sum(deleted) AS deleted, sum(quarantined) AS quarantined
       FROM tributary_runs ${since ? 'WHERE started_at >= $1' : ''} GROUP BY sync, status ORDER BY sync, status`,
      since ? [since] : [],
    );
    return rows.map((r) => ({
      sync: String(r.sync),
      status: String(r.status) as RunStatus,
      runs: num(r.runs),
      counts: {
        read: num(r.read),
        inserted: num(r.inserted),
        updated: num(r.updated),
        unchanged: num(r.unchanged),
        deleted: num(r.deleted),
        quarantined: num(r.quarantined),
      },
    }));
  }

  /**
   * Run-history retention: deletes finished runs (and their quarantined records) that finished
   * before `before`. Queued and running runs are never deleted. Returns the runs deleted.
   */
  async deleteRunsFinishedBefore(before: string): Promise<number> {
    return this.dest.transaction(async (tx) => {
      const old = `SELECT id FROM tributary_runs WHERE finished_at < $1 AND status NOT IN ('queued', 'running')`;
      await tx.execute(`DELETE FROM tributary_quarantine WHERE run_id IN (${old})`, [before]);
      return tx.execute(`DELETE FROM tributary_runs WHERE id IN (${old})`, [before]);
    });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Quarantine payloads are JSON; anything that cannot be serialised is kept as its string form. */
function safePayload(payload: unknown): string | null {
  if (payload === undefined) return null;
  try {
    return JSON.stringify(payload);
  } catch {
    return JSON.stringify(Object.prototype.toString.call(payload));
  }
}
