/**
 * Airtable's per-base limit: a token bucket of `ratePerSecond` (burst of the same size). A request
 * that finds the bucket empty gets 429 and puts the base in a penalty box for `penaltyMs`: every
 * request until then is refused too, as Airtable's "wait 30 seconds" rule says. Requests refused
 * during the penalty do not extend it (the docs do not say they do).
 */
export class RateLimit {
  private tokens: number;
  private refilledAt: number;
  private penalisedUntil = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly penaltyMs: number,
    now: number,
  ) {
    this.tokens = ratePerSecond;
    this.refilledAt = now;
  }

  /** true when the request may proceed. */
  take(now: number): boolean {
    if (now < this.penalisedUntil) return false;
    this.tokens = Math.min(
      this.ratePerSecond,
      this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond,
    );
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.penalisedUntil = now + this.penaltyMs;
    return false;
  }
}
