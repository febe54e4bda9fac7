// Real stack: SQL into MariaDB → Debezium → the carts processor in-process → read_committed outputs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Pool } from 'mysql2/promise';

import { parseCartsConfig } from '../../processors/carts/config.ts';
import { cartsTopology } from '../../processors/carts/topology.ts';
import { deriveEventId } from '../../processors/customerio/event-id.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { createTopics, startRuntime, testConfig, uniqueName } from '../runtime/helpers.ts';
import { testKafka } from '../support/kafka.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';
import { Collector, until, waitForTopics } from './stack-support.ts';

interface EventValue {
  kind: string;
  name: string;
  id: string;
  customerId: string;
  timestamp: number;
  data: { cart_id: string; items: { sku: string; quantity: number; price: number }[]; cart_total: number; item_count: number };
}

describe('carts processor on the real stack', () => {
  let mysql: Pool;
  let runtime: ProcessorRuntime | undefined;
  const collector = new Collector();
  const cartId = `cart-${uniqueId()}`;
  const customerId = uniqueId();
  const eventsTopic = uniqueName('test-cart-events');
  const snapshotsTopic = uniqueName('test-cart-snapshots');
  let itemIds: string[] = [];

  const events = () =>
    collector.records
      .filter((record) => record.topic === eventsTopic && record.value !== null)
      .map((record) => JSON.parse(record.value!) as EventValue)
      .filter((event) => event.kind === 'event' && event.data.cart_id === cartId);
  const snapshots = () => collector.records.filter((record) => record.topic === snapshotsTopic && record.key === cartId);

  async function insertCart(id: string, customer: string | null, items: readonly (readonly [string, number, string])[]): Promise<string[]> {
    const connection = await mysql.getConnection();
    try {
      await connection.beginTransaction();
      await connection.query(
        "INSERT INTO carts (id, customer_id, status, currency, created_at, updated_at) VALUES (?, ?, 'open', 'USD', '2024-07-15 13:00:00', '2024-07-15 13:00:00')",
        [id, customer],
      );
      const ids: string[] = [];
      for (const [sku, quantity, price] of items) {
        const [result] = await connection.query(
          "INSERT INTO cart_items (cart_id, sku, name, category, quantity, unit_price, added_at) VALUES (?, ?, ?, 'apparel', ?, ?, '2024-07-15 13:00:00')",
          [id, sku, sku, quantity, price],
        );
        ids.push(String((result as { insertId: number }).insertId));
      }
      await connection.commit();
      return ids;
    } finally {
      connection.release();
    }
  }

  before(async () => {
    mysql = testMysql();
    const admin = testKafka('carts-test-admin').admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    await admin.disconnect();
    if (!existing.has('shop.shop.carts') || !existing.has('shop.shop.cart_items')) {
      // Kafka Connect creates a table's topic on its first change.
      await insertCart(`cart-${uniqueId()}`, null, [['WARM-1', 1, '1.000']]);
    }
    await waitForTopics(['shop.shop.carts', 'shop.shop.cart_items']);
    await createTopics([
      { topic: eventsTopic, partitions: 3 },
      { topic: snapshotsTopic, partitions: 3, compacted: true },
    ]);
    const config = parseCartsConfig({
      CIO_CDC_CART_EVENTS_TOPIC: eventsTopic,
      CIO_CDC_CART_SNAPSHOTS_TOPIC: snapshotsTopic,
      CIO_CDC_CARTS_SETTLE_MS: '1000',
    });
    const applicationId = uniqueName('test-carts');
    runtime = await startRuntime(cartsTopology(config, loadMapping(), applicationId), {
      config: testConfig(applicationId, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '500' }),
    });
    await collector.start([eventsTopic, snapshotsTopic]);
  });

  after(async () => {
    await collector.stop();
    await runtime?.stop();
    await mysql.end();
  });

  it('follows one cart from its first items to conversion', async () => {
    itemIds = await insertCart(cartId, customerId, [['SOCK-3', 2, '19.900'], ['CAP-1', 1, '10.005']]);
    // Insert of the cart and two items in one transaction: one cart_updated with both items.
    await until('the first cart_updated', () => events().length >= 1, 60_000);
    const first = events()[0]!;
    assert.equal(first.name, 'cart_updated');
    assert.equal(first.customerId, customerId);
    assert.equal(first.id, deriveEventId(['cart_updated', cartId, 1]));
    assert.deepEqual(first.data.items.map((item) => [item.sku, item.quantity, item.price]), [['CAP-1', 1, 10.005], ['SOCK-3', 2, 19.9]]);
    assert.equal(first.data.cart_total, 49.805);
    assert.equal(first.data.item_count, 3);
    assert.equal(String(first.timestamp).length, 10);
    const firstSnapshot = JSON.parse(snapshots().at(-1)!.value!) as { cart_total: string; version: number };
    assert.equal(firstSnapshot.cart_total, '49.805');
    assert.equal(firstSnapshot.version, 1);

    // A quantity change: version 2.
    await mysql.query('UPDATE cart_items SET quantity = 3 WHERE id = ?', [itemIds[0]]);
    await until('the second cart_updated', () => events().length >= 2);
    assert.equal(events()[1]!.id, deriveEventId(['cart_updated', cartId, 2]));
    assert.equal(events()[1]!.data.cart_total, 69.705);

    // Only updated_at changes: nothing.
    await mysql.query("UPDATE carts SET updated_at = '2024-07-15 14:00:00' WHERE id = ?", [cartId]);
    await sleep(3000);
    assert.equal(events().length, 2);

    // One item deleted (delete event + tombstone): cart_updated with the other item.
    await mysql.query('DELETE FROM cart_items WHERE id = ?', [itemIds[1]]);
    await until('the cart_updated after the delete', () => events().length >= 3);
    const third = events()[2]!;
    assert.equal(third.id, deriveEventId(['cart_updated', cartId, 3]));
    assert.deepEqual(third.data.items.map((item) => item.sku), ['SOCK-3']);
    assert.equal(third.data.cart_total, 59.7);

    // Checkout begins: checkout_started.
    await mysql.query("UPDATE carts SET status = 'checkout' WHERE id = ?", [cartId]);
    await until('checkout_started', () => events().length >= 4);
    assert.equal(events()[3]!.name, 'checkout_started');
    assert.equal(events()[3]!.customerId, customerId);

    // Converted: the snapshot becomes a tombstone and nothing more is emitted.
    await mysql.query("UPDATE carts SET status = 'converted' WHERE id = ?", [cartId]);
    await until('the snapshot tombstone', () => snapshots().at(-1)?.value === null);
    await mysql.query(
      "INSERT INTO cart_items (cart_id, sku, quantity, unit_price, added_at) VALUES (?, 'LATE-1', 1, 1.000, '2024-07-15 15:00:00')",
      [cartId],
    );
    await sleep(3000);
    assert.equal(events().length, 4);
  });
});
