/**
 * Thrown errors carry a stable code and say whether retrying can help (transient) or a person
 * must act (terminal). Expected per-record failures are never thrown: they are Rejections.
 */
export type ErrorCode =
  | 'config_invalid'
  | 'config_not_found'
  | 'usage'
  | 'source_unavailable'
  | 'source_invalid'
  | 'auth_failed'
  | 'destination_unavailable'
  | 'destination_error'
  | 'schema_conflict'
  | 'sync_not_found'
  | 'run_not_found'
  | 'sync_busy'
  | 'cancelled'
  | 'error_threshold'
  | 'hook_failed'
  | 'after_run_failed'
  | 'expectation_failed'
  | 'internal';

export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly transient: boolean;
  constructor(code: ErrorCode, message: string, options?: { transient?: boolean; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TributaryError';
    this.code = code;
    this.transient = options?.transient ?? false;
  }
}

export const isTransient = (err: unknown): boolean => err instanceof TributaryError && err.transient;

/** A message for people: the error's own message, without stack, never secrets. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
