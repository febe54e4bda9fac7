/**
 * Values of the transactions processor: what its decoders hand the logic, what it keeps per
 * transaction, and the order-transaction record it writes for the orders processor.
 *
 * Example output record (topic cio.order-transactions, key "1014"):
 *
 *   {"order_id":"1014","transaction_id":"0-1-7","items":2,"committed_at_ms":1721037600000}
 *
 * `items` counts the order_items rows of that order inserted in the transaction.
 */
import { OrderTransactionInvalidError } from './errors.ts';

/** The two data collections this processor counts, named after the orders processor's inputs. */
export type CountedCollection = 'orders' | 'order_items';

export const COUNTED_COLLECTIONS: readonly CountedCollection[] = ['orders', 'order_items'];

/** One change event of the orders or order_items table that carries a transaction block. */
export interface TransactionChange {
  readonly kind: 'change';
  readonly collection: CountedCollection;
  readonly transactionId: string;
  /** Debezium's `transaction.total_order`: position of the event in its transaction, from 1. */
  readonly totalOrder: number;
  /** Insert of a row (op c), as opposed to an update or a delete. */
  readonly inserted: boolean;
  /** The order the row belongs to: the order id of an orders row, the order_id of an item. */
  readonly orderId: string | null;
  /** MySQL commit time (source.ts_ms), epoch ms. */
  readonly committedAtMs: number | null;
}

/** The END record of a transaction, reduced to the counts of the two collections. */
export interface TransactionEnd {
  readonly kind: 'end';
  readonly transactionId: string;
  /** Events of each counted collection in the transaction; 0 when END does not list it. */
  readonly expected: Readonly<Record<CountedCollection, number>>;
  /** END's ts_ms, the transaction's commit time in epoch ms. */
  readonly committedAtMs: number | null;
}

export type TransactionRecord = TransactionChange | TransactionEnd;

/** Effect of one transaction on one order. */
export interface OrderInTransaction {
  /** The order row was inserted in this transaction. */
  readonly created: boolean;
  /** order_items rows of this order inserted in this transaction. */
  readonly items: number;
}

/**
 * `transactions` store entry, keyed by transaction id.
 * - open: events are counted until END's counts are reached;
 * - closed: the markers were written, or the counts went past END's. The entry stays until it
 *   expires, so events that Debezium emits again after a connector restart are not counted anew.
 */
export interface TransactionState {
  readonly transactionId: string;
  readonly status: 'open' | 'closed';
  /** `total_order` values counted, as sorted, disjoint, inclusive [first, last] ranges. */
  readonly seen: readonly (readonly [number, number])[];
  /** Events counted per collection. */
  readonly counts: Readonly<Record<CountedCollection, number>>;
  /** Effect of this transaction per order id. */
  readonly orders: Readonly<Record<string, OrderInTransaction>>;
  /** END's counts, null until END arrived. */
  readonly expected: Readonly<Record<CountedCollection, number>> | null;
  readonly committedAtMs: number | null;
  /** Event time at which the entry is dropped (the expiry timer's deadline). */
  readonly expiresAtMs: number;
}

/** The record this processor writes, keyed by order id, and the orders processor reads. */
export interface OrderTransaction {
  readonly order_id: string;
  readonly transaction_id: string;
  /** order_items rows of the order inserted in the transaction that inserted the order. */
  readonly items: number;
  /** Commit time of the transaction, epoch ms, or null when END carried none. */
  readonly committed_at_ms: number | null;
}

/**
 * Parses an order-transaction record. Throws OrderTransactionInvalidError, which names the
 * record, when the value is not one.
 */
export function parseOrderTransaction(
  value: Buffer,
  coordinates: { topic: string; partition: number; offset: string; key: string | null },
): OrderTransaction {
  const fail = (detail: string): never => {
    throw new OrderTransactionInvalidError(`order-transaction record is invalid: ${detail}`, coordinates);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (error) {
    return fail(`not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('not a JSON object');
  }
  const record = parsed as Record<string, unknown>;
  const orderId = record['order_id'];
  const transactionId = record['transaction_id'];
  const items = record['items'];
  const committedAtMs = record['committed_at_ms'] ?? null;
  if (typeof orderId !== 'string' || orderId === '') fail('order_id must be a non-empty string');
  if (typeof transactionId !== 'string' || transactionId === '') fail('transaction_id must be a non-empty string');
  if (typeof items !== 'number' || !Number.isSafeInteger(items) || items < 0) fail('items must be a whole number >= 0');
  if (committedAtMs !== null && (typeof committedAtMs !== 'number' || !Number.isFinite(committedAtMs))) {
    fail('committed_at_ms must be a number or null');
  }
  if (coordinates.key !== null && coordinates.key !== orderId) {
    fail(`the record key ${JSON.stringify(coordinates.key)} differs from order_id ${JSON.stringify(orderId)}`);
  }
  return {
    order_id: orderId as string,
    transaction_id: transactionId as string,
    items: items as number,
    committed_at_ms: committedAtMs as number | null,
  };
}
