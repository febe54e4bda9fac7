// The transactions and orders processors together on the real stack: rows written to MariaDB in
// chosen transactions, captured by Debezium with its transaction metadata, counted by the
// transactions processor, and completed by the orders processor. Every topic, group and MySQL id
// is this run's own; the Debezium topics are shared and read from their beginning.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Pool, PoolConnection } from 'mysql2/promise';
import { pino } from 'pino';

import type { EventRecord } from '../../processors/customerio/records.ts';
import { loadMapping, topicOf } from '../../processors/mapping/mapping.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import { ordersTopology } from '../../processors/orders/topology.ts';
import { pointGroupAtEnd } from '../../processors/demo/demo.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { loadTransactionsConfig } from '../../processors/transactions/config.ts';
import type { OrderTransaction } from '../../processors/transactions/records.ts';
import { transactionsTopology } from '../../processors/transactions/topology.ts';
import { createTopics, readTopic, startRuntime, testConfig, uniqueName, waitFor, withAdmin } from '../runtime/helpers.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';

const mapping = loadMapping();
const PLACED_AT = '2024-07-15 10:00:00';
/** Long enough that neither the grace timer nor its wall-clock fallback can fire during a test. */
const LONG_GRACE_MS = 600_000;
/** Long enough that items committed 400 ms after their order are read in time on a loaded machine. */
const SHORT_GRACE_MS = 8000;
const ORDER_TOPICS = (['orders', 'orderItems', 'fulfillments', 'refunds', 'subscriptions'] as const).map((role) => topicOf(mapping, role));

let pool: Pool;
before(() => {
  pool = testMysql();
});
after(async () => {
  await pool.end();
});

async function insertOrder(conn: PoolConnection, id: string, customerId: string, total: string): Promise<void> {
  await conn.query('INSERT INTO orders (id, customer_id, status, currency, total, placed_at) VALUES (?, ?, ?, ?, ?, ?)', [id, customerId, 'pending', 'USD', total, PLACED_AT]);
}

async function insertItem(conn: PoolConnection, orderId: string, sku: string, quantity: number, price: string): Promise<void> {
  await conn.query('INSERT INTO order_items (order_id, sku, variant_id, name, category, quantity, unit_price) VALUES (?, ?, ?, ?, ?, ?, ?)', [orderId, sku, `${sku}-v`, `name ${sku}`, 'apparel', quantity, price]);
}

/** Runs `work` in one MySQL transaction. */
async function inTransaction(work: (conn: PoolConnection) => Promise<void>): Promise<void> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    await work(conn);
    await conn.commit();
  } finally {
    conn.release();
  }
}

/** Partition count of the orders processor's tasks: the largest of its Debezium topics. */
async function ordersTaskCount(): Promise<number> {
  await waitFor(`Debezium topics ${ORDER_TOPICS.join(', ')}`, () => withAdmin(async (admin) => {
    const existing = new Set(await admin.listTopics());
    return [...ORDER_TOPICS, `${mapping.source.topicPrefix}.transaction`].every((topic) => existing.has(topic));
  }), 60_000);
  return withAdmin(async (admin) => {
    const metadata = await admin.fetchTopicMetadata({ topics: ORDER_TOPICS });
    return Math.max(...metadata.topics.map((topic) => topic.partitions.length));
  });
}

function startTransactions(app: string, markersTopic: string): Promise<ProcessorRuntime> {
  const config = loadTransactionsConfig({ TRANSACTIONS_OUTPUT_TOPIC: markersTopic });
  return startRuntime(transactionsTopology({ config, mapping, name: app }), {
    config: testConfig(app, { KAFKA_TRANSACTION_TIMEOUT_MS: '30000' }),
    logger: pino({ level: 'error' }),
  });
}

function startOrders(app: string, outputTopic: string, markersTopic: string, graceMs: number): Promise<ProcessorRuntime> {
  const config = loadOrdersConfig({ ORDERS_GRACE_MS: String(graceMs), ORDERS_OUTPUT_TOPIC: outputTopic, ORDERS_TRANSACTIONS_TOPIC: markersTopic });
  assert.equal(config.transactionMetadata, true);
  return startRuntime(ordersTopology({ config, mapping, name: app }), {
    config: testConfig(app, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '500', KAFKA_TRANSACTION_TIMEOUT_MS: '30000' }),
    // Rebalances log at warn, and the assertions below cover what matters.
    logger: pino({ level: 'error' }),
  });
}

function placedOf(records: { key: string | null; value: string | null }[], customerId: string): EventRecord[] {
  return records
    .filter((record) => record.key === customerId && record.value !== null)
    .map((record) => JSON.parse(record.value!) as EventRecord)
    .filter((event) => event.name === 'order_placed');
}

/**
 * Polls the events topic until `expected` order_placed events of the customer are there. With
 * `settleMs`, reads once more after that pause, so a later duplicate or correction is seen too.
 */
async function waitForPlaced(topic: string, customerId: string, expected: number, timeoutMs: number, settleMs = 0): Promise<EventRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const placed = placedOf(await readTopic(topic, { expected: 1, timeoutMs }), customerId);
    if (placed.length >= expected) break;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms reading ${topic}: ${placed.length} of ${expected} order_placed of customer ${customerId}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
  return placedOf(await readTopic(topic, { expected: 1, timeoutMs }), customerId);
}

async function markersOf(topic: string, orderIds: string[]): Promise<OrderTransaction[]> {
  let markers: OrderTransaction[] = [];
  await waitFor(`order-transaction records of ${orderIds.join(', ')}`, async () => {
    markers = (await readTopic(topic, { expected: 1, timeoutMs: 30_000 }))
      .filter((record) => record.key !== null && orderIds.includes(record.key))
      .map((record) => JSON.parse(record.value!) as OrderTransaction);
    return markers.length >= orderIds.length;
  }, 60_000);
  return markers.sort((a, b) => orderIds.indexOf(a.order_id) - orderIds.indexOf(b.order_id));
}

function itemsOf(event: EventRecord): [string, number, number][] {
  return (event.data['items'] as { sku: string; quantity: number; price: number }[]).map((item) => [item.sku, item.quantity, item.price]);
}

describe('transaction metadata on the real stack', { timeout: 300_000 }, () => {
  const transactionsApp = uniqueName('transactions-test');
  const markersTopic = uniqueName('transactions-test-markers');
  const promptApp = uniqueName('orders-tx-test-prompt');
  const promptEvents = uniqueName('orders-tx-test-prompt-events');
  const graceApp = uniqueName('orders-tx-test-grace');
  const graceEvents = uniqueName('orders-tx-test-grace-events');
  const runtimes: ProcessorRuntime[] = [];

  before(async () => {
    // The orders processor reads the markers as they are, so they need its partition count.
    await createTopics([{ topic: markersTopic, partitions: await ordersTaskCount() }]);
    // The processors read what the tests write next, not the history other tests left: the
    // wall-clock fallback waits until the whole items input is read, which takes longer than
    // these tests' timeouts over a long history.
    await withAdmin(async (admin) => {
      const existing = new Set(await admin.listTopics());
      await pointGroupAtEnd(admin, transactionsApp, ['shop.shop.orders', 'shop.shop.order_items', 'shop.transaction'], existing);
      for (const app of [promptApp, graceApp]) {
        await pointGroupAtEnd(admin, app, ['shop.shop.orders', 'shop.shop.order_items', 'shop.shop.fulfillments', 'shop.shop.refunds', 'shop.shop.subscriptions'], existing);
      }
    });
    runtimes.push(await startTransactions(transactionsApp, markersTopic));
    runtimes.push(await startOrders(promptApp, promptEvents, markersTopic, LONG_GRACE_MS));
    runtimes.push(await startOrders(graceApp, graceEvents, markersTopic, SHORT_GRACE_MS));
  });
  after(async () => {
    for (const runtime of runtimes) await runtime.stop();
  });

  test('one transaction completes before grace', { timeout: 120_000 }, async () => {
    const orderId = uniqueId();
    const customerId = uniqueId();
    // Debezium's source.ts_ms has whole seconds, so the order's commit time is at least this.
    const commitAtLeastMs = Math.floor(Date.now() / 1000) * 1000;
    await inTransaction(async (conn) => {
      await insertOrder(conn, orderId, customerId, '59.80');
      await insertItem(conn, orderId, 'SOCK-3', 2, '19.90');
      await insertItem(conn, orderId, 'CAP-1', 1, '20.00');
    });

    const placed = await waitForPlaced(promptEvents, customerId, 1, 90_000);
    // No record can carry a commit time later than now, so stream time has not reached the order's
    // commit time plus the grace period. The wall-clock fallback is as far away. So only the
    // transaction's counts can have completed the order.
    assert.ok(Date.now() < commitAtLeastMs + LONG_GRACE_MS, 'the event arrived before the grace period could end');
    assert.equal(placed.length, 1);
    assert.equal(placed[0]!.data['order_total'], 59.8);
    assert.deepEqual(itemsOf(placed[0]!), [
      ['SOCK-3', 2, 19.9],
      ['CAP-1', 1, 20],
    ]);

    const [marker] = await markersOf(markersTopic, [orderId]);
    assert.equal(marker!.items, 2);
    assert.match(marker!.transaction_id, /\S/);
  });

  test('items in a later transaction wait for grace', { timeout: 120_000 }, async () => {
    const orderId = uniqueId();
    const customerId = uniqueId();
    const conn = await pool.getConnection();
    try {
      await insertOrder(conn, orderId, customerId, '59.80');
    } finally {
      conn.release();
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
    await inTransaction(async (items) => {
      await insertItem(items, orderId, 'SOCK-3', 2, '19.90');
      await insertItem(items, orderId, 'CAP-1', 1, '20.00');
    });

    const [marker] = await markersOf(markersTopic, [orderId]);
    assert.equal(marker!.items, 0, "the order's own transaction inserted no items");

    const placed = await waitForPlaced(graceEvents, customerId, 1, 90_000, 3000);
    assert.equal(placed.length, 1, 'exactly one order_placed, no early one with items: []');
    assert.equal(placed[0]!.data['order_total'], 59.8);
    assert.deepEqual(itemsOf(placed[0]!), [
      ['SOCK-3', 2, 19.9],
      ['CAP-1', 1, 20],
    ]);
    assert.deepEqual(placedOf(await readTopic(promptEvents, { expected: 0 }), customerId), [], 'not sent before the long grace period');
  });

  test('two orders of one transaction', { timeout: 120_000 }, async () => {
    const [single, triple] = [uniqueId(), uniqueId()];
    const customerId = uniqueId();
    const commitAtLeastMs = Math.floor(Date.now() / 1000) * 1000;
    await inTransaction(async (conn) => {
      await insertOrder(conn, single, customerId, '1.00');
      await insertOrder(conn, triple, customerId, '6.00');
      await insertItem(conn, triple, 'B1', 1, '1.00');
      await insertItem(conn, single, 'A1', 1, '1.00');
      await insertItem(conn, triple, 'B2', 1, '2.00');
      await insertItem(conn, triple, 'B3', 1, '3.00');
    });

    const placed = await waitForPlaced(promptEvents, customerId, 2, 90_000, 2000);
    assert.ok(Date.now() < commitAtLeastMs + LONG_GRACE_MS, 'the events arrived before the grace period could end');
    assert.equal(placed.length, 2);
    const byOrder = new Map(placed.map((event) => [event.data['order_id'], event]));
    assert.deepEqual(itemsOf(byOrder.get(single)!), [['A1', 1, 1]]);
    assert.deepEqual(itemsOf(byOrder.get(triple)!), [
      ['B1', 1, 1],
      ['B2', 1, 2],
      ['B3', 1, 3],
    ]);

    const markers = await markersOf(markersTopic, [single, triple]);
    assert.deepEqual(markers.map((marker) => marker.items), [1, 3]);
    assert.equal(markers[0]!.transaction_id, markers[1]!.transaction_id, 'one transaction');
  });
});
