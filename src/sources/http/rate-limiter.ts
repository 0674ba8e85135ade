import { TributaryError } from '../../core/errors.ts';

/**
 * Token buckets, one per key (an Airtable base, an API host), so that requests stay under a
 * source's documented limit *before* the server has to say so (DESIGN guarantee 9).
 */
export interface RateLimiterOptions {
  /** Sustained requests per second per key: the API's documented limit (Airtable: 5 per base). */
  ratePerSecond: number;
  /**
   * Tokens a key may bank while idle, so a short burst needs no waiting. 1 means perfectly even
   * spacing; APIs that count per whole second tolerate up to `ratePerSecond`.
   */
  burst?: number;
  /** After a 429 the key's rate is multiplied by this (halved by default)... */
  slowdownFactor?: number;
  /** ...never below this fraction of `ratePerSecond`... */
  minRateFraction?: number;
  /** ...and climbs back linearly to the full rate over this many ms without another 429. */
  recoveryMs?: number;
  /** Clock in ms; injectable for tests. Monotonic by default so wall-clock jumps do no harm. */
  now?: () => number;
}

const DEFAULTS = {
  burst: 1,
  slowdownFactor: 0.5,
  minRateFraction: 1 / 16,
  recoveryMs: 60_000,
  now: () => performance.now(),
} satisfies Partial<RateLimiterOptions>;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Bucket {
  tokens: number;
  /** Time up to which `tokens` has been refilled. */
  refilledAt: number;
  /** No token is handed out before this time (a 429 penalty or an exhausted quota). */
  pausedUntil: number;
  /** Rate right after the last 429; recovers towards the full rate from `pausedUntil` on. */
  reducedRate: number;
  waiters: Waiter[];
  timer: NodeJS.Timeout | undefined;
}

export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #slowdown: number;
  readonly #minRate: number;
  readonly #recoveryMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!(options.ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
    this.#rate = options.ratePerSecond;
    this.#burst = Math.max(1, options.burst ?? DEFAULTS.burst);
    this.#slowdown = options.slowdownFactor ?? DEFAULTS.slowdownFactor;
    this.#minRate = this.#rate * (options.minRateFraction ?? DEFAULTS.minRateFraction);
    this.#recoveryMs = options.recoveryMs ?? DEFAULTS.recoveryMs;
    this.#now = options.now ?? DEFAULTS.now;
  }

  /** Resolves when `key` may send one request. Waiters are served in arrival order. */
  acquire(key: string, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const bucket = this.#bucket(key);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const i = bucket.waiters.indexOf(waiter);
          if (i >= 0) bucket.waiters.splice(i, 1);
          reject(abortError(signal));
          this.#schedule(bucket);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      bucket.waiters.push(waiter);
      this.#pump(bucket);
    });
  }

  /**
   * The server said "too many requests" (429): hand out nothing for `ms`, then continue at a
   * reduced rate that recovers gradually. A burst of 429s for requests already in flight counts
   * once, or a single overload would slow the key to its floor.
   */
  penalize(key: string, ms: number): void {
    const bucket = this.#bucket(key);
    const now = this.#now();
    if (now >= bucket.pausedUntil) {
      bucket.reducedRate = Math.max(this.#minRate, this.#currentRate(bucket, now) * this.#slowdown);
    }
    this.#pauseBucket(bucket, now + ms);
  }

  /** Hand out nothing for `ms` without slowing down afterwards (e.g. `X-RateLimit-Remaining: 0`). */
  pause(key: string, ms: number): void {
    const bucket = this.#bucket(key);
    this.#pauseBucket(bucket, this.#now() + ms);
  }

  /** Requests per second `key` is currently allowed (lower than the configured rate after a 429). */
  currentRate(key: string): number {
    const bucket = this.#buckets.get(key);
    return bucket ? this.#currentRate(bucket, this.#now()) : this.#rate;
  }

  #bucket(key: string): Bucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      const now = this.#now();
      bucket = {
        tokens: this.#burst,
        refilledAt: now,
        pausedUntil: -Infinity,
        reducedRate: this.#rate,
        waiters: [],
        timer: undefined,
      };
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  #currentRate(bucket: Bucket, now: number): number {
    if (bucket.reducedRate >= this.#rate) return this.#rate;
    const since = Math.max(0, now - bucket.pausedUntil);
    return Math.min(
      this.#rate,
      bucket.reducedRate + ((this.#rate - bucket.reducedRate) * since) / this.#recoveryMs,
    );
  }

  #pauseBucket(bucket: Bucket, until: number): void {
    if (until > bucket.pausedUntil) bucket.pausedUntil = until;
    // Tokens banked before the penalty must not fire as a burst the moment it ends.
    bucket.tokens = 0;
    bucket.refilledAt = bucket.pausedUntil;
    this.#schedule(bucket);
  }

  #refill(bucket: Bucket, now: number): void {
    if (now <= bucket.refilledAt) return;
    // The rate at the start of the interval is the lowest in it (it only recovers upwards), so
    // using it can only under-count tokens: the bucket never exceeds the allowed rate.
    const rate = this.#currentRate(bucket, bucket.refilledAt);
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.refilledAt) * rate) / 1000);
    bucket.refilledAt = now;
  }

  #pump(bucket: Bucket): void {
    const now = this.#now();
    if (now >= bucket.pausedUntil) {
      this.#refill(bucket, now);
      while (bucket.waiters.length > 0 && bucket.tokens >= 1) {
        bucket.tokens -= 1;
        const waiter = bucket.waiters.shift()!;
        if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
        waiter.resolve();
      }
    }
    this.#schedule(bucket);
  }

  #schedule(bucket: Bucket): void {
    if (bucket.timer) clearTimeout(bucket.timer);
    bucket.timer = undefined;
    if (bucket.waiters.length === 0) return;
    const now = this.#now();
    let wait: number;
    if (now < bucket.pausedUntil) {
      wait = bucket.pausedUntil - now;
    } else {
      this.#refill(bucket, now);
      wait = ((1 - bucket.tokens) * 1000) / this.#currentRate(bucket, now);
    }
    // +1 ms: timers may fire a fraction early; waking too soon would just reschedule.
    bucket.timer = setTimeout(() => this.#pump(bucket), Math.max(0, Math.ceil(wait)) + 1);
  }
}

function abortError(signal: AbortSignal): TributaryError {
  return new TributaryError('cancelled', 'Cancelled while waiting for the rate limiter.', {
    cause: signal.reason,
  });
}

/**
 * The process-wide limiter for a rate. Buckets inside it are per key (an Airtable base, a host),
 * so every sync of one base or host in this process shares that key's budget.
 */
const shared = new Map<number, RateLimiter>();
export function sharedRateLimiter(ratePerSecond: number): RateLimiter {
  let limiter = shared.get(ratePerSecond);
  if (!limiter) shared.set(ratePerSecond, (limiter = new RateLimiter({ ratePerSecond })));
  return limiter;
}
