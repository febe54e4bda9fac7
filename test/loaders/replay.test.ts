import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Pacer } from '../../processors/loaders/replay.ts';
import type { ReplayClock } from '../../processors/loaders/replay.ts';

/** Builds a clock that only moves when the pacer sleeps, and records each sleep. */
function fakeClock(): ReplayClock & { sleeps: number[] } {
  let nowMs = 1_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    nowMs: () => nowMs,
    async sleepMs(ms) {
      sleeps.push(ms);
      nowMs += ms;
    },
  };
}

describe('replay pacing', () => {
  test('divides the data time gaps by the speed factor', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(60, clock);
    await pacer.waitFor(0);
    await pacer.waitFor(60_000);
    await pacer.waitFor(180_000);
    assert.deepEqual(clock.sleeps, [1_000, 2_000]);
  });

  test('does not wait for events that run backwards in time', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(1, clock);
    await pacer.waitFor(10_000);
    await pacer.waitFor(5_000);
    assert.deepEqual(clock.sleeps, []);
  });

  test('never waits without a speed', async () => {
    const clock = fakeClock();
    const pacer = new Pacer(null, clock);
    await pacer.waitFor(0);
    await pacer.waitFor(3_600_000);
    assert.deepEqual(clock.sleeps, []);
  });
});
