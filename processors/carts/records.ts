/**
 * State and output types of the carts processor.
 *
 * Store `carts` (key: cart id) holds one CartState per cart. Output `cio.cart-snapshots` (key: cart
 * id, compacted) carries CartSnapshot, or null once the cart is closed or deleted:
 *
 *   {"cart_id":"c-3001","customer_id":"601","status":"open","currency":"USD",
 *    "items":[{"sku":"MUG-01","variant_id":null,"name":"Mug","category":"kitchen","quantity":2,"price":"12.500"}],
 *    "cart_total":"25.00","item_count":2,"updated_at":1721050200,"version":3}
 *
 * Output `cio.cart-events` (key: customer id) carries outbox EventRecords (processors/customerio/records.ts).
 */
import type { EventRecord, OutboxSource } from '../customerio/records.ts';

/** One line of a cart. `price` is the exact unit price as a decimal string. */
export interface CartItem {
  readonly sku: string | null;
  readonly variant_id: string | null;
  readonly name: string | null;
  readonly category: string | null;
  readonly quantity: number;
  readonly price: string;
}

/** The mapped columns of the cart row. Times are unix seconds. */
export interface CartRow {
  readonly customerId: string | null;
  readonly status: string | null;
  readonly currency: string | null;
  readonly checkoutStartedAt: number | null;
  /** The row's updatedAt column in unix seconds; absent in state written before it was kept. */
  readonly updatedAt?: number | null;
}

/** A checkout that began since the last flush and waits to be published. */
export interface PendingCheckout {
  /** Unix seconds: the mapped checkout column, or the source time of the change. */
  readonly at: number;
  readonly live: boolean;
}

/** What changed since the cart was last published. */
export interface PendingChanges {
  /** True when at least one change was streamed (not a snapshot read). */
  readonly live: boolean;
  /** Source commit time of the latest change, ms since the epoch. */
  readonly lastTsMs: number;
  /**
   * Latest value of the cart row's updatedAt column in these changes, unix seconds, or null when
   * the row has no such column or did not change. Preferred over the commit time as event time.
   */
  readonly sourceUpdatedAt?: number | null;
  readonly source: OutboxSource;
  readonly checkout: PendingCheckout | null;
}

export interface CartState {
  readonly cartId: string;
  /** Null until the cart row arrives (items may come first). */
  readonly row: CartRow | null;
  /** Items by their cart_items row id. */
  readonly items: Readonly<Record<string, CartItem>>;
  /** Converted, abandoned or deleted: the cart emits nothing more. */
  readonly closed: boolean;
  /** Goes up by one each time the canonical contents (items and total) change. */
  readonly version: number;
  /** Canonical contents at `version`. */
  readonly contentKey: string;
  /** Canonical contents last sent as cart_updated (or taken over silently from a snapshot read). */
  readonly emittedContentKey: string;
  readonly inCheckout: boolean;
  /** Unix seconds of the latest applied change. */
  readonly updatedAt: number | null;
  readonly pending: PendingChanges | null;
  /** JSON of the snapshot last written to the snapshot topic; 'null' after the tombstone. */
  readonly publishedSnapshot: string | null;
  /** Binlog positions of recently applied changes, newest last. */
  readonly recentPositions: readonly string[];
}

export interface CartSnapshot {
  readonly cart_id: string;
  readonly customer_id: string | null;
  readonly status: string | null;
  readonly currency: string | null;
  readonly items: readonly CartItem[];
  /** Exact decimal string, Σ quantity × price. */
  readonly cart_total: string;
  /** Σ quantity. */
  readonly item_count: number;
  readonly updated_at: number | null;
  readonly version: number;
}

/** What one flush of a cart writes. */
export interface FlushResult {
  readonly state: CartState;
  readonly events: readonly EventRecord[];
  /** Undefined: nothing to write; null: a tombstone. */
  readonly snapshot: CartSnapshot | null | undefined;
}
