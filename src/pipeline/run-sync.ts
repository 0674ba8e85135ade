import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { SyncConfig } from '../config/schema.ts';
import { DEFAULTS } from '../config/schema.ts';
import { parseDuration } from '../core/duration.ts';
import { TributaryError, errorMessage, isTransient } from '../core/errors.ts';
import type { RunEvent, RunEventListener } from '../core/events.ts';
import type {
  Cell,
  Checkpoint,
  CursorValue,
  Logger,
  Rejection,
  Row,
  RunCounts,
  RunStatus,
  RunTrigger,
} from '../core/types.ts';
import { countsOf, silentLogger, zeroCounts } from '../core/types.ts';
import type { Destination, TableSpec, Tx } from '../destinations/destination.ts';
import { shadowTableName, quoteIdent } from '../destinations/identifiers.ts';
import type { Page, Source, Stream } from '../sources/source.ts';
import { getSourceFactory } from '../sources/registry.ts';
import type { PassState, StateStore } from '../state/state-store.ts';
import { lastPerKey, splitByRepeatedKeys } from './batch.ts';
import { applyLookback, clampToStart, compareCursor, maxCursor } from './cursor.ts';
import { checkExpectations, describeFailures, runAfterRun, type ExpectationResult } from './after-run.ts';
import { compileRouter, type Router, type TablePlan } from './route.ts';

export interface RunOptions {
  trigger?: RunTrigger;
  /** Ignore the stored cursor and read everything (a full pass). */
  full?: boolean;
  /** Stop after this many records; the pass stays open and the next run continues it. */
  limit?: number;
  batchSize?: number;
  /** Read, map and validate without writing anything or recording a run. */
  dryRun?: boolean;
  /** Abort with reason 'interrupt' marks the run interrupted (SIGTERM); any other reason cancels it. */
  signal?: AbortSignal;
  onEvent?: RunEventListener;
  logger?: Logger;
  /** Claim this queued run row (created by the service's API) instead of creating a new one. */
  runId?: number;
}

/** What `tributary sync --json` prints for each run (DESIGN contract). */
export interface RunResult extends RunCounts {
  runId: number | null;
  sync: string;
  status: RunStatus;
  durationMs: number;
  error: string | null;
}

export interface SyncContext {
  dest: Destination;
  state: StateStore;
  name: string;
  sync: SyncConfig;
  /** Folder the config file lives in; relative source paths resolve against it. */
  baseDir: string;
}

/** How often the run renews its lease and looks for a cancel request from another process. */
const HEARTBEAT_MS = 5_000;
/** Transient database errors (lost connection, SQLITE_BUSY, deadlock) retry the whole batch. */
const BATCH_ATTEMPTS = 6;
/** Records mapped between two turns of the event loop, minus one (a mask): ~1,000 records take a few ms. */
const YIELD_EVERY = 1023;
/** The error threshold is judged on a sample at least this large, so one early bad row cannot fail a run. */
const THRESHOLD_MIN_SAMPLE = 1000;

/** Per related table, what the run's batches did to it (stored in the run's metadata as `tables`). */
export interface TableCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
}

/** Builds the sync's source from its validated `source:` block. */
export function createSource(ctx: Pick<SyncContext, 'sync' | 'baseDir'>, logger: Logger): Source {
  const factory = getSourceFactory(ctx.sync.source.type);
  return factory.create(factory.configSchema.parse(ctx.sync.source), { baseDir: ctx.baseDir, logger });
}

/** The stream a sync reads: the one named by `source.stream`, or the source's first. */
export async function selectStream(source: Source, sync: SyncConfig): Promise<Stream> {
  const streams = await source.streams();
  const wanted = typeof sync.source.stream === 'string' ? sync.source.stream : undefined;
  const stream = wanted ? streams.find((s) => s.name === wanted) : streams[0];
  if (!stream) {
    throw new TributaryError(
      'source_invalid',
      wanted
        ? `source has no stream "${wanted}"; it has: ${streams.map((s) => s.name).join(', ')}`
        : 'source has no streams',
    );
  }
  return stream;
}

function openStream(ctx: Pick<SyncContext, 'sync' | 'baseDir'>, logger: Logger): Promise<Stream> {
  return selectStream(createSource(ctx, logger), ctx.sync);
}

/**
 * Runs one sync: pages from the source → map, clean, validate → batches written in one
 * transaction each together with the checkpoint and counters. Never throws for a bad record;
 * returns the run's result. Throws only when the run cannot start (busy, bad config).
 */
export async function runSync(ctx: SyncContext, options: RunOptions = {}): Promise<RunResult> {
  const logger = options.logger ?? silentLogger;
  const { dest, state, name, sync } = ctx;
  const router = compileRouter(sync);
  const mapper = router.target.mapper;
  const table = router.target.spec;
  const writeMode = sync.write ?? (mapper.primaryKey.length > 0 ? 'merge' : 'append');
  const deletes = sync.deletes ?? DEFAULTS.deletes;
  const threshold = sync.errorThreshold ?? DEFAULTS.errorThreshold;
  const batchSize = options.batchSize ?? sync.batchSize ?? dest.capabilities.defaultBatchSize;
  const cursorColumn = sync.incremental?.cursor;
  const cursorType = cursorColumn ? mapper.columns.find((c) => c.name === cursorColumn)!.type : 'text';

  if (options.dryRun) return dryRun(ctx, router, batchSize, options, logger);

  await state.ensureStatus(name);
  const lease = await state.acquireLease(name);
  if (!lease.ok) {
    const h = lease.holder;
    throw new TributaryError(
      'sync_busy',
      `sync "${name}" is already running${h.runId ? ` (run ${h.runId} ` : ' ('}on ${h.host} pid ${h.pid}, since ${h.acquiredAt}); ` +
        `wait for it or cancel it with: tributary cancel ${h.runId ?? 'RUN_ID'}`,
    );
  }

  const started = Date.now();
  let runId = 0;
  const heartbeat: { timer?: NodeJS.Timeout; ending?: boolean } = {};
  /**
   * The run's last transaction also releases its lease, so no one sees the run finished while the
   * sync still looks busy. From then on a failed renewal is the release, not a lost lease, and a
   * cancel comes too late. The completing transaction keeps the heartbeat renewing
   * (`stopHeartbeat` false), since its after-run steps may outlast the lease's TTL.
   */
  const ending = (stopHeartbeat: boolean) => {
    heartbeat.ending = true;
    if (stopHeartbeat) clearInterval(heartbeat.timer);
  };
  /** run.finished, announced once the lease is released: a listener may start the next run at once. */
  const done: { event?: RunEvent } = {};
  const abort = new AbortController();
  let abortStatus: RunStatus | null = null;
  let abortMessage: string | null = null;
  const stop = (status: RunStatus, message: string) => {
    if (abort.signal.aborted) return;
    abortStatus = status;
    abortMessage = message;
    abort.abort();
  };
  const onOuterAbort = () =>
    stop(
      options.signal?.reason === 'interrupt' ? 'interrupted' : 'cancelled',
      options.signal?.reason === 'interrupt'
        ? 'stopped by shutdown; the next run resumes from the last checkpoint'
        : 'cancelled; the next run resumes from the last checkpoint',
    );

  try {
    await state.interruptOrphans(name);
    // Parents first: a child's index names a column, never a constraint, but the order reads right.
    for (const plan of router.writeOrder) await dest.ensureTable(plan.spec);
    const status = await state.getStatus(name);

    // Resume the open pass unless this run asks for a different kind of pass.
    const wantFull = options.full === true || !sync.incremental || status?.cursor == null;
    const open = status?.pass ?? null;
    // A full pass also serves an incremental request; an incremental pass cannot serve a full one.
    const resumable = open !== null && (open.full || !wantFull);
    const lookbackMs = sync.incremental?.lookback ? parseDuration(sync.incremental.lookback) : 0;
    const cursorFrom: CursorValue | null =
      wantFull || status?.cursor == null ? null : applyLookback(status.cursor, lookbackMs, cursorType);

    const runFields = {
      sync: name,
      fullRefresh: resumable ? open.full : wantFull,
      cursorStart: resumable ? open.cursorFrom : cursorFrom,
      metadata: resumable ? { resumedPassOf: open.runId } : undefined,
    };
    if (options.runId !== undefined) {
      // A run the API queued: take over its row, unless it was cancelled (or taken) meanwhile.
      if (!(await state.claimQueuedRun(options.runId, runFields))) {
        throw new TributaryError(
          'cancelled',
          `run ${options.runId} is no longer queued (cancelled or already started)`,
        );
      }
      runId = options.runId;
    } else {
      runId = await state.createRun({ ...runFields, trigger: options.trigger ?? 'cli' });
    }
    await state.setLeaseRun(name, runId);

    let pass: PassState;
    if (resumable) {
      pass = open;
      logger.info(`resuming the pass started by run ${open.runId}`, { sync: name, runId });
    } else {
      pass = {
        runId,
        full: wantFull,
        checkpoint: null,
        cursorFrom,
        cursorMax: null,
        startedAt: new Date(started).toISOString(),
      };
    }

    let target = table;
    if (writeMode === 'replace') {
      if (!resumable) await dest.execute(`DROP TABLE IF EXISTS ${quoteIdent(shadowTableName(table.name))}`);
      target = await dest.createShadow(table);
    }
    const trackSeen =
      deletes !== 'none' && pass.full && writeMode === 'merge' ? String(pass.runId) : undefined;

    await dest.transaction(async (tx) => {
      if (!resumable && trackSeen) await dest.clearSeen(tx, table, null);
      await state.setPass(tx, name, pass);
    });

    options.onEvent?.({
      type: 'run.started',
      runId,
      sync: name,
      trigger: options.trigger ?? 'cli',
      fullRefresh: pass.full,
      resumed: resumable,
      at: new Date().toISOString(),
    });

    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
    if (options.signal?.aborted) onOuterAbort();
    heartbeat.timer = setInterval(() => {
      void (async () => {
        try {
          if (!(await state.renewLease(name))) {
            if (!heartbeat.ending)
              stop('interrupted', 'lost the lease on this sync (another instance took it over)');
          } else if ((await state.heartbeat(runId)).cancelRequested && !heartbeat.ending) {
            stop('cancelled', 'cancelled on request; the next run resumes from the last checkpoint');
          }
        } catch (err) {
          logger.warn(`heartbeat failed: ${errorMessage(err)}`, { sync: name, runId });
        }
      })();
    }, HEARTBEAT_MS);
    heartbeat.timer.unref();

    const stream = await openStream(ctx, logger);
    const counts = zeroCounts();
    const tableCounts = new Map<string, TableCounts>();
    let batchNo = 0;
    let limited = false;
    let skippedByCursor = 0;
    // Records read so far, committed or pending: a limit below one batch must still stop the read.
    const remaining = () =>
      options.limit === undefined ? Infinity : options.limit - counts.read - pending.read;

    // Pages accumulate until a batch is full; the batch commits with the last page's checkpoint.
    // Records older than the cursor are unchanged since the last pass: they are counted as such
    // with their batch, so `read = inserted + updated + unchanged + quarantined` holds at every batch.
    interface Pending {
      rows: Row[];
      /** Rows of each related table, aligned with router.related. */
      related: Row[][];
      /** For each related row, the index in `rows` of the record that produced it. */
      owners: number[][];
      rejections: Rejection[];
      read: number;
      skipped: number;
      checkpoint: Checkpoint | null;
      cursorMax: CursorValue | null;
    }
    const emptyBatch = (checkpoint: Checkpoint | null): Pending => ({
      rows: [],
      related: router.related.map(() => []),
      owners: router.related.map(() => []),
      rejections: [],
      read: 0,
      skipped: 0,
      checkpoint,
      cursorMax: null,
    });
    let pending = emptyBatch(pass.checkpoint);
    let lastProgress: Page['progress'];

    const commit = async () => {
      const batch = pending;
      pending = emptyBatch(batch.checkpoint);
      if (batch.read === 0 && batch.rejections.length === 0 && batch.checkpoint === pass.checkpoint) return;
      const nextPass: PassState = {
        ...pass,
        checkpoint: batch.checkpoint,
        cursorMax: cursorColumn ? maxCursor(pass.cursorMax, batch.cursorMax, cursorType) : null,
        quarantined: (pass.quarantined ?? 0) + batch.rejections.length,
      };
      // Sources sorted by cursor may move the committed cursor with every batch.
      const cursorNow =
        cursorColumn && stream.sortedByCursor && nextPass.cursorMax !== null
          ? clampToStart(
              maxCursor(status?.cursor ?? null, nextPass.cursorMax, cursorType)!,
              pass.startedAt,
              cursorType,
            )
          : undefined;
      let cancelRequested = false;
      const hookContext = (tx: Tx, rows: Record<string, number>) => ({
        sync: name,
        runId,
        tx,
        batch: batchNo + 1,
        records: batch.read,
        rows,
      });
      let written: Map<string, TableCounts> = new Map();
      const delta = await withRetries(
        () =>
          dest.transaction(async (tx) => {
            if (sync.beforeBatch)
              await runHook('beforeBatch', () =>
                sync.beforeBatch!(hookContext(tx, rowsPerTable(router, batch))),
              );
            const w = await writeTables(
              tx,
              dest,
              router,
              target,
              batch,
              writeMode === 'replace' ? 'merge' : writeMode,
              trackSeen,
            );
            written = w.tables;
            if (sync.afterBatch)
              await runHook('afterBatch', () =>
                sync.afterBatch!(hookContext(tx, rowsPerTable(router, batch))),
              );
            const d = w.target;
            d.read = batch.read;
            d.unchanged += batch.skipped;
            d.quarantined = batch.rejections.length;
            await state.quarantine(tx, runId, name, batch.rejections);
            ({ cancelRequested } = await state.recordBatch(tx, runId, d, batch.checkpoint));
            await state.setPass(tx, name, nextPass, cursorNow);
            return d;
          }),
        logger,
      );
      if (cancelRequested)
        stop('cancelled', 'cancelled on request; the next run resumes from the last checkpoint');
      pass = nextPass;
      batchNo++;
      addCounts(counts, delta);
      for (const [t, c] of written) addTableCounts(tableCounts, t, c);
      const elapsed = Date.now() - started;
      const rate = elapsed > 0 ? (counts.read / elapsed) * 1000 : 0;
      let etaMs: number | undefined;
      if (lastProgress && lastProgress.done > 0 && lastProgress.total >= lastProgress.done) {
        etaMs = Math.round((elapsed * (lastProgress.total - lastProgress.done)) / lastProgress.done);
      }
      options.onEvent?.({
        type: 'batch.written',
        runId,
        sync: name,
        batch: batchNo,
        counts: { ...counts },
        rate,
        progress: lastProgress,
        etaMs,
        at: new Date().toISOString(),
      });
      if (counts.read >= THRESHOLD_MIN_SAMPLE && counts.quarantined / counts.read > threshold) {
        throw new TributaryError(
          'error_threshold',
          `${counts.quarantined} of ${counts.read} records were rejected, over the errorThreshold of ${threshold * 100}%; see: tributary quarantine --sync ${name}`,
        );
      }
    };

    const pageSize = Math.max(1, Math.min(batchSize, remaining()));
    for await (const page of readAhead(
      stream.read({
        checkpoint: pass.checkpoint,
        cursor: pass.cursorFrom,
        signal: abort.signal,
        logger,
        pageSize,
      }),
    )) {
      if (abort.signal.aborted) break;
      let records = page.records;
      let checkpoint: Checkpoint | null = page.checkpoint;
      const room = remaining();
      if (records.length > room) {
        // The source gave more than asked: keep what fits and keep the previous checkpoint, so the
        // next run re-reads the rest of this page (merges make the re-read harmless).
        records = records.slice(0, room);
        checkpoint = pending.checkpoint;
        limited = true;
      }
      for (const reject of page.rejects ?? []) {
        pending.rejections.push({
          code: reject.code,
          message: reject.message,
          recordKey: null,
          payload: reject.payload,
        });
        pending.read++;
      }
      for (let i = 0; i < records.length; i++) {
        // Let timers and sockets in (the service's API and SSE) between slices of a large page.
        if ((i & YIELD_EVERY) === YIELD_EVERY) await yieldToEventLoop();
        const result = router.route(records[i]!, page.locations?.[i]);
        pending.read++;
        if (!result.ok) {
          pending.rejections.push(result.rejection);
          continue;
        }
        if (cursorColumn) {
          const value = result.row[cursorColumn];
          if (value !== null && value !== undefined && typeof value !== 'boolean') {
            if (pass.cursorFrom !== null && compareCursor(value, pass.cursorFrom, cursorType) < 0) {
              skippedByCursor++;
              pending.skipped++;
              continue;
            }
            pending.cursorMax = maxCursor(pending.cursorMax, value, cursorType);
          }
        }
        pending.rows.push(result.row);
        const related = result.related;
        if (related !== undefined) {
          for (let t = 0; t < related.length; t++) {
            const row = related[t];
            if (row) {
              pending.related[t]!.push(row);
              pending.owners[t]!.push(pending.rows.length - 1);
            }
          }
        }
      }
      pending.checkpoint = checkpoint;
      lastProgress = page.progress;
      if (pending.rows.length + pending.rejections.length >= batchSize || limited) await commit();
      if (remaining() <= 0) {
        limited = true;
        break;
      }
    }
    if (!abort.signal.aborted) await commit();

    if (abort.signal.aborted) {
      await finish(
        abortStatus ?? 'cancelled',
        abortMessage,
        abortStatus === 'interrupted' ? 'interrupted' : 'cancelled',
      );
    } else if (limited) {
      await finish('succeeded', null, null, { limited: true, limit: options.limit });
    } else {
      // The pass is complete: apply deletes, swap a replaced table, advance the cursor, close the pass.
      const passQuarantined = pass.quarantined ?? 0;
      const overThreshold = counts.read > 0 && counts.quarantined / counts.read > threshold;
      // What the run started with (resumedPassOf) stays beside what its end adds.
      const metadata: Record<string, unknown> = { ...runFields.metadata };
      if (skippedByCursor) metadata.skippedByCursor = skippedByCursor;
      let finalStatus: RunStatus = overThreshold
        ? 'failed'
        : counts.quarantined > 0
          ? 'partial'
          : 'succeeded';
      let finalError: string | null = overThreshold
        ? `${counts.quarantined} of ${counts.read} records were rejected, over the errorThreshold of ${threshold * 100}%; see: tributary quarantine --sync ${name}`
        : null;
      let finalCode: string | null = overThreshold ? 'error_threshold' : null;
      let expectations: ExpectationResult[] = [];
      ending(false);
      await withRetries(
        () =>
          dest.transaction(async (tx) => {
            let deleted = 0;
            if (!overThreshold && trackSeen) {
              if (passQuarantined > 0) {
                // A rejected record may still exist at the source: deleting its row would lose data.
                metadata.deletesSkipped = `${passQuarantined} records of this pass were quarantined; deletes wait for a pass without rejections`;
                await dest.clearSeen(tx, table, trackSeen);
              } else {
                deleted = await dest.applyDeletes(
                  tx,
                  table,
                  trackSeen,
                  deletes as 'soft' | 'hard',
                  new Date().toISOString(),
                );
                if (deletes === 'hard' && deleted > 0) {
                  const orphans = await deleteOrphanChildren(tx, router);
                  if (orphans.size > 0) metadata.childrenDeleted = Object.fromEntries(orphans);
                }
              }
            }
            if (!overThreshold && writeMode === 'replace') {
              metadata.replacedRows = await dest.swapShadow(tx, table, target);
            }
            let cursorEnd: CursorValue | null = status?.cursor ?? null;
            if (!overThreshold && cursorColumn && pass.cursorMax !== null) {
              cursorEnd = clampToStart(
                maxCursor(cursorEnd, pass.cursorMax, cursorType)!,
                pass.startedAt,
                cursorType,
              );
            }
            await state.setPass(tx, name, null, overThreshold ? undefined : cursorEnd);
            if (!overThreshold) {
              const steps = await runAfterRun(tx, sync, { sync: name, runId, tx });
              if (steps.length > 0) metadata.afterRun = steps;
              expectations = await checkExpectations(
                tx,
                sync,
                new Set(router.writeOrder.filter((p) => p.spec.softDelete).map((p) => p.spec.name)),
              );
              if (expectations.length > 0) metadata.expectations = expectations;
              const failedRequired = describeFailures(expectations.filter((e) => e.required));
              if (failedRequired.length > 0) {
                finalStatus = 'failed';
                finalError = `expectations failed: ${failedRequired.join('; ')}`;
                finalCode = 'expectation_failed';
              }
            }
            if (tableCounts.size > 0) metadata.tables = Object.fromEntries(tableCounts);
            await state.finishRun(tx, {
              id: runId,
              sync: name,
              status: finalStatus,
              startedAt: started,
              read: counts.read,
              deleted,
              cursorEnd,
              metadata,
              error: finalError,
              errorCode: finalCode,
            });
            await state.releaseLease(name, tx);
            counts.deleted += deleted;
          }),
        logger,
      );
      for (const warning of describeFailures(expectations.filter((e) => !e.required)))
        logger.warn(`expectation: ${warning}`, { sync: name, runId });
      return result(finalStatus, finalError);
    }
    return result(abortStatus ?? 'succeeded', abortMessage);

    async function finish(
      s: RunStatus,
      error: string | null,
      code: string | null,
      metadata?: Record<string, unknown>,
    ) {
      ending(true);
      await withRetries(
        () =>
          dest.transaction(async (tx) => {
            await state.finishRun(tx, {
              id: runId,
              sync: name,
              status: s,
              startedAt: started,
              read: counts.read,
              error,
              errorCode: code,
              metadata: metadata && { ...runFields.metadata, ...metadata },
            });
            await state.releaseLease(name, tx);
          }),
        logger,
      );
    }
    function result(s: RunStatus, error: string | null): RunResult {
      const r: RunResult = {
        runId,
        sync: name,
        status: s,
        ...counts,
        durationMs: Date.now() - started,
        error,
      };
      done.event = {
        type: 'run.finished',
        runId,
        sync: name,
        status: s,
        counts: { ...counts },
        durationMs: r.durationMs,
        error,
        at: new Date().toISOString(),
      };
      return r;
    }
  } catch (err) {
    const message = errorMessage(err);
    const code = err instanceof TributaryError ? err.code : 'internal';
    logger.error(`run failed: ${message}`, { sync: name, runId });
    if (runId === 0) throw err;
    // A failed run keeps its pass open (resume next time) unless the data itself was the problem.
    ending(true);
    try {
      await dest.transaction(async (tx) => {
        if (code === 'error_threshold') await state.setPass(tx, name, null);
        await state.finishRun(tx, {
          id: runId,
          sync: name,
          status: 'failed',
          startedAt: started,
          read: 0,
          error: message,
          errorCode: code,
        });
        await state.releaseLease(name, tx);
      });
    } catch (recordErr) {
      logger.error(`could not record the failure of run ${runId}: ${errorMessage(recordErr)}`, {
        sync: name,
      });
    }
    const run = await state.getRun(runId).catch(() => null);
    const failedCounts = run ? countsOf(run) : zeroCounts();
    const r: RunResult = {
      runId,
      sync: name,
      status: 'failed',
      ...failedCounts,
      durationMs: Date.now() - started,
      error: message,
    };
    done.event = {
      type: 'run.finished',
      runId,
      sync: name,
      status: 'failed',
      counts: failedCounts,
      durationMs: r.durationMs,
      error: message,
      at: new Date().toISOString(),
    };
    return r;
  } finally {
    if (heartbeat.timer) clearInterval(heartbeat.timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
    await state
      .releaseLease(name)
      .catch((err: unknown) => logger.warn(`could not release lease: ${errorMessage(err)}`));
    try {
      if (done.event) options.onEvent?.(done.event);
    } catch (err) {
      logger.warn(`a run.finished listener failed: ${errorMessage(err)}`, { sync: name, runId });
    }
  }
}

/** Rows each table would get from this batch, for the batch hooks. */
function rowsPerTable(router: Router, batch: { rows: Row[]; related: Row[][] }): Record<string, number> {
  const out: Record<string, number> = { [router.target.spec.name]: batch.rows.length };
  router.related.forEach((p, i) => (out[p.spec.name] = batch.related[i]!.length));
  return out;
}

async function runHook(which: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (isTransient(err)) throw err;
    throw new TributaryError('hook_failed', `${which} hook failed: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Writes one batch to every table of the sync, parents before children, in the caller's
 * transaction. Returns the target's counts (the run's) and each related table's.
 */
async function writeTables(
  tx: Tx,
  dest: Destination,
  router: Router,
  target: TableSpec,
  batch: { rows: Row[]; related: Row[][]; owners: number[][] },
  mode: 'merge' | 'append',
  trackSeen: string | undefined,
): Promise<{ target: RunCounts; tables: Map<string, TableCounts> }> {
  let own = zeroCounts();
  const tables = new Map<string, TableCounts>();
  const now = new Date().toISOString();
  const targetKey = router.target.spec.primaryKey[0];
  for (const plan of router.writeOrder) {
    if (plan.isTarget) {
      own = await writeRows(tx, dest, target, batch.rows, mode, trackSeen, plan.spec.primaryKey);
      continue;
    }
    const index = router.related.indexOf(plan);
    let produced = batch.related[index]!;
    if (plan.parentColumn !== null && targetKey !== undefined) {
      produced = latestVersionsOnly(produced, batch.owners[index]!, batch.rows, targetKey);
    }
    const rows = lastPerKey(produced, plan.spec.primaryKey);
    const w =
      rows.length > 0
        ? await dest.writeBatch(tx, plan.spec, rows, { mode: 'merge', now })
        : { inserted: 0, updated: 0, unchanged: 0 };
    let deleted = 0;
    if (plan.parentColumn !== null && targetKey !== undefined && batch.rows.length > 0) {
      // The records of this batch were read again: children they no longer produce go.
      deleted = await dest.deleteChildren(
        tx,
        plan.spec,
        plan.parentColumn,
        batch.rows.map((r) => r[targetKey] ?? null),
        rows,
      );
    }
    tables.set(plan.spec.name, { ...w, deleted });
  }
  return { target: own, tables };
}

/**
 * A record read twice in one batch (a source re-delivering it after a change): its children are
 * those of its last version only, so a booking the later version dropped is not written.
 */
function latestVersionsOnly(children: Row[], owners: number[], records: Row[], key: string): Row[] {
  const last = new Map<Cell, number>();
  for (let i = 0; i < records.length; i++) last.set(records[i]![key] ?? null, i);
  if (last.size === records.length) return children; // no record repeated: the common case
  return children.filter((_, j) => last.get(records[owners[j]!]![key] ?? null) === owners[j]);
}

/** After hard deletes on the target: children whose record is gone go too. */
async function deleteOrphanChildren(tx: Tx, router: Router): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const target = router.target.spec;
  const key = target.primaryKey[0];
  if (key === undefined) return out;
  for (const plan of router.related.filter(
    (p): p is TablePlan & { parentColumn: string } => p.parentColumn !== null,
  )) {
    const n = await tx.execute(
      `DELETE FROM ${quoteIdent(plan.spec.name)} WHERE ${quoteIdent(plan.parentColumn)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${quoteIdent(target.name)} AS p WHERE p.${quoteIdent(key)} = ${quoteIdent(plan.spec.name)}.${quoteIdent(plan.parentColumn)})`,
    );
    if (n > 0) out.set(plan.spec.name, n);
  }
  return out;
}

function addTableCounts(into: Map<string, TableCounts>, table: string, c: TableCounts): void {
  const t = into.get(table) ?? { inserted: 0, updated: 0, unchanged: 0, deleted: 0 };
  t.inserted += c.inserted;
  t.updated += c.updated;
  t.unchanged += c.unchanged;
  t.deleted += c.deleted;
  into.set(table, t);
}

/** Writes one batch, splitting keys repeated within it so each write sees unique keys. */
async function writeRows(
  tx: Tx,
  dest: Destination,
  table: TableSpec,
  rows: Row[],
  mode: 'merge' | 'append',
  trackSeen: string | undefined,
  primaryKey: readonly string[],
): Promise<RunCounts> {
  const d = zeroCounts();
  const now = new Date().toISOString();
  const groups = mode === 'merge' ? splitByRepeatedKeys(rows, primaryKey) : [rows];
  for (const group of groups) {
    if (group.length === 0) continue;
    const w = await dest.writeBatch(tx, table, group, { mode, trackSeen, now });
    d.inserted += w.inserted;
    d.updated += w.updated;
    d.unchanged += w.unchanged;
  }
  return d;
}

async function withRetries<T>(fn: () => Promise<T>, logger: Logger): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || attempt >= BATCH_ATTEMPTS) throw err;
      // Exponential backoff with full jitter: 0.25 s, 0.5 s, 1 s … capped at 8 s.
      const delay = Math.random() * Math.min(8000, 250 * 2 ** (attempt - 1));
      logger.warn(`transient database error, retrying in ${Math.round(delay)} ms: ${errorMessage(err)}`);
      await sleep(delay);
    }
  }
}

function addCounts(into: RunCounts, d: RunCounts): void {
  into.read += d.read;
  into.inserted += d.inserted;
  into.updated += d.updated;
  into.unchanged += d.unchanged;
  into.deleted += d.deleted;
  into.quarantined += d.quarantined;
}

/**
 * Starts fetching the next page while the caller is still writing the current one, so source
 * parsing overlaps database work (two cores: Node parses while the database ingests).
 */
async function* readAhead<T>(iterable: AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
  const it = iterable[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      next.catch(() => {}); // surfaced by the await above on the next turn, never unhandled
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

async function dryRun(
  ctx: SyncContext,
  router: Router,
  batchSize: number,
  options: RunOptions,
  logger: Logger,
): Promise<RunResult> {
  const started = Date.now();
  const stream = await openStream(ctx, logger);
  const counts = zeroCounts();
  const controller = new AbortController();
  options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const limit = options.limit ?? Infinity;
  outer: for await (const page of stream.read({
    checkpoint: null,
    cursor: null,
    signal: controller.signal,
    logger,
    pageSize: Math.max(1, Math.min(batchSize, limit)),
  })) {
    counts.read += page.rejects?.length ?? 0;
    counts.quarantined += page.rejects?.length ?? 0;
    for (let i = 0; i < page.records.length; i++) {
      if (counts.read >= limit) break outer;
      counts.read++;
      if (!router.route(page.records[i]!, page.locations?.[i]).ok) counts.quarantined++;
    }
    if (counts.read >= limit) break;
  }
  const status: RunStatus = counts.quarantined > 0 ? 'partial' : 'succeeded';
  return { runId: null, sync: ctx.name, status, ...counts, durationMs: Date.now() - started, error: null };
}
