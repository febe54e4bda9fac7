import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';

import { StandinConfigError } from '../../processors/standin/errors.ts';
import { FaultInjector, type FaultConfig } from '../../processors/standin/faults.ts';
import { startStandin, type Standin } from '../../processors/standin/server.ts';

const AUTH = `Basic ${Buffer.from('standin-site:standin-key').toString('base64')}`;

/** Returns a clock that moves only when the test advances it. */
function manualClock(startMs = Date.UTC(2024, 6, 15, 14, 0, 0)) {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

async function start(t: TestContext, faults?: FaultConfig, clock = manualClock()): Promise<Standin> {
  const standin = await startStandin({ port: 0, clock, ...(faults === undefined ? {} : { faults }) });
  t.after(() => standin.close());
  return standin;
}

async function identify(standin: Standin, id = '501'): Promise<Response> {
  const response = await fetch(`${standin.url}/api/v1/customers/${id}`, {
    method: 'PUT',
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: '{}',
  });
  await response.arrayBuffer();
  return response;
}

describe('stand-in faults', () => {
  test('answers 429 with Retry-After', async (t) => {
    const standin = await start(t, { share429WithRetryAfter: 1, retryAfterSeconds: 30 });
    const response = await identify(standin);
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '30');
    assert.equal(standin.people().length, 0);
    assert.equal(standin.calls()[0]?.fault, 'random_429');
  });

  test('answers 429 without Retry-After', async (t) => {
    const standin = await start(t, { share429WithoutRetryAfter: 1 });
    const response = await identify(standin);
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), null);
  });

  test('answers the configured 5xx', async (t) => {
    const standin = await start(t, { share5xx: 1, statuses5xx: [502] });
    const response = await identify(standin);
    assert.equal(response.status, 502);
    assert.equal(standin.stats().faultsInjected, 1);
  });

  test('repeats choices for one seed', async (t) => {
    const standin = await start(t);
    const run = async (): Promise<number[]> => {
      await standin.setFaults({ share5xx: 0.5, seed: 7 });
      const codes: number[] = [];
      for (let request = 0; request < 20; request += 1) codes.push((await identify(standin, String(request))).status);
      return codes;
    };
    const first = await run();
    const second = await run();
    assert.deepEqual(second, first);
    assert.ok(first.includes(503), `statuses ${first.join(',')}`);
    assert.ok(first.includes(200), `statuses ${first.join(',')}`);
  });

  test('serves a script in order, then normally', async (t) => {
    const standin = await start(t, { script: [{ status: 503 }, { status: 429, retryAfter: '5' }] });
    const codes = [];
    for (let request = 0; request < 3; request += 1) codes.push((await identify(standin)).status);
    assert.deepEqual(codes, [503, 429, 200]);
    assert.equal(standin.calls()[1]?.retryAfter, '5');
  });

  test('answers 503 during an outage window', async (t) => {
    const clock = manualClock();
    const standin = await start(t, { outages: [{ afterMs: 1000, durationMs: 5000, mode: '503' }] }, clock);
    assert.equal((await identify(standin)).status, 200);
    clock.advance(1000);
    assert.equal((await identify(standin)).status, 503);
    clock.advance(4999);
    assert.equal((await identify(standin)).status, 503);
    clock.advance(1);
    assert.equal((await identify(standin)).status, 200);
  });

  test('refuses connections during a refuse outage', async (t) => {
    const standin = await start(t);
    await standin.setFaults({ outages: [{ durationMs: 600_000, mode: 'refuse' }] });
    await assert.rejects(identify(standin), (err: unknown) => {
      const cause = (err as { cause?: { code?: string } }).cause;
      assert.equal(cause?.code, 'ECONNREFUSED');
      return true;
    });
    await standin.setFaults({});
    assert.equal((await identify(standin)).status, 200);
  });

  test('limits the request rate with 429', async (t) => {
    const clock = manualClock();
    const standin = await start(t, { requestsPerSecond: 5 }, clock);
    const codes = [];
    for (let request = 0; request < 7; request += 1) codes.push((await identify(standin)).status);
    assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
    assert.equal(standin.calls()[5]?.retryAfter, '1');
    assert.equal(standin.stats().rateLimited, 2);

    clock.advance(200);
    assert.equal((await identify(standin)).status, 200);
    assert.equal((await identify(standin)).status, 429);
  });

  test('leaves admin routes alone', async (t) => {
    const standin = await start(t, { share5xx: 1 });
    const response = await fetch(`${standin.url}/_admin/people`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });
});

describe('FaultInjector', () => {
  test('gives fixed and ranged latency', () => {
    const injector = new FaultInjector(() => 0);
    injector.set({ latencyMs: 250 });
    assert.equal(injector.latencyMs(), 250);
    injector.set({ latencyMs: { minMs: 10, maxMs: 20 }, seed: 3 });
    for (let draw = 0; draw < 50; draw += 1) {
      const latency = injector.latencyMs();
      assert.ok(latency >= 10, `latency ${latency}`);
      assert.ok(latency <= 20, `latency ${latency}`);
    }
  });

  test('rejects invalid settings naming them', () => {
    const injector = new FaultInjector(() => 0);
    const invalid: [unknown, RegExp][] = [
      [{ latencyMs: -1 }, /latencyMs must not be negative/],
      [{ latencyMs: { minMs: 5, maxMs: 1 } }, /latencyMs must be a number or \{minMs, maxMs\}/],
      [{ statuses5xx: [404] }, /statuses5xx must hold 5xx statuses/],
      [{ outages: [{ durationMs: 0, mode: '503' }] }, /outages\[0\]/],
      [{ outages: [{ durationMs: 10, mode: 'drop' }] }, /outages\[0\]/],
      [{ script: [{ status: 'x' }] }, /script\[0\]/],
      [{ requestsPerSecond: -1 }, /requestsPerSecond must be 0 or more/],
      [[], /must be a JSON object/],
    ];
    for (const [config, message] of invalid) {
      assert.throws(() => injector.set(config as FaultConfig), (err: unknown) => err instanceof StandinConfigError && message.test(err.message), JSON.stringify(config));
    }
  });
});
