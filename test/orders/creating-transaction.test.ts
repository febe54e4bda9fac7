// The orders completion rule with transaction metadata: an order is complete once its row and
// every item its creating transaction inserted have arrived. Otherwise the grace period decides.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import type { OrderTransaction } from '../../processors/transactions/records.ts';
import { OrdersHarness, preciseDecimal } from './harness.ts';

// 2024-07-15 10:00:00 UTC
const T0 = 1721037600000;
const GRACE_MS = 5000;

function orderRow(id: number, total = '59.80'): Record<string, unknown> {
  return {
    id,
    customer_id: 510,
    email: 'buyer@example.com',
    status: 'pending',
    currency: 'USD',
    total: preciseDecimal(total, 2),
    discount_code: null,
    placed_at: T0,
    paid_at: null,
    canceled_at: null,
    updated_at: T0 * 1000,
    attributes: null,
  };
}

function itemRow(id: number, orderId: number, sku: string, quantity: number, price: string): Record<string, unknown> {
  return { id, order_id: orderId, sku, variant_id: `${sku}-v`, name: `name ${sku}`, category: 'apparel', quantity, unit_price: preciseDecimal(price, 3) };
}

function marker(orderId: number, transactionId: string, items: number, committedAtMs = T0): OrderTransaction {
  return { order_id: String(orderId), transaction_id: transactionId, items, committed_at_ms: committedAtMs };
}

function placedFor(h: OrdersHarness, orderId: number) {
  return h.named('order_placed').filter((record) => record.data['order_id'] === String(orderId));
}

function skus(record: { data: Record<string, unknown> }): string[] {
  return (record.data['items'] as { sku: string }[]).map((item) => item.sku);
}

/** Feeds a later item of another order, which moves stream time and the items input to `atMs`. */
async function laterTraffic(h: OrdersHarness, atMs: number, pos: number): Promise<void> {
  h.feed('order_items', await h.change('order_items', itemRow(99_000 + pos, 99_999, 'OTHER', 1, '1.000'), { pos, tsMs: atMs }));
}

describe('orders › completion by creating transaction', () => {
  test('grace waits for missing transaction items', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    const tx = { id: '0-1-9' };
    h.feed('orders', await h.change('orders', orderRow(1018), { pos: 100, row: 0, tsMs: T0, transaction: { ...tx, totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', itemRow(7040, 1018, 'SOCK-3', 2, '19.900'), { pos: 100, row: 1, tsMs: T0, transaction: { ...tx, totalOrder: 2 } }));
    h.feedTransaction(marker(1018, '0-1-9', 2));
    // Stream time and the items input pass the grace period while the second item is still on its way.
    await laterTraffic(h, T0 + 60_000, 900);
    assert.equal(placedFor(h, 1018).length, 0, 'the marker says two items; one arrived');

    h.feed('order_items', await h.change('order_items', itemRow(7041, 1018, 'CAP-1', 1, '20.000'), { pos: 100, row: 2, tsMs: T0, transaction: { ...tx, totalOrder: 3 } }));
    const placed = placedFor(h, 1018);
    assert.equal(placed.length, 1);
    assert.deepEqual(skus(placed[0]!), ['SOCK-3', 'CAP-1']);
  });

  test('all items of its transaction complete at once', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    const tx = { id: '0-1-7' };
    h.feed('orders', await h.change('orders', orderRow(1014), { pos: 100, row: 0, tsMs: T0, transaction: { ...tx, totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', itemRow(7020, 1014, 'SOCK-3', 2, '19.900'), { pos: 100, row: 1, tsMs: T0, transaction: { ...tx, totalOrder: 2 } }));
    h.feedTransaction(marker(1014, '0-1-7', 2));
    assert.equal(h.emitted.length, 0, 'one of the two items is still missing');

    h.feed('order_items', await h.change('order_items', itemRow(7021, 1014, 'CAP-1', 1, '20.000'), { pos: 100, row: 2, tsMs: T0, transaction: { ...tx, totalOrder: 3 } }));
    assert.equal(h.streamTimeMs, T0, 'stream time did not move towards the grace period');
    const placed = placedFor(h, 1014);
    assert.equal(placed.length, 1);
    assert.equal(placed[0]!.id, deriveEventId(['order_placed', '1014']));
    assert.deepEqual(placed[0]!.data, {
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
    assert.equal(h.pendingTimers('event-time'), 0, 'the grace timers are canceled');
    assert.equal(h.pendingTimers('wall-clock'), 0);

    await laterTraffic(h, T0 + 60_000, 900);
    await h.advanceClock(600_000);
    assert.equal(placedFor(h, 1014).length, 1, 'the grace period sends nothing more');
  });

  test('order row read last completes it', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    const tx = { id: '0-1-8' };
    h.feed('order_items', await h.change('order_items', itemRow(7030, 1015, 'A', 1, '1.000'), { pos: 200, row: 1, tsMs: T0, transaction: { ...tx, totalOrder: 2 } }));
    h.feedTransaction(marker(1015, '0-1-8', 1));
    assert.equal(h.emitted.length, 0, 'the order row is missing');
    h.feed('orders', await h.change('orders', orderRow(1015, '1.00'), { pos: 200, row: 0, tsMs: T0, transaction: { ...tx, totalOrder: 1 } }));
    const placed = placedFor(h, 1015);
    assert.equal(placed.length, 1);
    assert.deepEqual(skus(placed[0]!), ['A']);
  });

  test('items in a later transaction wait for grace', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    // Items committed 400 ms later in transaction B and read first.
    h.feed('order_items', await h.change('order_items', itemRow(7020, 1014, 'SOCK-3', 2, '19.900'), { pos: 200, row: 0, tsMs: T0 + 400, transaction: { id: '0-1-21', totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', itemRow(7021, 1014, 'CAP-1', 1, '20.000'), { pos: 200, row: 1, tsMs: T0 + 400, transaction: { id: '0-1-21', totalOrder: 2 } }));
    h.feed('orders', await h.change('orders', orderRow(1014), { pos: 100, tsMs: T0, transaction: { id: '0-1-20', totalOrder: 1 } }));
    h.feedTransaction(marker(1014, '0-1-20', 0));
    assert.equal(h.emitted.length, 0, 'a transaction without items completes nothing');

    await laterTraffic(h, T0 + 400 + GRACE_MS, 900);
    const placed = h.named('order_placed');
    assert.equal(placed.length, 1);
    assert.equal(placed[0]!.data['order_total'], 59.8);
    assert.deepEqual(skus(placed[0]!), ['SOCK-3', 'CAP-1']);
  });

  test('order without items is sent after grace', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    h.feed('orders', await h.change('orders', orderRow(1016), { pos: 100, tsMs: T0, transaction: { id: '0-1-22', totalOrder: 1 } }));
    h.feedTransaction(marker(1016, '0-1-22', 0));
    await laterTraffic(h, T0 + GRACE_MS - 1, 900);
    assert.equal(h.emitted.length, 0);
    await laterTraffic(h, T0 + GRACE_MS, 901);
    assert.deepEqual(placedFor(h, 1016).map(skus), [[]]);
  });

  test('two orders of one transaction', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    const tx = (totalOrder: number) => ({ id: '0-1-30', totalOrder });
    h.feed('orders', await h.change('orders', orderRow(2001, '1.00'), { pos: 300, row: 0, tsMs: T0, transaction: tx(1) }));
    h.feed('orders', await h.change('orders', orderRow(2002, '6.00'), { pos: 300, row: 1, tsMs: T0, transaction: tx(2) }));
    h.feedTransaction(marker(2001, '0-1-30', 1));
    h.feedTransaction(marker(2002, '0-1-30', 3));
    h.feed('order_items', await h.change('order_items', itemRow(7101, 2002, 'B1', 1, '1.000'), { pos: 310, row: 0, tsMs: T0, transaction: tx(3) }));
    h.feed('order_items', await h.change('order_items', itemRow(7102, 2002, 'B2', 1, '2.000'), { pos: 310, row: 1, tsMs: T0, transaction: tx(4) }));
    assert.equal(h.emitted.length, 0);
    h.feed('order_items', await h.change('order_items', itemRow(7100, 2001, 'A1', 1, '1.000'), { pos: 310, row: 2, tsMs: T0, transaction: tx(5) }));
    assert.deepEqual(h.named('order_placed').map((record) => [record.data['order_id'], skus(record)]), [['2001', ['A1']]]);
    h.feed('order_items', await h.change('order_items', itemRow(7103, 2002, 'B3', 1, '3.000'), { pos: 310, row: 3, tsMs: T0, transaction: tx(6) }));
    assert.deepEqual(h.named('order_placed').map((record) => [record.data['order_id'], skus(record)]), [
      ['2001', ['A1']],
      ['2002', ['B1', 'B2', 'B3']],
    ]);
  });

  test('items of another transaction do not count', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    h.feed('orders', await h.change('orders', orderRow(1017), { pos: 100, row: 0, tsMs: T0, transaction: { id: '0-1-40', totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', itemRow(7040, 1017, 'LATER', 1, '1.000'), { pos: 150, tsMs: T0 + 100, transaction: { id: '0-1-41', totalOrder: 1 } }));
    h.feedTransaction(marker(1017, '0-1-40', 1));
    assert.equal(h.emitted.length, 0);
    h.feed('order_items', await h.change('order_items', itemRow(7041, 1017, 'OWN', 1, '1.000'), { pos: 100, row: 1, tsMs: T0, transaction: { id: '0-1-40', totalOrder: 2 } }));
    assert.deepEqual(placedFor(h, 1017).map(skus), [['LATER', 'OWN']]);
  });

  test('repeated item is counted once', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    const tx = (totalOrder: number) => ({ id: '0-1-50', totalOrder });
    const first = itemRow(7050, 1018, 'A', 1, '1.000');
    h.feed('orders', await h.change('orders', orderRow(1018), { pos: 100, row: 0, tsMs: T0, transaction: tx(1) }));
    h.feed('order_items', await h.change('order_items', first, { pos: 100, row: 1, tsMs: T0, transaction: tx(2) }));
    h.feed('order_items', await h.change('order_items', first, { pos: 100, row: 1, tsMs: T0, transaction: tx(2) }));
    h.feedTransaction(marker(1018, '0-1-50', 2));
    assert.equal(h.emitted.length, 0, 'one item arrived twice, the other not at all');
    h.feed('order_items', await h.change('order_items', itemRow(7051, 1018, 'B', 1, '1.000'), { pos: 100, row: 2, tsMs: T0, transaction: tx(3) }));
    assert.deepEqual(placedFor(h, 1018).map(skus), [['A', 'B']]);
  });

  test('later update keeps the inserting transaction', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    const inserted = itemRow(7060, 1019, 'A', 1, '1.000');
    h.feed('orders', await h.change('orders', orderRow(1019), { pos: 100, row: 0, tsMs: T0, transaction: { id: '0-1-60', totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', inserted, { pos: 100, row: 1, tsMs: T0, transaction: { id: '0-1-60', totalOrder: 2 } }));
    h.feed('order_items', await h.change('order_items', { ...inserted, quantity: 3 }, { op: 'u', before: inserted, pos: 160, tsMs: T0 + 100, transaction: { id: '0-1-61', totalOrder: 1 } }));
    h.feedTransaction(marker(1019, '0-1-60', 1));
    const placed = placedFor(h, 1019);
    assert.equal(placed.length, 1);
    assert.deepEqual((placed[0]!.data['items'] as { quantity: number }[]).map((item) => item.quantity), [3]);
  });

  test('marker after order_placed changes nothing', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: true });
    h.feed('orders', await h.change('orders', orderRow(1020), { pos: 100, tsMs: T0, transaction: { id: '0-1-70', totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', itemRow(7070, 1020, 'A', 1, '1.000'), { pos: 100, row: 1, tsMs: T0, transaction: { id: '0-1-70', totalOrder: 2 } }));
    await laterTraffic(h, T0 + GRACE_MS, 900);
    assert.equal(placedFor(h, 1020).length, 1, 'completed by the grace period');
    h.feedTransaction(marker(1020, '0-1-70', 1, T0 + GRACE_MS));
    assert.equal(placedFor(h, 1020).length, 1);
  });

  test('metadata off ignores the marker', async () => {
    const h = new OrdersHarness({ graceMs: GRACE_MS, transactionMetadata: false });
    h.feed('orders', await h.change('orders', orderRow(1021), { pos: 100, tsMs: T0, transaction: { id: '0-1-80', totalOrder: 1 } }));
    h.feed('order_items', await h.change('order_items', itemRow(7080, 1021, 'A', 1, '1.000'), { pos: 100, row: 1, tsMs: T0, transaction: { id: '0-1-80', totalOrder: 2 } }));
    h.feedTransaction(marker(1021, '0-1-80', 1));
    assert.equal(h.emitted.length, 0, 'only the grace period decides');
    await laterTraffic(h, T0 + GRACE_MS, 900);
    assert.deepEqual(placedFor(h, 1021).map(skus), [['A']]);
  });
});

describe('orders › transaction metadata settings', () => {
  test('off without a transactions topic', () => {
    const config = loadOrdersConfig({});
    assert.equal(config.transactionsTopic, null);
    assert.equal(config.transactionMetadata, false);
  });

  test('on by default once the topic is set, and can be switched off', () => {
    assert.equal(loadOrdersConfig({ ORDERS_TRANSACTIONS_TOPIC: 'cio.order-transactions' }).transactionMetadata, true);
    const off = loadOrdersConfig({ ORDERS_TRANSACTIONS_TOPIC: 'cio.order-transactions', ORDERS_TRANSACTION_METADATA: 'false' });
    assert.equal(off.transactionMetadata, false);
  });

  test('invalid settings are rejected', () => {
    assert.throws(() => loadOrdersConfig({ ORDERS_TRANSACTION_METADATA: 'true' }), /ORDERS_TRANSACTION_METADATA: is true but ORDERS_TRANSACTIONS_TOPIC is not set/);
    assert.throws(
      () => loadOrdersConfig({ ORDERS_TRANSACTIONS_TOPIC: 'cio.order-transactions', ORDERS_TRANSACTION_METADATA: 'yes' }),
      /ORDERS_TRANSACTION_METADATA: expected true or false, got "yes"/,
    );
  });
});
