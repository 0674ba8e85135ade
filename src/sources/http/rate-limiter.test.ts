import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiter } from './rate-limiter.ts';

/** Acquires as fast as the limiter allows for `ms`, returning the times tokens were granted. */
async function hammer(limiter: RateLimiter, key: string, ms: number, workers = 4): Promise<number[]> {
  const start = performance.now();
  const grants: number[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() - start < ms) {
        await limiter.acquire(key);
        const t = performance.now() - start;
        if (t < ms) grants.push(t);
      }
    }),
  );
  return grants.sort((a, b) => a - b);
}

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
  test('never exceeds its rate (20 req/s over 1 s, burst 1)', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 20 });
    const grants = await hammer(limiter, 'base', 1000);
    // burst + rate × time is the bound; the scheduler only ever makes us slower.
    assert.ok(grants.length <= 21, `granted ${grants.length}`);
    assert.ok(grants.length >= 17, `too slow: granted ${grants.length}`);
    assert.ok(maxInWindow(grants, 250) <= 1 + 5, `window max ${maxInWindow(grants, 250)}`);
  });

  test('burst is granted at once, then the sustained rate applies', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5 });
    const grants = await hammer(limiter, 'k', 500);
    assert.ok(
      grants.slice(0, 5).every((t) => t < 20),
      `burst: ${grants.slice(0, 5).join(',')}`,
    );
    assert.ok(grants.length <= 5 + 5, `granted ${grants.length}`);
  });

  test('keys are independent', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 10 });
    const [a, b] = await Promise.all([hammer(limiter, 'a', 500), hammer(limiter, 'b', 500)]);
    assert.ok(a.length >= 4 && a.length <= 6, `a ${a.length}`);
    assert.ok(b.length >= 4 && b.length <= 6, `b ${b.length}`);
  });

  test('penalize pauses the key, halves its rate, and the rate recovers', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 20, recoveryMs: 400 });
    await limiter.acquire('k');
    const t0 = performance.now();
    limiter.penalize('k', 150);
    limiter.penalize('k', 150); // a second 429 from the same burst does not halve again
    assert.equal(limiter.currentRate('k'), 10);
    await limiter.acquire('k');
    assert.ok(performance.now() - t0 >= 149, 'token granted during the penalty');
    await new Promise((r) => setTimeout(r, 450));
    assert.equal(limiter.currentRate('k'), 20);
    assert.equal(limiter.currentRate('other'), 20);
  });

  test('rate after a 429 is really lower: 20 req/s halved gives ≤ 11 in 1 s', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 20, recoveryMs: 60_000 });
    limiter.penalize('k', 1);
    await new Promise((r) => setTimeout(r, 5));
    const grants = await hammer(limiter, 'k', 1000);
    assert.ok(grants.length <= 11, `granted ${grants.length}`);
    assert.ok(grants.length >= 8, `granted ${grants.length}`);
  });

  test('pause does not slow the key afterwards', () => {
    const limiter = new RateLimiter({ ratePerSecond: 5 });
    limiter.pause('k', 10);
    assert.equal(limiter.currentRate('k'), 5);
  });

  test('an aborted acquire rejects and frees its place in the queue', async () => {
    const limiter = new RateLimiter({ ratePerSecond: 5 });
    await limiter.acquire('k'); // empties the bucket
    const controller = new AbortController();
    const waiting = limiter.acquire('k', controller.signal);
    const next = limiter.acquire('k');
    controller.abort();
    await assert.rejects(waiting, { code: 'cancelled' });
    const t0 = performance.now();
    await next;
    assert.ok(performance.now() - t0 < 250);
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
