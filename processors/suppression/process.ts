/**
 * The decision logic of the suppression processor, free of Kafka: every function takes the
 * customer's state and explicit times and returns the new state and what to do.
 *
 * Rules (W = window, Q = quiet period):
 * - checkout_started is held until its event time + W.
 * - cart_updated is debounced per cart: each change moves the release to its event time + W
 *   and replaces the carried snapshot with the newest one (by event time).
 * - A hold is suppressed by an order_placed of the same customer whose event time lies in
 *   [first change of the hold, release]. The decision names that order.
 * - A cart event whose event time lies in [order time, order time + Q] of one of the customer's
 *   orders is dropped, on arrival and again at release (the order may be read after the cart
 *   event when the two inputs are read at different speeds).
 * - Order and refund events pass through at once.
 * - Release happens only once every input has been read up to the deadline, or has been idle
 *   (see canRelease).
 */
import type { EventRecord } from '../customerio/records.ts';
import type { EventNames } from './config.ts';
import type { ProgressRecord } from '../progress/records.ts';
import type { CustomerState, DecisionRecord, HeldEvent, HeldKind, OrderMark, ProducerProgress } from './records.ts';

export interface Rules {
  readonly windowMs: number;
  readonly quietMs: number;
  readonly latenessBoundMs: number;
  readonly ordersPerCustomer: number;
  readonly names: EventNames;
}

export type Effect =
  | { readonly type: 'decision'; readonly decision: DecisionRecord }
  /** Write the record to the outbox. */
  | { readonly type: 'emit'; readonly record: EventRecord }
  /** (Re)schedule the release timers of a hold. */
  | { readonly type: 'hold'; readonly held: HeldEvent }
  /** Cancel the timers of a hold that was decided. */
  | { readonly type: 'unhold'; readonly heldKey: string };

export interface Outcome {
  readonly state: CustomerState;
  readonly effects: readonly Effect[];
}

export const EMPTY_CUSTOMER: CustomerState = Object.freeze({ held: [], orders: [] });

export function isEmpty(state: CustomerState): boolean {
  return state.held.length === 0 && state.orders.length === 0;
}

function cartIdOf(record: EventRecord): string | null {
  const value = record.data['cart_id'];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : null;
}

function orderIdOf(record: EventRecord): string {
  const value = record.data['order_id'];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : record.id;
}

function decision(
  kind: DecisionRecord['decision'],
  fields: { name: string; id: string; cartId: string | null; timeMs: number; orderId?: string },
  streamTimeMs: number | null,
  reason: string,
): Effect {
  return {
    type: 'decision',
    decision: {
      decision: kind,
      event_name: fields.name,
      event_id: fields.id,
      cart_id: fields.cartId,
      ...(fields.orderId === undefined ? {} : { order_id: fields.orderId }),
      event_time: fields.timeMs,
      decided_at_stream_time: streamTimeMs,
      reason,
    },
  };
}

function heldFields(held: HeldEvent, orderId?: string) {
  return {
    name: held.record.name,
    id: held.record.id,
    cartId: held.cartId,
    timeMs: held.timeMs,
    ...(orderId === undefined ? {} : { orderId }),
  };
}

/** Earliest order (by time, then id) in [fromMs, toMs]. */
function firstOrderBetween(orders: readonly OrderMark[], fromMs: number, toMs: number): OrderMark | undefined {
  return orders
    .filter((order) => order.timeMs >= fromMs && order.timeMs <= toMs)
    .sort((a, b) => a.timeMs - b.timeMs || (a.orderId < b.orderId ? -1 : a.orderId > b.orderId ? 1 : 0))[0];
}

/** Returns the order whose quiet period covers `timeMs` (order time <= timeMs <= order time + Q), if any. */
export function quietOrder(orders: readonly OrderMark[], timeMs: number, quietMs: number): OrderMark | undefined {
  return firstOrderBetween(orders, timeMs - quietMs, timeMs);
}

/** Handles a cart_updated or checkout_started of this customer. */
export function onCartEvent(
  state: CustomerState,
  record: EventRecord,
  eventTimeMs: number,
  streamTimeMs: number | null,
  rules: Rules,
): Outcome {
  const kind: HeldKind = record.name === rules.names.checkoutStarted ? 'checkout_started' : 'cart_updated';
  const cartId = cartIdOf(record);
  const fields = { name: record.name, id: record.id, cartId, timeMs: eventTimeMs };

  const quiet = quietOrder(state.orders, eventTimeMs, rules.quietMs);
  if (quiet !== undefined) {
    return {
      state,
      effects: [decision('suppressed', { ...fields, orderId: quiet.orderId }, streamTimeMs, 'cart event within the quiet period after an order')],
    };
  }

  const heldKey = kind === 'checkout_started' ? `checkout:${record.id}` : `cart:${cartId ?? record.id}`;
  const existing = state.held.find((held) => held.heldKey === heldKey);
  if (existing === undefined) {
    const held: HeldEvent = {
      heldKey,
      kind,
      cartId,
      firstTimeMs: eventTimeMs,
      timeMs: eventTimeMs,
      deadlineMs: eventTimeMs + rules.windowMs,
      record,
      coalesced: 0,
    };
    return {
      state: { ...state, held: [...state.held, held] },
      effects: [decision('held', fields, streamTimeMs, `held until ${new Date(held.deadlineMs).toISOString()}`), { type: 'hold', held }],
    };
  }

  // A repeat of the same event (same id) changes nothing. A change of the same cart replaces the
  // snapshot only when it is newer in event time, and it moves the release to its time + W.
  if (existing.record.id === record.id) {
    return { state, effects: [decision('coalesced', fields, streamTimeMs, 'repeat of a held event')] };
  }
  const newer = eventTimeMs >= existing.timeMs;
  const held: HeldEvent = {
    ...existing,
    firstTimeMs: Math.min(existing.firstTimeMs, eventTimeMs),
    timeMs: newer ? eventTimeMs : existing.timeMs,
    deadlineMs: Math.max(existing.deadlineMs, eventTimeMs + rules.windowMs),
    record: newer ? record : existing.record,
    coalesced: existing.coalesced + 1,
  };
  return {
    state: { ...state, held: state.held.map((item) => (item.heldKey === heldKey ? held : item)) },
    effects: [
      decision(
        'coalesced',
        fields,
        streamTimeMs,
        newer ? `newest change of the cart; release moved to ${new Date(held.deadlineMs).toISOString()}` : 'older than the held snapshot',
      ),
      { type: 'hold', held },
    ],
  };
}

/**
 * Handles an event of the order input: it passes through at once. An order_placed also
 * suppresses the customer's holds it falls into and is remembered for the quiet period.
 */
export function onOrderEvent(
  state: CustomerState,
  record: EventRecord,
  eventTimeMs: number,
  streamTimeMs: number | null,
  rules: Rules,
): Outcome {
  const effects: Effect[] = [
    { type: 'emit', record },
    decision('passed', { name: record.name, id: record.id, cartId: cartIdOf(record), timeMs: eventTimeMs }, streamTimeMs, 'order events are never held'),
  ];
  if (record.name !== rules.names.orderPlaced) {
    return { state, effects };
  }
  const order: OrderMark = { orderId: orderIdOf(record), timeMs: eventTimeMs };
  const kept: HeldEvent[] = [];
  for (const held of state.held) {
    if (order.timeMs >= held.firstTimeMs && order.timeMs <= held.deadlineMs) {
      effects.push(decision('suppressed', heldFields(held, order.orderId), streamTimeMs, 'order placed during the hold'));
      effects.push({ type: 'unhold', heldKey: held.heldKey });
    } else {
      kept.push(held);
    }
  }
  const orders = state.orders.some((known) => known.orderId === order.orderId && known.timeMs === order.timeMs)
    ? state.orders
    : [...state.orders, order].sort((a, b) => a.timeMs - b.timeMs).slice(-rules.ordersPerCustomer);
  return { state: { held: kept, orders }, effects };
}

/**
 * Decides a hold whose release time the watermark has passed: suppressed when an order of the
 * customer falls into the hold or covers it with its quiet period, released otherwise.
 */
export function releaseHeld(state: CustomerState, heldKey: string, streamTimeMs: number | null, rules: Rules): Outcome {
  const held = state.held.find((item) => item.heldKey === heldKey);
  if (held === undefined) {
    return { state, effects: [] };
  }
  const next: CustomerState = { ...state, held: state.held.filter((item) => item.heldKey !== heldKey) };
  const during = firstOrderBetween(state.orders, held.firstTimeMs, held.deadlineMs);
  const quiet = during === undefined ? quietOrder(state.orders, held.timeMs, rules.quietMs) : undefined;
  const cause = during ?? quiet;
  if (cause !== undefined) {
    const reason = during !== undefined ? 'order placed during the hold' : 'cart event within the quiet period after an order';
    return {
      state: next,
      effects: [decision('suppressed', heldFields(held, cause.orderId), streamTimeMs, reason), { type: 'unhold', heldKey }],
    };
  }
  const reason = held.coalesced > 0 ? `no order within the window; newest of ${held.coalesced + 1} changes` : 'no order within the window';
  return {
    state: next,
    effects: [{ type: 'emit', record: held.record }, decision('released', heldFields(held), streamTimeMs, reason), { type: 'unhold', heldKey }],
  };
}

/**
 * Drops remembered orders that can no longer suppress anything: older by Q + W + the lateness
 * bound than both the watermark and the customer's oldest held event.
 */
export function pruneOrders(state: CustomerState, watermarkMs: number, rules: Rules): CustomerState {
  const oldestMs = Math.min(watermarkMs, ...state.held.map((held) => held.firstTimeMs));
  const horizonMs = oldestMs - rules.quietMs - rules.windowMs - rules.latenessBoundMs;
  const orders = state.orders.filter((order) => order.timeMs >= horizonMs);
  return orders.length === state.orders.length ? state : { ...state, orders };
}

/** How far one input has been read, as seen by the release rule. */
export interface InputProgress {
  /** Largest event time read from the input, or null before its first record. */
  readonly watermarkMs: number | null;
  /** No record arrived for the idle timeout: the input no longer holds the watermark back. */
  readonly idle: boolean;
}

/**
 * Returns whether a hold ending at `deadlineMs` can be decided. Every input must have been read beyond
 * the deadline or be idle, so an order that falls into the hold cannot still be unread on a
 * lagging input. And the deadline must have passed for real: on some input's event time, or
 * on the wall clock by the lateness bound (when every input is idle).
 */
export function canRelease(deadlineMs: number, inputs: readonly InputProgress[], nowMs: number, latenessBoundMs: number): boolean {
  // Strictly past: an order at exactly the deadline still falls into the hold.
  const reached = (input: InputProgress) => input.watermarkMs !== null && input.watermarkMs > deadlineMs;
  if (!inputs.every((input) => reached(input) || input.idle)) {
    return false;
  }
  return inputs.some(reached) || nowMs >= deadlineMs + latenessBoundMs;
}

/** Returns the smallest watermark over the inputs that are not idle, or null while one of them has none yet. */
export function lowWatermark(inputs: readonly InputProgress[]): number | null {
  const active = inputs.filter((input) => !input.idle);
  if (active.length === 0) {
    const known = inputs.map((input) => input.watermarkMs).filter((value): value is number => value !== null);
    return known.length === 0 ? null : Math.max(...known);
  }
  if (active.some((input) => input.watermarkMs === null)) {
    return null;
  }
  return Math.min(...active.map((input) => input.watermarkMs!));
}

/** Folds a progress record into its producer's state; a changed task count drops reports of tasks that no longer exist. */
export function applyProgress(current: ProducerProgress | undefined, record: ProgressRecord): ProducerProgress {
  const reports: Record<string, { idle: boolean; watermarkMs: number | null }> = {};
  for (const [task, report] of Object.entries(current?.reports ?? {})) {
    if (Number(task) < record.tasks) reports[task] = report;
  }
  reports[String(record.task)] = { idle: record.idle, watermarkMs: record.watermark_ms };
  return { tasks: record.tasks, reports };
}

/**
 * Progress of an input whose producers write progress records, or null when none has.
 * The input is idle when the last record of every task of every producer reports idle. Otherwise its watermark is
 * the lowest one of the tasks that are not idle, and null while one of them has not
 * reported or has no watermark yet. When all are idle, the largest event time read from
 * the input stands, as for any input.
 */
export function producerInputProgress(producers: readonly ProducerProgress[], readWatermarkMs: number | null): InputProgress | null {
  if (producers.length === 0) return null;
  let idle = true;
  let lowestMs = Infinity;
  let unknown = false;
  for (const producer of producers) {
    for (let task = 0; task < producer.tasks; task += 1) {
      const report = producer.reports[String(task)];
      if (report?.idle === true) continue;
      idle = false;
      if (report === undefined || report.watermarkMs === null) unknown = true;
      else lowestMs = Math.min(lowestMs, report.watermarkMs);
    }
  }
  if (idle) return { watermarkMs: readWatermarkMs, idle: true };
  return { watermarkMs: unknown ? null : lowestMs, idle: false };
}
