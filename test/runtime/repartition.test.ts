// Re-keying through a repartition topic: order items keyed by their own id meet
// their order on the task that owns the order. The start-up check refuses inputs
// that are not co-partitioned and names the topic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TopologyError } from '../../processors/runtime/errors.ts';
import { defineProcessor, input, keyValueStore, output } from '../../processors/runtime/processor.ts';
import type { SourceMessage } from '../../processors/runtime/processor.ts';
import { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import {
  committedOffsets,
  createTopics,
  produce,
  readTopic,
  startRuntime,
  testConfig,
  uniqueName,
  withAdmin,
} from './helpers.ts';

interface Order {
  readonly order_id: number;
  readonly item_count: number;
}

interface Item {
  readonly item_id: number;
  readonly order_id: number | null;
  readonly sku: string;
}

interface Assembly {
  readonly order: Order | null;
  readonly items: Item[];
}

async function decodeJson<T>(message: SourceMessage): Promise<T | null> {
  return message.value === null ? null : (JSON.parse(message.value.toString('utf8')) as T);
}

function joinProcessor(topics: { orders: string; items: string; completed: string }, name: string, itemsRekeyed = true) {
  return defineProcessor({
    name,
    joinKey: 'order_id',
    inputs: {
      orders: input<Order>({ topic: topics.orders, decode: decodeJson<Order>, keyedBy: 'order_id' }),
      items: input<Item>({
        topic: topics.items,
        decode: decodeJson<Item>,
        keyedBy: 'item_id',
        ...(itemsRekeyed ? { repartition: { by: 'order_id', key: (item: Item) => item.order_id } } : {}),
      }),
    },
    stores: { assemblies: keyValueStore<Assembly>() },
    outputs: { completed: output<{ order_id: number; items: number[]; task: number }>(topics.completed) },
    process(record, ctx) {
      const store = ctx.store('assemblies');
      const orderId = record.input === 'orders' ? record.value.order_id : record.value.order_id!;
      const current = store.get(String(orderId)) ?? { order: null, items: [] };
      const next: Assembly =
        record.input === 'orders'
          ? { order: record.value, items: current.items }
          : { order: current.order, items: [...current.items, record.value] };
      if (next.order !== null && next.items.length === next.order.item_count) {
        ctx.emit('completed', {
          key: String(orderId),
          value: { order_id: orderId, items: next.items.map((item) => item.item_id).sort((a, b) => a - b), task: ctx.task },
        });
        store.delete(String(orderId));
      } else {
        store.put(String(orderId), next);
      }
    },
  });
}

const ORDERS = 30;
const PARTITIONS = 3;

function itemsOf(orderId: number): Item[] {
  const count = 2 + (orderId % 2);
  return Array.from({ length: count }, (_, index) => ({ item_id: orderId * 10 + index, order_id: orderId, sku: `sku-${index}` }));
}

describe('repartition join', () => {
  it('meets items and their order on one task', async () => {
    const topics = { orders: uniqueName('orders'), items: uniqueName('items'), completed: uniqueName('completed') };
    const app = uniqueName('join-app');
    await createTopics([
      { topic: topics.orders, partitions: PARTITIONS },
      { topic: topics.items, partitions: PARTITIONS },
    ]);
    // Items first for half the orders, keyed by item id as Debezium keys them.
    const orderIds = Array.from({ length: ORDERS }, (_, index) => 1001 + index);
    const items = orderIds.flatMap(itemsOf).map((item) => ({ key: String(item.item_id), value: JSON.stringify(item) }));
    const orders = orderIds.map((id) => ({ key: String(id), value: JSON.stringify({ order_id: id, item_count: itemsOf(id).length }) }));
    await produce(topics.items, items.slice(0, items.length / 2));
    await produce(topics.orders, orders);
    await produce(topics.items, items.slice(items.length / 2));

    const runtime = await startRuntime(joinProcessor(topics, app), { config: testConfig(app) });
    try {
      const completed = await readTopic(topics.completed, { expected: ORDERS });
      const orderRecords = await readTopic(topics.orders, { expected: ORDERS });
      const orderPartition = new Map(orderRecords.map((record) => [Number(record.key), record.partition]));
      const itemRecords = await readTopic(topics.items, { expected: items.length });
      const itemPartitions = new Set(itemRecords.map((record) => record.partition));

      assert.equal(completed.length, ORDERS);
      assert.ok(itemPartitions.size > 1, 'items all landed on one partition, so the test shows nothing');
      for (const record of completed) {
        const value = JSON.parse(record.value!) as { order_id: number; items: number[]; task: number };
        assert.deepEqual(value.items, itemsOf(value.order_id).map((item) => item.item_id), `order ${value.order_id} misses items`);
        assert.equal(value.task, orderPartition.get(value.order_id), `order ${value.order_id} completed on another task than its order`);
      }

      const repartitionTopic = `${app}-items-repartition`;
      const metadata = await withAdmin((admin) => admin.fetchTopicMetadata({ topics: [repartitionTopic] }));
      assert.equal(metadata.topics[0]?.partitions.length, PARTITIONS);
      const forwarded = await readTopic(repartitionTopic, { expected: items.length });
      assert.equal(forwarded.length, items.length);
      for (const record of forwarded) {
        const item = JSON.parse(record.value!) as Item;
        assert.equal(record.key, String(item.order_id));
        assert.equal(record.headers['cio-cdc-origin-topic'], topics.items);
      }
    } finally {
      await runtime.stop();
    }
  });

  it('dead-letters items without a join key', async () => {
    const topics = { orders: uniqueName('orders'), items: uniqueName('items'), completed: uniqueName('completed') };
    const app = uniqueName('join-null-app');
    await createTopics([
      { topic: topics.orders, partitions: PARTITIONS },
      { topic: topics.items, partitions: PARTITIONS },
    ]);
    await produce(topics.items, [{ key: '9', value: JSON.stringify({ item_id: 9, order_id: null, sku: 'orphan' }) }]);
    // An order record without a key: its partition does not follow its order id.
    await produce(topics.orders, [{ key: null, value: JSON.stringify({ order_id: 77, item_count: 0 }) }]);

    const runtime = await startRuntime(joinProcessor(topics, app), { config: testConfig(app) });
    try {
      const dead = await readTopic(`${app}-dlq`, { expected: 2 });
      const byTopic = new Map(dead.map((record) => [record.headers['cio-cdc-dlq-source-topic'], record]));
      const orphan = byTopic.get(topics.items);
      const unkeyed = byTopic.get(topics.orders);
      assert.equal(orphan?.headers['cio-cdc-dlq-stage'], 'repartition');
      assert.ok(orphan?.headers['cio-cdc-dlq-error-message']?.includes(topics.items), 'message does not name the items topic');
      assert.equal(unkeyed?.headers['cio-cdc-dlq-stage'], 'process');
      assert.ok(unkeyed?.headers['cio-cdc-dlq-error-message']?.includes(topics.orders), 'message does not name the orders topic');
      assert.ok(unkeyed?.headers['cio-cdc-dlq-error-message']?.includes('null key'), 'message does not say the key is null');
    } finally {
      await runtime.stop();
    }
    const committed = await committedOffsets(app, topics.items);
    assert.equal([...committed.values()].reduce((sum, offset) => sum + Math.max(0, Number(offset)), 0), 1);
  });

  it('refuses an input keyed by another field', async () => {
    const topics = { orders: uniqueName('orders'), items: uniqueName('items'), completed: uniqueName('completed') };
    const app = uniqueName('join-refused-app');
    await createTopics([
      { topic: topics.orders, partitions: PARTITIONS },
      { topic: topics.items, partitions: PARTITIONS },
    ]);
    const runtime = new ProcessorRuntime(joinProcessor(topics, app, false), { config: testConfig(app) });
    await assert.rejects(
      runtime.start(),
      (error: unknown) =>
        error instanceof TopologyError && error.message.includes(topics.items) && error.message.includes("keyed by 'item_id'"),
    );
  });

  it('refuses inputs with different partition counts', async () => {
    const topics = { orders: uniqueName('orders'), items: uniqueName('items'), completed: uniqueName('completed') };
    const app = uniqueName('join-counts-app');
    await createTopics([
      { topic: topics.orders, partitions: PARTITIONS },
      { topic: topics.items, partitions: PARTITIONS + 1 },
    ]);
    const definition = defineProcessor({
      name: app,
      joinKey: 'order_id',
      inputs: {
        orders: input({ topic: topics.orders, decode: decodeJson<Order>, keyedBy: 'order_id' }),
        items: input({ topic: topics.items, decode: decodeJson<Item>, keyedBy: 'order_id' }),
      },
      process() {},
    });
    const runtime = new ProcessorRuntime(definition, { config: testConfig(app) });
    await assert.rejects(
      runtime.start(),
      (error: unknown) =>
        error instanceof TopologyError &&
        error.message.includes(`${topics.orders} has ${PARTITIONS}`) &&
        error.message.includes(`${topics.items} has ${PARTITIONS + 1}`),
    );
  });
});
