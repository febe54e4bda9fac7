/**
 * Pure logic of the orders processor: turns decoded Debezium changes of orders,
 * order items, fulfillments, refunds and subscriptions into order events.
 *
 * It uses the runtime only through `OrdersContext` (stores, emit, timers, clock),
 * so tests drive it without Kafka.
 *
 * Rules, in the order a record meets them:
 * 1. Positions. Every applied change remembers its binlog position. A change at the
 *    same position (Debezium re-emitting after a connector restart) or an older one
 *    changes nothing, so the status never moves back.
 * 2. Snapshot reads (op `read`) update state; their events are suppressed unless the
 *    mapping sets emitSnapshotEvents, and then they carry origin 'snapshot'.
 * 3. Completion. order_placed waits until the order row and its items have been quiet
 *    for `graceMs` of event time (an event-time timer), and also until the items input
 *    itself has reached that time, so a lagging items partition cannot be overtaken.
 *    The items input's time is the lowest over the source partitions its re-keyed
 *    records came from, because each source partition is re-keyed at its own pace.
 *    A wall-clock timer is the fallback for idle partitions: it fires `graceMs` after
 *    the last change was processed, plus the runtime's lateness bound, and completes
 *    the order only once the runtime reports the items input caught up (nothing of it
 *    left unread, re-keying included). Until then the order waits in the `waiting`
 *    store, and one timer per task checks again every second.
 *    With transaction metadata on, an order is complete earlier: as soon as its row and
 *    every item its creating transaction inserted have arrived, counted by the
 *    transactions processor. When that transaction inserted no items, the items may
 *    come in a later transaction, so the grace period decides. When it inserted items
 *    that have not all arrived, the grace period completes nothing; only the wall-clock
 *    fallback does, and it logs a warning.
 * 4. order_paid, order_fulfilled and order_canceled are emitted once each, and never
 *    before order_placed: one that happens first waits and follows it.
 * 5. Guest orders (no customer id) are not sent: counted and logged at info.
 */
import type { IHeaders } from 'kafkajs';
import type { Logger } from 'pino';

import { deriveEventId } from '../customerio/event-id.ts';
import type { JsonObject } from '../customerio/records.ts';
import type { ChangeEvent } from '../debezium/envelope.ts';
import { Instant } from '../debezium/temporal.ts';
import type { Mapping, TableMapping } from '../mapping/mapping.ts';
import type { FiredTimer, KeyValueStore, TimerKind, TimerRequest, Timer } from '../runtime/processor.ts';
import { ORIGIN_HEADERS } from '../runtime/repartition.ts';
import { noteEmitted, setPending } from '../progress/reporter.ts';
import type { ProgressState } from '../progress/reporter.ts';
import type { OrderTransaction } from '../transactions/records.ts';
import { OrderRecordError } from './errors.ts';
import type {
  EventRecord,
  EventState,
  ItemState,
  Milestone,
  OrderRow,
  OrderState,
  OutboxSource,
  PendingRefund,
  RecordOrigin,
  RefundSeen,
  SubscriptionState,
} from './records.ts';

export type OrdersInputName = 'orders' | 'order_items' | 'fulfillments' | 'refunds' | 'subscriptions';

/** Inputs that gate completion (see rule 3): by their event time, and for the wall-clock fallback by being caught up. */
export const COMPLETION_INPUTS: readonly OrdersInputName[] = ['order_items'];

/** One decoded input record, as the runtime hands it to `process`. */
export interface OrdersInput {
  readonly input: OrdersInputName;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The join key text (order id, `customer:<id>` or `subscription:<id>`). */
  readonly key: Buffer | null;
  readonly value: ChangeEvent;
  readonly eventTimeMs: number;
  /** Kafka headers; a re-keyed record names its source partition in ORIGIN_HEADERS.partition. */
  readonly headers?: IHeaders;
}

/** One record of the transactions processor's output, keyed by order id. */
export interface OrderTransactionInput {
  readonly input: 'transactions';
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: OrderTransaction;
  readonly eventTimeMs: number;
}

export interface OrdersStores {
  orders: KeyValueStore<OrderState>;
  refunds: KeyValueStore<RefundSeen>;
  subscriptions: KeyValueStore<SubscriptionState>;
  watermarks: KeyValueStore<number>;
  /** Orders whose grace period passed in stream time while the items input was behind: order id → deadline. */
  gated: KeyValueStore<number>;
  /** Orders whose wall-clock fallback found the items input not caught up: order id → clock time the wait began. */
  waiting: KeyValueStore<number>;
  /** Orders with a row whose order_placed is not decided yet: order id → the event time it will carry. */
  pending: KeyValueStore<number>;
  /** Largest event time emitted and the last progress record written (processors/progress/reporter.ts). */
  progress: KeyValueStore<ProgressState>;
}

/** The part of the runtime's ProcessorContext this logic uses. */
export interface OrdersContext {
  readonly log: Logger;
  readonly streamTimeMs: number | null;
  now(): number;
  /** How far the clock must pass a wall-clock timer's deadline before it fires. */
  readonly timerLatenessBoundMs: number;
  /** Returns whether this task has processed every record of the input that was in Kafka when the lookup ran. */
  inputCaughtUp(input: OrdersInputName): Promise<boolean>;
  store<K extends keyof OrdersStores>(name: K): OrdersStores[K];
  emit(output: 'events', record: { key: string; value: EventRecord; timestampMs?: number }): void;
  schedule(timer: TimerRequest): void;
  cancel(kind: TimerKind, key: string): boolean;
  timer(kind: TimerKind, key: string): Timer | undefined;
}

export interface OrdersLogicOptions {
  readonly mapping: Mapping;
  readonly graceMs: number;
  /** Complete orders by the counts of their creating transaction (see rule 3). @default false */
  readonly transactionMetadata?: boolean;
  /** Called once per guest record that is not sent (a metric in production). */
  readonly onGuestSkipped?: (what: string) => void;
  /** Called once per order whose wall-clock fallback waits for the items input (a metric in production). */
  readonly onCompletionWait?: () => void;
}

const COMPLETION_TIMER_PREFIX = 'complete:';
/** Separates input and source partition in `watermarks` keys, as in `order_items@2`. */
const ORIGIN_KEY_SEPARATOR = '@';
/** Clock time between two caught-up checks of a waiting wall-clock fallback, in ms. */
export const CAUGHT_UP_RECHECK_MS = 1000;
/** Key of the one wall-clock timer per task that checks again for every waiting order. */
export const WAITING_CHECK_TIMER_KEY = 'caught-up-check';
/** Prefix of the synthetic join key of a refund without order id. */
export const CUSTOMER_KEY_PREFIX = 'customer:';
/** Prefix of the synthetic join key of a subscription. */
export const SUBSCRIPTION_KEY_PREFIX = 'subscription:';

// ---------------------------------------------------------------------------
// Positions

interface BinlogCoordinate {
  readonly sequence: bigint;
  readonly pos: bigint;
  readonly row: bigint;
}

function binlogCoordinate(position: string): BinlogCoordinate | null {
  // binlog:<file>.<sequence>:<pos>:<row>[:<table>:<key> for snapshot reads]
  const match = /^binlog:[^:]*?\.(\d+):(\d+):(\d+)(?::|$)/.exec(position);
  if (match === null) {
    return null;
  }
  return { sequence: BigInt(match[1]!), pos: BigInt(match[2]!), row: BigInt(match[3]!) };
}

/**
 * Whether a change at `position` (committed at `tsMs`) comes after the last applied
 * one. Equal positions are the same change re-emitted: not newer. Binlog coordinates
 * compare by file sequence, position and row; other positions (GTID-only sources)
 * fall back to the commit time.
 */
export function isNewerChange(position: string, tsMs: number | null, lastPosition: string | null, lastTsMs: number | null): boolean {
  if (lastPosition === null) {
    return true;
  }
  if (position === lastPosition) {
    return false;
  }
  const next = binlogCoordinate(position);
  const last = binlogCoordinate(lastPosition);
  if (next !== null && last !== null) {
    if (next.sequence !== last.sequence) return next.sequence > last.sequence;
    if (next.pos !== last.pos) return next.pos > last.pos;
    if (next.row !== last.row) return next.row > last.row;
    // Same coordinate, other suffix: a snapshot read and a streamed change of one
    // position; the streamed change is the later one.
    return true;
  }
  if (tsMs === null || lastTsMs === null) {
    return true;
  }
  return tsMs >= lastTsMs;
}

// ---------------------------------------------------------------------------
// Column access

function recordCoordinates(record: OrdersInput) {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key === null ? null : record.key.toString('utf8'),
  };
}

class Columns {
  private readonly table: TableMapping;
  private readonly row: Readonly<Record<string, unknown>>;
  private readonly record: OrdersInput;

  constructor(table: TableMapping, row: Readonly<Record<string, unknown>>, record: OrdersInput) {
    this.table = table;
    this.row = row;
    this.record = record;
  }

  private raw(role: string): unknown {
    const column = this.table.columns[role];
    return column === undefined ? undefined : this.row[column];
  }

  private fail(role: string, expected: string, value: unknown): never {
    const column = this.table.columns[role] ?? role;
    throw new OrderRecordError(
      `column ${this.table.table}.${column} (role ${role}) should be ${expected}, got ${describe(value)}`,
      recordCoordinates(this.record),
    );
  }

  /** An id or text column: numbers and bigints become their decimal text. */
  text(role: string): string | null {
    const value = this.raw(role);
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    return this.fail(role, 'text or an id', value);
  }

  requiredText(role: string): string {
    const value = this.text(role);
    return value ?? this.fail(role, 'present', null);
  }

  /** A DECIMAL column as exact decimal text ("-5.000"). */
  decimal(role: string): string | null {
    const value = this.raw(role);
    if (value === null || value === undefined) return null;
    if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return value;
    // decimal.handling.mode=double gives a number; its shortest text is the best we have.
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    return this.fail(role, 'a decimal (declare its type in the mapping so the decoder can read it)', value);
  }

  integer(role: string): number | null {
    const value = this.raw(role);
    if (value === null || value === undefined) return null;
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'bigint') return Number(value);
    return this.fail(role, 'an integer', value);
  }

  /** A DATETIME or TIMESTAMP column as unix seconds. */
  seconds(role: string): number | null {
    const value = this.raw(role);
    if (value === null || value === undefined) return null;
    if (value instanceof Instant) return value.toUnixSeconds();
    return this.fail(role, 'a date-time (declare it as datetime or timestamp in the mapping)', value);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function moneyNumber(value: string | null): number | null {
  return value === null ? null : Number(value);
}

function sourceOf(record: OrdersInput): OutboxSource {
  const event = record.value;
  const source: OutboxSource = {
    table: `${event.source.db}.${event.source.table}`,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
  };
  if (event.source.file !== null) source.binlogFile = event.source.file;
  if (event.source.pos !== null) source.binlogPos = event.source.pos;
  if (event.source.row !== null) source.row = event.source.row;
  if (event.source.gtid !== null) source.gtid = event.source.gtid;
  if (event.transaction !== null) source.txId = event.transaction.id;
  if (event.source.tsMs !== null) source.tsMs = event.source.tsMs;
  return source;
}

function originOf(event: ChangeEvent): RecordOrigin {
  return event.op === 'read' ? 'snapshot' : 'live';
}

function tsSecondsOf(record: OrdersInput): number {
  return Math.floor((record.value.source.tsMs ?? record.eventTimeMs) / 1000);
}

function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const left = BigInt(a);
    const right = BigInt(b);
    return left < right ? -1 : left > right ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function newOrderState(orderId: string): OrderState {
  return {
    orderId,
    row: null,
    rowPosition: null,
    rowTsMs: null,
    rowSource: null,
    rowOrigin: null,
    rowDeleted: false,
    items: {},
    lastChangeMs: null,
    placed: 'pending',
    paid: null,
    fulfilled: null,
    canceled: null,
    pendingRefunds: [],
  };
}

// ---------------------------------------------------------------------------
// The logic

export class OrdersLogic {
  private readonly mapping: Mapping;
  private readonly graceMs: number;
  private readonly transactionMetadata: boolean;
  private readonly onGuestSkipped: (what: string) => void;
  private readonly onCompletionWait: () => void;
  private readonly orders: TableMapping;
  private readonly items: TableMapping;
  private readonly fulfillments: TableMapping | undefined;
  private readonly refunds: TableMapping | undefined;
  private readonly subscriptions: TableMapping | undefined;

  constructor({ mapping, graceMs, transactionMetadata, onGuestSkipped, onCompletionWait }: OrdersLogicOptions) {
    this.mapping = mapping;
    this.graceMs = graceMs;
    this.transactionMetadata = transactionMetadata ?? false;
    this.onGuestSkipped = onGuestSkipped ?? (() => undefined);
    this.onCompletionWait = onCompletionWait ?? (() => undefined);
    this.orders = mapping.tables.orders;
    this.items = mapping.tables.orderItems;
    this.fulfillments = mapping.tables.fulfillments;
    this.refunds = mapping.tables.refunds;
    this.subscriptions = mapping.tables.subscriptions;
  }

  // --- join keys (used by the topology to re-key inputs) ---

  orderKey(event: ChangeEvent): string | null {
    return keyText(rowOf(event)?.[this.orders.columns.id ?? 'id']);
  }

  itemOrderKey(event: ChangeEvent): string | null {
    return keyText(rowOf(event)?.[this.items.columns.orderId ?? 'order_id']);
  }

  fulfillmentOrderKey(event: ChangeEvent): string | null {
    return keyText(rowOf(event)?.[this.fulfillments?.columns.orderId ?? 'order_id']);
  }

  /** A refund joins its order; one without order id is keyed by `customer:<id>`. */
  refundKey(event: ChangeEvent): string | null {
    const row = rowOf(event);
    const orderId = keyText(row?.[this.refunds?.columns.orderId ?? 'order_id']);
    if (orderId !== null) return orderId;
    const customerId = keyText(row?.[this.refunds?.columns.customerId ?? 'customer_id']);
    return customerId === null ? null : CUSTOMER_KEY_PREFIX + customerId;
  }

  subscriptionKey(event: ChangeEvent): string | null {
    const id = keyText(rowOf(event)?.[this.subscriptions?.columns.id ?? 'id']);
    return id === null ? null : SUBSCRIPTION_KEY_PREFIX + id;
  }

  // --- records ---

  process(record: OrdersInput | OrderTransactionInput, ctx: OrdersContext): void {
    const watermarks = ctx.store('watermarks');
    let advanced = (watermarks.get(record.input) ?? -Infinity) < record.eventTimeMs;
    if (advanced) {
      watermarks.put(record.input, record.eventTimeMs);
    }
    // The records of one task's partition come from every partition of the source topic, each
    // re-keyed at its own pace, so a completion input's progress is the slowest source partition's.
    const origin = record.input === 'transactions' ? undefined : originPartition(record.headers);
    if (origin !== undefined && (COMPLETION_INPUTS as readonly string[]).includes(record.input)) {
      const key = `${record.input}${ORIGIN_KEY_SEPARATOR}${origin}`;
      advanced = (watermarks.get(key) ?? -Infinity) < record.eventTimeMs;
      if (advanced) watermarks.put(key, record.eventTimeMs);
    }
    switch (record.input) {
      case 'orders':
        this.onOrder(record, ctx);
        break;
      case 'order_items':
        this.onItem(record, ctx);
        break;
      case 'fulfillments':
        this.onFulfillment(record, ctx);
        break;
      case 'refunds':
        this.onRefund(record, ctx);
        break;
      case 'subscriptions':
        this.onSubscription(record, ctx);
        break;
      case 'transactions':
        this.onCreatingTransaction(record, ctx);
        break;
    }
    if (advanced && (COMPLETION_INPUTS as readonly string[]).includes(record.input)) {
      this.releaseGated(ctx);
    }
  }

  /** Completes the gated orders whose deadline every completion input has now reached. */
  private releaseGated(ctx: OrdersContext): void {
    const gated = ctx.store('gated');
    if (gated.size === 0) return;
    const reachedMs = this.completionWatermark(ctx);
    const orders = this.orderStore(ctx);
    // NOTE: a scan per advance of the items input; the set holds only orders whose
    // grace period ran out while that input lagged, which stays small in practice.
    for (const [orderId, deadlineMs] of [...gated.entries()]) {
      if (deadlineMs > reachedMs) continue;
      gated.delete(orderId);
      const state = orders.get(orderId);
      if (state === undefined || state.placed !== 'pending' || state.row === null || state.rowDeleted) continue;
      if (this.awaitsCreatingItems(state)) continue;
      this.cancelCompletion(orderId, ctx);
      orders.put(orderId, this.complete(state, ctx));
    }
  }

  /**
   * Returns the event time every completion input has reached: per input, the lowest over the
   * source partitions its records came from, or the input's own largest event time when its
   * records carry no source partition. A source partition not seen yet is not counted.
   */
  private completionWatermark(ctx: OrdersContext): number {
    const watermarks = ctx.store('watermarks');
    const reached = (input: OrdersInputName) => {
      const prefix = `${input}${ORIGIN_KEY_SEPARATOR}`;
      const perOrigin = [...watermarks.entries()].filter(([key]) => key.startsWith(prefix)).map(([, atMs]) => atMs);
      return perOrigin.length > 0 ? Math.min(...perOrigin) : (watermarks.get(input) ?? -Infinity);
    };
    return Math.min(...COMPLETION_INPUTS.map(reached));
  }

  private joinKey(record: OrdersInput): string {
    if (record.key === null || record.key.length === 0) {
      throw new OrderRecordError('record has no join key', recordCoordinates(record));
    }
    return record.key.toString('utf8');
  }

  private onOrder(record: OrdersInput, ctx: OrdersContext): void {
    const event = record.value;
    const orderId = this.joinKey(record);
    const store = this.orderStore(ctx);
    const current = store.get(orderId) ?? newOrderState(orderId);
    const tsMs = event.source.tsMs;
    if (!isNewerChange(event.position, tsMs, current.rowPosition, current.rowTsMs)) {
      ctx.log.debug({ orderId, position: event.position, applied: current.rowPosition }, 'order change already applied or older; ignored');
      return;
    }
    const source = sourceOf(record);
    const origin = originOf(event);
    let state: OrderState = { ...current, rowPosition: event.position, rowTsMs: tsMs, rowSource: source };

    if (event.op === 'delete') {
      state = { ...state, rowDeleted: true };
      if (state.placed === 'pending') {
        state = { ...state, placed: 'suppressed' };
        this.cancelCompletion(orderId, ctx);
        ctx.log.info({ orderId }, 'order deleted before it was complete; order_placed not sent');
      }
      store.put(orderId, state);
      return;
    }
    if (event.after === null) {
      return;
    }

    const columns = new Columns(this.orders, event.after, record);
    const row: OrderRow = {
      customerId: columns.text('customerId'),
      status: columns.text('status'),
      total: columns.decimal('total'),
      currency: columns.text('currency'),
      discountCode: columns.text('discountCode'),
      createdAtSec: columns.seconds('createdAt'),
      paidAtSec: columns.seconds('paidAt'),
      canceledAtSec: columns.seconds('canceledAt'),
    };
    const firstRow = current.row === null;
    state = { ...state, row, rowDeleted: false, rowOrigin: firstRow ? origin : (current.rowOrigin ?? origin) };

    const statuses = this.orders.statuses;
    const status = row.status?.toLowerCase() ?? null;
    const inStatuses = (meaning: string) => status !== null && (statuses[meaning] ?? []).some((value) => value.toLowerCase() === status);
    const milestone = (atSec: number | null): Milestone => ({ state: 'pending', atSec: atSec ?? tsSecondsOf(record), origin, source });
    if (state.paid === null && (row.paidAtSec !== null || inStatuses('paid'))) {
      state = { ...state, paid: milestone(row.paidAtSec) };
    }
    if (state.canceled === null && (row.canceledAtSec !== null || inStatuses('canceled'))) {
      state = { ...state, canceled: milestone(row.canceledAtSec) };
    }
    if (state.fulfilled === null && inStatuses('fulfilled')) {
      state = { ...state, fulfilled: milestone(null) };
    }

    if (state.placed === 'pending') {
      if (state.rowOrigin === 'snapshot' && !this.mapping.emitSnapshotEvents) {
        // An order that already existed when the connector started: state only.
        state = { ...state, placed: 'suppressed' };
        this.cancelCompletion(orderId, ctx);
      } else {
        state = { ...state, lastChangeMs: Math.max(state.lastChangeMs ?? -Infinity, record.eventTimeMs) };
        this.scheduleCompletion(state, ctx);
        state = this.completeByTransaction(state, ctx);
      }
    }
    state = this.flushMilestones(state, ctx);
    state = this.flushPendingRefunds(state, ctx);
    store.put(orderId, state);
  }

  private onItem(record: OrdersInput, ctx: OrdersContext): void {
    const event = record.value;
    const orderId = this.joinKey(record);
    const row = rowOf(event);
    if (row === null) return;
    const columns = new Columns(this.items, row, record);
    const itemId = columns.requiredText('id');
    const store = this.orderStore(ctx);
    const current = store.get(orderId) ?? newOrderState(orderId);
    const existing = current.items[itemId];
    if (existing !== undefined && !isNewerChange(event.position, event.source.tsMs, existing.position, existing.tsMs)) {
      ctx.log.debug({ orderId, itemId, position: event.position }, 'item change already applied or older; ignored');
      return;
    }
    const item: ItemState =
      event.op === 'delete'
        ? { ...(existing ?? emptyItem(itemId)), position: event.position, tsMs: event.source.tsMs, deleted: true }
        : {
            itemId,
            sku: columns.text('sku'),
            variantId: columns.text('variantId'),
            name: columns.text('name'),
            category: columns.text('category'),
            quantity: columns.integer('quantity'),
            price: columns.decimal('unitPrice'),
            position: event.position,
            tsMs: event.source.tsMs,
            deleted: false,
            // The inserting transaction; an update keeps the one its insert recorded.
            txId: event.op === 'create' ? (event.transaction?.id ?? null) : (existing?.txId ?? null),
          };
    let state: OrderState = { ...current, items: { ...current.items, [itemId]: item } };
    if (state.placed === 'pending') {
      state = { ...state, lastChangeMs: Math.max(state.lastChangeMs ?? -Infinity, record.eventTimeMs) };
      if (state.row !== null && !state.rowDeleted) {
        this.scheduleCompletion(state, ctx);
        state = this.completeByTransaction(state, ctx);
      }
    } else if (state.placed === 'emitted') {
      ctx.log.info({ orderId, itemId, op: event.op }, 'item changed after order_placed was sent; the event is not sent again');
    }
    store.put(orderId, state);
  }

  private onFulfillment(record: OrdersInput, ctx: OrdersContext): void {
    const event = record.value;
    if (event.op === 'delete' || event.after === null || this.fulfillments === undefined) return;
    const orderId = this.joinKey(record);
    const store = this.orderStore(ctx);
    const current = store.get(orderId) ?? newOrderState(orderId);
    if (current.fulfilled !== null) return;
    const columns = new Columns(this.fulfillments, event.after, record);
    const atSec = columns.seconds('shippedAt') ?? tsSecondsOf(record);
    let state: OrderState = { ...current, fulfilled: { state: 'pending', atSec, origin: originOf(event), source: sourceOf(record) } };
    state = this.flushMilestones(state, ctx);
    store.put(orderId, state);
  }

  private onRefund(record: OrdersInput, ctx: OrdersContext): void {
    const event = record.value;
    if (this.refunds === undefined || event.after === null) return;
    // Only a new refund row is an event; later updates of it are state changes we do not send.
    if (event.op !== 'create' && event.op !== 'read') return;
    const columns = new Columns(this.refunds, event.after, record);
    const refundId = columns.requiredText('id');
    const seenStore = ctx.store('refunds');
    if (seenStore.has(refundId)) {
      ctx.log.debug({ refundId, position: event.position }, 'refund already handled; ignored');
      return;
    }
    const origin = originOf(event);
    const refund: PendingRefund = {
      refundId,
      orderId: columns.text('orderId') ?? '',
      amount: columns.decimal('amount'),
      reason: columns.text('reason'),
      atSec: columns.seconds('createdAt') ?? tsSecondsOf(record),
      origin,
      source: sourceOf(record),
    };
    const key = this.joinKey(record);
    let customerId = columns.text('customerId');
    if (customerId === null && !key.startsWith(CUSTOMER_KEY_PREFIX)) {
      const orders = this.orderStore(ctx);
      const order = orders.get(key) ?? newOrderState(key);
      customerId = order.row?.customerId ?? null;
      if (order.row === null) {
        // Whose refund this is only the order row says; hold it until the row arrives.
        orders.put(key, { ...order, pendingRefunds: [...order.pendingRefunds, refund] });
        seenStore.put(refundId, { position: event.position, state: 'pending' });
        return;
      }
    }
    const state = this.sendRefund(refund, customerId, ctx);
    seenStore.put(refundId, { position: event.position, state });
  }

  private sendRefund(refund: PendingRefund, customerId: string | null, ctx: OrdersContext): EventState {
    if (!this.shouldSend(refund.origin)) return 'suppressed';
    if (customerId === null) {
      this.guest(ctx, 'refund', { refundId: refund.refundId, orderId: refund.orderId });
      return 'suppressed';
    }
    const name = this.mapping.events.refundCreated;
    this.emit(ctx, customerId, name, [name, refund.refundId], refund.atSec, refund.origin, refund.source, {
      refund_id: refund.refundId,
      order_id: refund.orderId === '' ? null : refund.orderId,
      amount: moneyNumber(refund.amount),
      reason: refund.reason,
    });
    return 'emitted';
  }

  private flushPendingRefunds(state: OrderState, ctx: OrdersContext): OrderState {
    if (state.pendingRefunds.length === 0 || state.row === null) return state;
    const seen = ctx.store('refunds');
    for (const refund of state.pendingRefunds) {
      const result = this.sendRefund(refund, state.row.customerId, ctx);
      const previous = seen.get(refund.refundId);
      seen.put(refund.refundId, { position: previous?.position ?? '', state: result });
    }
    return { ...state, pendingRefunds: [] };
  }

  private onSubscription(record: OrdersInput, ctx: OrdersContext): void {
    const event = record.value;
    if (this.subscriptions === undefined) return;
    const key = this.joinKey(record);
    const store = ctx.store('subscriptions');
    const row = rowOf(event);
    if (row === null) return;
    const columns = new Columns(this.subscriptions, row, record);
    const subscriptionId = columns.requiredText('id');
    const current: SubscriptionState = store.get(key) ?? { subscriptionId, position: '', tsMs: null, created: null, canceled: null };
    if (current.position !== '' && !isNewerChange(event.position, event.source.tsMs, current.position, current.tsMs)) {
      ctx.log.debug({ subscriptionId, position: event.position }, 'subscription change already applied or older; ignored');
      return;
    }
    let state: SubscriptionState = { ...current, position: event.position, tsMs: event.source.tsMs };
    if (event.op === 'delete') {
      store.put(key, state);
      return;
    }
    const origin = originOf(event);
    const source = sourceOf(record);
    const customerId = columns.text('customerId');
    const plan = columns.text('plan');
    const status = columns.text('status');
    const canceledAtSec = columns.seconds('canceledAt');
    const canceledStatuses = this.subscriptions.statuses.canceled ?? [];
    const isCanceled = canceledAtSec !== null || (status !== null && canceledStatuses.some((value) => value.toLowerCase() === status.toLowerCase()));

    const send = (name: string, atSec: number, data: JsonObject): EventState => {
      if (!this.shouldSend(origin)) return 'suppressed';
      if (customerId === null) {
        this.guest(ctx, 'subscription', { subscriptionId });
        return 'suppressed';
      }
      this.emit(ctx, customerId, name, [name, subscriptionId], atSec, origin, source, data);
      return 'emitted';
    };

    if (state.created === null) {
      if (event.op === 'create' || event.op === 'read') {
        const name = this.mapping.events.subscriptionCreated;
        const startedAtSec = columns.seconds('startedAt');
        state = {
          ...state,
          created: send(name, startedAtSec ?? tsSecondsOf(record), {
            subscription_id: subscriptionId,
            plan,
            status,
            price: moneyNumber(columns.decimal('price')),
            started_at: startedAtSec,
          }),
        };
      } else {
        // First seen through an update: it was created before this processor's history.
        state = { ...state, created: 'suppressed' };
      }
    }
    if (state.canceled === null && isCanceled) {
      const name = this.mapping.events.subscriptionCanceled;
      const atSec = canceledAtSec ?? tsSecondsOf(record);
      state = { ...state, canceled: send(name, atSec, { subscription_id: subscriptionId, plan, canceled_at: atSec }) };
    }
    store.put(key, state);
  }

  // --- completion ---

  /** Keeps the creating transaction of an order and completes the order when its items are all there. */
  private onCreatingTransaction(record: OrderTransactionInput, ctx: OrdersContext): void {
    if (!this.transactionMetadata) return;
    const marker = record.value;
    const orderId = marker.order_id;
    const store = this.orderStore(ctx);
    const current = store.get(orderId) ?? newOrderState(orderId);
    if (current.placed !== 'pending') {
      ctx.log.debug({ orderId, transactionId: marker.transaction_id, placed: current.placed }, 'creating transaction of a decided order; ignored');
      return;
    }
    let state: OrderState = { ...current, creatingTransaction: { id: marker.transaction_id, items: marker.items } };
    state = this.completeByTransaction(state, ctx);
    store.put(orderId, state);
  }

  /**
   * Completes a pending order whose row exists and which contains exactly as many items from its
   * creating transaction as that transaction inserted. A transaction that inserted no items
   * completes nothing, because the items may come in a later transaction. The grace period
   * decides then.
   */
  private completeByTransaction(state: OrderState, ctx: OrdersContext): OrderState {
    const creating = state.creatingTransaction ?? null;
    if (!this.transactionMetadata || creating === null || creating.items === 0) return state;
    if (state.placed !== 'pending' || state.row === null || state.rowDeleted) return state;
    const arrived = Object.values(state.items).filter((item) => item.txId === creating.id).length;
    if (arrived !== creating.items) return state;
    this.cancelCompletion(state.orderId, ctx);
    ctx.log.debug({ orderId: state.orderId, transactionId: creating.id, items: arrived }, 'order complete: every item of its creating transaction arrived');
    return this.complete(state, ctx);
  }

  /** Returns whether the order's creating transaction is known to have inserted items that have not all arrived. */
  private awaitsCreatingItems(state: OrderState): boolean {
    const creating = state.creatingTransaction ?? null;
    if (!this.transactionMetadata || creating === null || creating.items === 0) return false;
    return Object.values(state.items).filter((item) => item.txId === creating.id).length < creating.items;
  }

  private scheduleCompletion(state: OrderState, ctx: OrdersContext): void {
    const key = COMPLETION_TIMER_PREFIX + state.orderId;
    ctx.schedule({ kind: 'event-time', key, deadlineMs: (state.lastChangeMs ?? 0) + this.graceMs });
    ctx.schedule({ kind: 'wall-clock', key, deadlineMs: ctx.now() + this.graceMs });
    ctx.store('gated').delete(state.orderId);
    ctx.store('waiting').delete(state.orderId);
  }

  private cancelCompletion(orderId: string, ctx: OrdersContext): void {
    ctx.cancel('event-time', COMPLETION_TIMER_PREFIX + orderId);
    ctx.cancel('wall-clock', COMPLETION_TIMER_PREFIX + orderId);
    ctx.store('gated').delete(orderId);
    ctx.store('waiting').delete(orderId);
  }

  /**
   * Handles a fired timer. Event-time timers are handled synchronously. The wall-clock
   * timers return a promise, because they look up whether the items input is caught up.
   */
  onTimer(timer: FiredTimer, ctx: OrdersContext): void | Promise<void> {
    if (timer.kind === 'wall-clock' && timer.key === WAITING_CHECK_TIMER_KEY) {
      return this.checkWaiting(ctx);
    }
    if (!timer.key.startsWith(COMPLETION_TIMER_PREFIX)) {
      ctx.log.warn({ timerKey: timer.key }, 'unknown timer; dropped');
      return;
    }
    const orderId = timer.key.slice(COMPLETION_TIMER_PREFIX.length);
    const store = this.orderStore(ctx);
    const state = store.get(orderId);
    if (state === undefined || state.placed !== 'pending' || state.row === null || state.rowDeleted) {
      this.cancelCompletion(orderId, ctx);
      return;
    }
    if (timer.kind === 'wall-clock') {
      return this.completeByWallClock(timer, state, ctx);
    }
    if (this.awaitsCreatingItems(state)) {
      // The creating transaction inserted items that have not arrived: completeByTransaction
      // sends the order when they do, and the wall-clock timer still bounds the wait.
      ctx.log.debug({ orderId }, 'grace period over, but items of the creating transaction are still missing');
      return;
    }
    const deadlineMs = (state.lastChangeMs ?? 0) + this.graceMs;
    if (this.completionWatermark(ctx) < deadlineMs) {
      // The items input has not reached the deadline: items of this order may still
      // be on their way. It completes once that input gets there (releaseGated);
      // the wall-clock timer still bounds the wait.
      ctx.store('gated').put(orderId, deadlineMs);
      return;
    }
    this.cancelCompletion(orderId, ctx);
    store.put(orderId, this.complete(state, ctx));
  }

  /**
   * Completes an order by the wall-clock fallback once the items input is caught up.
   * Under load the clock can run out while items of the order are still unread, in
   * this task's partition of the items input or not yet re-keyed from the source
   * topic. Until the input is caught up the order joins the task's `waiting` store,
   * which one timer checks every CAUGHT_UP_RECHECK_MS without limit, because
   * completing early would send an incomplete order.
   */
  private async completeByWallClock(timer: FiredTimer, state: OrderState, ctx: OrdersContext): Promise<void> {
    const orderId = state.orderId;
    if (!(await this.completionInputsCaughtUp(ctx))) {
      this.onCompletionWait();
      ctx.store('waiting').put(orderId, ctx.now());
      this.scheduleWaitingCheck(ctx);
      ctx.log.debug({ orderId, recheckInMs: CAUGHT_UP_RECHECK_MS }, 'wall-clock fallback waits: the items input is not caught up');
      return;
    }
    if (this.awaitsCreatingItems(state)) {
      ctx.log.warn({ orderId, creatingTransaction: state.creatingTransaction }, 'items of the creating transaction missing with the items input caught up; order sent without them');
    }
    ctx.log.info({ orderId, kind: timer.kind }, 'order completed by the wall-clock fallback (input idle)');
    this.cancelCompletion(orderId, ctx);
    this.orderStore(ctx).put(orderId, this.complete(state, ctx));
  }

  /** Completes every waiting order once the items input is caught up; otherwise checks again later. */
  private async checkWaiting(ctx: OrdersContext): Promise<void> {
    const waiting = ctx.store('waiting');
    if (waiting.size === 0) return;
    if (!(await this.completionInputsCaughtUp(ctx))) {
      this.scheduleWaitingCheck(ctx);
      ctx.log.debug({ waiting: waiting.size, recheckInMs: CAUGHT_UP_RECHECK_MS }, 'wall-clock fallback still waits: the items input is not caught up');
      return;
    }
    const orders = this.orderStore(ctx);
    for (const [orderId, waitingSinceMs] of [...waiting.entries()]) {
      waiting.delete(orderId);
      const state = orders.get(orderId);
      if (state === undefined || state.placed !== 'pending' || state.row === null || state.rowDeleted) continue;
      ctx.log.info({ orderId, waitedMs: ctx.now() - waitingSinceMs }, 'order completed by the wall-clock fallback after the items input caught up');
      this.cancelCompletion(orderId, ctx);
      orders.put(orderId, this.complete(state, ctx));
    }
  }

  private async completionInputsCaughtUp(ctx: OrdersContext): Promise<boolean> {
    for (const input of COMPLETION_INPUTS) {
      if (!(await ctx.inputCaughtUp(input))) return false;
    }
    return true;
  }

  /** Schedules the one timer that checks all waiting orders, so each check writes one timer record however many orders wait. */
  private scheduleWaitingCheck(ctx: OrdersContext): void {
    if (ctx.timer('wall-clock', WAITING_CHECK_TIMER_KEY) !== undefined) return;
    // A wall-clock timer fires once the clock passes its deadline by the lateness bound.
    ctx.schedule({ kind: 'wall-clock', key: WAITING_CHECK_TIMER_KEY, deadlineMs: ctx.now() + CAUGHT_UP_RECHECK_MS - ctx.timerLatenessBoundMs });
  }

  private complete(state: OrderState, ctx: OrdersContext): OrderState {
    const row = state.row!;
    const origin = state.rowOrigin ?? 'live';
    let next: OrderState;
    if (row.customerId === null) {
      this.guest(ctx, 'order', { orderId: state.orderId });
      next = { ...state, placed: 'suppressed' };
    } else if (!this.shouldSend(origin)) {
      next = { ...state, placed: 'suppressed' };
    } else {
      const items = Object.values(state.items)
        .filter((item) => !item.deleted)
        .sort((a, b) => compareIds(a.itemId, b.itemId))
        .map((item) => ({
          sku: item.sku,
          variant_id: item.variantId,
          name: item.name,
          category: item.category,
          quantity: item.quantity,
          price: moneyNumber(item.price),
        }));
      const name = this.mapping.events.orderPlaced;
      const atSec = row.createdAtSec ?? Math.floor((state.rowTsMs ?? 0) / 1000);
      this.emit(ctx, row.customerId, name, [name, state.orderId], atSec, origin, state.rowSource ?? {}, {
        order_id: state.orderId,
        order_total: moneyNumber(row.total),
        currency: row.currency,
        discount_code: row.discountCode,
        items,
        created_at: row.createdAtSec,
      });
      next = { ...state, placed: 'emitted' };
    }
    return this.flushMilestones(next, ctx);
  }

  /** Emits paid, fulfilled and canceled events that are due, once order_placed is decided. */
  private flushMilestones(state: OrderState, ctx: OrdersContext): OrderState {
    if (state.placed === 'pending') return state;
    let next = state;
    const events = this.mapping.events;
    for (const [field, name] of [
      ['paid', events.orderPaid],
      ['fulfilled', events.orderFulfilled],
      ['canceled', events.orderCanceled],
    ] as const) {
      const milestone = next[field];
      if (milestone === null || milestone.state !== 'pending') continue;
      let result: EventState = 'suppressed';
      const customerId = next.row?.customerId ?? null;
      if (next.placed === 'emitted' || (next.placed === 'suppressed' && next.row !== null && !next.rowDeleted)) {
        if (customerId !== null && this.shouldSend(milestone.origin) && next.row !== null) {
          this.emit(ctx, customerId, name, [name, next.orderId], milestone.atSec, milestone.origin, milestone.source, {
            order_id: next.orderId,
            order_total: moneyNumber(next.row.total),
            currency: next.row.currency,
          });
          result = 'emitted';
        }
      }
      next = { ...next, [field]: { ...milestone, state: result } };
    }
    return next;
  }

  // --- helpers ---

  private shouldSend(origin: RecordOrigin): boolean {
    return origin !== 'snapshot' || this.mapping.emitSnapshotEvents;
  }

  private guest(ctx: OrdersContext, what: string, fields: Record<string, string>): void {
    this.onGuestSkipped(what);
    ctx.log.info({ ...fields, what }, 'guest checkout without customer id; not sent to Customer.io');
  }

  private emit(
    ctx: OrdersContext,
    customerId: string,
    name: string,
    identity: [string, string],
    atSec: number,
    origin: RecordOrigin,
    source: OutboxSource,
    data: JsonObject,
  ): void {
    const value: EventRecord = { kind: 'event', customerId, name, id: deriveEventId(identity), timestamp: atSec, data, origin, source };
    ctx.emit('events', { key: customerId, value, timestampMs: atSec * 1000 });
    noteEmitted(ctx.store('progress'), atSec * 1000);
  }

  /** Returns the `orders` store, wrapped so every write keeps the `pending` store in step. */
  private orderStore(ctx: OrdersContext): KeyValueStore<OrderState> {
    const orders = ctx.store('orders');
    const pending = ctx.store('pending');
    return {
      name: orders.name,
      get: (orderId) => orders.get(orderId),
      has: (orderId) => orders.has(orderId),
      put: (orderId, state) => {
        orders.put(orderId, state);
        setPending(pending, orderId, placedAtMs(state));
      },
      delete: (orderId) => {
        setPending(pending, orderId, null);
        return orders.delete(orderId);
      },
      entries: () => orders.entries(),
      get size() {
        return orders.size;
      },
    };
  }
}

/** Event time order_placed will carry, while the order has a row and order_placed is undecided; otherwise null. */
export function placedAtMs(state: OrderState): number | null {
  if (state.placed !== 'pending' || state.row === null || state.rowDeleted) return null;
  return (state.row.createdAtSec ?? Math.floor((state.rowTsMs ?? 0) / 1000)) * 1000;
}

/** Source partition of a re-keyed record, from its origin header; undefined without one. */
function originPartition(headers: IHeaders | undefined): number | undefined {
  const value = headers?.[ORIGIN_HEADERS.partition];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  if (last === undefined) return undefined;
  const partition = Number(last.toString());
  return Number.isSafeInteger(partition) && partition >= 0 ? partition : undefined;
}

function emptyItem(itemId: string): ItemState {
  return { itemId, sku: null, variantId: null, name: null, category: null, quantity: null, price: null, position: '', tsMs: null, deleted: false };
}

function rowOf(event: ChangeEvent): Readonly<Record<string, unknown>> | null {
  return event.after ?? event.before ?? null;
}

function keyText(value: unknown): string | null {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string' && value !== '') return value;
  return null;
}
