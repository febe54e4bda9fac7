import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TopologyError } from '../../processors/runtime/errors.ts';
import { defineProcessor, input, keyValueStore, output } from '../../processors/runtime/processor.ts';
import type { SourceMessage } from '../../processors/runtime/processor.ts';
import { planTopology, rekeyMessage } from '../../processors/runtime/repartition.ts';

interface Item {
  readonly item_id: number;
  readonly order_id: number | null;
}

async function decodeItem(message: SourceMessage): Promise<Item | null> {
  return message.value === null ? null : (JSON.parse(message.value.toString()) as Item);
}

function ordersProcessor(itemsInput: Parameters<typeof input<Item>>[0]) {
  return defineProcessor({
    name: 'orders',
    joinKey: 'order_id',
    inputs: {
      orders: input({ topic: 'orders', decode: decodeItem, keyedBy: 'order_id' }),
      items: input(itemsInput),
    },
    stores: { assemblies: keyValueStore<unknown>() },
    outputs: { events: output<unknown>('order-events') },
    process() {},
  });
}

const rekeyedItems = {
  topic: 'order_items',
  decode: decodeItem,
  keyedBy: 'item_id',
  repartition: { by: 'order_id', key: (item: Item) => item.order_id },
};

const options = { repartitionPartitions: 0 };

function topologyError(topic: string, fragment: string) {
  return (error: unknown) =>
    error instanceof TopologyError && error.topics.includes(topic) && error.message.includes(topic) && error.message.includes(fragment);
}

describe('co-partitioning check', () => {
  it('plans a re-keyed input through a repartition topic', () => {
    const plan = planTopology(ordersProcessor(rekeyedItems), 'orders', new Map([['orders', 6], ['order_items', 6]]), options);
    assert.equal(plan.taskCount, 6);
    assert.equal(plan.sources.get('order_items')?.role, 'repartition-source');
    assert.equal(plan.sources.get('orders-items-repartition')?.role, 'repartition');
    assert.deepEqual(plan.mainTopics, ['orders', 'orders-items-repartition']);
  });

  it('gives the repartition topic the inputs partition count', () => {
    const plan = planTopology(ordersProcessor(rekeyedItems), 'orders', new Map([['orders', 3], ['order_items', 8]]), options);
    const repartition = plan.internalTopics.find((spec) => spec.topic === 'orders-items-repartition');
    assert.equal(repartition?.partitions, 3);
  });

  it('plans compacted changelogs for stores and timers', () => {
    const plan = planTopology(ordersProcessor(rekeyedItems), 'orders', new Map([['orders', 3], ['order_items', 3]]), options);
    const changelogs = plan.internalTopics.filter((spec) => spec.compacted).map((spec) => spec.topic);
    assert.deepEqual(changelogs, ['orders-assemblies-changelog', 'orders-timers-changelog']);
  });

  it('rejects an input keyed by another field naming the topic', () => {
    const items = { topic: 'order_items', decode: decodeItem, keyedBy: 'item_id' };
    assert.throws(
      () => planTopology(ordersProcessor(items), 'orders', new Map([['orders', 6], ['order_items', 6]]), options),
      topologyError('order_items', "keyed by 'item_id'"),
    );
  });

  it('rejects equal partition counts with different keys', () => {
    const items = { topic: 'order_items', decode: decodeItem, keyedBy: 'item_id' };
    assert.throws(
      () => planTopology(ordersProcessor(items), 'orders', new Map([['orders', 6], ['order_items', 6]]), options),
      TopologyError,
    );
  });

  it('rejects a null-keyed input that is not re-keyed', () => {
    const items = { topic: 'order_items', decode: decodeItem, keyedBy: null };
    assert.throws(
      () => planTopology(ordersProcessor(items), 'orders', new Map([['orders', 6], ['order_items', 6]]), options),
      topologyError('order_items', 'no record key'),
    );
  });

  it('rejects re-keying by a field other than the join key', () => {
    const items = { ...rekeyedItems, repartition: { by: 'item_id', key: (item: Item) => item.item_id } };
    assert.throws(
      () => planTopology(ordersProcessor(items), 'orders', new Map([['orders', 6], ['order_items', 6]]), options),
      topologyError('order_items', "re-keyed by 'item_id'"),
    );
  });

  it('rejects different partition counts naming both topics', () => {
    const items = { topic: 'order_items', decode: decodeItem, keyedBy: 'order_id' };
    assert.throws(
      () => planTopology(ordersProcessor(items), 'orders', new Map([['orders', 6], ['order_items', 4]]), options),
      (error: unknown) =>
        error instanceof TopologyError && error.message.includes('orders has 6') && error.message.includes('order_items has 4'),
    );
  });

  it('rejects a missing input topic naming it', () => {
    assert.throws(
      () => planTopology(ordersProcessor(rekeyedItems), 'orders', new Map([['orders', 6]]), options),
      topologyError('order_items', 'does not exist'),
    );
  });

  it('rejects an existing changelog with another partition count', () => {
    const counts = new Map([['orders', 6], ['order_items', 6], ['orders-assemblies-changelog', 3]]);
    assert.throws(
      () => planTopology(ordersProcessor(rekeyedItems), 'orders', counts, options),
      topologyError('orders-assemblies-changelog', 'has 3 partitions'),
    );
  });

  it('rejects several inputs without a join key', () => {
    const definition = defineProcessor({
      name: 'twin',
      inputs: {
        a: input({ topic: 'a', decode: decodeItem, keyedBy: 'id' }),
        b: input({ topic: 'b', decode: decodeItem, keyedBy: 'id' }),
      },
      process() {},
    });
    assert.throws(() => planTopology(definition, 'twin', new Map([['a', 1], ['b', 1]]), options), /declares no joinKey/);
  });
});

describe('re-keying', () => {
  const plan = planTopology(ordersProcessor(rekeyedItems), 'orders', new Map([['orders', 3], ['order_items', 3]]), options);
  const source = plan.sources.get('order_items')!;
  const message: SourceMessage = {
    topic: 'order_items',
    partition: 2,
    offset: '17',
    key: Buffer.from('{"id":7001}'),
    value: Buffer.from('{"item_id":7001,"order_id":1001}'),
    headers: { trace: 'abc' },
    timestamp: '1720000000000',
  };

  it('keys the forwarded record by the join key', () => {
    const forwarded = rekeyMessage(source, message, { item_id: 7001, order_id: 1001 });
    assert.equal(forwarded.key, '1001');
  });

  it('forwards the original value bytes and timestamp', () => {
    const forwarded = rekeyMessage(source, message, { item_id: 7001, order_id: 1001 });
    assert.equal(forwarded.value, message.value);
    assert.equal(forwarded.timestamp, '1720000000000');
  });

  it('names the source record in headers', () => {
    const forwarded = rekeyMessage(source, message, { item_id: 7001, order_id: 1001 });
    assert.equal(forwarded.headers?.['cio-cdc-origin-topic'], 'order_items');
    assert.equal(forwarded.headers?.['cio-cdc-origin-partition'], '2');
    assert.equal(forwarded.headers?.['cio-cdc-origin-offset'], '17');
    assert.equal(forwarded.headers?.['trace'], 'abc');
  });

  it('rejects a value without a join key naming the topic', () => {
    assert.throws(
      () => rekeyMessage(source, message, { item_id: 7001, order_id: null }),
      (error: unknown) => error instanceof Error && error.message.includes('order_items') && error.message.includes("'order_id'"),
    );
  });
});

describe('processor definition', () => {
  it('rejects the reserved timers store name', () => {
    assert.throws(
      () =>
        defineProcessor({
          name: 'p',
          inputs: { a: input({ topic: 'a', decode: decodeItem, keyedBy: 'id' }) },
          stores: { timers: keyValueStore<number>() },
          process() {},
        }),
      /reserved/,
    );
  });

  it('rejects an output that writes an input topic', () => {
    assert.throws(
      () =>
        defineProcessor({
          name: 'p',
          inputs: { a: input({ topic: 'a', decode: decodeItem, keyedBy: 'id' }) },
          outputs: { loop: output<unknown>('a') },
          process() {},
        }),
      /loop/,
    );
  });

  it('rejects an input without keyedBy', () => {
    const inputs = { a: { topic: 'a', decode: decodeItem } } as unknown as Record<string, ReturnType<typeof input<Item>>>;
    assert.throws(() => defineProcessor({ name: 'p', inputs, process() {} }), /keyedBy/);
  });
});
