/**
 * Pure logic of the carts processor: apply one Debezium change of `carts` or `cart_items` to a
 * cart's state, and flush a settled cart into a snapshot and events. No Kafka here.
 *
 * Rules:
 * - Contents are the sorted items and the exact total. Only a change of that canonical form
 *   raises the version and emits cart_updated; a change of an unrelated column (updated_at) or
 *   of formatting (19.9 vs 19.900) does not.
 * - checkout_started goes out once when the cart enters checkout (mapped checkout status, or
 *   the mapped checkout column becomes set).
 * - A closed status (converted, abandoned, ...) or a deleted cart row closes the cart: a
 *   tombstone goes to the snapshot topic and no event follows.
 * - Snapshot reads update state; events from them go out only with emitSnapshotEvents, marked
 *   origin 'snapshot'.
 * - A cart without customer id keeps its state but emits nothing; once a customer id is set,
 *   the current contents go out as cart_updated.
 * - A change whose binlog position was applied already (the connector emitted it again) is dropped.
 */
import { Decimal } from 'decimal.js';

import type { EventRecord, JsonObject, OutboxSource } from '../customerio/records.ts';
import { deriveEventId } from '../customerio/event-id.ts';
import { Instant } from '../debezium/index.ts';
import type { ChangeEvent, ColumnValue, Row } from '../debezium/index.ts';
import type { Mapping } from '../mapping/mapping.ts';
import type { CartItem, CartRow, CartSnapshot, CartState, FlushResult, PendingChanges } from './records.ts';

export interface CartsRules {
  readonly cartColumns: {
    readonly id: string;
    readonly customerId: string;
    readonly status: string;
    readonly currency: string;
    readonly checkoutStartedAt: string;
    readonly updatedAt: string;
  };
  readonly itemColumns: {
    readonly id: string;
    readonly cartId: string;
    readonly sku: string;
    readonly variantId: string;
    readonly name: string;
    readonly category: string;
    readonly quantity: string;
    readonly unitPrice: string;
  };
  readonly checkoutStatuses: ReadonlySet<string>;
  readonly closedStatuses: ReadonlySet<string>;
  readonly cartsTable: string;
  readonly cartItemsTable: string;
  readonly emitSnapshotEvents: boolean;
  readonly cartUpdatedName: string;
  readonly checkoutStartedName: string;
  readonly dedupePositions: number;
}

export function cartsRules(mapping: Mapping, dedupePositions: number): CartsRules {
  const carts = mapping.tables.carts;
  const items = mapping.tables.cartItems;
  if (carts === undefined || items === undefined) {
    throw new TypeError('the mapping must map tables.carts and tables.cartItems to run the carts processor');
  }
  const column = (columns: Readonly<Record<string, string>>, role: string, fallback: string) => columns[role] ?? fallback;
  return Object.freeze({
    cartColumns: {
      id: column(carts.columns, 'id', 'id'),
      customerId: column(carts.columns, 'customerId', 'customer_id'),
      status: column(carts.columns, 'status', 'status'),
      currency: column(carts.columns, 'currency', 'currency'),
      checkoutStartedAt: column(carts.columns, 'checkoutStartedAt', 'checkout_started_at'),
      updatedAt: column(carts.columns, 'updatedAt', 'updated_at'),
    },
    itemColumns: {
      id: column(items.columns, 'id', 'id'),
      cartId: column(items.columns, 'cartId', 'cart_id'),
      sku: column(items.columns, 'sku', 'sku'),
      variantId: column(items.columns, 'variantId', 'variant_id'),
      name: column(items.columns, 'name', 'name'),
      category: column(items.columns, 'category', 'category'),
      quantity: column(items.columns, 'quantity', 'quantity'),
      unitPrice: column(items.columns, 'unitPrice', 'unit_price'),
    },
    checkoutStatuses: new Set(carts.statuses['checkout'] ?? []),
    closedStatuses: new Set(carts.statuses['closed'] ?? []),
    cartsTable: carts.table,
    cartItemsTable: items.table,
    emitSnapshotEvents: mapping.emitSnapshotEvents,
    cartUpdatedName: mapping.events.cartUpdated,
    checkoutStartedName: mapping.events.checkoutStarted,
    dedupePositions,
  });
}

/** The canonical contents of a cart with no items. */
export const EMPTY_CONTENT_KEY = contentKeyOf([], '0');

function textOf(value: ColumnValue | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function secondsOf(value: ColumnValue | undefined): number | null {
  if (value instanceof Instant) return value.toUnixSeconds();
  return null;
}

function quantityOf(value: ColumnValue | undefined): number {
  const quantity = Number(textOf(value) ?? '0');
  return Number.isFinite(quantity) ? quantity : 0;
}

function priceOf(value: ColumnValue | undefined): string {
  const price = textOf(value);
  if (price === null) return '0';
  try {
    return new Decimal(price).toString();
  } catch {
    throw new TypeError(`unit price ${JSON.stringify(price)} is not a decimal number`);
  }
}

/** Whether a change belongs to the carts table (true) or cart_items (false), by its source table. */
export function isCartRow(event: ChangeEvent, rules: CartsRules): boolean {
  return event.source.table === rules.cartsTable;
}

/**
 * Returns the cart id a change belongs to: the cart row's id, or an item's cart id.
 * NOTE: an UPDATE that moves an item to another cart reaches the new cart only, so the old cart
 * keeps the item.
 */
export function cartIdOf(event: ChangeEvent, rules: CartsRules): string | null {
  const row = event.after ?? event.before;
  if (row === null) return null;
  return textOf(isCartRow(event, rules) ? row[rules.cartColumns.id] : row[rules.itemColumns.cartId]);
}

function emptyState(cartId: string): CartState {
  return {
    cartId,
    row: null,
    items: {},
    closed: false,
    version: 0,
    contentKey: EMPTY_CONTENT_KEY,
    emittedContentKey: EMPTY_CONTENT_KEY,
    inCheckout: false,
    updatedAt: null,
    pending: null,
    publishedSnapshot: null,
    recentPositions: [],
  };
}

export function sourceOf(event: ChangeEvent, coordinates: { topic: string; partition: number; offset: string }): OutboxSource {
  const source: OutboxSource = {
    table: `${event.source.db}.${event.source.table}`,
    topic: coordinates.topic,
    partition: coordinates.partition,
    offset: coordinates.offset,
  };
  if (event.source.file !== null) source.binlogFile = event.source.file;
  if (event.source.pos !== null) source.binlogPos = event.source.pos;
  if (event.source.row !== null) source.row = event.source.row;
  if (event.source.gtid !== null) source.gtid = event.source.gtid;
  if (event.transaction !== null) source.txId = event.transaction.id;
  const tsMs = event.source.tsMs ?? event.tsMs;
  if (tsMs !== null) source.tsMs = tsMs;
  return source;
}

function cartRowOf(row: Row, rules: CartsRules): CartRow {
  const columns = rules.cartColumns;
  return {
    customerId: textOf(row[columns.customerId]),
    status: textOf(row[columns.status]),
    currency: textOf(row[columns.currency]),
    checkoutStartedAt: secondsOf(row[columns.checkoutStartedAt]),
    updatedAt: secondsOf(row[columns.updatedAt]),
  };
}

function itemOf(row: Row, rules: CartsRules): CartItem {
  const columns = rules.itemColumns;
  return {
    sku: textOf(row[columns.sku]),
    variant_id: textOf(row[columns.variantId]),
    name: textOf(row[columns.name]),
    category: textOf(row[columns.category]),
    quantity: quantityOf(row[columns.quantity]),
    price: priceOf(row[columns.unitPrice]),
  };
}

export type ApplyOutcome = 'applied' | 'duplicate' | 'closed' | 'ignored';

export interface ApplyResult {
  readonly state: CartState;
  readonly outcome: ApplyOutcome;
}

/**
 * Applies one change of the carts or cart_items table to the cart's state. `source` names the
 * record for the records it may produce later.
 */
export function applyChange(
  previous: CartState | undefined,
  cartId: string,
  event: ChangeEvent,
  source: OutboxSource,
  rules: CartsRules,
): ApplyResult {
  const state = previous ?? emptyState(cartId);
  if (state.closed) return { state, outcome: 'closed' };
  if (state.recentPositions.includes(event.position)) return { state, outcome: 'duplicate' };
  if (event.op === 'truncate') return { state, outcome: 'ignored' };

  const live = !event.source.isSnapshot && event.op !== 'read';
  const tsMs = event.source.tsMs ?? event.tsMs ?? 0;
  let row = state.row;
  let items = state.items;
  let closed: boolean = state.closed;
  let inCheckout = state.inCheckout;
  let checkout = state.pending?.checkout ?? null;

  if (isCartRow(event, rules)) {
    if (event.op === 'delete') {
      closed = true;
    } else {
      row = cartRowOf(event.after, rules);
      if (row.status !== null && rules.closedStatuses.has(row.status)) closed = true;
      const nowInCheckout = (row.status !== null && rules.checkoutStatuses.has(row.status)) || row.checkoutStartedAt !== null;
      if (nowInCheckout && !inCheckout && !closed) {
        checkout = { at: row.checkoutStartedAt ?? Math.floor(tsMs / 1000), live };
      }
      inCheckout = nowInCheckout;
    }
  } else {
    const itemRow = event.after ?? event.before!;
    const itemId = textOf(itemRow[rules.itemColumns.id]) ?? event.position;
    const next: Record<string, CartItem> = { ...items };
    if (event.op === 'delete') {
      delete next[itemId];
    } else {
      next[itemId] = itemOf(event.after, rules);
    }
    items = next;
  }

  // The cart row's own change time (the mapped updatedAt column) is the event time when the
  // application keeps it, as the orders processor uses placed_at: a replay or backfill then
  // stamps cart events with the shop's time, not the time of the load, and suppression compares
  // them with orders on one clock. Without that column the commit time is used.
  const rowChangedAt = isCartRow(event, rules) && event.op !== 'delete' ? row?.updatedAt ?? null : null;
  const sourceUpdatedAt = rowChangedAt ?? state.pending?.sourceUpdatedAt ?? null;
  const pending: PendingChanges = {
    live: (state.pending?.live ?? false) || live,
    lastTsMs: Math.max(state.pending?.lastTsMs ?? 0, tsMs),
    sourceUpdatedAt: sourceUpdatedAt === null ? null : Math.max(sourceUpdatedAt, state.pending?.sourceUpdatedAt ?? 0),
    source,
    checkout,
  };
  const recentPositions = [...state.recentPositions, event.position].slice(-rules.dedupePositions);
  const updatedAt = pending.sourceUpdatedAt ?? Math.max(state.updatedAt ?? 0, Math.floor(tsMs / 1000));
  return {
    state: { ...state, row, items, closed, inCheckout, pending, recentPositions, updatedAt },
    outcome: 'applied',
  };
}

/** Items in a fixed order: by sku, variant, name, category, price, then quantity. */
export function sortedItems(items: Readonly<Record<string, CartItem>>): CartItem[] {
  const key = (item: CartItem) => [item.sku ?? '', item.variant_id ?? '', item.name ?? '', item.category ?? '', item.price, String(item.quantity)];
  return Object.values(items).sort((a, b) => {
    const left = key(a);
    const right = key(b);
    for (let index = 0; index < left.length; index += 1) {
      if (left[index]! < right[index]!) return -1;
      if (left[index]! > right[index]!) return 1;
    }
    return 0;
  });
}

/** Σ quantity × price, exact, with at least two fraction digits. */
export function cartTotalOf(items: readonly CartItem[]): string {
  const total = items.reduce((sum, item) => sum.plus(new Decimal(item.price).times(item.quantity)), new Decimal(0));
  return total.toFixed(Math.max(2, total.decimalPlaces()));
}

function contentKeyOf(items: readonly CartItem[], total: string): string {
  const canonical = items.map((item) => [item.sku, item.variant_id, item.name, item.category, item.quantity, new Decimal(item.price).toString()]);
  return JSON.stringify([canonical, new Decimal(total).toString()]);
}

function moneyNumber(value: string): number {
  // Customer.io compares numbers in segments, so money goes out as a JSON number parsed from
  // the exact decimal string; the exact string stays in state and on the snapshot topic.
  return Number(value);
}

function eventItems(items: readonly CartItem[]): JsonObject[] {
  return items.map((item) => ({
    sku: item.sku,
    variant_id: item.variant_id,
    name: item.name,
    category: item.category,
    quantity: item.quantity,
    price: moneyNumber(item.price),
  }));
}

/**
 * Publishes a cart whose changes have settled: the snapshot when it differs from the last one
 * written, cart_updated when the contents changed, checkout_started when checkout began.
 */
export function flushCart(state: CartState, rules: CartsRules): FlushResult {
  const pending = state.pending;
  if (state.closed) {
    const snapshot = state.publishedSnapshot === null || state.publishedSnapshot === 'null' ? undefined : null;
    return {
      state: { ...state, pending: null, items: {}, publishedSnapshot: state.publishedSnapshot === null ? null : 'null' },
      events: [],
      snapshot,
    };
  }

  const items = sortedItems(state.items);
  const total = cartTotalOf(items);
  const contentKey = contentKeyOf(items, total);
  const version = contentKey === state.contentKey ? state.version : state.version + 1;
  let next: CartState = { ...state, pending: null, contentKey, version };

  if (state.row === null || pending === null) {
    return { state: next, events: [], snapshot: undefined };
  }

  const row = state.row;
  const itemCount = items.reduce((sum, item) => sum + item.quantity, 0);
  const snapshot: CartSnapshot = {
    cart_id: state.cartId,
    customer_id: row.customerId,
    status: row.status,
    currency: row.currency,
    items,
    cart_total: total,
    item_count: itemCount,
    updated_at: state.updatedAt,
    version,
  };
  const snapshotJson = JSON.stringify(snapshot);
  const snapshotChanged = snapshotJson !== state.publishedSnapshot;
  next = { ...next, publishedSnapshot: snapshotJson };

  const events: EventRecord[] = [];
  const timestamp = pending.sourceUpdatedAt ?? Math.floor(pending.lastTsMs / 1000);
  const customerId = row.customerId;
  const emitAllowed = pending.live || rules.emitSnapshotEvents;
  const origin = pending.live ? 'live' : 'snapshot';

  if (contentKey !== state.emittedContentKey) {
    if (customerId !== null && emitAllowed) {
      events.push({
        kind: 'event',
        customerId,
        name: rules.cartUpdatedName,
        id: deriveEventId([rules.cartUpdatedName, state.cartId, version]),
        timestamp,
        data: {
          cart_id: state.cartId,
          items: eventItems(items),
          cart_total: moneyNumber(total),
          currency: row.currency,
          item_count: itemCount,
          updated_at: state.updatedAt,
        },
        origin,
        source: pending.source,
      });
      next = { ...next, emittedContentKey: contentKey };
    } else if (!pending.live) {
      // A snapshot read describes the past: take its contents over without an event.
      next = { ...next, emittedContentKey: contentKey };
    }
  }

  const checkout = pending.checkout;
  if (checkout !== null && customerId !== null && (checkout.live || rules.emitSnapshotEvents)) {
    events.push({
      kind: 'event',
      customerId,
      name: rules.checkoutStartedName,
      id: deriveEventId([rules.checkoutStartedName, state.cartId, checkout.at]),
      timestamp: checkout.at,
      data: {
        cart_id: state.cartId,
        items: eventItems(items),
        cart_total: moneyNumber(total),
        currency: row.currency,
        item_count: itemCount,
        checkout_started_at: checkout.at,
      },
      origin: checkout.live ? 'live' : 'snapshot',
      source: pending.source,
    });
  }

  return { state: next, events, snapshot: snapshotChanged ? snapshot : undefined };
}
