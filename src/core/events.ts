import type { RunCounts, RunStatus, RunTrigger } from './types.ts';

/** Progress events a run emits; the CLI, SSE, metrics and webhooks consume them. */
export type RunEvent =
  | {
      type: 'run.started';
      runId: number;
      sync: string;
      trigger: RunTrigger;
      fullRefresh: boolean;
      /** The run continues a pass an earlier run left open (crash, cancel, --limit). */
      resumed: boolean;
      at: string;
    }
  | {
      type: 'batch.written';
      runId: number;
      sync: string;
      batch: number;
      /** Cumulative for the run. */
      counts: RunCounts;
      /** Records read per second since the run started. */
      rate: number;
      progress?: { done: number; total: number; unit: 'bytes' | 'records' };
      /** Estimated milliseconds left, when progress is known. */
      etaMs?: number;
      at: string;
    }
  | {
      type: 'run.finished';
      runId: number;
      sync: string;
      status: RunStatus;
      counts: RunCounts;
      durationMs: number;
      error: string | null;
      at: string;
    };

export type RunEventListener = (event: RunEvent) => void;
