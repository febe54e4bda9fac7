/**
 * The transactions processor: reports to the orders processor how many items each order's
 * creating MySQL transaction inserted, from Debezium's transaction metadata.
 *
 *   shop.shop.orders       ──re-key by transaction.id──┐
 *   shop.shop.order_items  ──re-key by transaction.id──┼─▶ count ──▶ markers (cio.order-transactions,
 *   shop.transaction (END) ──re-key by id──────────────┘    │         key order id)
 *                                                          └── transactions (transaction id → counts)
 *
 * Debezium's END record counts the events of a whole transaction per table and is keyed by
 * transaction id, while the orders processor works per order id. This processor brings the data
 * events and END of one transaction into one task, counts them, and once the counts match END
 * writes {order_id, transaction_id, items} for every order the transaction inserted.
 *
 * Data events without a transaction block (snapshot reads) and BEGIN records are skipped before
 * re-keying, and so are END records that count neither table.
 */
import type { ChangeEvent, DebeziumDecoder } from '../debezium/index.ts';
import { createSourceDecoder } from '../debezium/source-format.ts';
import { columnHintsOf, topicOf } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { defineProcessor, input, keyValueStore, output } from '../runtime/index.ts';
import type { Decoder } from '../runtime/index.ts';
import type { TransactionsConfig } from './config.ts';
import type { TransactionsMetrics } from './metrics.ts';
import { TransactionsLogic } from './process.ts';
import type { TransactionsContext, TransactionsInput } from './process.ts';
import type { CountedCollection, OrderTransaction, TransactionChange, TransactionEnd, TransactionState } from './records.ts';

export interface TransactionsTopologyOptions {
  readonly config: TransactionsConfig;
  readonly mapping: Mapping;
  /** Application id (consumer group, transactional id, internal topic prefix). */
  readonly name?: string;
  readonly metrics?: TransactionsMetrics;
}

/** Debezium's transaction metadata topic of the mapping's connector: `<topicPrefix>.transaction`. */
export function metadataTopicOf(mapping: Mapping): string {
  return `${mapping.source.topicPrefix}.transaction`;
}

function keyText(value: unknown): string | null {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string' && value !== '') return value;
  return null;
}

function changeDecoder(
  decoder: DebeziumDecoder,
  collection: CountedCollection,
  orderIdColumn: string,
  metrics: TransactionsMetrics | undefined,
): Decoder<TransactionChange> {
  return async (message, context) => {
    if (message.value === null) return null;
    // Rows carry their ids, and a re-keyed record's key is the transaction id text.
    const decoded = await decoder.decode({ ...message, key: null });
    if (decoded.kind === 'tombstone' || decoded.op === 'truncate') return null;
    if (decoded.transaction === null) {
      // Counted once: such a record is skipped at its source topic and never re-keyed.
      if (context.role !== 'repartition') metrics?.countUntracked(collection);
      return null;
    }
    const row = decoded.after ?? decoded.before;
    return {
      kind: 'change',
      collection,
      transactionId: decoded.transaction.id,
      totalOrder: decoded.transaction.totalOrder,
      inserted: decoded.op === 'create',
      orderId: keyText(row?.[orderIdColumn]),
      committedAtMs: decoded.source.tsMs,
    };
  };
}

function endDecoder(decoder: DebeziumDecoder, collections: Readonly<Record<CountedCollection, string>>): Decoder<TransactionEnd> {
  return async (message) => {
    if (message.value === null) return null;
    const marker = await decoder.decodeTransactionMarker(message);
    if (marker.kind === 'tombstone' || marker.status === 'BEGIN') return null;
    const countOf = (name: string) => marker.dataCollections.find((entry) => entry.dataCollection === name)?.eventCount ?? 0;
    const expected = { orders: countOf(collections.orders), order_items: countOf(collections.order_items) };
    if (expected.orders === 0 && expected.order_items === 0) return null;
    return { kind: 'end', transactionId: marker.id, expected, committedAtMs: marker.tsMs };
  };
}

export function transactionsTopology({ config, mapping, name = 'cio-cdc-transactions', metrics }: TransactionsTopologyOptions) {
  const logic = new TransactionsLogic({ expiryMs: config.expiryMs, onDropped: (reason) => metrics?.countDropped(reason) });
  const decoder = createSourceDecoder(config.source, { datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) });
  const orders = mapping.tables.orders;
  const items = mapping.tables.orderItems;
  // END names each table `<database>.<table>`.
  const collections = {
    orders: `${mapping.source.database}.${orders.table}`,
    order_items: `${mapping.source.database}.${items.table}`,
  };
  const byTransaction = { by: 'transaction_id', key: (value: { transactionId: string }) => value.transactionId };

  return defineProcessor({
    name,
    joinKey: 'transaction_id',
    inputs: {
      orders: input<TransactionChange>({
        topic: topicOf(mapping, 'orders'),
        decode: changeDecoder(decoder, 'orders', orders.columns.id ?? 'id', metrics),
        keyedBy: 'orders primary key struct',
        repartition: byTransaction,
        eventTime: (value) => value.committedAtMs,
      }),
      order_items: input<TransactionChange>({
        topic: topicOf(mapping, 'orderItems'),
        decode: changeDecoder(decoder, 'order_items', items.columns.orderId ?? 'order_id', metrics),
        keyedBy: 'orderItems primary key struct',
        repartition: byTransaction,
        eventTime: (value) => value.committedAtMs,
      }),
      metadata: input<TransactionEnd>({
        topic: config.metadataTopic ?? metadataTopicOf(mapping),
        decode: endDecoder(decoder, collections),
        keyedBy: 'transaction id struct',
        repartition: byTransaction,
        eventTime: (value) => value.committedAtMs,
      }),
    },
    stores: {
      transactions: keyValueStore<TransactionState>(),
    },
    outputs: {
      markers: output<OrderTransaction>(config.outputTopic),
    },
    process(record, ctx) {
      logic.process(record as unknown as TransactionsInput, ctx as unknown as TransactionsContext);
    },
    onTimer(timer, ctx) {
      logic.onTimer(timer, ctx as unknown as TransactionsContext);
    },
  });
}
