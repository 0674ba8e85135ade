import { STATUS_CODES } from 'node:http';
import {
  Agent,
  EnvHttpProxyAgent,
  errors as undiciErrors,
  request as undiciRequest,
  type Dispatcher,
} from 'undici';
import { TributaryError, errorMessage } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/types.ts';
import { HttpError, apiErrorDetails, describeUrl, statusHint } from './http-error.ts';
import type { RateLimiter } from './rate-limiter.ts';

/**
 * The one way connectors talk HTTP: bounded (timeouts, response size, allowed hosts), polite
 * (rate limiter, Retry-After) and persistent (retries transient failures), with error messages
 * a person can act on and that never contain credentials (DESIGN guarantees 8, 9, 10).
 */
export interface HttpClientOptions {
  /** Name of the source in messages, e.g. "airtable (base appXXXX)". */
  source: string;
  /** Relative paths are appended to this, e.g. "https://api.airtable.com/v0". */
  baseUrl: string;
  /**
   * Sent with every request (auth lives here). Values of headers other than the harmless ones
   * (accept, content-type, user-agent) are treated as secrets: scrubbed from every message.
   */
  headers?: Record<string, string>;
  /** Shared limiter, so all streams of one base/host share its budget. */
  rateLimiter?: RateLimiter;
  /** Bucket key in `rateLimiter` (e.g. the Airtable base id). Default: the base URL's host. */
  rateKey?: string;
  /** Milliseconds; a timeout is a transient failure and is retried. */
  timeouts?: {
    /** TCP + TLS handshake. */
    connect?: number;
    /** From sending the request until the response headers arrive. */
    headers?: number;
    /** Longest silence while the body streams in (not the whole body). */
    body?: number;
  };
  /** Larger responses fail the request (terminal): a bound on memory per request. */
  maxResponseBytes?: number;
  retries?: {
    /** Total attempts including the first. */
    attempts?: number;
    /** Backoff is a random delay in [0, min(maxDelayMs, baseDelayMs · 2^retry)] ("full jitter"). */
    baseDelayMs?: number;
    maxDelayMs?: number;
    /**
     * Wait after a 429 that names no time (Airtable documents a 30 s penalty without
     * Retry-After). Default: the ordinary backoff.
     */
    rateLimitedDelayMs?: number;
    /**
     * Longest server-requested wait (Retry-After, X-RateLimit-Reset) we sit out; a longer one
     * fails at once with a transient error saying when to try again.
     */
    maxRetryAfterMs?: number;
  };
  /** Other hosts (host or host:port) that absolute URLs may point to, e.g. a CDN for files. */
  allowedHosts?: string[];
  /** "env" uses HTTP(S)_PROXY / NO_PROXY when set; "none" always connects directly. */
  proxy?: 'env' | 'none';
  logger?: Logger;
}

export const HTTP_CLIENT_DEFAULTS = {
  headers: {} as Record<string, string>,
  timeouts: { connect: 10_000, headers: 30_000, body: 30_000 },
  // 50 MB: far above any page an API sends (Airtable's 100 records are < 1 MB), far below
  // what would hurt the process.
  maxResponseBytes: 50 * 1024 * 1024,
  retries: {
    attempts: 6,
    baseDelayMs: 500,
    maxDelayMs: 30_000,
    rateLimitedDelayMs: undefined as number | undefined,
    maxRetryAfterMs: 120_000,
  },
  allowedHosts: [] as string[],
  proxy: 'env' as 'env' | 'none',
};

export type QueryValue =
  string | number | boolean | null | undefined | readonly (string | number | boolean)[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** Path relative to baseUrl ("/appX/tblY") or an absolute URL on an allowed host. */
  url: string;
  /** Appended to the URL; arrays repeat the name; null/undefined are left out. */
  query?: Query;
  /** Sent as JSON. */
  json?: unknown;
  /** Extra headers for this request. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface HttpResponse<T = Buffer> {
  status: number;
  /** The final URL, to resolve relative links against. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export interface HttpClient {
  request(opts: RequestOptions): Promise<HttpResponse>;
  getJson<T = unknown>(
    pathOrUrl: string,
    opts?: { query?: Query; signal?: AbortSignal; headers?: Record<string, string> },
  ): Promise<HttpResponse<T>>;
  postJson<T = unknown>(
    path: string,
    body: unknown,
    opts?: { query?: Query; signal?: AbortSignal; headers?: Record<string, string> },
  ): Promise<HttpResponse<T>>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const HARMLESS_HEADERS = new Set(['accept', 'content-type', 'user-agent', 'accept-encoding']);

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const cfg = {
    ...HTTP_CLIENT_DEFAULTS,
    ...options,
    timeouts: { ...HTTP_CLIENT_DEFAULTS.timeouts, ...options.timeouts },
    retries: { ...HTTP_CLIENT_DEFAULTS.retries, ...options.retries },
    logger: options.logger ?? silentLogger,
  };
  const base = new URL(cfg.baseUrl.endsWith('/') ? cfg.baseUrl : `${cfg.baseUrl}/`);
  const allowedHosts = new Set([base.host, ...cfg.allowedHosts.map((h) => h.toLowerCase())]);
  const rateKey = cfg.rateKey ?? base.host;
  const secrets = Object.entries(cfg.headers)
    .filter(([name, value]) => !HARMLESS_HEADERS.has(name.toLowerCase()) && value.length >= 4)
    .flatMap(([, value]) => [value, ...value.split(/\s+/).filter((part) => part.length >= 8)]);
  /** Last line of defence: an API that echoes the request must not leak the token into logs. */
  const scrub = (s: string): string =>
    secrets.reduce((acc, secret) => acc.split(secret).join('[redacted]'), s);

  const agentOptions = {
    connect: { timeout: cfg.timeouts.connect },
    headersTimeout: cfg.timeouts.headers,
    bodyTimeout: cfg.timeouts.body,
  };
  // Node 20's global fetch ignores proxy variables, so the proxy is chosen here explicitly.
  const useProxy =
    cfg.proxy === 'env' &&
    ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].some((v) => (process.env[v] ?? '') !== '');
  const dispatcher: Dispatcher = useProxy
    ? // proxyTunnel false: plain-http URLs go to the proxy as absolute-form requests, as curl and
      // browsers send them; undici's default (CONNECT for every URL) is refused by proxies that
      // allow CONNECT only to TLS ports (Squid's default rules). https URLs still tunnel.
      new EnvHttpProxyAgent({ ...agentOptions, proxyTunnel: false })
    : new Agent(agentOptions);

  const resolve = (pathOrUrl: string, query: Query | undefined): URL => {
    let url: URL;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(pathOrUrl)) {
      url = new URL(pathOrUrl);
      if (!allowedHosts.has(url.host) && !allowedHosts.has(url.hostname)) {
        throw new HttpError(
          'source_invalid',
          `${cfg.source}: refused to call ${url.protocol}//${url.host}${describeUrl(url)}: only ${[...allowedHosts].join(', ')} may be called for this source. A next-page link or file URL pointed elsewhere; if that host is legitimate, add it to the source's allowed hosts.`,
          {},
        );
      }
      if (url.protocol !== 'https:' && url.protocol !== base.protocol) {
        throw new HttpError(
          'source_invalid',
          `${cfg.source}: refused to call ${url.protocol}//${url.host}${describeUrl(url)}: the source uses ${base.protocol}, and credentials are not sent over a weaker protocol.`,
          {},
        );
      }
    } else {
      url = new URL(pathOrUrl.replace(/^\/+/, ''), base);
    }
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(v));
    }
    return url;
  };

  const backoff = (retry: number): number =>
    Math.random() * Math.min(cfg.retries.maxDelayMs, cfg.retries.baseDelayMs * 2 ** retry);

  async function request(opts: RequestOptions): Promise<HttpResponse> {
    const method = opts.method ?? (opts.json === undefined ? 'GET' : 'POST');
    const url = resolve(opts.url, opts.query);
    const where = `${method} ${describeUrl(url)}`;
    const headers: Record<string, string> = { accept: 'application/json', ...cfg.headers, ...opts.headers };
    let body: string | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    }
    const attempts = Math.max(1, cfg.retries.attempts);

    for (let attempt = 1; ; attempt++) {
      throwIfAborted(opts.signal, cfg.source);
      if (cfg.rateLimiter) await cfg.rateLimiter.acquire(rateKey, opts.signal);

      let failure: { reason: string; status?: number; waitMs?: number; cause?: unknown };
      try {
        const res = await request_(url, method, headers, body, opts.signal);
        if (res.statusCode >= 200 && res.statusCode < 300) {
          const buf = await readCapped(res, cfg.maxResponseBytes, () =>
            terminal(
              `${cfg.source}: ${where} returned more than ${formatBytes(cfg.maxResponseBytes)}, the limit for one response. Request smaller pages (e.g. a lower page size) or raise maxResponseBytes.`,
            ),
          );
          pauseIfExhausted(res.headers);
          return { status: res.statusCode, url: url.href, headers: res.headers, body: buf };
        }
        const text = (await readCapped(res, 64 * 1024, () => null).catch(() => null))?.toString('utf8') ?? '';
        const api = apiErrorDetails(text);
        const statusText = `${res.statusCode} ${STATUS_CODES[res.statusCode] ?? ''}`.trim();
        const apiPart =
          (api.message ?? api.type) !== undefined
            ? `: ${[api.type, api.message].filter(Boolean).join(' ')}`
            : '';
        if (!RETRY_STATUSES.has(res.statusCode)) {
          const code = res.statusCode === 401 || res.statusCode === 403 ? 'auth_failed' : 'source_invalid';
          throw new HttpError(
            code,
            scrub(`${cfg.source}: ${where} returned ${statusText}${apiPart}. ${statusHint(res.statusCode)}`),
            { status: res.statusCode, apiErrorType: api.type },
          );
        }
        let waitMs = serverWaitMs(res.headers);
        if (res.statusCode === 429) {
          waitMs ??= cfg.retries.rateLimitedDelayMs;
          cfg.rateLimiter?.penalize(rateKey, waitMs ?? backoff(attempt - 1));
        }
        failure = { reason: `${statusText}${apiPart}`, status: res.statusCode, waitMs };
      } catch (err) {
        if (err instanceof TributaryError) throw err;
        if (opts.signal?.aborted) throwIfAborted(opts.signal, cfg.source);
        const refused = proxyRefusal(err);
        if (refused !== undefined && refused < 500) {
          // The proxy's own answer to CONNECT: its rules or credentials, not a passing fault.
          throw new HttpError(
            refused === 407 ? 'auth_failed' : 'source_invalid',
            scrub(
              `${cfg.source}: ${where}: the proxy refused to open a tunnel to ${url.host} (${refused} ${STATUS_CODES[refused] ?? ''}). ${
                refused === 407
                  ? 'It asks for credentials: put them in the proxy URL (HTTPS_PROXY=http://user:password@host:port).'
                  : 'Check the proxy’s rules for this host, or let the host bypass the proxy with NO_PROXY.'
              }`,
            ),
            { status: refused },
          );
        }
        if (!isNetworkError(err)) throw err;
        failure = { reason: describeNetworkError(err, url.host, cfg.timeouts.connect), cause: err };
      }

      if (failure.waitMs !== undefined && failure.waitMs > cfg.retries.maxRetryAfterMs) {
        throw new HttpError(
          'source_unavailable',
          scrub(
            `${cfg.source}: ${where} returned ${failure.reason} and asks to wait ${Math.ceil(failure.waitMs / 1000)} s (until ${new Date(Date.now() + failure.waitMs).toISOString()}), longer than this sync waits. Run it again after that time.`,
          ),
          { status: failure.status, transient: true },
        );
      }
      if (attempt >= attempts) {
        throw new HttpError(
          'source_unavailable',
          scrub(
            `${cfg.source}: ${where} failed ${attempts} times, last with ${failure.reason}. The service looks unavailable or overloaded; the sync can be retried later.`,
          ),
          { status: failure.status, transient: true, cause: failure.cause },
        );
      }
      const delay = Math.max(failure.waitMs ?? 0, backoff(attempt - 1));
      cfg.logger.warn(
        scrub(
          `${cfg.source}: ${where} ${failure.reason}; retry ${attempt}/${attempts - 1} in ${Math.round(delay)} ms`,
        ),
        {
          source: cfg.source,
          method,
          url: describeUrl(url),
          status: failure.status,
          attempt,
          delayMs: Math.round(delay),
        },
      );
      await sleep(delay, opts.signal, cfg.source);
    }
  }

  /** `X-RateLimit-Remaining: 0` on a success: wait for the reset before the next request. */
  function pauseIfExhausted(headers: HttpResponse['headers']): void {
    if (!cfg.rateLimiter || header(headers, 'x-ratelimit-remaining') !== '0') return;
    const ms = resetWaitMs(header(headers, 'x-ratelimit-reset'));
    if (ms !== undefined && ms > 0) cfg.rateLimiter.pause(rateKey, Math.min(ms, cfg.retries.maxRetryAfterMs));
  }

  function terminal(message: string): HttpError {
    return new HttpError('source_invalid', scrub(message), {});
  }

  function request_(
    url: URL,
    method: Dispatcher.HttpMethod,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ) {
    // Timeouts per request as well: undici's non-tunnelling proxy path builds its own pool,
    // which would otherwise fall back to undici's 300 s defaults.
    return undiciRequest(url, {
      method,
      headers,
      body,
      signal,
      dispatcher,
      headersTimeout: cfg.timeouts.headers,
      bodyTimeout: cfg.timeouts.body,
    });
  }

  function json<T>(res: HttpResponse, method: string): HttpResponse<T> {
    try {
      return { ...res, body: JSON.parse(res.body.toString('utf8')) as T };
    } catch (err) {
      const url = new URL(res.url);
      throw new HttpError(
        'source_invalid',
        scrub(
          `${cfg.source}: ${method} ${describeUrl(url)} returned a body that is not JSON (${errorMessage(err)}). Check that the base URL points at the API, not a web page or proxy.`,
        ),
        { status: res.status, cause: err },
      );
    }
  }

  return {
    request,
    getJson: async (pathOrUrl, opts) =>
      json(await request({ ...opts, method: 'GET', url: pathOrUrl }), 'GET'),
    postJson: async (path, body, opts) =>
      json(await request({ ...opts, method: 'POST', url: path, json: body }), 'POST'),
    close: () => dispatcher.close(),
  };
}

/** Reads the body, failing as soon as it passes `max` bytes (Content-Length or counted). */
async function readCapped(
  res: Dispatcher.ResponseData,
  max: number,
  tooLarge: () => Error | null,
): Promise<Buffer> {
  const declared = Number(header(res.headers, 'content-length'));
  const fail = (): Buffer => {
    // Dropping the rest closes the connection; undici reports that as an abort, which is ours.
    res.body.on('error', () => {});
    try {
      res.body.destroy();
    } catch {
      /* already aborted */
    }
    const err = tooLarge();
    if (err) throw err;
    return Buffer.alloc(0);
  };
  if (Number.isFinite(declared) && declared > max) return fail();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) return fail();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function header(headers: HttpResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Milliseconds the server asks us to wait: Retry-After (seconds or HTTP date) or X-RateLimit-Reset. */
export function serverWaitMs(headers: HttpResponse['headers'], now = Date.now()): number | undefined {
  const retryAfter = header(headers, 'retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return resetWaitMs(header(headers, 'x-ratelimit-reset'), now);
}

/**
 * X-RateLimit-Reset is epoch seconds at GitHub and others, but seconds-until-reset elsewhere:
 * a value too small to be a recent epoch time is read as a delta.
 */
function resetWaitMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const n = Number(value);
  if (n > 1e12) return Math.max(0, n - now); // epoch milliseconds
  if (n > 1e9) return Math.max(0, n * 1000 - now); // epoch seconds
  return n * 1000;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
]);

function isNetworkError(err: unknown): boolean {
  // Argument errors are our bugs, not the network's: retrying them would only hide them.
  if (err instanceof undiciErrors.InvalidArgumentError || err instanceof undiciErrors.NotSupportedError)
    return false;
  if (err instanceof undiciErrors.UndiciError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}

/** The status a forward proxy answered a CONNECT with, when it refused the tunnel (undici's error). */
function proxyRefusal(err: unknown): number | undefined {
  if (!(err instanceof undiciErrors.RequestAbortedError)) return undefined;
  const m = /^Proxy response \((\d{3})\) !== 200/.exec(err.message);
  return m ? Number(m[1]) : undefined;
}

/** What went wrong on the wire, naming the host: which one is unreachable is the first thing to check. */
function describeNetworkError(err: unknown, host: string, connectTimeoutMs: number): string {
  if (err instanceof undiciErrors.ConnectTimeoutError)
    return `a connect timeout (no connection to ${host} within ${connectTimeoutMs} ms)`;
  if (err instanceof undiciErrors.HeadersTimeoutError)
    return `a timeout waiting for the response headers from ${host}`;
  if (err instanceof undiciErrors.BodyTimeoutError)
    return `a timeout while reading the response body from ${host}`;
  const code = (err as { code?: unknown }).code;
  return `a network error reaching ${host} (${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(err)})`;
}

function throwIfAborted(signal: AbortSignal | undefined, source: string): void {
  if (signal?.aborted)
    throw new TributaryError('cancelled', `${source}: request cancelled.`, { cause: signal.reason });
}

function sleep(ms: number, signal: AbortSignal | undefined, source: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new TributaryError('cancelled', `${source}: request cancelled.`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const formatBytes = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MB` : `${n} bytes`;
