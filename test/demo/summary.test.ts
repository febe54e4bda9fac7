import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pendingRecords } from '../../processors/demo/demo.ts';
import { commitToReceiptLatencies, eventsByName, eventsOfCall, latencySummary, orderPlacedReceipts, percentile } from '../../processors/demo/summary.ts';

describe('percentile', () => {
  it('takes the nearest rank', () => {
    const values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    assert.equal(percentile(values, 50), 50);
    assert.equal(percentile(values, 99), 100);
    assert.equal(percentile(values, 10), 10);
  });

  it('does not depend on the input order', () => {
    assert.equal(percentile([300, 100, 200], 50), 200);
  });

  it('returns the only value for a list of one', () => {
    assert.equal(percentile([42], 99), 42);
  });

  it('returns null for no values', () => {
    assert.equal(percentile([], 50), null);
  });

  it('rejects a percentile outside 0 to 100', () => {
    assert.throws(() => percentile([1], 101), RangeError);
  });
});

describe('latency summary', () => {
  it('reports p50, p99 and max of the latencies', () => {
    const latencies = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(latencySummary(latencies), { count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
  });

  it('pairs commit times with receipts by order id', () => {
    const commits = new Map([['1', 1_000], ['2', 2_000], ['3', 3_000]]);
    const receipts = new Map([['1', 1_250], ['3', 3_900]]);
    assert.deepEqual(commitToReceiptLatencies(commits, receipts), [250, 900]);
  });
});

describe('stand-in calls', () => {
  const batch = {
    path: '/api/v2/batch',
    status: 200,
    receivedAtMs: 5_000,
    requestBody: {
      batch: [
        { type: 'person', action: 'identify', identifiers: { id: '1' }, attributes: { email: 'a@example.com' } },
        { type: 'person', action: 'event', identifiers: { id: '1' }, name: 'order_placed', id: '01J', attributes: { order_id: '77' } },
      ],
    },
  };
  const v1 = { path: '/api/v1/customers/1/events', status: 200, receivedAtMs: 6_000, requestBody: { name: 'order_placed', id: '01K', data: { order_id: 78 } } };

  it('finds events in v2 batches and v1 event calls', () => {
    assert.deepEqual(eventsOfCall(batch).map((event) => event.name), ['order_placed']);
    assert.deepEqual(eventsOfCall(v1).map((event) => event.data['order_id']), [78]);
  });

  it('keeps the first accepted receipt of each order', () => {
    const retried = { ...batch, receivedAtMs: 9_000 };
    const rejected = { ...v1, status: 500, receivedAtMs: 4_000 };
    const receipts = orderPlacedReceipts([rejected, batch, v1, retried]);
    assert.deepEqual([...receipts.entries()], [['77', 5_000], ['78', 6_000]]);
  });

  it('counts stored events by name', () => {
    const people = [{ events: [{ name: 'order_placed' }, { name: 'order_paid' }] }, { events: [{ name: 'order_placed' }] }] as never[];
    assert.deepEqual(eventsByName(people), { order_paid: 1, order_placed: 2 });
  });
});

describe('pending records', () => {
  const position = (committed: bigint, high: bigint) => ({ key: 'g t[0]', committed, high });

  it('counts a gap that is still moving', () => {
    const first = pendingRecords([position(5n, 8n)], new Map(), 1_000, 4_000);
    assert.equal(first.pending, 3n);
  });

  it('treats a gap that has not moved for the settle time as read', () => {
    const first = pendingRecords([position(5n, 6n)], new Map(), 1_000, 4_000);
    const later = pendingRecords([position(5n, 6n)], new Map(first.tracked.map((entry) => [entry.key, entry])), 5_500, 4_000);
    assert.equal(later.pending, 0n);
  });

  it('starts the settle time again when the committed offset moves', () => {
    const first = pendingRecords([position(5n, 9n)], new Map(), 1_000, 4_000);
    const later = pendingRecords([position(7n, 9n)], new Map(first.tracked.map((entry) => [entry.key, entry])), 5_500, 4_000);
    assert.equal(later.pending, 2n);
  });

  it('counts no gap when the group is at the high watermark', () => {
    assert.equal(pendingRecords([position(9n, 9n)], new Map(), 1_000, 4_000).pending, 0n);
  });
});
