/**
 * State and output types of the orders processor.
 *
 * Example `orders` store entry (key = order id):
 *
 *   {"orderId":"1014","row":{"customerId":"510","status":"pending","total":"59.80",...},
 *    "rowPosition":"binlog:mariadb-bin.000003:4471:0","rowTsMs":1721037600000,
 *    "items":{"7020":{"sku":"SOCK-3","quantity":2,"price":"19.900",...}},
 *    "lastChangeMs":1721037600400,"placed":"pending","paid":null,...}
 *
 * Money stays an exact decimal string in state; events carry it as a JSON number
 * (Customer.io segments compare numbers).
 */
import type { EventRecord, OutboxSource, RecordOrigin } from '../customerio/records.ts';

export type { EventRecord, OutboxSource, RecordOrigin };

/**
 * What happened to one event of an order:
 * - pending: the condition is met but the event waits (for order_placed: completion);
 * - emitted: the event was written;
 * - suppressed: not written on purpose (snapshot read, guest order, deleted order).
 */
export type EventState = 'pending' | 'emitted' | 'suppressed';

/** The order row as far as the events need it. */
export interface OrderRow {
  readonly customerId: string | null;
  readonly status: string | null;
  /** Exact decimal text, for example "59.80". */
  readonly total: string | null;
  readonly currency: string | null;
  readonly discountCode: string | null;
  /** Unix seconds. */
  readonly createdAtSec: number | null;
  readonly paidAtSec: number | null;
  readonly canceledAtSec: number | null;
}

export interface ItemState {
  readonly itemId: string;
  readonly sku: string | null;
  readonly variantId: string | null;
  readonly name: string | null;
  readonly category: string | null;
  readonly quantity: number | null;
  /** Exact decimal text of the unit price. */
  readonly price: string | null;
  /** The last applied change of this item (see positions in process.ts). */
  readonly position: string;
  readonly tsMs: number | null;
  /** A DELETE was applied; kept so an older re-emitted create does not bring it back. */
  readonly deleted: boolean;
  /** Id of the MySQL transaction that inserted the item, when Debezium's metadata named it. */
  readonly txId?: string | null;
}

/** An order-transaction record: the transaction that inserted the order and how many items it inserted. */
export interface CreatingTransaction {
  readonly id: string;
  readonly items: number;
}

/** A state change of an order (paid, fulfilled, canceled) seen once, with when and where. */
export interface Milestone {
  readonly state: EventState;
  readonly atSec: number;
  readonly origin: RecordOrigin;
  readonly source: OutboxSource;
}

export interface PendingRefund {
  readonly refundId: string;
  readonly orderId: string;
  readonly amount: string | null;
  readonly reason: string | null;
  readonly atSec: number;
  readonly origin: RecordOrigin;
  readonly source: OutboxSource;
}

export interface OrderState {
  readonly orderId: string;
  readonly row: OrderRow | null;
  readonly rowPosition: string | null;
  readonly rowTsMs: number | null;
  readonly rowSource: OutboxSource | null;
  readonly rowOrigin: RecordOrigin | null;
  readonly rowDeleted: boolean;
  readonly items: Readonly<Record<string, ItemState>>;
  /** Event time of the last change of the row or an item while order_placed was pending. */
  readonly lastChangeMs: number | null;
  readonly placed: EventState;
  readonly paid: Milestone | null;
  readonly fulfilled: Milestone | null;
  readonly canceled: Milestone | null;
  /** Refunds that arrived before the order row told whose they are. */
  readonly pendingRefunds: readonly PendingRefund[];
  /** The transaction that inserted the order, once the transactions processor reported it. */
  readonly creatingTransaction?: CreatingTransaction | null;
}

/** `refunds` store entry, keyed by refund id: the refund was handled once. */
export interface RefundSeen {
  readonly position: string;
  readonly state: EventState;
}

/** `subscriptions` store entry, keyed by the synthetic join key `subscription:<id>`. */
export interface SubscriptionState {
  readonly subscriptionId: string;
  readonly position: string;
  readonly tsMs: number | null;
  readonly created: EventState | null;
  readonly canceled: EventState | null;
}

/** Largest event time applied per input, keyed by input name. */
export type Watermark = number;

/** The value written to the output topic. */
export type OrderEvent = EventRecord;
