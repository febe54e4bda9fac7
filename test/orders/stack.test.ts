// The orders processor against the real stack: rows written to MariaDB, captured by
// Debezium, processed in-process by the runtime, read back read_committed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { Pool } from 'mysql2/promise';
import { pino } from 'pino';

import type { EventRecord } from '../../processors/customerio/records.ts';
import { pointGroupAtEnd } from '../../processors/demo/demo.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import { ordersTopology } from '../../processors/orders/topology.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { readTopic, startRuntime, testConfig, uniqueName, waitFor, withAdmin } from '../runtime/helpers.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';

const GRACE_MS = '3000';
const PLACED_AT = '2024-07-15 10:00:00';
const mapping = loadMapping();

let pool: Pool;
before(() => {
  pool = testMysql();
});
after(async () => {
  await pool.end();
});

async function insertOrder(conn: Pool | Awaited<ReturnType<Pool['getConnection']>>, id: string, customerId: string, total: string): Promise<void> {
  await conn.query('INSERT INTO orders (id, customer_id, status, currency, total, placed_at) VALUES (?, ?, ?, ?, ?, ?)', [id, customerId, 'pending', 'USD', total, PLACED_AT]);
}

async function insertItem(conn: Pool | Awaited<ReturnType<Pool['getConnection']>>, orderId: string, sku: string, quantity: number, price: string): Promise<void> {
  await conn.query('INSERT INTO order_items (order_id, sku, variant_id, name, category, quantity, unit_price) VALUES (?, ?, ?, ?, ?, ?, ?)', [orderId, sku, `${sku}-v`, `name ${sku}`, 'apparel', quantity, price]);
}

/** Runs `work` in one MySQL transaction. */
async function inTransaction(work: (conn: Awaited<ReturnType<Pool['getConnection']>>) => Promise<void>): Promise<void> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    await work(conn);
    await conn.commit();
  } finally {
    conn.release();
  }
}

async function topicsExist(topics: string[]): Promise<void> {
  await waitFor(`Debezium topics ${topics.join(', ')}`, () => withAdmin(async (admin) => {
    const existing = new Set(await admin.listTopics());
    return topics.every((topic) => existing.has(topic));
  }), 60_000);
}

const SHOP_TOPICS = ['shop.shop.orders', 'shop.shop.order_items', 'shop.shop.fulfillments', 'shop.shop.refunds', 'shop.shop.subscriptions'];

/**
 * Commits the current end of the shop topics for the new group `app`, so the
 * processor reads what the test writes next and not the history other tests left.
 * The wall-clock fallback waits until the whole items input is read, which over a
 * long history takes longer than the test's timeouts.
 */
async function readFromEnd(app: string): Promise<void> {
  await withAdmin(async (admin) => pointGroupAtEnd(admin, app, SHOP_TOPICS, new Set(await admin.listTopics())));
}

function start(app: string, outputTopic: string): Promise<ProcessorRuntime> {
  const config = loadOrdersConfig({ ORDERS_GRACE_MS: GRACE_MS, ORDERS_OUTPUT_TOPIC: outputTopic });
  return startRuntime(ordersTopology({ config, mapping, name: app }), {
    config: testConfig(app, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '500', KAFKA_TRANSACTION_TIMEOUT_MS: '30000' }),
    // Rebalances log at warn, and the assertions below cover what matters.
    logger: pino({ level: 'error' }),
  });
}

function eventsOf(records: { key: string | null; value: string | null }[], customers: Set<string>): EventRecord[] {
  return records
    .filter((record) => record.key !== null && customers.has(record.key) && record.value !== null)
    .map((record) => JSON.parse(record.value!) as EventRecord);
}

/**
 * Reads the output topic until `expected` events of `customers` are there, then once
 * more after a pause, to the end offsets, so late duplicates are seen too.
 */
async function readEvents(topic: string, customers: Set<string>, expected: number, timeoutMs: number): Promise<EventRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = eventsOf(await readTopic(topic, { expected: 1, timeoutMs }), customers);
    if (events.length >= expected) break;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms reading ${topic}: ${events.length} of ${expected} events`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return eventsOf(await readTopic(topic, { expected: 1, timeoutMs }), customers);
}

function only(events: EventRecord[], name: string, orderId: string): EventRecord[] {
  return events.filter((event) => event.name === name && event.data['order_id'] === orderId);
}

describe('orders processor on the real stack', { timeout: 170_000 }, () => {
  test('turns order, item, fulfillment and refund rows into exact events', { timeout: 90_000 }, async () => {
    const app = uniqueName('orders-test');
    const outputTopic = uniqueName('orders-test-events');
    const [late, single, paid, shipped, trimmed] = [uniqueId(), uniqueId(), uniqueId(), uniqueId(), uniqueId()];
    const customer = uniqueId();
    const refundCustomer = uniqueId();
    await readFromEnd(app);

    // Order row in one transaction, its two items in a later one within the grace period.
    await insertOrder(pool, late, customer, '59.80');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await inTransaction(async (conn) => {
      await insertItem(conn, late, 'SOCK-3', 2, '19.90');
      await insertItem(conn, late, 'CAP-1', 1, '20.00');
    });
    // Order and three items in one transaction.
    await inTransaction(async (conn) => {
      await insertOrder(conn, single, customer, '30.00');
      await insertItem(conn, single, 'A', 1, '10.00');
      await insertItem(conn, single, 'B', 1, '10.00');
      await insertItem(conn, single, 'C', 1, '10.00');
    });
    // Order, then an update to paid.
    await insertOrder(pool, paid, customer, '12.00');
    await pool.query("UPDATE orders SET status = 'paid', paid_at = FROM_UNIXTIME(1721037900) WHERE id = ?", [paid]);
    await pool.query("UPDATE orders SET status = 'paid', paid_at = FROM_UNIXTIME(1721037900), discount_code = 'X' WHERE id = ?", [paid]);
    // Order with a fulfillment.
    await insertOrder(pool, shipped, customer, '5.00');
    await pool.query("INSERT INTO fulfillments (order_id, status, carrier, shipped_at, created_at) VALUES (?, 'shipped', 'UPS', FROM_UNIXTIME(1721116800), ?)", [shipped, PLACED_AT]);
    // An item deleted before the order is complete.
    await inTransaction(async (conn) => {
      await insertOrder(conn, trimmed, customer, '7.00');
      await insertItem(conn, trimmed, 'KEEP', 1, '7.00');
      await insertItem(conn, trimmed, 'DROP', 1, '3.00');
    });
    await pool.query("DELETE FROM order_items WHERE order_id = ? AND sku = 'DROP'", [trimmed]);
    // Refunds: a negative amount on an order, a positive one without order.
    const [refundRows] = await pool.query(
      "INSERT INTO refunds (order_id, customer_id, amount, currency, reason, created_at) VALUES (?, ?, -5.000, 'USD', 'damaged', ?)",
      [paid, customer, PLACED_AT],
    );
    const negativeRefund = String((refundRows as { insertId: number | string }).insertId);
    const [otherRows] = await pool.query(
      "INSERT INTO refunds (order_id, customer_id, amount, currency, reason, created_at) VALUES (NULL, ?, 12.500, 'USD', NULL, ?)",
      [refundCustomer, PLACED_AT],
    );
    const positiveRefund = String((otherRows as { insertId: number | string }).insertId);
    await inTransaction(async (conn) => {
      await conn.query("INSERT INTO subscriptions (customer_id, plan, status, price, started_at) VALUES (?, 'monthly', 'active', 9.99, ?)", [customer, PLACED_AT]);
    });

    await topicsExist(SHOP_TOPICS);
    const runtime = await start(app, outputTopic);
    try {
      const customers = new Set([customer, refundCustomer]);
      // 5 order_placed, 1 order_paid, 1 order_fulfilled, 2 refund_created, 1 subscription_created.
      const events = await readEvents(outputTopic, customers, 10, 60_000);
      assert.equal(events.length, 10);

      const lateEvents = only(events, 'order_placed', late);
      assert.equal(lateEvents.length, 1);
      assert.equal(lateEvents[0]!.data['order_total'], 59.8);
      assert.deepEqual((lateEvents[0]!.data['items'] as { sku: string; quantity: number; price: number }[]).map((i) => [i.sku, i.quantity, i.price]), [
        ['SOCK-3', 2, 19.9],
        ['CAP-1', 1, 20],
      ]);
      assert.equal(lateEvents[0]!.timestamp, Date.UTC(2024, 6, 15, 10, 0, 0) / 1000);

      const singleEvents = only(events, 'order_placed', single);
      assert.equal(singleEvents.length, 1);
      assert.deepEqual((singleEvents[0]!.data['items'] as { sku: string }[]).map((i) => i.sku), ['A', 'B', 'C']);

      assert.equal(only(events, 'order_placed', paid).length, 1);
      const paidEvents = only(events, 'order_paid', paid);
      assert.equal(paidEvents.length, 1);
      assert.equal(paidEvents[0]!.timestamp, Date.UTC(2024, 6, 15, 10, 5, 0) / 1000);

      assert.equal(only(events, 'order_fulfilled', shipped).length, 1);
      assert.equal(only(events, 'order_fulfilled', shipped)[0]!.timestamp, Date.UTC(2024, 6, 16, 8, 0, 0) / 1000);

      const trimmedEvents = only(events, 'order_placed', trimmed);
      assert.equal(trimmedEvents.length, 1);
      assert.deepEqual((trimmedEvents[0]!.data['items'] as { sku: string }[]).map((i) => i.sku), ['KEEP']);

      const refunds = events.filter((event) => event.name === 'refund_created');
      assert.deepEqual(refunds.find((event) => event.data['refund_id'] === negativeRefund)?.data, {
        refund_id: negativeRefund,
        order_id: paid,
        amount: -5,
        reason: 'damaged',
      });
      const positive = refunds.find((event) => event.data['refund_id'] === positiveRefund);
      assert.equal(positive?.customerId, refundCustomer);
      assert.equal(positive?.data['amount'], 12.5);
      assert.equal(events.filter((event) => event.name === 'subscription_created').length, 1);
    } finally {
      await runtime.stop();
    }
  });

  test('two instances with partitions moving between them give the same events as one', { timeout: 120_000 }, async () => {
    const app = uniqueName('orders-test-pair');
    const outputTopic = uniqueName('orders-test-pair-events');
    const customer = uniqueId();
    const orders: string[] = [];
    const writeBatch = async (count: number) => {
      for (let index = 0; index < count; index += 1) {
        const id = uniqueId();
        orders.push(id);
        await inTransaction(async (conn) => {
          await insertOrder(conn, id, customer, '3.00');
          await insertItem(conn, id, 'ONE', 1, '1.00');
          await insertItem(conn, id, 'TWO', 1, '2.00');
        });
        await pool.query("UPDATE orders SET status = 'paid' WHERE id = ?", [id]);
      }
    };

    await readFromEnd(app);
    await writeBatch(3);
    await topicsExist(['shop.shop.fulfillments', 'shop.shop.refunds', 'shop.shop.subscriptions']);
    const first = await start(app, outputTopic);
    let second: ProcessorRuntime | undefined;
    try {
      await writeBatch(3);
      // The second instance joins while orders wait for their grace period.
      second = await start(app, outputTopic);
      await writeBatch(3);
      await first.stop();
      await writeBatch(3);

      const events = await readEvents(outputTopic, new Set([customer]), orders.length * 2, 90_000);
      assert.equal(events.length, orders.length * 2);
      for (const id of orders) {
        const placed = only(events, 'order_placed', id);
        assert.equal(placed.length, 1, `order_placed of ${id}`);
        assert.deepEqual((placed[0]!.data['items'] as { sku: string }[]).map((i) => i.sku), ['ONE', 'TWO']);
        assert.equal(only(events, 'order_paid', id).length, 1, `order_paid of ${id}`);
      }
    } finally {
      await first.stop().catch(() => undefined);
      await second?.stop();
    }
  });
});
