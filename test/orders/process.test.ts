import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import { parseOutboxRecord } from '../../processors/customerio/records.ts';
import { isNewerChange } from '../../processors/orders/process.ts';
import type { OrderState } from '../../processors/orders/records.ts';
import { ORIGIN_HEADERS } from '../../processors/runtime/repartition.ts';
import { OrdersHarness, defaultMapping, preciseDecimal } from './harness.ts';

// 2024-07-15 10:00:00 UTC
const T0 = 1721037600000;

function orderRow(id: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    customer_id: 510,
    email: 'buyer@example.com',
    status: 'pending',
    currency: 'USD',
    total: preciseDecimal('59.80', 2),
    discount_code: null,
    placed_at: T0,
    paid_at: null,
    canceled_at: null,
    updated_at: T0 * 1000,
    attributes: null,
    ...overrides,
  };
}

function itemRow(id: number, orderId: number, sku: string, quantity: number, price: string): Record<string, unknown> {
  return { id, order_id: orderId, sku, variant_id: `${sku}-v`, name: `name ${sku}`, category: 'apparel', quantity, unit_price: preciseDecimal(price, 3) };
}

/** Feeds a later item of another order, which moves stream time and the items input past the grace period. */
async function laterTraffic(h: OrdersHarness, atMs: number, pos: number): Promise<void> {
  h.feed('order_items', await h.change('order_items', itemRow(99_000 + pos, 99_999, 'OTHER', 1, '1.000'), { pos, tsMs: atMs }));
}

describe('orders › change positions', () => {
  test('the same position is not newer', () => {
    assert.equal(isNewerChange('binlog:b.000003:4471:0', 1, 'binlog:b.000003:4471:0', 1), false);
  });
  test('an earlier position is not newer even with a later commit time', () => {
    assert.equal(isNewerChange('binlog:b.000003:4471:0', 9, 'binlog:b.000003:5230:0', 1), false);
  });
  test('a later binlog file is newer than a larger position in an earlier file', () => {
    assert.equal(isNewerChange('binlog:b.000004:4:0', 1, 'binlog:b.000003:5230:0', 1), true);
  });
  test('a later row of one binlog event is newer', () => {
    assert.equal(isNewerChange('binlog:b.000003:4471:2', 1, 'binlog:b.000003:4471:1', 1), true);
  });
});

describe('orders › completion', () => {
  test('tracks pending orders and the emitted watermark', async () => {
    const h = new OrdersHarness();
    h.feed('order_items', await h.change('order_items', itemRow(7030, 1016, 'SOCK-3', 1, '19.900'), { pos: 100, tsMs: T0 }));
    assert.equal(h.stores.pending.size, 0, 'an order without its row is not pending: nothing says when it was placed');
    h.feed('orders', await h.change('orders', orderRow(1016), { pos: 110, tsMs: T0 + 100 }));
    assert.deepEqual([...h.stores.pending.entries()], [['1016', T0]]);
    assert.equal(h.stores.progress.get('state'), undefined);

    await laterTraffic(h, T0 + 6000, 300);
    assert.equal(h.named('order_placed').length, 1);
    assert.equal(h.stores.pending.size, 0, 'decided orders leave the pending store');
    assert.deepEqual(h.stores.progress.get('state'), { emittedMs: T0, sent: null });
  });

  test('items committed later and read first give one order_placed with both items', async () => {
    const h = new OrdersHarness();
    h.feed('order_items', await h.change('order_items', itemRow(7020, 1014, 'SOCK-3', 2, '19.900'), { pos: 200, row: 0, tsMs: T0 + 400 }));
    h.feed('order_items', await h.change('order_items', itemRow(7021, 1014, 'CAP-1', 1, '20.000'), { pos: 200, row: 1, tsMs: T0 + 400 }));
    h.feed('orders', await h.change('orders', orderRow(1014), { pos: 100, tsMs: T0 }));
    assert.equal(h.emitted.length, 0);

    await laterTraffic(h, T0 + 6000, 300);
    const placed = h.named('order_placed');
    assert.equal(placed.length, 1);
    const record = placed[0]!;
    assert.equal(record.customerId, '510');
    assert.equal(record.id, deriveEventId(['order_placed', '1014']));
    assert.equal(record.timestamp, T0 / 1000);
    assert.equal(record.origin, 'live');
    assert.deepEqual(record.data, {
      order_id: '1014',
      order_total: 59.8,
      currency: 'USD',
      discount_code: null,
      items: [
        { sku: 'SOCK-3', variant_id: 'SOCK-3-v', name: 'name SOCK-3', category: 'apparel', quantity: 2, price: 19.9 },
        { sku: 'CAP-1', variant_id: 'CAP-1-v', name: 'name CAP-1', category: 'apparel', quantity: 1, price: 20 },
      ],
      created_at: T0 / 1000,
    });
    assert.doesNotThrow(() => parseOutboxRecord(JSON.stringify(record), '510'));
  });

  test('an order without items waits while the items input is behind its deadline', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1015), { pos: 100, tsMs: T0 }));
    // Other orders move stream time far ahead; items have not been read that far.
    h.feed('orders', await h.change('orders', orderRow(1016), { pos: 900, tsMs: T0 + 60_000 }));
    assert.equal(h.named('order_placed').filter((r) => r.data['order_id'] === '1015').length, 0);

    h.feed('order_items', await h.change('order_items', itemRow(7030, 1015, 'HAT-1', 1, '5.000'), { pos: 110, tsMs: T0 + 300 }));
    await laterTraffic(h, T0 + 70_000, 950);
    const placed = h.named('order_placed').filter((r) => r.data['order_id'] === '1015');
    assert.equal(placed.length, 1);
    assert.equal((placed[0]!.data['items'] as unknown[]).length, 1);
  });

  test('items wait for the slowest source partition', async () => {
    const h = new OrdersHarness();
    const from = (partition: number) => ({ [ORIGIN_HEADERS.partition]: Buffer.from(String(partition)) });
    h.feed('order_items', await h.change('order_items', itemRow(99_001, 99_998, 'OTHER', 1, '1.000'), { pos: 50, tsMs: T0 - 1000 }), from(1));
    h.feed('orders', await h.change('orders', orderRow(1017), { pos: 100, tsMs: T0 }));
    // Source partition 0 is re-keyed far ahead. Partition 1, which contains this order's item, is not.
    h.feed('order_items', await h.change('order_items', itemRow(99_002, 99_999, 'OTHER', 1, '1.000'), { pos: 900, tsMs: T0 + 60_000 }), from(0));
    assert.equal(h.named('order_placed').length, 0, 'not complete while source partition 1 is behind the deadline');

    h.feed('order_items', await h.change('order_items', itemRow(7031, 1017, 'HAT-2', 1, '5.000'), { pos: 110, tsMs: T0 + 300 }), from(1));
    h.feed('order_items', await h.change('order_items', itemRow(99_003, 99_999, 'OTHER', 1, '1.000'), { pos: 950, tsMs: T0 + 70_000 }), from(1));
    const placed = h.named('order_placed');
    assert.equal(placed.length, 1);
    assert.deepEqual((placed[0]!.data['items'] as { sku: string }[]).map((item) => item.sku), ['HAT-2']);
  });

  test('one transaction with the order and three items gives three items', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1020), { pos: 100, tsMs: T0 }));
    for (const [index, sku] of ['A', 'B', 'C'].entries()) {
      h.feed('order_items', await h.change('order_items', itemRow(7100 + index, 1020, sku, 1, '1.000'), { pos: 150, row: index, tsMs: T0 }));
    }
    await laterTraffic(h, T0 + 5000, 300);
    const placed = h.named('order_placed');
    assert.equal(placed.length, 1);
    assert.deepEqual((placed[0]!.data['items'] as { sku: string }[]).map((item) => item.sku), ['A', 'B', 'C']);
  });

  test('the wall-clock fallback completes an order on an idle partition', async () => {
    const h = new OrdersHarness({ graceMs: 5000, latenessMs: 1000 });
    h.feed('orders', await h.change('orders', orderRow(1021), { pos: 100, tsMs: T0 }));
    h.feed('order_items', await h.change('order_items', itemRow(7200, 1021, 'A', 1, '1.000'), { pos: 150, tsMs: T0 }));
    await h.advanceClock(5500);
    assert.equal(h.emitted.length, 0);
    await h.advanceClock(600);
    assert.equal(h.named('order_placed').length, 1);
    assert.equal(h.pendingTimers('event-time'), 0);
    assert.equal(h.pendingTimers('wall-clock'), 0);
  });

  test('an item deleted before completion is left out', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1022), { pos: 100, tsMs: T0 }));
    const kept = itemRow(7300, 1022, 'KEEP', 1, '1.000');
    const dropped = itemRow(7301, 1022, 'DROP', 1, '1.000');
    h.feed('order_items', await h.change('order_items', kept, { pos: 150, row: 0, tsMs: T0 }));
    h.feed('order_items', await h.change('order_items', dropped, { pos: 150, row: 1, tsMs: T0 }));
    h.feed('order_items', await h.change('order_items', null, { op: 'd', before: dropped, pos: 180, tsMs: T0 + 1000 }));
    await laterTraffic(h, T0 + 7000, 300);
    const placed = h.named('order_placed');
    assert.equal(placed.length, 1);
    assert.deepEqual((placed[0]!.data['items'] as { sku: string }[]).map((item) => item.sku), ['KEEP']);
  });

  test('a guest order is not sent and is counted', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1023, { customer_id: null }), { pos: 100, tsMs: T0 }));
    await laterTraffic(h, T0 + 6000, 300);
    assert.equal(h.emitted.length, 0);
    assert.deepEqual(h.guests, ['order']);
  });
});

describe('orders › wall-clock fallback waits for the items input', () => {
  const skusOf = (record: { data: Record<string, unknown> }) => (record.data['items'] as { sku: string }[]).map((item) => item.sku);

  /** Builds a harness whose items input is not caught up, with order `orderId` and one item of it. */
  async function behindWithOrder(orderId: number, itemId: number): Promise<OrdersHarness> {
    const h = new OrdersHarness({ graceMs: 5000, latenessMs: 1000 });
    h.caughtUp.set('order_items', false);
    h.feed('orders', await h.change('orders', orderRow(orderId), { pos: 100, tsMs: T0 }));
    h.feed('order_items', await h.change('order_items', itemRow(itemId, orderId, 'A', 1, '1.000'), { pos: 150, tsMs: T0 }));
    return h;
  }

  test('waits while items are unread', async () => {
    const h = await behindWithOrder(1030, 7300);
    h.feed('orders', await h.change('orders', orderRow(1034), { pos: 170, tsMs: T0 }));
    h.feed('order_items', await h.change('order_items', itemRow(7340, 1034, 'C', 1, '3.000'), { pos: 180, tsMs: T0 }));

    await h.advanceClock(6000);
    assert.equal(h.emitted.length, 0, 'the fallback sent an order while its items input was behind');
    assert.deepEqual(h.caughtUpChecks, ['order_items', 'order_items']);
    assert.equal(h.completionWaits, 2);
    assert.deepEqual([...h.stores.waiting.data.keys()].sort(), ['1030', '1034']);
    assert.equal(h.pendingTimers('wall-clock'), 1, 'one check timer replaces the two order timers');

    await h.advanceClock(999);
    assert.equal(h.caughtUpChecks.length, 2, 'checked again before a second passed');
    await h.advanceClock(1);
    assert.equal(h.caughtUpChecks.length, 3);
    for (let second = 0; second < 20; second += 1) {
      await h.advanceClock(1000);
    }
    assert.equal(h.caughtUpChecks.length, 23, 'one check a second, however many orders wait');
    assert.equal(h.emitted.length, 0, 'the wait has no limit');
    assert.equal(h.pendingTimers('wall-clock'), 1);

    // The unread item of 1030 arrives, which starts its grace period again.
    h.feed('order_items', await h.change('order_items', itemRow(7301, 1030, 'B', 1, '2.000'), { pos: 160, tsMs: T0 }));
    assert.deepEqual([...h.stores.waiting.data.keys()], ['1034']);
    h.caughtUp.set('order_items', true);
    await h.advanceClock(1000);
    assert.deepEqual(h.named('order_placed').map((record) => record.data['order_id']), ['1034']);
    assert.deepEqual(skusOf(h.named('order_placed')[0]!), ['C']);

    await h.advanceClock(6000);
    const placed = h.named('order_placed');
    assert.deepEqual(placed.map((record) => record.data['order_id']), ['1034', '1030']);
    assert.deepEqual(skusOf(placed[1]!), ['A', 'B']);
    assert.equal(h.stores.waiting.size, 0);
    assert.equal(h.pendingTimers('wall-clock'), 0);
    assert.equal(h.pendingTimers('event-time'), 0);
  });

  test('event-time path does not check', async () => {
    const h = await behindWithOrder(1031, 7310);
    await laterTraffic(h, T0 + 6000, 300);
    assert.equal(h.named('order_placed').length, 1);
    assert.deepEqual(h.caughtUpChecks, []);
    assert.equal(h.pendingTimers('wall-clock'), 0);
  });

  test('event-time completion ends the wait', async () => {
    const h = await behindWithOrder(1032, 7320);
    await h.advanceClock(6000);
    assert.equal(h.completionWaits, 1);
    await laterTraffic(h, T0 + 6000, 300);
    assert.equal(h.named('order_placed').length, 1);
    assert.equal(h.stores.waiting.size, 0, 'the order left the waiting set');
    await h.advanceClock(10_000);
    assert.equal(h.caughtUpChecks.length, 1, 'an empty waiting set is not checked');
    assert.equal(h.pendingTimers('wall-clock'), 0, 'the check timer stops with nothing waiting');
    assert.equal(h.named('order_placed').length, 1);
  });

  test('deleted waiting order is never sent', async () => {
    const h = await behindWithOrder(1033, 7330);
    await h.advanceClock(6000);
    assert.equal(h.completionWaits, 1);
    h.feed('orders', await h.change('orders', null, { op: 'd', before: orderRow(1033), pos: 200, tsMs: T0 + 100 }));
    assert.equal(h.stores.waiting.size, 0);
    h.caughtUp.set('order_items', true);
    await h.advanceClock(10_000);
    assert.equal(h.emitted.length, 0);
    assert.equal(h.pendingTimers('wall-clock'), 0);
  });
});

describe('orders › state changes', () => {
  test('a paid update is sent once after order_placed', async () => {
    const h = new OrdersHarness();
    const pending = orderRow(1030);
    h.feed('orders', await h.change('orders', pending, { pos: 100, tsMs: T0 }));
    h.feed('orders', await h.change('orders', orderRow(1030, { status: 'paid', paid_at: '2024-07-15T10:00:02Z' }), { op: 'u', before: pending, pos: 120, tsMs: T0 + 2000 }));
    assert.equal(h.emitted.length, 0);
    await laterTraffic(h, T0 + 8000, 300);
    assert.deepEqual(h.emitted.map((record) => record.name), ['order_placed', 'order_paid']);
    const paid = h.named('order_paid')[0]!;
    assert.equal(paid.timestamp, T0 / 1000 + 2);
    assert.equal(paid.id, deriveEventId(['order_paid', '1030']));
  });

  test('a connector restart that re-emits changes sends nothing again and keeps the status', async () => {
    const h = new OrdersHarness();
    const pending = orderRow(1001, { customer_id: 501 });
    const paid = orderRow(1001, { customer_id: 501, status: 'paid' });
    const create = await h.change('orders', pending, { pos: 4471, tsMs: T0 });
    const update = await h.change('orders', paid, { op: 'u', before: pending, pos: 5230, tsMs: T0 + 1000 });
    h.feed('orders', create);
    h.feed('orders', update);
    await laterTraffic(h, T0 + 7000, 6000);
    h.feed('orders', await h.change('orders', pending, { pos: 4471, tsMs: T0 }));
    h.feed('orders', await h.change('orders', paid, { op: 'u', before: pending, pos: 5230, tsMs: T0 + 1000 }));
    await laterTraffic(h, T0 + 20000, 6100);
    assert.equal(h.named('order_placed').length, 1);
    assert.equal(h.named('order_paid').length, 1);
    const state = h.stores.orders.get('1001') as OrderState;
    assert.equal(state.row?.status, 'paid');
  });

  test('a fulfillment row sends order_fulfilled once', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1040), { pos: 100, tsMs: T0 }));
    await laterTraffic(h, T0 + 6000, 300);
    const fulfillment = { id: 1, order_id: 1040, status: 'shipped', carrier: 'UPS', tracking_number: 'Z1', shipped_at: '2024-07-15T12:00:00Z', created_at: T0 };
    h.feed('fulfillments', await h.change('fulfillments', fulfillment, { pos: 400, tsMs: T0 + 7000 }));
    h.feed('fulfillments', await h.change('fulfillments', { ...fulfillment, id: 2 }, { pos: 410, tsMs: T0 + 8000 }));
    const fulfilled = h.named('order_fulfilled');
    assert.equal(fulfilled.length, 1);
    assert.equal(fulfilled[0]!.timestamp, T0 / 1000 + 7200);
  });

  test('a canceled status sends order_canceled', async () => {
    const h = new OrdersHarness();
    const pending = orderRow(1041);
    h.feed('orders', await h.change('orders', pending, { pos: 100, tsMs: T0 }));
    await laterTraffic(h, T0 + 6000, 300);
    h.feed('orders', await h.change('orders', orderRow(1041, { status: 'cancelled' }), { op: 'u', before: pending, pos: 400, tsMs: T0 + 9000 }));
    assert.equal(h.named('order_canceled').length, 1);
    assert.equal(h.named('order_canceled')[0]!.timestamp, T0 / 1000 + 9);
  });
});

describe('orders › refunds and subscriptions', () => {
  test('a negative refund amount keeps its sign and scale', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1050, { customer_id: 501 }), { pos: 100, tsMs: T0 }));
    const refund = { id: 88, order_id: 1050, customer_id: 501, amount: preciseDecimal('-5.000', 3), currency: 'USD', reason: 'damaged', created_at: T0 + 60_000 };
    h.feed('refunds', await h.change('refunds', refund, { pos: 500, tsMs: T0 + 60_000 }));
    h.feed('refunds', await h.change('refunds', refund, { pos: 500, tsMs: T0 + 60_000 }));
    const refunds = h.named('refund_created');
    assert.equal(refunds.length, 1);
    assert.deepEqual(refunds[0]!.data, { refund_id: '88', order_id: '1050', amount: -5, reason: 'damaged' });
    assert.equal(refunds[0]!.id, deriveEventId(['refund_created', '88']));
    assert.equal(refunds[0]!.customerId, '501');
  });

  test('a refund without order id goes to its customer', async () => {
    const h = new OrdersHarness();
    const refund = { id: 89, order_id: null, customer_id: 502, amount: preciseDecimal('12.500', 3), currency: 'USD', reason: null, created_at: T0 };
    const event = await h.change('refunds', refund, { pos: 500, tsMs: T0 });
    assert.equal(h.logic.refundKey(event), 'customer:502');
    h.feed('refunds', event);
    const refunds = h.named('refund_created');
    assert.equal(refunds.length, 1);
    assert.equal(refunds[0]!.customerId, '502');
    assert.equal(refunds[0]!.data['amount'], 12.5);
    assert.equal(refunds[0]!.data['order_id'], null);
  });

  test('a refund without customer id waits for its order row', async () => {
    const h = new OrdersHarness();
    const refund = { id: 90, order_id: 1051, customer_id: null, amount: preciseDecimal('1.280', 3), currency: 'USD', reason: null, created_at: T0 };
    h.feed('refunds', await h.change('refunds', refund, { pos: 500, tsMs: T0 }));
    assert.equal(h.emitted.length, 0);
    h.feed('orders', await h.change('orders', orderRow(1051, { customer_id: 503 }), { pos: 100, tsMs: T0 }));
    const refunds = h.named('refund_created');
    assert.equal(refunds.length, 1);
    assert.equal(refunds[0]!.customerId, '503');
  });

  test('a subscription sends created and canceled once each', async () => {
    const h = new OrdersHarness();
    const active = { id: 7, customer_id: 504, plan: 'monthly', status: 'active', price: preciseDecimal('9.990', 3), started_at: T0, canceled_at: null };
    const canceled = { ...active, status: 'canceled', canceled_at: T0 + 86_400_000 };
    h.feed('subscriptions', await h.change('subscriptions', active, { pos: 600, tsMs: T0 }));
    h.feed('subscriptions', await h.change('subscriptions', canceled, { op: 'u', before: active, pos: 700, tsMs: T0 + 86_400_000 }));
    h.feed('subscriptions', await h.change('subscriptions', canceled, { op: 'u', before: active, pos: 700, tsMs: T0 + 86_400_000 }));
    assert.deepEqual(h.emitted.map((record) => record.name), ['subscription_created', 'subscription_canceled']);
    assert.equal(h.emitted[0]!.data['price'], 9.99);
    assert.equal(h.emitted[1]!.timestamp, T0 / 1000 + 86_400);
  });
});

describe('orders › snapshot reads', () => {
  test('a snapshot read fills state and sends nothing', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(950, { customer_id: 601, status: 'paid' }), { op: 'r', pos: 10, tsMs: T0 }));
    h.feed('order_items', await h.change('order_items', itemRow(9500, 950, 'A', 1, '59.800'), { op: 'r', pos: 10, tsMs: T0 }));
    await laterTraffic(h, T0 + 10_000, 300);
    await h.advanceClock(60_000);
    assert.equal(h.emitted.length, 0);
    const state = h.stores.orders.get('950') as OrderState;
    assert.equal(state.row?.total, '59.80');
    assert.equal(state.placed, 'suppressed');
  });

  test('a live change after a snapshot read is sent', async () => {
    const h = new OrdersHarness();
    const pending = orderRow(951, { customer_id: 601 });
    h.feed('orders', await h.change('orders', pending, { op: 'r', pos: 10, tsMs: T0 }));
    h.feed('orders', await h.change('orders', orderRow(951, { customer_id: 601, status: 'paid' }), { op: 'u', before: pending, pos: 20, tsMs: T0 + 1000 }));
    assert.deepEqual(h.emitted.map((record) => record.name), ['order_paid']);
  });

  test('with snapshot events on, order_placed carries origin snapshot', async () => {
    const h = new OrdersHarness({ mapping: { ...defaultMapping, emitSnapshotEvents: true } });
    h.feed('orders', await h.change('orders', orderRow(952, { customer_id: 601 }), { op: 'r', pos: 10, tsMs: T0 }));
    await laterTraffic(h, T0 + 10_000, 300);
    const placed = h.named('order_placed');
    assert.equal(placed.length, 1);
    assert.equal(placed[0]!.origin, 'snapshot');
  });
});

describe('orders › source types', () => {
  test('a DATETIME in the shop zone and a TIMESTAMP give the same instant', async () => {
    const h = new OrdersHarness({ mapping: { ...defaultMapping, datetimeZone: 'America/New_York' } });
    // DATETIME 2024-07-15 09:30:00 written in New York, sent by Debezium as if it were UTC.
    const placedAt = Date.UTC(2024, 6, 15, 9, 30, 0);
    const row = orderRow(1060, { customer_id: 501, placed_at: placedAt, status: 'paid', paid_at: '2024-07-15T13:30:00Z' });
    h.feed('orders', await h.change('orders', row, { pos: 100, tsMs: 1721050200000 }));
    await laterTraffic(h, 1721050200000 + 6000, 300);
    assert.equal(h.named('order_placed')[0]!.timestamp, 1721050200);
    assert.equal(h.named('order_placed')[0]!.data['created_at'], 1721050200);
    assert.equal(h.named('order_paid')[0]!.timestamp, 1721050200);
  });

  test('a base64 DECIMAL total becomes the exact amount', async () => {
    const h = new OrdersHarness();
    h.feed('orders', await h.change('orders', orderRow(1061, { total: 'AxY=' }), { pos: 100, tsMs: T0 }));
    await laterTraffic(h, T0 + 6000, 300);
    const state = h.stores.orders.get('1061') as OrderState;
    assert.equal(state.row?.total, '7.90');
    assert.equal(h.named('order_placed')[0]!.data['order_total'], 7.9);
  });
});
