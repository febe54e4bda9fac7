import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { VirtualClock } from '../../processors/customerio/clock.ts';
import { TokenBucket } from '../../processors/customerio/rate-limit.ts';
import { computeBackoffMs, decideRetry, DEFAULT_RETRY_OPTIONS, parseRetryAfterMs, resolveRetryOptions } from '../../processors/customerio/retry.ts';

const nowMs = Date.UTC(2024, 6, 15, 13, 30, 0);

describe('parseRetryAfterMs', () => {
  test('reads delta seconds', () => {
    assert.equal(parseRetryAfterMs('30', nowMs), 30_000);
    assert.equal(parseRetryAfterMs(' 0 ', nowMs), 0);
    assert.equal(parseRetryAfterMs(['2'], nowMs), 2_000);
  });

  test('reads an HTTP date', () => {
    assert.equal(parseRetryAfterMs('Mon, 15 Jul 2024 13:30:45 GMT', nowMs), 45_000);
  });

  test('treats a past date as zero', () => {
    assert.equal(parseRetryAfterMs('Mon, 15 Jul 2024 13:00:00 GMT', nowMs), 0);
  });

  test('ignores missing and unreadable values', () => {
    assert.equal(parseRetryAfterMs(undefined, nowMs), undefined);
    assert.equal(parseRetryAfterMs('', nowMs), undefined);
    assert.equal(parseRetryAfterMs('soon', nowMs), undefined);
    assert.equal(parseRetryAfterMs('-5', nowMs), undefined);
  });
});

describe('computeBackoffMs', () => {
  const options = resolveRetryOptions({ initialDelayMs: 500, maxDelayMs: 30_000 });

  test('doubles up to the cap', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((retry) => computeBackoffMs(retry, options, () => 1));
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  test('jitters between half and all of the delay', () => {
    assert.equal(computeBackoffMs(3, options, () => 0), 1000);
    assert.equal(computeBackoffMs(3, options, () => 0.5), 1500);
    for (let draw = 0; draw < 1; draw += 0.1) {
      const delay = computeBackoffMs(4, options, () => draw);
      assert.ok(delay >= 2000, `delay ${delay} for draw ${draw}`);
      assert.ok(delay <= 4000, `delay ${delay} for draw ${draw}`);
    }
  });
});

describe('decideRetry', () => {
  const options = resolveRetryOptions({ maxAttempts: 4, maxRetryAfterMs: 60_000, maxElapsedMs: 120_000 });

  test('waits exactly the Retry-After', () => {
    assert.deepEqual(decideRetry({ attempts: 1, elapsedMs: 0, retryAfterMs: 30_000 }, options, () => 0), { retry: true, delayMs: 30_000 });
  });

  test('backs off without Retry-After', () => {
    assert.deepEqual(decideRetry({ attempts: 2, elapsedMs: 0, retryAfterMs: undefined }, options, () => 1), { retry: true, delayMs: 1000 });
  });

  test('stops after the last attempt', () => {
    const decision = decideRetry({ attempts: 4, elapsedMs: 0, retryAfterMs: 1000 }, options, () => 1);
    assert.deepEqual(decision, { retry: false, reason: 'attempts_exhausted', retryAfterMs: 1000 });
  });

  test('hands back a Retry-After that is too long', () => {
    const decision = decideRetry({ attempts: 1, elapsedMs: 0, retryAfterMs: 3_600_000 }, options, () => 1);
    assert.deepEqual(decision, { retry: false, reason: 'retry_after_too_long', retryAfterMs: 3_600_000 });
  });

  test('stops when the time budget would be overrun', () => {
    const decision = decideRetry({ attempts: 2, elapsedMs: 100_000, retryAfterMs: 30_000 }, options, () => 1);
    assert.deepEqual(decision, { retry: false, reason: 'time_budget_exhausted', retryAfterMs: 30_000 });
  });
});

describe('resolveRetryOptions', () => {
  test('keeps defaults for missing fields', () => {
    assert.deepEqual(resolveRetryOptions({ maxAttempts: undefined }), DEFAULT_RETRY_OPTIONS);
  });

  test('rejects bad values naming the field', () => {
    assert.throws(() => resolveRetryOptions({ maxAttempts: 0 }), /retry\.maxAttempts/);
    assert.throws(() => resolveRetryOptions({ maxElapsedMs: -1 }), /retry\.maxElapsedMs/);
    assert.throws(() => resolveRetryOptions({ initialDelayMs: 5000, maxDelayMs: 100 }), /initialDelayMs \(5000\) must not exceed retry\.maxDelayMs \(100\)/);
  });
});

/** Largest number of grant times that fall into any window [t, t + windowMs). */
function maxInWindow(times: readonly number[], windowMs: number): number {
  let max = 0;
  let start = 0;
  for (let end = 0; end < times.length; end += 1) {
    while ((times[end] as number) - (times[start] as number) >= windowMs) start += 1;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

describe('TokenBucket', () => {
  test('keeps a burst at the configured rate', async () => {
    const clock = new VirtualClock(0);
    const bucket = new TokenBucket({ requestsPerSecond: 100, clock });
    const grants: number[] = [];
    await Promise.all(
      Array.from({ length: 350 }, async () => {
        await bucket.acquire();
        grants.push(clock.now());
      }),
    );
    grants.sort((a, b) => a - b);
    assert.equal(grants.length, 350);
    assert.equal(maxInWindow(grants, 1000), 100);
    assert.equal(grants.at(-1), 3490);
  });

  test('allows the burst size back to back', async () => {
    const clock = new VirtualClock(0);
    const bucket = new TokenBucket({ requestsPerSecond: 10, burstRequests: 5, clock });
    const grants: number[] = [];
    for (let request = 0; request < 7; request += 1) {
      await bucket.acquire();
      grants.push(clock.now());
    }
    assert.deepEqual(grants, [0, 0, 0, 0, 0, 100, 200]);
    assert.ok(maxInWindow(grants, 1000) <= 10 + 5 - 1);
  });

  test('refills while idle', async () => {
    const clock = new VirtualClock(0);
    const bucket = new TokenBucket({ requestsPerSecond: 2, clock });
    await bucket.acquire();
    clock.advance(500);
    await bucket.acquire();
    assert.deepEqual(clock.sleeps, []);
  });

  test('returns the token of an aborted wait', async () => {
    const clock = new VirtualClock(0);
    const bucket = new TokenBucket({ requestsPerSecond: 1, clock });
    await bucket.acquire();
    const controller = new AbortController();
    const waiting = bucket.acquire(controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
    assert.equal(bucket.availableTokens, 0);
  });

  test('rejects invalid settings', () => {
    assert.throws(() => new TokenBucket({ requestsPerSecond: 0 }), /requestsPerSecond must be a positive number/);
    assert.throws(() => new TokenBucket({ burstRequests: 0 }), /burstRequests must be an integer/);
  });
});
