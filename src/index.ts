/**
 * Tributary's public library API, exported by hand: what is here is supported, what is not is
 * internal. Config files import from here:
 *   import { defineConfig } from 'tributary';
 * Programs use the same engine as the CLI:
 *   const t = await Tributary.open({ configFile: 'tributary.config.yaml' });
 *   const result = await t.sync('notices', { onEvent: console.log });
 *   await t.close();
 */
export { defineConfig } from './config/schema.ts';
export type {
  Config,
  ConfigInput,
  SyncConfig,
  TargetConfig,
  ColumnConfig,
  ColumnObjectConfig,
} from './config/schema.ts';

export { Tributary, type OpenOptions, type SyncOverview } from './tributary.ts';
export type { RunOptions, RunResult } from './pipeline/run-sync.ts';
export type { RunEvent, RunEventListener } from './core/events.ts';
export { TributaryError, type ErrorCode } from './core/errors.ts';
export type {
  Cell,
  Checkpoint,
  ColumnType,
  CursorValue,
  Logger,
  RawRecord,
  Rejection,
  Row,
  RunCounts,
  RunStatus,
  RunTrigger,
  WriteMode,
  DeleteMode,
} from './core/types.ts';
export type { RunRow, SyncStatusRow, QuarantineRow } from './state/state-store.ts';

// Extension points: a source type or a destination implements these interfaces.
export type {
  Source,
  SourceFactory,
  SourceContext,
  Stream,
  Page,
  ReadContext,
  CheckResult,
} from './sources/source.ts';
export type {
  Destination,
  DestinationCapabilities,
  TableSpec,
  ColumnSpec,
  WriteResult,
} from './destinations/destination.ts';

// The service (`tributary serve` / `worker`) as a library: start it, read its context, close it.
export { startService, type ServiceOptions, type RunningService } from './server/service.ts';
export type { ServiceEvent } from './scheduler/event-bus.ts';
