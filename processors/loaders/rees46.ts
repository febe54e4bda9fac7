/**
 * Replays REES46 behaviour events into the reference shop schema as live cart and order
 * traffic, one MySQL transaction per event that changes something.
 *
 * Rules (where the data leaves a choice, the choice is stated):
 * - Times are UTC, as the event_time values state. DATETIME columns get the UTC wall-clock reading, so
 *   the mapping zone for this dataset is UTC; the TIMESTAMP column paid_at gets the same instant.
 * - `view` events are ignored and counted; they create nothing, not even a customer.
 * - A customer row (id = user_id + id offset, created_at = that event) is inserted with the
 *   first cart, remove_from_cart or purchase event of the user. The data has no personal data.
 * - One cart per user_session: carts.id = user_session (with a non-zero id offset:
 *   "<offset>-<user_session>"), created by the session's first `cart` event with status 'open'.
 *   Each `cart` event adds the product (sku = product_id, category = category_code,
 *   unit_price = price) or raises the quantity of its line by 1; each `remove_from_cart` takes
 *   one away and deletes the line at 0 (a remove with no line is skipped and counted).
 *   Carts stay 'open' when nothing is bought: abandonment is for the consumer to infer.
 * - The purchase events of a session form one order, written in ONE transaction at the
 *   session's first purchase event with all its items: a first pass over the file (honouring
 *   --limit) collects every session's purchase events. Items group purchase events by
 *   (product_id, price): quantity = number of events, unit_price = price. Later purchase
 *   events of the session write nothing (they are counted). Orders are status 'paid', currency
 *   USD (the publisher names no currency; USD is the reference schema's default).
 * - Order id = 2^52 + the first 52 bits of SHA-256(user_session as UTF-8) + id offset: stable
 *   across runs, above the ids of the other datasets, and below 2^53 (exact as a JSON number)
 *   when the offset is 0. Two sessions with the same id stop the load before anything is written.
 * - When the session's order is written its cart is marked 'converted'; a cart first created
 *   after the session's order is created as 'converted'.
 * - A malformed row stops the load in the first pass, before anything is written, with an
 *   error naming the line and field. A non-view event without user_session is skipped and counted.
 */

import { createHash } from 'node:crypto';

import { Decimal } from 'decimal.js';
import type { Connection } from 'mysql2/promise';

import { readCsv } from './csv.ts';
import type { CsvRow } from './csv.ts';
import { LoaderIdCollisionError, LoaderInputError } from './errors.ts';
import { inTransaction, insertRows } from './mysql.ts';
import { bump, Pacer, ProgressTicker, systemClock } from './replay.ts';
import type { ReplayOptions } from './replay.ts';

export const REES46_COLUMNS = ['event_time', 'event_type', 'product_id', 'category_id', 'category_code', 'brand', 'price', 'user_id', 'user_session'] as const;
export const REES46_CURRENCY = 'USD';
export const REES46_ORDER_STATUS = 'paid';

const EVENT_TYPES = ['view', 'cart', 'remove_from_cart', 'purchase'] as const;
type EventType = (typeof EVENT_TYPES)[number];

export interface Rees46Summary {
  readonly dataset: 'rees46';
  readonly rowsRead: number;
  /** Rows by event_type. */
  readonly events: Readonly<Record<string, number>>;
  readonly transactions: number;
  readonly customers: number;
  readonly carts: number;
  /** cart events that inserted a new cart_items line. */
  readonly cartItemsAdded: number;
  /** cart events that raised the quantity of an existing line. */
  readonly cartItemsIncremented: number;
  /** remove_from_cart events that lowered or deleted a line. */
  readonly cartItemsRemoved: number;
  readonly convertedCarts: number;
  readonly orders: number;
  readonly orderItems: number;
  /** Purchase events after a session's first: already part of its order. */
  readonly purchaseEventsInWrittenOrders: number;
  /** view events: nothing written. */
  readonly viewsIgnored: number;
  /** Events not written, by reason. */
  readonly skippedEvents: Readonly<Record<string, number>>;
}

interface Rees46Event {
  readonly line: number;
  readonly wallClock: string;
  readonly eventMs: number;
  readonly type: EventType;
  readonly productId: string;
  readonly categoryCode: string | null;
  readonly price: Decimal;
  readonly userId: string;
  readonly session: string | null;
}

const TIME_PATTERN = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC$/;
const PRICE_PATTERN = /^\d{1,9}(\.\d{1,3})?$/;
const ID_PATTERN = /^\d{1,19}$/;
/** carts.id is VARCHAR(64); the offset prefix needs room too. */
const MAX_SESSION_LENGTH = 40;

function parseEvent(file: string, row: CsvRow): Rees46Event {
  const get = (field: string): string => row.fields[field] ?? '';
  const fail = (field: string, message: string): never => {
    throw new LoaderInputError(message, { file, line: row.line, field, value: get(field) });
  };
  const time = TIME_PATTERN.exec(get('event_time'));
  if (time === null) return fail('event_time', 'is not a time of the form YYYY-MM-DD HH:MM:SS UTC');
  const wallClock = `${time[1]} ${time[2]}`;
  const eventMs = Date.parse(`${time[1]}T${time[2]}Z`);
  if (Number.isNaN(eventMs) || new Date(eventMs).toISOString().slice(0, 19) !== `${time[1]}T${time[2]}`) fail('event_time', 'is not a valid date');
  const type = get('event_type') as EventType;
  if (!EVENT_TYPES.includes(type)) fail('event_type', `is not one of ${EVENT_TYPES.join(', ')}`);
  if (!ID_PATTERN.test(get('product_id'))) fail('product_id', 'is not a whole number');
  if (!PRICE_PATTERN.test(get('price'))) fail('price', 'is not a non-negative decimal number with at most 3 decimals');
  if (!ID_PATTERN.test(get('user_id'))) fail('user_id', 'is not a whole number');
  const session = get('user_session');
  if (session.length > MAX_SESSION_LENGTH) fail('user_session', `is longer than ${MAX_SESSION_LENGTH} characters`);
  const categoryCode = get('category_code');
  return {
    line: row.line,
    wallClock,
    eventMs,
    type,
    productId: get('product_id'),
    categoryCode: categoryCode === '' ? null : categoryCode.slice(0, 255),
    price: new Decimal(get('price')),
    userId: get('user_id'),
    session: session === '' ? null : session,
  };
}

const ORDER_ID_BASE = 1n << 52n;
const BIGINT_UNSIGNED_MAX = (1n << 64n) - 1n;

/** Computes the order id of a session before the id offset: 2^52 + the first 52 bits of SHA-256(session). */
export function rees46OrderId(session: string): bigint {
  const digest = createHash('sha256').update(session, 'utf8').digest('hex');
  return ORDER_ID_BASE + BigInt(`0x${digest.slice(0, 13)}`);
}

/** carts.id of a session: the session itself, prefixed with the offset when there is one. */
export function rees46CartId(session: string, idOffset: bigint): string {
  return idOffset === 0n ? session : `${idOffset}-${session}`;
}

interface OrderPlan {
  readonly id: string;
  readonly items: { sku: string; category: string | null; price: Decimal; quantity: number }[];
}

/** First pass: checks every row and gathers each session's purchase events into its order. */
async function planOrders(file: string, options: ReplayOptions): Promise<Map<string, OrderPlan>> {
  const plans = new Map<string, OrderPlan>();
  const sessionOfId = new Map<string, string>();
  for await (const row of readCsv(file, REES46_COLUMNS, options.limitRows)) {
    const event = parseEvent(file, row);
    if (event.type !== 'purchase' || event.session === null) continue;
    let plan = plans.get(event.session);
    if (plan === undefined) {
      const id = rees46OrderId(event.session) + options.idOffset;
      if (id > BIGINT_UNSIGNED_MAX) throw new LoaderInputError(`order id ${id} of this session exceeds BIGINT UNSIGNED; use a smaller --id-offset`, { file, line: event.line, field: 'user_session', value: event.session });
      const key = id.toString();
      const other = sessionOfId.get(key);
      if (other !== undefined) throw new LoaderIdCollisionError(key, other, event.session);
      sessionOfId.set(key, event.session);
      plan = { id: key, items: [] };
      plans.set(event.session, plan);
    }
    const item = plan.items.find((candidate) => candidate.sku === event.productId && candidate.price.equals(event.price));
    if (item === undefined) plan.items.push({ sku: event.productId, category: event.categoryCode, price: event.price, quantity: 1 });
    else item.quantity += 1;
  }
  return plans;
}

interface CartState {
  readonly id: string;
  /** Quantity per sku of the lines in the cart. */
  readonly lines: Map<string, number>;
}

/** Loads `file` through `connection` (whose database holds the reference schema); resolves with the counts. */
export async function loadRees46(connection: Connection, file: string, options: ReplayOptions): Promise<Rees46Summary> {
  const plans = await planOrders(file, options);

  const pacer = new Pacer(options.speed, options.clock ?? systemClock);
  const ticker = new ProgressTicker(options);
  const knownCustomers = new Set<string>();
  const carts = new Map<string, CartState>();
  const orderedSessions = new Set<string>();
  const events: Record<string, number> = {};
  const skippedEvents: Record<string, number> = {};
  const counts = {
    rowsRead: 0,
    transactions: 0,
    customers: 0,
    carts: 0,
    cartItemsAdded: 0,
    cartItemsIncremented: 0,
    cartItemsRemoved: 0,
    convertedCarts: 0,
    orders: 0,
    orderItems: 0,
    purchaseEventsInWrittenOrders: 0,
    viewsIgnored: 0,
  };
  const progress = () => ({ ...counts });

  /** Runs one event's writes in a transaction, creating the customer first when it is new. */
  const write = async (event: Rees46Event, subject: string, work: () => Promise<void>): Promise<void> => {
    const customerId = (BigInt(event.userId) + options.idOffset).toString();
    const newCustomer = !knownCustomers.has(customerId);
    await pacer.waitFor(event.eventMs);
    await inTransaction(connection, `${subject} (line ${event.line})`, async () => {
      if (newCustomer) await connection.query('INSERT INTO customers (id, created_at) VALUES (?, ?)', [customerId, event.wallClock]);
      await work();
    });
    counts.transactions += 1;
    if (newCustomer) {
      knownCustomers.add(customerId);
      counts.customers += 1;
    }
    ticker.tick(progress);
  };

  const customerOf = (event: Rees46Event): string => (BigInt(event.userId) + options.idOffset).toString();

  for await (const row of readCsv(file, REES46_COLUMNS, options.limitRows)) {
    const event = parseEvent(file, row);
    counts.rowsRead += 1;
    bump(events, event.type);
    if (event.type === 'view') {
      counts.viewsIgnored += 1;
      continue;
    }
    const session = event.session;
    if (session === null) {
      bump(skippedEvents, 'no-session');
      continue;
    }
    const cart = carts.get(session);

    if (event.type === 'cart') {
      const cartId = cart?.id ?? rees46CartId(session, options.idOffset);
      const quantity = cart?.lines.get(event.productId) ?? 0;
      await write(event, `cart event of session ${session}`, async () => {
        if (cart === undefined) {
          const status = orderedSessions.has(session) ? 'converted' : 'open';
          await connection.query('INSERT INTO carts (id, customer_id, status, currency, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [
            cartId,
            customerOf(event),
            status,
            REES46_CURRENCY,
            event.wallClock,
            event.wallClock,
          ]);
        } else {
          await connection.query('UPDATE carts SET updated_at = ? WHERE id = ?', [event.wallClock, cartId]);
        }
        if (quantity === 0) {
          await connection.query('INSERT INTO cart_items (cart_id, sku, category, quantity, unit_price, added_at) VALUES (?, ?, ?, 1, ?, ?)', [
            cartId,
            event.productId,
            event.categoryCode,
            event.price.toFixed(3),
            event.wallClock,
          ]);
        } else {
          await connection.query('UPDATE cart_items SET quantity = quantity + 1 WHERE cart_id = ? AND sku = ?', [cartId, event.productId]);
        }
      });
      if (cart === undefined) {
        carts.set(session, { id: cartId, lines: new Map([[event.productId, 1]]) });
        counts.carts += 1;
        if (orderedSessions.has(session)) counts.convertedCarts += 1;
      } else {
        cart.lines.set(event.productId, quantity + 1);
      }
      if (quantity === 0) counts.cartItemsAdded += 1;
      else counts.cartItemsIncremented += 1;
      continue;
    }

    if (event.type === 'remove_from_cart') {
      const quantity = cart?.lines.get(event.productId) ?? 0;
      if (cart === undefined || quantity === 0) {
        bump(skippedEvents, 'remove-without-cart-line');
        continue;
      }
      await write(event, `remove_from_cart event of session ${session}`, async () => {
        await connection.query('UPDATE carts SET updated_at = ? WHERE id = ?', [event.wallClock, cart.id]);
        if (quantity === 1) await connection.query('DELETE FROM cart_items WHERE cart_id = ? AND sku = ?', [cart.id, event.productId]);
        else await connection.query('UPDATE cart_items SET quantity = quantity - 1 WHERE cart_id = ? AND sku = ?', [cart.id, event.productId]);
      });
      if (quantity === 1) cart.lines.delete(event.productId);
      else cart.lines.set(event.productId, quantity - 1);
      counts.cartItemsRemoved += 1;
      continue;
    }

    // purchase
    if (orderedSessions.has(session)) {
      counts.purchaseEventsInWrittenOrders += 1;
      continue;
    }
    const plan = plans.get(session);
    if (plan === undefined) throw new LoaderInputError('this purchase was not seen by the first pass; the file changed during the load', { file, line: event.line });
    const total = plan.items.reduce((sum, item) => sum.plus(item.price.times(item.quantity)), new Decimal(0));
    await write(event, `order of session ${session}`, async () => {
      await connection.query('INSERT INTO orders (id, customer_id, status, currency, total, placed_at, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
        plan.id,
        customerOf(event),
        REES46_ORDER_STATUS,
        REES46_CURRENCY,
        total.toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2),
        event.wallClock,
        event.wallClock,
      ]);
      await insertRows(
        connection,
        'order_items',
        ['order_id', 'sku', 'category', 'quantity', 'unit_price'],
        plan.items.map((item) => [plan.id, item.sku, item.category, item.quantity, item.price.toFixed(3)]),
      );
      if (cart !== undefined) await connection.query("UPDATE carts SET status = 'converted', updated_at = ? WHERE id = ?", [event.wallClock, cart.id]);
    });
    orderedSessions.add(session);
    counts.orders += 1;
    counts.orderItems += plan.items.length;
    if (cart !== undefined) counts.convertedCarts += 1;
  }
  ticker.tick(progress, true);

  return Object.freeze({ dataset: 'rees46', ...counts, events: Object.freeze({ ...events }), skippedEvents: Object.freeze({ ...skippedEvents }) });
}
