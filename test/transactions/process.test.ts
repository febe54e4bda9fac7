// The transactions processor's counting, driven without Kafka: in-memory stores, event-time
// timers fired as the runtime fires them, and the topology's decoders on Debezium JSON.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { pino } from 'pino';
import promClient from 'prom-client';

import { stringifyExact } from '../../processors/debezium/json.ts';
import type { DecodeContext, SourceMessage } from '../../processors/runtime/processor.ts';
import type { SourceRole } from '../../processors/runtime/repartition.ts';
import { loadTransactionsConfig } from '../../processors/transactions/config.ts';
import { TransactionsMetrics } from '../../processors/transactions/metrics.ts';
import { TransactionsLogic, addToRanges } from '../../processors/transactions/process.ts';
import type { DropReason, TransactionsContext, TransactionsInputName, TransactionsStores } from '../../processors/transactions/process.ts';
import { parseOrderTransaction } from '../../processors/transactions/records.ts';
import type { CountedCollection, OrderTransaction, TransactionRecord, TransactionState } from '../../processors/transactions/records.ts';
import { transactionsTopology } from '../../processors/transactions/topology.ts';
import { MemoryStore, defaultMapping } from '../orders/harness.ts';

// 2024-07-15 10:00:00 UTC
const T0 = 1721037600000;
const EXPIRY_MS = 600_000;

class TransactionsHarness {
  readonly logic: TransactionsLogic;
  readonly store = new MemoryStore<TransactionState>('transactions');
  readonly emitted: { key: string; value: OrderTransaction; timestampMs?: number }[] = [];
  readonly dropped: DropReason[] = [];
  private readonly timers = new Map<string, number>();
  private streamTimeMs: number | null = null;
  private offset = 0;

  constructor() {
    this.logic = new TransactionsLogic({ expiryMs: EXPIRY_MS, onDropped: (reason) => this.dropped.push(reason) });
  }

  private context(): TransactionsContext {
    return {
      log: pino({ level: 'silent' }),
      store: <K extends keyof TransactionsStores>(_name: K) => this.store as unknown as TransactionsStores[K],
      emit: (_output, record) => {
        this.emitted.push(record);
      },
      schedule: (timer) => {
        this.timers.set(timer.key, timer.deadlineMs);
      },
      cancel: (_kind, key) => this.timers.delete(key),
    };
  }

  /** Advances stream time (firing due timers first, as the runtime does), then processes. */
  feed(value: TransactionRecord, eventTimeMs = value.committedAtMs ?? T0): void {
    const input: TransactionsInputName = value.kind === 'end' ? 'metadata' : value.collection;
    if (this.streamTimeMs === null || eventTimeMs > this.streamTimeMs) {
      this.streamTimeMs = eventTimeMs;
      for (const [key, deadlineMs] of [...this.timers].sort((a, b) => a[1] - b[1])) {
        if (deadlineMs > eventTimeMs) continue;
        this.timers.delete(key);
        this.logic.onTimer({ kind: 'event-time', key }, this.context());
      }
    }
    this.logic.process(
      { input, topic: `repartition-${input}`, partition: 0, offset: String(this.offset++), key: Buffer.from(value.transactionId), value, eventTimeMs },
      this.context(),
    );
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}

function orderInsert(transactionId: string, totalOrder: number, orderId: string, atMs = T0): TransactionRecord {
  return { kind: 'change', collection: 'orders', transactionId, totalOrder, inserted: true, orderId, committedAtMs: atMs };
}

function itemChange(transactionId: string, totalOrder: number, orderId: string, inserted = true, atMs = T0): TransactionRecord {
  return { kind: 'change', collection: 'order_items', transactionId, totalOrder, inserted, orderId, committedAtMs: atMs };
}

function end(transactionId: string, orders: number, items: number, atMs = T0): TransactionRecord {
  return { kind: 'end', transactionId, expected: { orders, order_items: items }, committedAtMs: atMs };
}

describe('transactions › total_order ranges', () => {
  test('adds values and merges neighbours', () => {
    let ranges = addToRanges([], 5)!;
    assert.deepEqual(ranges, [[5, 5]]);
    ranges = addToRanges(ranges, 7)!;
    assert.deepEqual(ranges, [[5, 5], [7, 7]]);
    ranges = addToRanges(ranges, 6)!;
    assert.deepEqual(ranges, [[5, 7]]);
    ranges = addToRanges(ranges, 1)!;
    assert.deepEqual(ranges, [[1, 1], [5, 7]]);
    ranges = addToRanges(ranges, 4)!;
    assert.deepEqual(ranges, [[1, 1], [4, 7]]);
    ranges = addToRanges(ranges, 8)!;
    assert.deepEqual(ranges, [[1, 1], [4, 8]]);
  });

  test('returns null for a value already in a range', () => {
    const ranges: [number, number][] = [[1, 3], [6, 9]];
    for (const value of [1, 2, 3, 6, 9]) {
      assert.equal(addToRanges(ranges, value), null, `value ${value}`);
    }
    assert.deepEqual(addToRanges(ranges, 4), [[1, 4], [6, 9]]);
  });
});

describe('transactions › counting', () => {
  test('order with two items gives one marker', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-7', 1, '1014'));
    h.feed(itemChange('0-1-7', 2, '1014'));
    assert.equal(h.emitted.length, 0, 'no marker before END');
    h.feed(itemChange('0-1-7', 3, '1014'));
    h.feed(end('0-1-7', 1, 2, T0 + 400));

    assert.deepEqual(h.emitted, [
      // END's ts_ms is the commit time the marker carries.
      { key: '1014', value: { order_id: '1014', transaction_id: '0-1-7', items: 2, committed_at_ms: T0 + 400 }, timestampMs: T0 + 400 },
    ]);
    assert.equal(h.store.get('0-1-7')?.status, 'closed');
  });

  test('END before the data events', () => {
    const h = new TransactionsHarness();
    h.feed(end('0-1-8', 1, 2));
    h.feed(itemChange('0-1-8', 3, '1015'));
    h.feed(orderInsert('0-1-8', 1, '1015'));
    assert.equal(h.emitted.length, 0);
    h.feed(itemChange('0-1-8', 2, '1015'));
    assert.deepEqual(h.emitted.map((record) => record.value), [{ order_id: '1015', transaction_id: '0-1-8', items: 2, committed_at_ms: T0 }]);
  });

  test('two orders get their own counts', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-9', 1, '2002'));
    h.feed(orderInsert('0-1-9', 2, '2001'));
    h.feed(itemChange('0-1-9', 3, '2001'));
    h.feed(itemChange('0-1-9', 4, '2002'));
    h.feed(itemChange('0-1-9', 5, '2002'));
    h.feed(itemChange('0-1-9', 6, '2002'));
    h.feed(end('0-1-9', 2, 4));
    assert.deepEqual(h.emitted.map((record) => [record.key, record.value.items]), [
      ['2001', 1],
      ['2002', 3],
    ]);
  });

  test('order without items gets zero items', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-10', 1, '1016'));
    h.feed(end('0-1-10', 1, 0));
    assert.deepEqual(h.emitted.map((record) => record.value), [{ order_id: '1016', transaction_id: '0-1-10', items: 0, committed_at_ms: T0 }]);
  });

  test('items of an older order give no marker', () => {
    const h = new TransactionsHarness();
    h.feed(itemChange('0-1-11', 1, '1016'));
    h.feed(itemChange('0-1-11', 2, '1016'));
    h.feed(end('0-1-11', 0, 2));
    assert.deepEqual(h.emitted, []);
    assert.equal(h.store.get('0-1-11')?.status, 'closed');
  });

  test('updated items count for END only', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-12', 1, '1017'));
    h.feed(itemChange('0-1-12', 2, '1017', true));
    h.feed(itemChange('0-1-12', 3, '1017', false));
    h.feed(end('0-1-12', 1, 2));
    assert.deepEqual(h.emitted.map((record) => record.value.items), [1]);
  });

  test('repeated event is counted once', () => {
    const h = new TransactionsHarness();
    h.feed(end('0-1-13', 1, 2));
    h.feed(orderInsert('0-1-13', 1, '1018'));
    h.feed(itemChange('0-1-13', 2, '1018'));
    // A connector restart emits the same event again: same transaction, same total_order.
    h.feed(itemChange('0-1-13', 2, '1018'));
    assert.equal(h.emitted.length, 0, 'the repeat does not stand in for the missing item');
    assert.deepEqual(h.store.get('0-1-13')?.counts, { orders: 1, order_items: 1 });

    h.feed(itemChange('0-1-13', 3, '1018'));
    assert.deepEqual(h.emitted.map((record) => record.value.items), [2]);
  });

  test('repeats after closing are ignored', () => {
    const h = new TransactionsHarness();
    const records = [orderInsert('0-1-14', 1, '1019'), itemChange('0-1-14', 2, '1019'), end('0-1-14', 1, 1)];
    for (const record of records) h.feed(record);
    assert.equal(h.emitted.length, 1);
    for (const record of records) h.feed(record);
    assert.equal(h.emitted.length, 1, 'no second marker');
    assert.deepEqual(h.dropped, []);
  });

  test('over-count drops the transaction', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-15', 1, '1020'));
    h.feed(itemChange('0-1-15', 2, '1020'));
    h.feed(itemChange('0-1-15', 3, '1020'));
    h.feed(end('0-1-15', 1, 1));
    assert.deepEqual(h.emitted, []);
    assert.deepEqual(h.dropped, ['overcounted']);
    assert.equal(h.store.get('0-1-15')?.status, 'closed');
  });
});

describe('transactions › expiry', () => {
  test('incomplete transaction expires with a drop', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-20', 1, '1030'));
    h.feed(end('0-1-20', 1, 2));
    h.feed(orderInsert('0-1-21', 1, '1031', T0 + EXPIRY_MS - 1));
    assert.ok(h.store.get('0-1-20'), 'kept until the expiry');
    assert.deepEqual(h.dropped, []);

    h.feed(orderInsert('0-1-22', 1, '1032', T0 + EXPIRY_MS));
    assert.equal(h.store.get('0-1-20'), undefined);
    assert.deepEqual(h.dropped, ['expired']);
    assert.deepEqual(h.emitted, []);
  });

  test('closed transaction expires silently', () => {
    const h = new TransactionsHarness();
    h.feed(orderInsert('0-1-23', 1, '1033'));
    h.feed(end('0-1-23', 1, 0));
    assert.equal(h.emitted.length, 1);
    h.feed(orderInsert('0-1-24', 1, '1034', T0 + EXPIRY_MS));
    assert.equal(h.store.get('0-1-23'), undefined);
    assert.deepEqual(h.dropped, []);
    assert.equal(h.pendingTimers(), 1, 'only the new transaction has a timer');
  });
});

function decodeContext(role: SourceRole): DecodeContext {
  return { log: pino({ level: 'silent' }), registry: new promClient.Registry(), role };
}

function message(topic: string, value: unknown): SourceMessage {
  return { topic, partition: 0, offset: '0', key: null, value: Buffer.from(stringifyExact(value)), headers: {}, timestamp: String(T0) };
}

function itemEnvelope(transaction: Record<string, unknown> | null, op = 'c'): Record<string, unknown> {
  return {
    before: null,
    after: { id: 7020, order_id: 1014, sku: 'SOCK-3', variant_id: null, name: null, category: null, quantity: 2, unit_price: 'B8w=' },
    source: { connector: 'mariadb', db: 'shop', table: 'order_items', ts_ms: T0, snapshot: op === 'r' ? 'true' : 'false', file: 'mariadb-bin.000003', pos: 4471, row: 0 },
    op,
    ts_ms: T0 + 50,
    ...(transaction === null ? {} : { transaction }),
  };
}

describe('transactions › decoding', () => {
  const metrics = new TransactionsMetrics();
  const topology = transactionsTopology({ config: loadTransactionsConfig({}), mapping: defaultMapping, name: 'transactions-unit', metrics });

  test('reads the topics the mapping names', () => {
    assert.deepEqual(
      Object.values(topology.inputs).map((entry) => entry.topic),
      ['shop.shop.orders', 'shop.shop.order_items', 'shop.transaction'],
    );
    assert.equal(topology.outputs?.markers.topic, 'cio.order-transactions');
  });

  test('item change of an order', async () => {
    const decoded = await topology.inputs.order_items.decode(
      message('shop.shop.order_items', itemEnvelope({ id: '0-1-7', total_order: 3, data_collection_order: 2 })),
      decodeContext('repartition-source'),
    );
    assert.deepEqual(decoded, {
      kind: 'change',
      collection: 'order_items',
      transactionId: '0-1-7',
      totalOrder: 3,
      inserted: true,
      orderId: '1014',
      committedAtMs: T0,
    });
  });

  test('change without transaction block is skipped', async () => {
    const before = (await metrics.untracked.get()).values.find((entry) => entry.labels.table === 'order_items')?.value ?? 0;
    const decoded = await topology.inputs.order_items.decode(message('shop.shop.order_items', itemEnvelope(null, 'r')), decodeContext('repartition-source'));
    assert.equal(decoded, null);
    const after = (await metrics.untracked.get()).values.find((entry) => entry.labels.table === 'order_items')?.value ?? 0;
    assert.equal(after - before, 1);
  });

  test('END keeps the orders tables only', async () => {
    const decoded = await topology.inputs.metadata.decode(
      message('shop.transaction', {
        status: 'END',
        id: '0-1-7',
        event_count: 4,
        data_collections: [
          { data_collection: 'shop.order_items', event_count: 2 },
          { data_collection: 'shop.orders', event_count: 1 },
          { data_collection: 'shop.customers', event_count: 1 },
        ],
        ts_ms: T0,
      }),
      decodeContext('repartition-source'),
    );
    const expected: Record<CountedCollection, number> = { orders: 1, order_items: 2 };
    assert.deepEqual(decoded, { kind: 'end', transactionId: '0-1-7', expected, committedAtMs: T0 });
  });

  test('BEGIN and unrelated END are skipped', async () => {
    const context = decodeContext('repartition-source');
    const begin = { status: 'BEGIN', id: '0-1-7', event_count: null, data_collections: null, ts_ms: T0 };
    assert.equal(await topology.inputs.metadata.decode(message('shop.transaction', begin), context), null);
    const other = { status: 'END', id: '0-1-8', event_count: 1, data_collections: [{ data_collection: 'shop.customers', event_count: 1 }], ts_ms: T0 };
    assert.equal(await topology.inputs.metadata.decode(message('shop.transaction', other), context), null);
  });
});

describe('transactions › order-transaction records', () => {
  const coordinates = { topic: 'cio.order-transactions', partition: 1, offset: '42', key: '1014' };

  test('parses a written record', () => {
    const value = { order_id: '1014', transaction_id: '0-1-7', items: 2, committed_at_ms: T0 };
    assert.deepEqual(parseOrderTransaction(Buffer.from(JSON.stringify(value)), coordinates), value);
  });

  test('rejects an invalid record', () => {
    const bad = Buffer.from(JSON.stringify({ order_id: '1014', transaction_id: '0-1-7', items: -1 }));
    assert.throws(() => parseOrderTransaction(bad, coordinates), /items must be a whole number >= 0 \(topic cio\.order-transactions partition 1 offset 42 key 1014\)/);
    const otherKey = Buffer.from(JSON.stringify({ order_id: '1015', transaction_id: '0-1-7', items: 1, committed_at_ms: null }));
    assert.throws(() => parseOrderTransaction(otherKey, coordinates), /record key "1014" differs from order_id "1015"/);
  });
});
