import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';

import { pino } from 'pino';

import { TrackClient, type ItemResult, type RejectedResult, type RetriableResult, type TrackClientOptions } from '../../processors/customerio/client.ts';
import { VirtualClock } from '../../processors/customerio/clock.ts';
import { TrackAuthError, TrackRegionError, TrackRejectedError, TrackRetriableError, ValidationError } from '../../processors/customerio/errors.ts';
import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, IdentifyRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { startStandin, type Standin, type StandinOptions } from '../../processors/standin/server.ts';

const SITE_ID = 'site-test';
const API_KEY = 'key-test-secret';

function identify(customerId: string, attributes: IdentifyRecord['attributes'] = {}): IdentifyRecord {
  return { kind: 'identify', customerId, attributes: { created_at: 1704121200, ...attributes }, timestamp: 1721050200 };
}

function orderPlaced(customerId: string, orderId: string, data: EventRecord['data'] = {}): EventRecord {
  return {
    kind: 'event',
    customerId,
    name: 'order_placed',
    id: deriveEventId(['order_placed', 'order', orderId]),
    timestamp: 1721050200,
    data: { order_id: orderId, total: 7.9, ...data },
  };
}

interface Setup {
  clock: VirtualClock;
  standin: Standin;
  client: TrackClient;
}

/** Starts a stand-in on a free port and a client against it, sharing one virtual clock. */
async function setup(t: TestContext, clientOptions: Partial<TrackClientOptions> = {}, standinOptions: StandinOptions = {}): Promise<Setup> {
  const clock = new VirtualClock(Date.UTC(2024, 6, 15, 14, 0, 0));
  const standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY, clock, ...standinOptions });
  const client = new TrackClient({ siteId: SITE_ID, apiKey: API_KEY, baseUrl: standin.url, clock, random: () => 0.5, ...clientOptions });
  t.after(async () => {
    await client.close();
    await standin.close();
  });
  return { clock, standin, client };
}

/** Returns the error of a rejected result, failing the test for any other status. */
function rejectedError(result: ItemResult | undefined): RejectedResult['error'] {
  assert.equal(result?.status, 'rejected');
  return (result as RejectedResult).error;
}

/** Returns the error of a retriable result, failing the test for any other status. */
function retriableError(result: ItemResult | undefined): TrackRetriableError {
  assert.equal(result?.status, 'retriable');
  return (result as RetriableResult).error;
}

function statuses(results: readonly ItemResult[]): string[] {
  return results.map((result) => result.status);
}

function callSummary(standin: Standin): string[] {
  return standin.calls().map((call) => `${call.status} ${call.method} ${call.path}`);
}

describe('TrackClient v1', () => {
  test('sends identify and event', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1' });
    const report = await client.send([identify('501', { email: 'ada@example.net' }), orderPlaced('501', '1001')]);

    assert.deepEqual(statuses(report.results), ['delivered', 'delivered']);
    assert.deepEqual(callSummary(standin), ['200 PUT /api/v1/customers/501', '200 POST /api/v1/customers/501/events']);

    const [put, post] = standin.calls();
    assert.deepEqual(put?.requestBody, { created_at: 1704121200, email: 'ada@example.net', _timestamp: 1721050200 });
    assert.deepEqual(post?.requestBody, {
      name: 'order_placed',
      id: deriveEventId(['order_placed', 'order', '1001']),
      timestamp: 1721050200,
      data: { order_id: '1001', total: 7.9 },
    });

    const person = standin.person('501');
    assert.equal(person?.email, 'ada@example.net');
    assert.equal(person?.attributes['created_at'], 1704121200);
    assert.equal(person?.events.length, 1);
    assert.equal(person?.events[0]?.timestamp, 1721050200);
    assert.equal(person?.events[0]?.timestampReplaced, false);
  });

  test('percent-encodes the id in the path', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1' });
    await client.send([identify('a/b c')]);
    assert.equal(standin.calls()[0]?.path, '/api/v1/customers/a%2Fb%20c');
    assert.equal(standin.person('a/b c')?.id, 'a/b c');
  });

  test('classifies a 400 as rejected', async (t) => {
    // Looser client limits leave the check to the stand-in.
    const { client } = await setup(t, { apiVersion: 'v1', limits: { maxAttributeValueBytes: 5000 } });
    const report = await client.send([identify('501', { bio: 'x'.repeat(2000) })]);
    const error = rejectedError(report.results[0]);

    assert.ok(error instanceof TrackRejectedError);
    assert.equal(error.statusCode, 400);
    assert.match(error.message, /value for attribute 'bio' cannot be longer than 1000 bytes/);
  });
});

describe('TrackClient v2', () => {
  test('sends identify and event in order', async (t) => {
    const { client, standin } = await setup(t);
    const report = await client.send([identify('501', { first_name: 'Ada' }), orderPlaced('501', '1001')]);

    assert.deepEqual(statuses(report.results), ['delivered', 'delivered']);
    // One operation per person per batch: identify and event go in two requests, in order.
    const calls = standin.calls();
    assert.deepEqual(callSummary(standin), ['200 POST /api/v2/batch', '200 POST /api/v2/batch']);
    assert.deepEqual(calls[0]?.requestBody, {
      batch: [{ type: 'person', action: 'identify', identifiers: { id: '501' }, timestamp: 1721050200, attributes: { created_at: 1704121200, first_name: 'Ada' } }],
    });
    assert.deepEqual(calls[1]?.requestBody, {
      batch: [
        {
          type: 'person',
          action: 'event',
          identifiers: { id: '501' },
          name: 'order_placed',
          id: deriveEventId(['order_placed', 'order', '1001']),
          timestamp: 1721050200,
          attributes: { order_id: '1001', total: 7.9 },
        },
      ],
    });
    assert.equal(standin.person('501')?.attributes['first_name'], 'Ada');
    assert.equal(standin.person('501')?.events[0]?.name, 'order_placed');
  });

  test('packs different people into one batch', async (t) => {
    const { client, standin } = await setup(t);
    const report = await client.send([identify('501'), identify('502'), identify('503')]);
    assert.deepEqual(statuses(report.results), ['delivered', 'delivered', 'delivered']);
    assert.equal(report.httpRequests, 1);
    assert.equal(standin.people().length, 3);
  });

  test('keeps batches within the byte limit', async (t) => {
    const { client, standin } = await setup(t, { batch: { maxBatchBytes: 2000, maxItemBytes: 1000 } });
    const records = Array.from({ length: 12 }, (_, index) => identify(String(600 + index), { note: 'n'.repeat(200) }));
    const report = await client.send(records);

    assert.ok(report.results.every((result) => result.status === 'delivered'));
    const bodies = standin.calls().map((call) => JSON.stringify(call.requestBody));
    assert.ok(bodies.length > 1, `expected several batches, got ${bodies.length}`);
    for (const body of bodies) assert.ok(Buffer.byteLength(body) <= 2000, `batch of ${Buffer.byteLength(body)} bytes`);
    const items = standin.calls().reduce((sum, call) => sum + (call.requestBody as { batch: unknown[] }).batch.length, 0);
    assert.equal(items, 12);
  });

  test('sends an oversize item through v1', async (t) => {
    const { client, standin } = await setup(t, { batch: { maxItemBytes: 1000, maxBatchBytes: 5000 } });
    const report = await client.send([orderPlaced('501', '1001', { note: 'x'.repeat(2000) })]);
    assert.equal(report.results[0]?.status, 'delivered');
    assert.deepEqual(callSummary(standin), ['200 POST /api/v1/customers/501/events']);
  });

  test('rejects an oversize item when v1 fallback is off', async (t) => {
    const { client, standin } = await setup(t, { batch: { maxItemBytes: 1000, maxBatchBytes: 5000, oversizeItemsViaV1: false } });
    const report = await client.send([orderPlaced('501', '1001', { note: 'x'.repeat(2000) })]);
    const error = rejectedError(report.results[0]);
    assert.ok(error instanceof TrackRejectedError);
    assert.equal(error.reason, 'item_too_large');
    assert.equal(standin.calls().length, 0);
  });

  test('207 rejects only the bad item', async (t) => {
    const { client, standin } = await setup(t, { limits: { maxAttributeValueBytes: 5000 } });
    const report = await client.send([identify('501'), identify('502', { bio: 'x'.repeat(2000) }), identify('503')]);

    assert.deepEqual(statuses(report.results), ['delivered', 'rejected', 'delivered']);
    assert.equal(standin.calls()[0]?.status, 207);

    const error = rejectedError(report.results[1]);
    assert.ok(error instanceof TrackRejectedError);
    assert.equal(error.statusCode, 207);
    assert.equal(error.batchIndex, 1);
    assert.equal(error.reason, 'too_long');
    assert.equal(error.field, 'attributes.bio');
    assert.equal(error.retriable, false);
    assert.equal(error.key, '502');
    assert.match(error.message, /value for attribute 'bio' cannot be longer than 1000 bytes/);

    assert.ok(standin.person('501'));
    assert.equal(standin.person('502'), undefined);
    assert.ok(standin.person('503'));
  });

  test('halves a batch rejected as a whole', async (t) => {
    const { client, standin } = await setup(t);
    const badBatch = { errors: [{ reason: 'invalid', field: 'batch', message: 'malformed batch' }] };
    await standin.setFaults({ script: [{ status: 400, body: badBatch }, { status: 400, body: badBatch }] });

    const report = await client.send([identify('501'), identify('502'), identify('503'), identify('504')]);

    // 400 for [501..504], 400 for [501, 502], then 200 for [501], [502] and [503, 504].
    const result = report.results[0];
    assert.equal(result?.status, 'delivered');
    assert.deepEqual(statuses(report.results), ['delivered', 'delivered', 'delivered', 'delivered']);
    const sizes = standin.calls().map((call) => `${call.status}:${(call.requestBody as { batch: unknown[] }).batch.length}`);
    assert.deepEqual(sizes, ['400:4', '400:2', '200:1', '200:1', '200:2']);
  });

  test('rejects the lone item of a 400 batch', async (t) => {
    const { client, standin } = await setup(t);
    const badItem = { errors: [{ reason: 'invalid', field: 'attributes', message: 'attributes are invalid' }] };
    await standin.setFaults({ script: [{ status: 400, body: badItem }, { status: 400, body: badItem }] });

    const report = await client.send([identify('501'), identify('502')]);
    const error = rejectedError(report.results[0]);
    assert.ok(error instanceof TrackRejectedError);
    assert.equal(error.statusCode, 400);
    assert.equal(error.field, 'attributes');
    assert.equal(report.results[1]?.status, 'delivered');
  });
});

describe('TrackClient validation', () => {
  test('rejects email-shaped and cio_ ids unsent', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1' });
    const report = await client.send([identify('tom.varga@example.net'), orderPlaced('cio_0300', '1011'), identify('507', { email: 'tom.varga@example.net' })]);

    assert.deepEqual(statuses(report.results), ['rejected', 'rejected', 'delivered']);
    for (const result of report.results.slice(0, 2)) {
      const error = rejectedError(result);
      assert.ok(error instanceof ValidationError);
      assert.equal(error.field, 'customerId');
      assert.equal(result.attempts, 0);
    }
    assert.deepEqual(callSummary(standin), ['200 PUT /api/v1/customers/507']);
    assert.equal(standin.person('507')?.email, 'tom.varga@example.net');
  });

  test('rejects millisecond timestamps unsent', async (t) => {
    const { client, standin } = await setup(t);
    const report = await client.send([{ ...orderPlaced('501', '1001'), timestamp: 1721050200000 }, identify('501', { last_order_at: 1721050200000 })]);
    const fields = report.results.map((result) => (result.status === 'rejected' ? result.error.field : result.status));
    assert.deepEqual(fields, ['timestamp', 'attributes.last_order_at']);
    assert.equal(standin.calls().length, 0);
  });
});

describe('TrackClient retries', () => {
  test('honours Retry-After on 429', async (t) => {
    const { client, standin, clock } = await setup(t, { apiVersion: 'v1' });
    await standin.setFaults({ script: [{ status: 429, retryAfter: '30' }, { status: 429, retryAfter: '30' }] });
    const startMs = clock.now();

    const report = await client.send([orderPlaced('501', '1001')]);

    const result = report.results[0];
    assert.equal(result?.status, 'delivered');
    assert.equal(result?.attempts, 3);
    assert.deepEqual(clock.sleeps, [30_000, 30_000]);
    assert.equal(clock.now() - startMs, 60_000);
    assert.deepEqual(
      standin.calls().map((call) => call.status),
      [429, 429, 200],
    );
    assert.equal(standin.calls()[2]?.receivedAtMs, startMs + 60_000);
    assert.equal(standin.person('501')?.events.length, 1);
  });

  test('honours Retry-After as an HTTP date', async (t) => {
    const { client, standin, clock } = await setup(t, { apiVersion: 'v1' });
    await standin.setFaults({ script: [{ status: 429, retryAfter: new Date(clock.now() + 45_000).toUTCString() }] });
    const report = await client.send([orderPlaced('501', '1001')]);
    assert.equal(report.results[0]?.status, 'delivered');
    assert.deepEqual(clock.sleeps, [45_000]);
  });

  test('backs off with jitter without Retry-After', async (t) => {
    const { client, standin, clock } = await setup(t, { apiVersion: 'v1', retry: { initialDelayMs: 1000, maxDelayMs: 8000 } });
    await standin.setFaults({ script: [{ status: 429 }, { status: 502 }, { status: 504 }] });
    const report = await client.send([orderPlaced('501', '1001')]);
    assert.equal(report.results[0]?.status, 'delivered');
    // random() = 0.5 puts each wait at three quarters of 1 s, 2 s and 4 s.
    assert.deepEqual(clock.sleeps, [750, 1500, 3000]);
  });

  test('recovers after a 503 outage', async (t) => {
    const { client, standin, clock } = await setup(t);
    await standin.setFaults({ outages: [{ durationMs: 20_000, mode: '503' }] });
    const startMs = clock.now();

    const report = await client.send([identify('501'), orderPlaced('501', '1001')]);

    assert.deepEqual(statuses(report.results), ['delivered', 'delivered']);
    assert.ok(clock.now() - startMs >= 20_000);
    const codes = standin.calls().map((call) => call.status);
    assert.ok(codes.filter((code) => code === 503).length >= 3, `statuses ${codes.join(',')}`);
    assert.deepEqual(codes.slice(-2), [200, 200]);
    assert.equal(standin.person('501')?.events.length, 1);
  });

  test('keeps input order after a first 503', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1', maxConcurrentRequests: 1 });
    await standin.setFaults({ script: [{ status: 503 }] });

    const report = await client.send([identify('501'), orderPlaced('501', '1001'), identify('502')]);

    assert.deepEqual(statuses(report.results), ['delivered', 'delivered', 'delivered']);
    assert.deepEqual(callSummary(standin), [
      '503 PUT /api/v1/customers/501',
      '200 PUT /api/v1/customers/501',
      '200 POST /api/v1/customers/501/events',
      '200 PUT /api/v1/customers/502',
    ]);
  });

  test('sends identify before event under concurrency', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1', maxConcurrentRequests: 4 });
    await standin.setFaults({ script: [{ status: 503 }] });

    const report = await client.send([identify('508', { email: 'lea@example.net' }), orderPlaced('508', '1013'), identify('509')]);

    assert.deepEqual(statuses(report.results), ['delivered', 'delivered', 'delivered']);
    const person = standin.calls().filter((call) => call.path.includes('/508'));
    assert.deepEqual(
      person.map((call) => `${call.status} ${call.method}`),
      ['503 PUT', '200 PUT', '200 POST'],
    );
    const flags = standin.calls().flatMap((call) => call.flags.map((flag) => flag.flag));
    assert.equal(flags.includes('event_before_identify'), false);
  });

  test('never has two requests of one person in flight', async (t) => {
    // The stand-in stamps arrivals with the real clock, so response times follow from its latency.
    const latencyMs = 150;
    const { client, standin } = await setup(t, { apiVersion: 'v1', maxConcurrentRequests: 4 }, { clock: { now: () => Date.now() } });
    await standin.setFaults({ latencyMs });
    const people = ['521', '522'];
    const perPerson = (person: string): OutboxRecord[] => [identify(person), orderPlaced(person, `${person}-1`), orderPlaced(person, `${person}-2`), identify(person, { first_name: 'B' })];
    const records = [0, 1, 2, 3].flatMap((index) => people.map((person) => perPerson(person)[index]!));

    const report = await client.send(records);

    assert.deepEqual(new Set(statuses(report.results)), new Set(['delivered']));
    const arrivals = new Map(people.map((person) => [person, [] as { method: string; atMs: number }[]]));
    for (const call of [...standin.calls()].sort((a, b) => a.sequence - b.sequence)) {
      const person = /\/customers\/(\d+)/.exec(call.path)?.[1];
      arrivals.get(person!)?.push({ method: call.method, atMs: call.receivedAtMs });
    }
    for (const person of people) {
      const calls = arrivals.get(person)!;
      assert.deepEqual(calls.map((call) => call.method), ['PUT', 'POST', 'POST', 'PUT'], `calls of ${person} in input order`);
      for (let index = 1; index < calls.length; index += 1) {
        // The earlier request got its response latencyMs after it arrived, at the earliest (1 ms for clock rounding).
        const gap = calls[index]!.atMs - calls[index - 1]!.atMs;
        assert.ok(gap >= latencyMs - 1, `request ${index} of ${person} arrived ${gap} ms after the one before, while it was in flight`);
      }
    }
    // Requests of different people do overlap, so the client sends concurrently at all.
    const overlapping = arrivals.get('521')!.some((a) => arrivals.get('522')!.some((b) => Math.abs(a.atMs - b.atMs) < latencyMs));
    assert.ok(overlapping, 'requests of 521 and 522 were in flight at the same time');
  });

  test('hands back retriable after the last attempt', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1', maxConcurrentRequests: 1, retry: { maxAttempts: 3 } });
    await standin.setFaults({ script: [{ status: 503 }, { status: 503 }, { status: 503 }] });

    const report = await client.send([identify('501'), orderPlaced('501', '1001'), identify('502')]);

    assert.deepEqual(statuses(report.results), ['retriable', 'retriable', 'delivered']);
    const failed = retriableError(report.results[0]);
    assert.ok(failed instanceof TrackRetriableError);
    assert.equal(failed.statusCode, 503);
    assert.equal(failed.code, 'CIO_SERVER_ERROR');
    assert.equal(failed.attempts, 3);
    assert.equal(failed.retriable, true);
    assert.ok((failed.retryAfterMs ?? 0) > 0);

    // The event waits for its identify instead of overtaking it.
    const held = retriableError(report.results[1]);
    assert.equal(held.code, 'CIO_HELD');
    assert.equal(report.results[1]?.attempts, 0);
    assert.equal(standin.calls().filter((call) => call.method === 'POST').length, 0);
  });

  test('hands back a Retry-After over the limit', async (t) => {
    const { client, standin, clock } = await setup(t, { apiVersion: 'v1', retry: { maxRetryAfterMs: 60_000 } });
    await standin.setFaults({ script: [{ status: 429, retryAfter: '3600' }] });
    const report = await client.send([orderPlaced('501', '1001')]);
    const error = retriableError(report.results[0]);
    assert.equal(error.code, 'CIO_RATE_LIMITED');
    assert.equal(error.retryAfterMs, 3_600_000);
    assert.equal(error.attempts, 1);
    assert.deepEqual(clock.sleeps, []);
  });

  test('retries refused connections, then delivers', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1', retry: { maxAttempts: 2 } });
    await standin.setFaults({ outages: [{ durationMs: 600_000, mode: 'refuse' }] });

    const during = await client.send([identify('501')]);
    const error = retriableError(during.results[0]);
    assert.equal(error.code, 'CIO_NETWORK_ERROR');
    assert.match(error.message, /ECONNREFUSED/);
    assert.equal(error.attempts, 2);

    await standin.setFaults({});
    const after = await client.send([identify('501')]);
    assert.equal(after.results[0]?.status, 'delivered');
  });

  test('classifies a timed-out request', async (t) => {
    // undici checks the timeout on a coarse timer, so the latency is well above timeout plus one second.
    const { client, standin } = await setup(t, { apiVersion: 'v1', requestTimeoutMs: 100, retry: { maxAttempts: 1 } });
    await standin.setFaults({ latencyMs: 2500 });

    const report = await client.send([identify('501')]);

    const error = retriableError(report.results[0]);
    assert.equal(error.code, 'CIO_TIMEOUT');
    assert.match(error.message, /UND_ERR_HEADERS_TIMEOUT/);
    assert.equal(error.attempts, 1);
  });

  test('stops waiting when aborted', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1' });
    await standin.setFaults({ script: [{ status: 429, retryAfter: '30' }] });
    const controller = new AbortController();
    const report = await client.send([orderPlaced('501', '1001'), identify('502')], {
      signal: controller.signal,
      onRetry: () => controller.abort(new Error('partition revoked')),
    });
    const error = retriableError(report.results[0]);
    assert.equal(error.code, 'CIO_ABORTED');
    assert.equal(standin.person('501'), undefined);
  });

  test('replayed events are dropped by id', async (t) => {
    const { client, standin } = await setup(t);
    const records: OutboxRecord[] = [identify('501'), orderPlaced('501', '1001')];
    await client.send(records);
    const replay = await client.send(records);
    assert.deepEqual(statuses(replay.results), ['delivered', 'delivered']);
    assert.equal(standin.person('501')?.events.length, 1);
    assert.equal(standin.stats().duplicateEventIds, 1);
  });
});

describe('TrackClient auth and region', () => {
  test('throws TrackAuthError on 401', async (t) => {
    const { standin } = await setup(t);
    const client = new TrackClient({ siteId: SITE_ID, apiKey: 'wrong-key', baseUrl: standin.url });
    t.after(() => client.close());

    await assert.rejects(client.send([identify('501')]), (err: unknown) => {
      assert.ok(err instanceof TrackAuthError);
      assert.equal(err.statusCode, 401);
      assert.equal(err.code, 'CIO_AUTH_FAILED');
      assert.equal(err.retriable, false);
      assert.match(err.message, /site id site-test/);
      assert.doesNotMatch(err.message, /wrong-key/);
      return true;
    });
  });

  test('throws TrackAuthError on 403', async (t) => {
    const { client, standin } = await setup(t);
    await standin.setFaults({ script: [{ status: 403 }] });
    await assert.rejects(client.send([identify('501'), identify('502')]), TrackAuthError);
  });

  test('checkRegion returns the region', async (t) => {
    const { client, standin } = await setup(t, { region: 'us' });
    const info = await client.checkRegion();
    assert.equal(info.region, 'us');
    assert.equal(info.url, standin.url);
  });

  test('checkRegion names bad credentials', async (t) => {
    const { standin } = await setup(t);
    const client = new TrackClient({ siteId: SITE_ID, apiKey: 'wrong-key', baseUrl: standin.url });
    t.after(() => client.close());
    await assert.rejects(client.checkRegion(), /rejected the credentials for site id site-test \(HTTP 401\)/);
  });

  test('checkRegion names a region mismatch', async (t) => {
    const { client } = await setup(t, { region: 'us' }, { region: 'eu' });
    await assert.rejects(client.checkRegion(), (err: unknown) => {
      assert.ok(err instanceof TrackRegionError);
      assert.match(err.message, /is in region eu, but the client is configured for us/);
      return true;
    });
  });

  test('checkRegion names an unreachable host', async (t) => {
    const { standin } = await setup(t);
    await standin.setFaults({ outages: [{ durationMs: 600_000, mode: 'refuse' }] });
    const client = new TrackClient({ siteId: SITE_ID, apiKey: API_KEY, baseUrl: standin.url });
    t.after(() => client.close());
    await assert.rejects(client.checkRegion(), /could not reach Customer.io at .* \(ECONNREFUSED\)/);
  });

  test('never logs the key', async (t) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    const { client, standin } = await setup(t, { apiVersion: 'v1', logger, retry: { maxAttempts: 2 } });
    await standin.setFaults({ script: [{ status: 429, retryAfter: '1' }, { status: 503 }] });
    await client.send([identify('501')]);

    const output = lines.join('');
    assert.match(output, /retrying track request/);
    assert.doesNotMatch(output, new RegExp(API_KEY));
    assert.doesNotMatch(output, new RegExp(Buffer.from(`${SITE_ID}:${API_KEY}`).toString('base64')));
  });
});

describe('TrackClient rate limit', () => {
  test('stays under the stand-in rate limit', async (t) => {
    const { client, standin } = await setup(t, { apiVersion: 'v1', requestsPerSecond: 100, maxConcurrentRequests: 1 });
    await standin.setFaults({ requestsPerSecond: 100 });
    const records = Array.from({ length: 450 }, (_, index) => identify(String(1000 + index)));

    const report = await client.send(records);

    assert.ok(report.results.every((result) => result.status === 'delivered'));
    const arrivals = standin.calls().map((call) => call.receivedAtMs);
    assert.equal(arrivals.length, 450);
    assert.equal(standin.stats().rateLimited, 0);
    let busiestSecond = 0;
    let start = 0;
    for (let end = 0; end < arrivals.length; end += 1) {
      while ((arrivals[end] as number) - (arrivals[start] as number) >= 1000) start += 1;
      busiestSecond = Math.max(busiestSecond, end - start + 1);
    }
    assert.equal(busiestSecond, 100);
  });
});
