// Real stack: the carts processor as two instances writes the same cart events and snapshots as one
// instance reading the same changes. Partitions move between the two instances twice: the second
// joins while carts wait to settle, then the first stops while carts wait again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import kafkajs from 'kafkajs';
import type { Pool } from 'mysql2/promise';
import { pino } from 'pino';

import { parseCartsConfig } from '../../processors/carts/config.ts';
import type { CartState } from '../../processors/carts/records.ts';
import { cartsTopology } from '../../processors/carts/topology.ts';
import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord } from '../../processors/customerio/records.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { createTopics, startRuntime, testConfig, uniqueName, withAdmin } from '../runtime/helpers.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';
import { Collector, until, waitForTopics } from './stack-support.ts';

const CARTS_PER_TASK = 2;
/** Long enough that every cart of a round is applied while the first ones still wait to settle. */
const SETTLE_MS = '3000';

/**
 * Returns cart ids, `CARTS_PER_TASK` for each of `taskCount` tasks, so that whichever task moves
 * carries carts. The runtime writes its repartition topics with kafkajs's Java-compatible
 * partitioner, which places a key by its murmur2 hash.
 */
function cartsCoveringTasks(taskCount: number): { carts: string[]; taskOf: (cartId: string) => number } {
  const partition = kafkajs.Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: taskCount }, (_, id) => ({ partitionId: id, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
  const taskOf = (cartId: string) => partition({ topic: 'carts-repartition', partitionMetadata, message: { key: cartId, value: null } });
  const perTask = new Map<number, string[]>();
  while ([...perTask.values()].reduce((sum, ids) => sum + ids.length, 0) < taskCount * CARTS_PER_TASK) {
    const cartId = `cart-${uniqueId()}`;
    const ids = perTask.get(taskOf(cartId)) ?? [];
    if (ids.length < CARTS_PER_TASK) perTask.set(taskOf(cartId), [...ids, cartId]);
  }
  return { carts: [...perTask.values()].flat(), taskOf };
}

interface AppOutputs {
  readonly eventsTopic: string;
  readonly snapshotsTopic: string;
}

describe('carts processor with partitions moving between two instances', () => {
  let mysql: Pool;
  const collector = new Collector();
  const runtimes: ProcessorRuntime[] = [];
  const mapping = loadMapping();

  before(async () => {
    mysql = testMysql();
    // Kafka Connect creates a table's topic on its first change, and the runtime needs its inputs.
    const warmCart = `cart-${uniqueId()}`;
    await mysql.query("INSERT INTO carts (id, status, currency, created_at, updated_at) VALUES (?, 'open', 'USD', '2024-07-15 12:00:00', '2024-07-15 12:00:00')", [warmCart]);
    await mysql.query("INSERT INTO cart_items (cart_id, sku, quantity, unit_price, added_at) VALUES (?, 'WARM-1', 1, 1.000, '2024-07-15 12:00:00')", [warmCart]);
    await waitForTopics(['shop.shop.carts', 'shop.shop.cart_items']);
  });

  after(async () => {
    await collector.stop();
    for (const runtime of runtimes) {
      await runtime.stop();
    }
    await mysql.end();
  });

  function start(applicationId: string, outputs: AppOutputs): Promise<ProcessorRuntime> {
    const config = parseCartsConfig({
      CIO_CDC_CART_EVENTS_TOPIC: outputs.eventsTopic,
      CIO_CDC_CART_SNAPSHOTS_TOPIC: outputs.snapshotsTopic,
      CIO_CDC_CARTS_SETTLE_MS: SETTLE_MS,
    });
    const runtime = startRuntime(cartsTopology(config, mapping, applicationId), {
      config: testConfig(applicationId, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '500' }),
      // Rebalances log at warn; the comparison below covers what matters.
      logger: pino({ level: 'error' }),
    });
    return runtime.then((started) => {
      runtimes.push(started);
      return started;
    });
  }

  test('two instances write the same events and snapshots as one', { timeout: 240_000 }, async () => {
    // Both inputs have the partition count of the Debezium topics, so that is the task count.
    const taskCount = await withAdmin(async (admin) => {
      const metadata = await admin.fetchTopicMetadata({ topics: ['shop.shop.carts', 'shop.shop.cart_items'] });
      return Math.max(...metadata.topics.map((topic) => topic.partitions.length));
    });
    const { carts, taskOf } = cartsCoveringTasks(taskCount);
    const customers = [uniqueId(), uniqueId()];
    const customerOf = (index: number) => customers[index % customers.length]!;
    // Carts with an even index go to checkout and are converted; the others keep changing contents.
    const checksOut = (index: number) => index % 2 === 0;
    const single: AppOutputs = { eventsTopic: uniqueName('test-cart-events-single'), snapshotsTopic: uniqueName('test-cart-snapshots-single') };
    const pair: AppOutputs = { eventsTopic: uniqueName('test-cart-events-pair'), snapshotsTopic: uniqueName('test-cart-snapshots-pair') };
    await createTopics([
      { topic: single.eventsTopic, partitions: 3 },
      { topic: single.snapshotsTopic, partitions: 3, compacted: true },
      { topic: pair.eventsTopic, partitions: 3 },
      { topic: pair.snapshotsTopic, partitions: 3, compacted: true },
    ]);
    await collector.start([single.eventsTopic, single.snapshotsTopic, pair.eventsTopic, pair.snapshotsTopic]);

    const snapshotsOf = (outputs: AppOutputs, cartId: string) =>
      collector.records.filter((record) => record.topic === outputs.snapshotsTopic && record.key === cartId).map((record) => record.value);
    const eventsOf = (outputs: AppOutputs, cartId: string) =>
      collector.records
        .filter((record) => record.topic === outputs.eventsTopic && record.value !== null)
        .map((record) => JSON.parse(record.value!) as EventRecord)
        .filter((event) => event.kind === 'event' && event.data['cart_id'] === cartId);
    /** Every round changes each cart's snapshot once, in both applications. */
    const roundPublished = (round: number) =>
      until(
        `round ${round} published by both applications`,
        () => carts.every((cartId) => snapshotsOf(single, cartId).length >= round + 1 && snapshotsOf(pair, cartId).length >= round + 1),
        60_000,
      );

    /** Cart states across the instances of the pair, from every task they own. */
    const pairStates = (instances: readonly ProcessorRuntime[]) => {
      const states = new Map<string, CartState>();
      for (const instance of instances) {
        for (const task of instance.taskIds()) {
          for (const [cartId, state] of instance.storeSnapshot(task, 'carts')) {
            states.set(cartId, state as CartState);
          }
        }
      }
      return states;
    };
    /** Waits until the pair applied a change to every cart and none of them has settled yet. */
    const pairHolding = (instances: readonly ProcessorRuntime[], what: string, applied: (state: CartState) => boolean) =>
      until(
        `the pair holding ${what} of every cart`,
        () => {
          const states = pairStates(instances);
          return carts.every((cartId) => {
            const state = states.get(cartId);
            return state !== undefined && applied(state) && state.pending !== null;
          });
        },
        30_000,
      );

    // Round 0, before any instance starts: the cart rows.
    for (const [index, cartId] of carts.entries()) {
      await mysql.query(
        "INSERT INTO carts (id, customer_id, status, currency, created_at, updated_at) VALUES (?, ?, 'open', 'USD', '2024-07-15 13:00:00', '2024-07-15 13:00:00')",
        [cartId, customerOf(index)],
      );
    }
    const singleApp = uniqueName('test-carts-single');
    const pairApp = uniqueName('test-carts-pair');
    await start(singleApp, single);
    const first = await start(pairApp, pair);
    await roundPublished(0);

    // Round 1: one item per cart. The second instance joins while the carts wait to settle.
    const itemIds: string[] = [];
    for (const cartId of carts) {
      const [result] = await mysql.query(
        "INSERT INTO cart_items (cart_id, sku, name, category, quantity, unit_price, added_at) VALUES (?, 'SOCK-3', 'Socks', 'apparel', 1, 19.900, '2024-07-15 13:01:00')",
        [cartId],
      );
      itemIds.push(String((result as { insertId: number }).insertId));
    }
    await pairHolding([first], 'the first item', (state) => Object.keys(state.items).length === 1);
    assert.equal(first.plan.taskCount, taskCount);
    for (const task of first.taskIds()) {
      const heldCarts = [...first.storeSnapshot(task, 'carts').keys()].filter((cartId) => carts.includes(cartId));
      assert.deepEqual(heldCarts.sort(), carts.filter((cartId) => taskOf(cartId) === task).sort(), `carts of task ${task}`);
    }
    const second = await start(pairApp, pair);
    await until('both instances owning tasks', () => first.taskIds().length > 0 && second.taskIds().length > 0 && first.taskIds().length + second.taskIds().length === taskCount);
    await roundPublished(1);

    // Round 2: quantities change. The first instance stops while the carts wait to settle.
    for (const itemId of itemIds) {
      await mysql.query('UPDATE cart_items SET quantity = 3 WHERE id = ?', [itemId]);
    }
    await pairHolding([first, second], 'the new quantity', (state) => Object.values(state.items)[0]?.quantity === 3);
    await first.stop();
    await until('the second instance owning every task', () => second.taskIds().length === taskCount);
    await roundPublished(2);

    // Round 3: checkout for even carts, a price change for the others.
    for (const [index, cartId] of carts.entries()) {
      if (checksOut(index)) {
        await mysql.query("UPDATE carts SET status = 'checkout', checkout_started_at = '2024-07-15 13:03:00', updated_at = '2024-07-15 13:03:00' WHERE id = ?", [cartId]);
      } else {
        await mysql.query('UPDATE cart_items SET unit_price = 17.500 WHERE id = ?', [itemIds[index]]);
      }
    }
    await roundPublished(3);

    // Round 4: even carts convert (the snapshot becomes a tombstone), the others change quantity.
    for (const [index, cartId] of carts.entries()) {
      if (checksOut(index)) {
        await mysql.query("UPDATE carts SET status = 'converted', updated_at = '2024-07-15 13:04:00' WHERE id = ?", [cartId]);
      } else {
        await mysql.query('UPDATE cart_items SET quantity = 1 WHERE id = ?', [itemIds[index]]);
      }
    }
    await roundPublished(4);
    // Late duplicates would arrive after the expected records, so give them time to show.
    await new Promise((resolve) => setTimeout(resolve, 3000));

    for (const [index, cartId] of carts.entries()) {
      const expectedSnapshots = snapshotsOf(single, cartId);
      const expectedEvents = eventsOf(single, cartId);
      assert.deepEqual(snapshotsOf(pair, cartId), expectedSnapshots, `snapshots of ${cartId}`);
      assert.deepEqual(eventsOf(pair, cartId), expectedEvents, `events of ${cartId}`);

      // The single instance's own output is what the rounds wrote.
      assert.equal(expectedSnapshots.length, 5, `snapshot count of ${cartId}`);
      const expectedIds = checksOut(index)
        ? [1, 2].map((version) => deriveEventId(['cart_updated', cartId, version]))
        : [1, 2, 3, 4].map((version) => deriveEventId(['cart_updated', cartId, version]));
      const cartUpdated = expectedEvents.filter((event) => event.name === 'cart_updated');
      assert.deepEqual(cartUpdated.map((event) => event.id), expectedIds, `cart_updated ids of ${cartId}`);
      assert.ok(expectedEvents.every((event) => event.customerId === customerOf(index)));
      const checkouts = expectedEvents.filter((event) => event.name === 'checkout_started');
      if (checksOut(index)) {
        assert.equal(checkouts.length, 1, `checkout_started of ${cartId}`);
        assert.equal(checkouts[0]!.timestamp, Date.UTC(2024, 6, 15, 13, 3, 0) / 1000);
        assert.equal(checkouts[0]!.data['item_count'], 3);
        assert.equal(expectedSnapshots.at(-1), null, `tombstone of converted ${cartId}`);
      } else {
        assert.equal(checkouts.length, 0);
        const last = JSON.parse(expectedSnapshots.at(-1)!) as { cart_total: string; item_count: number; version: number };
        assert.deepEqual([last.cart_total, last.item_count, last.version], ['17.50', 1, 4]);
        assert.equal(cartUpdated.at(-1)!.data['cart_total'], 17.5);
      }
    }
  });
});
