/**
 * Logic of the transactions processor: it counts the orders and order_items events of each MySQL
 * transaction. Once the counts equal those of the transaction's END record, it writes one
 * order-transaction record per order the transaction inserted. The record carries the number of
 * that order's items the transaction inserted.
 *
 * It uses the runtime only through `TransactionsContext`, so tests drive it without Kafka.
 *
 * Rules:
 * 1. Events are counted once per `transaction.total_order`. Debezium emits events again after a
 *    connector restart with the same transaction id and total_order, so a repeat is not counted.
 * 2. END and the data events come from different topics and arrive in any order. A transaction
 *    is complete when END has arrived and the counted events of both tables equal END's counts.
 * 3. A complete transaction is closed: its counts are dropped, and the closed entry stays until
 *    it expires, so that a repeat of any of its records is ignored rather than counted anew.
 * 4. Counts above END's (which a correct source never produces) close the transaction without
 *    output. A transaction still open `expiryMs` of event time after its first record is dropped.
 *    Both cases log a warning and count in a metric; the orders processor then falls back to its
 *    grace period for the orders of that transaction.
 */
import type { Logger } from 'pino';

import type { KeyValueStore, TimerKind, TimerRequest } from '../runtime/processor.ts';
import { COUNTED_COLLECTIONS } from './records.ts';
import type { CountedCollection, OrderInTransaction, OrderTransaction, TransactionRecord, TransactionState } from './records.ts';

export type TransactionsInputName = 'orders' | 'order_items' | 'metadata';

/** Reason a transaction was dropped without output. */
export type DropReason = 'expired' | 'overcounted';

/** One decoded input record, as the runtime hands it to `process`. */
export interface TransactionsInput {
  readonly input: TransactionsInputName;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: TransactionRecord;
  readonly eventTimeMs: number;
}

export interface TransactionsStores {
  transactions: KeyValueStore<TransactionState>;
}

/** The part of the runtime's ProcessorContext this logic uses. */
export interface TransactionsContext {
  readonly log: Logger;
  store<K extends keyof TransactionsStores>(name: K): TransactionsStores[K];
  emit(output: 'markers', record: { key: string; value: OrderTransaction; timestampMs?: number }): void;
  schedule(timer: TimerRequest): void;
  cancel(kind: TimerKind, key: string): boolean;
}

export interface TransactionsLogicOptions {
  /** Event time after a transaction's first record at which its state is dropped, in ms. */
  readonly expiryMs: number;
  /** Called once per transaction dropped without output (a metric in production). */
  readonly onDropped?: (reason: DropReason) => void;
}

const NO_COUNTS: Readonly<Record<CountedCollection, number>> = Object.freeze({ orders: 0, order_items: 0 });

/**
 * Adds `value` to sorted, disjoint, inclusive ranges. Returns the new ranges, or null when
 * `value` is already in one of them.
 */
export function addToRanges(ranges: readonly (readonly [number, number])[], value: number): (readonly [number, number])[] | null {
  let index = 0;
  while (index < ranges.length && ranges[index]![1] < value) index += 1;
  const next = ranges[index];
  if (next !== undefined && next[0] <= value) return null;

  const result = [...ranges];
  const previous = result[index - 1];
  const joinsPrevious = previous !== undefined && previous[1] === value - 1;
  const joinsNext = next !== undefined && next[0] === value + 1;
  if (joinsPrevious && joinsNext) {
    result.splice(index - 1, 2, [previous[0], next[1]]);
  } else if (joinsPrevious) {
    result[index - 1] = [previous[0], value];
  } else if (joinsNext) {
    result[index] = [value, next[1]];
  } else {
    result.splice(index, 0, [value, value]);
  }
  return result;
}

function openState(transactionId: string, expiresAtMs: number): TransactionState {
  return {
    transactionId,
    status: 'open',
    seen: [],
    counts: NO_COUNTS,
    orders: {},
    expected: null,
    committedAtMs: null,
    expiresAtMs,
  };
}

function closed(state: TransactionState): TransactionState {
  return { ...state, status: 'closed', seen: [], counts: NO_COUNTS, orders: {} };
}

/** Orders numeric ids by value and other ids as text. */
function compareIds(a: string, b: string): number {
  const numeric = /^\d+$/.test(a) && /^\d+$/.test(b);
  const left = numeric ? BigInt(a) : a;
  const right = numeric ? BigInt(b) : b;
  if (left < right) return -1;
  if (left > right) return 1;
  return 0;
}

export class TransactionsLogic {
  private readonly expiryMs: number;
  private readonly onDropped: (reason: DropReason) => void;

  constructor({ expiryMs, onDropped }: TransactionsLogicOptions) {
    this.expiryMs = expiryMs;
    this.onDropped = onDropped ?? (() => undefined);
  }

  process(record: TransactionsInput, ctx: TransactionsContext): void {
    const value = record.value;
    const transactionId = value.transactionId;
    const store = ctx.store('transactions');
    let state = store.get(transactionId);
    if (state?.status === 'closed') {
      ctx.log.debug({ transactionId, kind: value.kind, offset: record.offset }, 'record of a closed transaction; ignored');
      return;
    }
    if (state === undefined) {
      state = openState(transactionId, record.eventTimeMs + this.expiryMs);
      ctx.schedule({ kind: 'event-time', key: transactionId, deadlineMs: state.expiresAtMs });
    }

    if (value.kind === 'end') {
      if (state.expected !== null) {
        ctx.log.debug({ transactionId, offset: record.offset }, 'END of the transaction already applied; ignored');
        return;
      }
      state = { ...state, expected: value.expected, committedAtMs: value.committedAtMs ?? state.committedAtMs };
    } else {
      const seen = addToRanges(state.seen, value.totalOrder);
      if (seen === null) {
        ctx.log.debug({ transactionId, totalOrder: value.totalOrder, offset: record.offset }, 'transaction event already counted; ignored');
        return;
      }
      state = {
        ...state,
        seen,
        counts: { ...state.counts, [value.collection]: state.counts[value.collection] + 1 },
        orders: this.countOrder(state.orders, value.collection, value.inserted, value.orderId),
        committedAtMs: state.committedAtMs ?? value.committedAtMs,
      };
    }
    store.put(transactionId, this.settle(state, ctx));
  }

  /** Drops the state of a transaction once its expiry passed in event time. */
  onTimer(timer: { kind: TimerKind; key: string }, ctx: TransactionsContext): void {
    const store = ctx.store('transactions');
    const state = store.get(timer.key);
    if (state === undefined) return;
    if (state.status === 'open') {
      this.onDropped('expired');
      ctx.log.warn(
        { transactionId: state.transactionId, counts: state.counts, expected: state.expected, orders: Object.keys(state.orders).length },
        'transaction incomplete when its expiry passed; dropped, so its orders complete by the grace period',
      );
    }
    store.delete(timer.key);
  }

  private countOrder(
    orders: Readonly<Record<string, OrderInTransaction>>,
    collection: CountedCollection,
    inserted: boolean,
    orderId: string | null,
  ): Readonly<Record<string, OrderInTransaction>> {
    if (!inserted || orderId === null) return orders;
    const current = orders[orderId] ?? { created: false, items: 0 };
    const next = collection === 'orders' ? { ...current, created: true } : { ...current, items: current.items + 1 };
    return { ...orders, [orderId]: next };
  }

  /** Writes the markers of a complete transaction and closes it; returns the state to store. */
  private settle(state: TransactionState, ctx: TransactionsContext): TransactionState {
    const expected = state.expected;
    if (expected === null) return state;
    const over = COUNTED_COLLECTIONS.filter((collection) => state.counts[collection] > expected[collection]);
    if (over.length > 0) {
      this.onDropped('overcounted');
      ctx.log.warn(
        { transactionId: state.transactionId, counts: state.counts, expected, collections: over },
        'transaction has more events than its END record counts; dropped, so its orders complete by the grace period',
      );
      return closed(state);
    }
    if (COUNTED_COLLECTIONS.some((collection) => state.counts[collection] < expected[collection])) {
      return state;
    }

    const created = Object.entries(state.orders)
      .filter(([, order]) => order.created)
      .sort(([a], [b]) => compareIds(a, b));
    for (const [orderId, order] of created) {
      const value: OrderTransaction = {
        order_id: orderId,
        transaction_id: state.transactionId,
        items: order.items,
        committed_at_ms: state.committedAtMs,
      };
      ctx.emit('markers', { key: orderId, value, ...(state.committedAtMs === null ? {} : { timestampMs: state.committedAtMs }) });
    }
    ctx.log.debug({ transactionId: state.transactionId, orders: created.length }, 'transaction complete');
    return closed(state);
  }
}
