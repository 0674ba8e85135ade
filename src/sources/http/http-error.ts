import { TributaryError, type ErrorCode } from '../../core/errors.ts';

/**
 * An HTTP response the source refused, with what a connector may need to react (e.g. Airtable's
 * 422 `LIST_RECORDS_ITERATOR_NOT_AVAILABLE` means "restart from the first page").
 */
export class HttpError extends TributaryError {
  /** HTTP status, or undefined when no response arrived (network error, timeout). */
  readonly status: number | undefined;
  /** The API's own error type when its body says (`error.type`, `error` string, `code`). */
  readonly apiErrorType: string | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    options: { status?: number; apiErrorType?: string; transient?: boolean; cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'HttpError';
    this.status = options.status;
    this.apiErrorType = options.apiErrorType;
  }
}

/**
 * A URL as it may appear in messages and logs: path plus query parameter *names*. Values are
 * dropped because some APIs take tokens or signatures in the query string.
 */
export function describeUrl(url: URL): string {
  const names = [...new Set(url.searchParams.keys())];
  return url.pathname + (names.length > 0 ? `?${names.map((n) => `${n}=…`).join('&')}` : '');
}

/** The API's error message and type from a JSON error body, in the shapes the sources use. */
export function apiErrorDetails(body: string): { message?: string; type?: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return {};
  }
  if (typeof json !== 'object' || json === null) return {};
  const o = json as Record<string, unknown>;
  const err = o.error;
  // Airtable: {"error":"NOT_FOUND"} or {"error":{"type":…,"message":…}}.
  if (typeof err === 'string') return { type: err, message: str(o.message) };
  if (typeof err === 'object' && err !== null) {
    const e = err as Record<string, unknown>;
    return { type: str(e.type) ?? str(e.code), message: str(e.message) };
  }
  // GitHub {"message":…}, GraphQL {"errors":[{"message":…}]}, RFC 7807 {"title","detail"}.
  const first = Array.isArray(o.errors) ? (o.errors[0] as Record<string, unknown> | undefined) : undefined;
  return {
    type: str(o.code) ?? str(o.type),
    message: str(o.message) ?? str(first?.message) ?? str(o.detail) ?? str(o.title),
  };
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 ? truncate(v, 300) : undefined;

const truncate = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** What a person should do about a terminal status. */
export function statusHint(status: number): string {
  if (status === 401) {
    return 'Check the credentials configured for this source: the token may be missing, mistyped, expired or revoked.';
  }
  if (status === 403) {
    return 'The credentials were accepted but lack access, or the resource does not exist: check the token’s scopes, that it was granted this resource, and the ids and names in the source config.';
  }
  if (status === 404) {
    return 'Check the ids and names in the source config (base, table, path): the resource does not exist, was deleted, or the token cannot see it.';
  }
  if (status === 400 || status === 422) {
    return 'The API rejected the request as invalid: check the source options (filters, fields, sort, parameters).';
  }
  return 'This is not expected to go away by retrying: check the source config.';
}
