import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { RateLimiter } from './rate-limiter.ts';

/** Lets every promise continuation queued so far run (setImmediate is not mocked). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A hand-driven clock for the limiter's `now`, kept in step with node:test's mocked setTimeout,
 * so grants happen at exact, repeatable times however loaded the machine is.
 */
function manualClock(t: TestContext): { now: () => number; advanceTo: (ms: number) => Promise<void> } {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  return {
    now: () => now,
    /** One ms at a time; acquirers woken in a ms run (and re-acquire) before the next one. */
    async advanceTo(ms) {
      await flush();
      while (now < ms) {
        now++;
        t.mock.timers.tick(1);
        await flush();
      }
    },
  };
}

/**
 * `workers` loops acquiring `key` as fast as the limiter allows, recording the clock at each
 * grant. `stop` aborts the loops (exercising abort too) and returns the grant times.
 */
function hammer(
  limiter: RateLimiter,
  key: string,
  now: () => number,
  workers = 4,
): { stop: () => Promise<number[]> } {
  const controller = new AbortController();
  const grants: number[] = [];
  const done = Promise.all(
    Array.from({ length: workers }, async () => {
      try {
        for (;;) {
          await limiter.acquire(key, controller.signal);
          grants.push(now());
        }
      } catch (err) {
        if (!controller.signal.aborted) throw err;
      }
    }),
  );
  return {
    stop: async () => {
      controller.abort();
      await done;
      return grants.sort((a, b) => a - b);
    },
  };
}

/** Gaps between consecutive grants. */
const gaps = (grants: number[]): number[] => grants.slice(1).map((g, i) => g - grants[i]!);

/** Most grants seen in any window of `windowMs`. */
function maxInWindow(grants: number[], windowMs: number): number {
  let max = 0;
  for (let i = 0, j = 0; i < grants.length; i++) {
    while (grants[i]! - grants[j]! >= windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

describe('RateLimiter', () => {
  test('never exceeds its rate in real time (20 req/s over 1 s, burst 1)', async () => {
    // The one real-time check, and an upper bound only: a loaded machine can make the limiter
    // slower, never faster. Exact timings are checked below on a manual clock.
    const limiter = new RateLimiter({ ratePerSecond: 20 });
    const start = performance.now();
    let granted = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() - start < 1000) {
          await limiter.acquire('base');
          if (performance.now() - start < 1000) granted++;
        }
      }),
    );
    // burst + rate × time: every counted grant happened less than 1 s after the bucket existed.
    assert.ok(granted <= 21, `granted ${granted}`);
  });

  test('steady rate: 20 req/s, burst 1, gives one grant per 50 ms', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 20, now: clock.now });
    const h = hammer(limiter, 'base', clock.now);
    await clock.advanceTo(999);
    const grants = await h.stop();
    assert.equal(grants[0], 0);
    assert.equal(grants.length, 20, `grants ${grants.join(',')}`);
    // Never closer than 1/rate; never later than 1/rate plus the limiter's 1 ms wake-up margin.
    for (const gap of gaps(grants)) assert.ok(gap >= 50 && gap <= 51, `grants ${grants.join(',')}`);
    assert.equal(maxInWindow(grants, 250), 5);
  });

  test('burst is granted at once, then the sustained rate applies', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5, now: clock.now });
    const h = hammer(limiter, 'k', clock.now, 8);
    await clock.advanceTo(499);
    const grants = await h.stop();
    assert.deepEqual(grants.slice(0, 5), [0, 0, 0, 0, 0]);
    // The bucket is then empty: one token per 100 ms (+1 ms wake-up margin).
    const sustained = grants.slice(4);
    assert.equal(sustained.length, 5, `grants ${grants.join(',')}`);
    for (const gap of gaps(sustained)) assert.ok(gap >= 100 && gap <= 101, `grants ${grants.join(',')}`);
    assert.equal(grants.length, 9);
  });

  test('keys are independent', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 10, now: clock.now });
    const ha = hammer(limiter, 'a', clock.now);
    const hb = hammer(limiter, 'b', clock.now);
    await clock.advanceTo(499);
    const [a, b] = [await ha.stop(), await hb.stop()];
    // Each key gets the full 10 req/s (1 banked + one per 100 ms), as if alone.
    assert.equal(a.length, 5, `a ${a.join(',')}`);
    assert.deepEqual(b, a);
  });

  test('penalize pauses the key, halves its rate, and the rate recovers linearly', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 20, recoveryMs: 400, now: clock.now });
    await limiter.acquire('k'); // the banked token, at 0
    limiter.penalize('k', 150);
    limiter.penalize('k', 150); // a second 429 from the same burst does not halve again
    assert.equal(limiter.currentRate('k'), 10);
    let grantedAt: number | undefined;
    void limiter.acquire('k').then(() => (grantedAt = clock.now()));
    await clock.advanceTo(249);
    // Nothing during the penalty, nor as a burst when it ends: the first token after it takes
    // 1/10 s at the halved rate.
    assert.equal(grantedAt, undefined, 'token granted too early');
    await clock.advanceTo(260);
    assert.ok(grantedAt !== undefined && grantedAt >= 250 && grantedAt <= 251, `granted at ${grantedAt}`);
    // From the end of the penalty (150) the rate climbs from 10 back to 20 over 400 ms.
    await clock.advanceTo(350);
    assert.equal(limiter.currentRate('k'), 15);
    await clock.advanceTo(550);
    assert.equal(limiter.currentRate('k'), 20);
    await clock.advanceTo(600);
    assert.equal(limiter.currentRate('k'), 20);
    assert.equal(limiter.currentRate('other'), 20);
  });

  test('rate after a 429 is really lower: 20 req/s halved gives 9 in the next 1 s', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 20, recoveryMs: 60_000, now: clock.now });
    limiter.penalize('k', 5);
    const h = hammer(limiter, 'k', clock.now);
    await clock.advanceTo(1004);
    const grants = await h.stop();
    // Penalty over at 5 with no banked token, then ~10 req/s (recovering 1/60 of the way per
    // second): the first token after 100 ms, then one per 100 ms. The full rate would give 19.
    assert.equal(grants.length, 9, `grants ${grants.join(',')}`);
    assert.ok(grants[0]! >= 5 + 98, `first at ${grants[0]}`);
    for (const gap of gaps(grants)) assert.ok(gap >= 98 && gap <= 101, `grants ${grants.join(',')}`);
  });

  test('pause holds grants, then the key continues at its full rate', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 5, now: clock.now });
    limiter.pause('k', 100);
    assert.equal(limiter.currentRate('k'), 5);
    const h = hammer(limiter, 'k', clock.now);
    await clock.advanceTo(1000);
    const grants = await h.stop();
    // The banked token is dropped; from 100 on, one per 200 ms.
    assert.ok(grants[0]! >= 300 && grants[0]! <= 301, `grants ${grants.join(',')}`);
    for (const gap of gaps(grants)) assert.ok(gap >= 200 && gap <= 201, `grants ${grants.join(',')}`);
    assert.equal(grants.length, 4);
    assert.equal(limiter.currentRate('k'), 5);
  });

  test('an aborted acquire rejects and frees its place in the queue', async (t) => {
    const clock = manualClock(t);
    const limiter = new RateLimiter({ ratePerSecond: 5, now: clock.now });
    await limiter.acquire('k'); // empties the bucket
    const controller = new AbortController();
    const waiting = limiter.acquire('k', controller.signal);
    let nextAt: number | undefined;
    void limiter.acquire('k').then(() => (nextAt = clock.now()));
    controller.abort();
    await assert.rejects(waiting, { code: 'cancelled' });
    // The next waiter gets the first token (due at 200), not the one after it (400).
    await clock.advanceTo(199);
    assert.equal(nextAt, undefined);
    await clock.advanceTo(300);
    assert.ok(nextAt !== undefined && nextAt >= 200 && nextAt <= 201, `granted at ${nextAt}`);
  });

  test('with mock timers the clock drives grants exactly', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const limiter = new RateLimiter({ ratePerSecond: 5, now: () => now });
    let granted = 0;
    for (let i = 0; i < 10; i++) void limiter.acquire('k').then(() => granted++);
    return (async () => {
      await Promise.resolve();
      assert.equal(granted, 1);
      for (let ms = 0; ms < 1000; ms += 10) {
        now += 10;
        t.mock.timers.tick(10);
        await Promise.resolve();
      }
      // 1 banked + 5 per second.
      assert.ok(granted >= 5 && granted <= 6, `granted ${granted}`);
    })();
  });
});
