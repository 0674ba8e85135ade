import type { z } from 'zod';
import type { Checkpoint, CursorValue, Logger, RawRecord } from '../core/types.ts';

/**
 * A source knows how to reach one external system; it owns no state and writes nothing.
 * Its streams yield pages; each page carries the checkpoint to resume *after* it.
 */
export interface CheckResult {
  ok: boolean;
  /** One sentence a person can act on: what was checked, what failed, what to do. */
  message: string;
}

/** A record the source could not even parse (a malformed CSV line, invalid JSON). */
export interface SourceReject {
  code: string;
  message: string;
  payload: unknown;
}

export interface Page {
  records: RawRecord[];
  /**
   * Where each record came from, for error messages ("line 42"). Parallel to `records` when
   * present.
   */
  locations?: string[];
  /** Records that failed to parse; they go to quarantine and the run goes on. */
  rejects?: SourceReject[];
  /** Resume position after this page. JSON-serialisable. */
  checkpoint: Checkpoint;
  /** Progress of the whole pass when known (bytes of a file, records of an API with a total). */
  progress?: { done: number; total: number; unit: 'bytes' | 'records' };
}

export interface ReadContext {
  /** Last committed checkpoint of this pass, or null to start from the beginning. */
  checkpoint: Checkpoint | null;
  /** Inclusive lower bound for incremental reads (lookback already applied), or null for a full pass. */
  cursor: CursorValue | null;
  signal: AbortSignal;
  logger: Logger;
  /** Preferred number of records per page (the batch size). */
  pageSize: number;
}

export interface Stream {
  name: string;
  /** Natural key the source guarantees, when it has one (config may override). */
  primaryKey?: string[];
  cursorField?: string;
  /** True when records arrive in ascending cursor order, so the cursor may advance per batch. */
  sortedByCursor: boolean;
  read(ctx: ReadContext): AsyncGenerator<Page, void, undefined>;
}

export interface Source {
  readonly type: string;
  check(): Promise<CheckResult>;
  streams(): Promise<Stream[]>;
}

export interface SourceContext {
  /** Directory that relative paths in the config are resolved against (the config file's folder). */
  baseDir: string;
  logger: Logger;
}

/** One per source type; registered in sources/registry.ts. */
export interface SourceFactory<C = unknown> {
  type: string;
  /** zod schema of this source's `source:` block (including `type`). */
  configSchema: z.ZodType<C>;
  create(config: C, ctx: SourceContext): Source;
}
