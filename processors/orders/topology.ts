/**
 * The orders processor: order rows, their items, fulfillments, refunds and
 * subscriptions in; order events out, keyed by customer id.
 *
 *   shop.shop.orders        ──re-key by id──────────────┐
 *   shop.shop.order_items   ──re-key by order_id────────┤
 *   shop.shop.fulfillments  ──re-key by order_id────────┤   process ──▶ events (cio.order-events)
 *   shop.shop.refunds       ──re-key by order_id,       ├─▶   │
 *                             else customer:<id>────────┤     ├── orders         (order id → assembly)
 *   shop.shop.subscriptions ──re-key by subscription:<id>┘    ├── refunds        (refund id → handled)
 *                                                             ├── subscriptions  (subscription:<id> → events sent)
 *                                                             ├── watermarks     (input → event time reached)
 *                                                             ├── gated          (order id → deadline the items input must reach)
 *                                                             ├── waiting        (order id → wall-clock fallback waiting since)
 *                                                             └── pending        (order id → event time of its order_placed)
 *   punctuate, every ORDERS_PROGRESS_INTERVAL_MS ──▶ a progress record to every partition of
 *                                                     events when the task's progress changed
 *   cio.order-transactions  ──keyed by order id──────── (with transaction metadata on: the creating
 *                                                        transaction of an order and its item count,
 *                                                        from processors/transactions)
 *
 * Every Debezium topic is keyed by its own table's primary key, so every input is
 * re-keyed through the runtime's repartition topics before the join (joinKey order_id).
 * Refunds without an order and subscriptions get synthetic keys of their own: all
 * records of one such key still meet in one task, which is all their state needs.
 */
import type { ChangeEvent } from '../debezium/envelope.ts';
import { createSourceDecoder } from '../debezium/source-format.ts';
import { changeEventDecoder } from '../mapping/change-decoder.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { columnHintsOf, topicOf } from '../mapping/mapping.ts';
import type { ProgressRecord } from '../progress/records.ts';
import { reportProgress } from '../progress/reporter.ts';
import type { ProgressContext, ProgressState } from '../progress/reporter.ts';
import { defineProcessor, input, keyValueStore, output } from '../runtime/index.ts';
import { parseOrderTransaction } from '../transactions/records.ts';
import type { OrderTransaction } from '../transactions/records.ts';
import type { OrdersConfig } from './config.ts';
import { OrdersLogic } from './process.ts';
import type { OrdersContext, OrdersInput } from './process.ts';
import type { EventRecord, OrderState, RefundSeen, SubscriptionState } from './records.ts';

export interface OrdersTopologyOptions {
  readonly config: OrdersConfig;
  readonly mapping: Mapping;
  /** Application id (consumer group, transactional id, internal topic prefix). */
  readonly name?: string;
  readonly onGuestSkipped?: (what: string) => void;
  /** Called once per order whose wall-clock fallback waits for the items input to be caught up. */
  readonly onCompletionWait?: () => void;
}

export function ordersTopology({ config, mapping, name = 'cio-cdc-orders', onGuestSkipped, onCompletionWait }: OrdersTopologyOptions) {
  const transactionsTopic = config.transactionMetadata ? config.transactionsTopic : null;
  const logic = new OrdersLogic({
    mapping,
    graceMs: config.graceMs,
    transactionMetadata: transactionsTopic !== null,
    ...(onGuestSkipped ? { onGuestSkipped } : {}),
    ...(onCompletionWait ? { onCompletionWait } : {}),
  });
  const decoder = createSourceDecoder(config.source, { datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) });

  // Change events only: tombstones and truncates carry no row to join and are skipped.
  // A record missing a column the mapping requires is dead-lettered (see change-decoder.ts).
  const decode = changeEventDecoder(mapping, decoder);
  const eventTime = (event: ChangeEvent) => event.source.tsMs;
  const debezium = (role: Parameters<typeof topicOf>[1], by: (event: ChangeEvent) => string | null) =>
    input<ChangeEvent>({
      topic: topicOf(mapping, role),
      decode,
      keyedBy: `${role} primary key struct`,
      repartition: { by: 'order_id', key: by },
      eventTime,
    });

  const inputs = {
    orders: debezium('orders', (event) => logic.orderKey(event)),
    order_items: debezium('orderItems', (event) => logic.itemOrderKey(event)),
    ...(mapping.tables.fulfillments ? { fulfillments: debezium('fulfillments', (event) => logic.fulfillmentOrderKey(event)) } : {}),
    ...(mapping.tables.refunds ? { refunds: debezium('refunds', (event) => logic.refundKey(event)) } : {}),
    ...(mapping.tables.subscriptions ? { subscriptions: debezium('subscriptions', (event) => logic.subscriptionKey(event)) } : {}),
    // Written by the transactions processor with the runtime's partitioner, keyed by order id, so
    // it is co-partitioned with the re-keyed inputs when it has the same partition count.
    ...(transactionsTopic !== null
      ? {
          transactions: input<OrderTransaction>({
            topic: transactionsTopic,
            decode: async (message) =>
              message.value === null ? null : parseOrderTransaction(message.value, { ...message, key: message.key?.toString('utf8') ?? null }),
            keyedBy: 'order_id',
            eventTime: (marker) => marker.committed_at_ms,
          }),
        }
      : {}),
  };

  return defineProcessor({
    name,
    joinKey: 'order_id',
    inputs,
    stores: {
      orders: keyValueStore<OrderState>(),
      refunds: keyValueStore<RefundSeen>(),
      subscriptions: keyValueStore<SubscriptionState>(),
      watermarks: keyValueStore<number>(),
      gated: keyValueStore<number>(),
      waiting: keyValueStore<number>(),
      pending: keyValueStore<number>(),
      progress: keyValueStore<ProgressState>(),
    },
    outputs: {
      events: output<EventRecord | ProgressRecord>(config.outputTopic),
    },
    process(record, ctx) {
      logic.process(record as unknown as OrdersInput, ctx as unknown as OrdersContext);
    },
    onTimer(timer, ctx) {
      return logic.onTimer(timer, ctx as unknown as OrdersContext);
    },
    ...(config.progressIntervalMs > 0
      ? {
          punctuate: {
            intervalMs: config.progressIntervalMs,
            run: (ctx) => {
              const stores = ctx as unknown as OrdersContext;
              return reportProgress(ctx as unknown as ProgressContext, 'events', Object.keys(inputs), {
                pending: stores.store('pending'),
                progress: stores.store('progress'),
              });
            },
          },
        }
      : {}),
  });
}
