// Generated shop traffic for bench/processor-throughput.ts: for each processor, the records its
// inputs carry. Sessions (an order, a cart, a customer, a shopper's visit) start every
// `sessionSpacingMs` of event time. Each writes several transactions or events over the following
// seconds to minutes, so sessions overlap. Records go out in commit order, as the connector
// writes them.
import type { Message } from 'kafkajs';

import { deriveEventId } from '../processors/customerio/event-id.ts';
import { encodeOutboxRecord } from '../processors/customerio/records.ts';
import type { EventRecord, JsonObject, OutboxSource } from '../processors/customerio/records.ts';
import { orderTotal, seededRandom } from '../processors/demo/generator.ts';
import { topicOf } from '../processors/mapping/mapping.ts';
import type { Mapping } from '../processors/mapping/mapping.ts';
import { DebeziumJsonWriter, encode } from './debezium-json.ts';
import type { Row, RowChange } from './debezium-json.ts';

export interface TrafficOptions {
  /** Input records to generate; the last session may add a few more. */
  readonly records: number;
  readonly seed: number;
  /** Event time of the first session, epoch ms. */
  readonly startMs: number;
  /** Event time between the starts of two sessions, ms. */
  readonly sessionSpacingMs: number;
  /** Connect run id in the Debezium headers. */
  readonly runId: string;
}

/** Records per topic, in write order. */
export type TopicMessages = ReadonlyMap<string, readonly Message[]>;

export interface Product {
  readonly sku: string;
  readonly name: string;
  readonly category: string;
  /** With the column's 3 decimals. */
  readonly unitPrice: string;
}

export const PRODUCTS: readonly Product[] = [
  { sku: 'KTL-110', name: 'Stovetop kettle', category: 'kitchen', unitPrice: '34.900' },
  { sku: 'CUP-220', name: 'Espresso cups, set of 4', category: 'kitchen', unitPrice: '18.250' },
  { sku: 'BLK-310', name: 'Linen throw', category: 'home', unitPrice: '59.000' },
  { sku: 'JRN-405', name: 'Travel journal', category: 'stationery', unitPrice: '11.990' },
  { sku: 'BTL-512', name: 'Steel water bottle', category: 'outdoor', unitPrice: '24.500' },
  { sku: 'GLV-630', name: 'Leather gloves', category: 'apparel', unitPrice: '45.750' },
  { sku: 'SPC-744', name: 'Spice sampler', category: 'grocery', unitPrice: '16.400' },
];
const FIRST_NAMES = ['Amara', 'Bjorn', 'Carmen', 'Dario', 'Esme', 'Farid', 'Greta', 'Hana'];
const LAST_NAMES = ['Achebe', 'Berg', 'Costa', 'Dubois', 'Eriksen', 'Fujita'];
const COUNTRIES = ['US', 'GB', 'DE', 'ES', 'JP'];

interface Line {
  readonly product: Product;
  readonly quantity: number;
}

class Dice {
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  chance(probability: number): boolean {
    return this.random() < probability;
  }

  /** Returns a whole number in [min, max]. */
  between(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  lines(min: number, max: number): Line[] {
    return Array.from({ length: this.between(min, max) }, () => ({ product: this.pick(PRODUCTS), quantity: this.between(1, 3) }));
  }
}

/** Steps of all sessions, written in event-time order once every session is planned. */
class Timeline {
  private readonly steps: { readonly atMs: number; readonly write: () => void }[] = [];
  /** Records the planned steps write. */
  records = 0;

  add(atMs: number, records: number, write: () => void): void {
    this.steps.push({ atMs, write });
    this.records += records;
  }

  run(): void {
    // Array.prototype.sort is stable, so steps at the same time keep their planned order.
    this.steps.sort((a, b) => a.atMs - b.atMs);
    for (const step of this.steps) step.write();
  }
}

/** Builds an event record as the orders and carts processors write it, with an id derived from the name and `identity`. */
function eventRecord(customerId: string, name: string, identity: readonly string[], atMs: number, data: JsonObject, source?: OutboxSource): EventRecord {
  const record: EventRecord = { kind: 'event', customerId, name, id: deriveEventId([name, ...identity]), timestamp: Math.floor(atMs / 1000), data, origin: 'live' };
  if (source !== undefined) record.source = source;
  return record;
}

const seconds = (epochMs: number): number => Math.floor(epochMs / 1000);

function linesTotal(lines: readonly Line[]): string {
  return orderTotal(lines.map((line) => ({ quantity: line.quantity, unitPrice: line.product.unitPrice })));
}

function eventItems(lines: readonly Line[]): JsonObject[] {
  return lines.map(({ product, quantity }) => ({
    sku: product.sku,
    variant_id: `${product.sku}-std`,
    name: product.name,
    category: product.category,
    quantity,
    price: Number(product.unitPrice),
  }));
}

/** Customer ids the orders, carts and shopper visits draw from: about one per 25 records. */
function customerIds(records: number): number[] {
  return Array.from({ length: Math.max(10, Math.round(records / 25)) }, (_, index) => 1_000 + index);
}

function sessionStart(options: TrafficOptions, session: number): number {
  return options.startMs + session * options.sessionSpacingMs;
}

/**
 * Orders input: per order one transaction with the orders row and 1 to 4 order_items rows; 60 %
 * are paid 2 to 30 s later and some of the others canceled. 3 % are guest checkouts.
 */
export function ordersInput(mapping: Mapping, options: TrafficOptions): TopicMessages {
  const dice = new Dice(options.seed);
  const writer = new DebeziumJsonWriter(mapping, options.runId);
  const timeline = new Timeline();
  const customers = customerIds(options.records);
  let itemId = 0;

  for (let session = 0; timeline.records < options.records; session += 1) {
    const placedMs = sessionStart(options, session);
    const orderId = session + 1;
    const lines = dice.lines(1, 4);
    const guest = dice.chance(0.03);
    const order: Row = {
      id: orderId,
      customer_id: guest ? null : dice.pick(customers),
      email: guest ? `guest${orderId}@example.com` : null,
      status: 'pending',
      currency: 'USD',
      total: encode.decimal(linesTotal(lines), 2),
      discount_code: dice.chance(0.1) ? 'SPRING10' : null,
      placed_at: encode.datetimeSeconds(placedMs),
      paid_at: null,
      canceled_at: null,
      updated_at: encode.datetimeMicros(placedMs),
      attributes: null,
    };
    const items: RowChange[] = lines.map(({ product, quantity }) => {
      itemId += 1;
      const after: Row = {
        id: itemId,
        order_id: orderId,
        sku: product.sku,
        variant_id: `${product.sku}-std`,
        name: product.name,
        category: product.category,
        quantity,
        unit_price: encode.decimal(product.unitPrice, 3),
      };
      return { table: 'order_items', op: 'c', after };
    });
    const placed: RowChange[] = [{ table: 'orders', op: 'c', after: order }, ...items];
    timeline.add(placedMs, placed.length, () => writer.commit(placedMs, placed));

    if (dice.chance(0.6)) {
      const paidMs = placedMs + dice.between(2_000, 30_000);
      const paid: Row = { ...order, status: 'paid', paid_at: encode.timestampSeconds(paidMs), updated_at: encode.datetimeMicros(paidMs) };
      timeline.add(paidMs, 1, () => writer.commit(paidMs, [{ table: 'orders', op: 'u', before: order, after: paid }]));
    } else if (dice.chance(0.1)) {
      const canceledMs = placedMs + dice.between(30_000, 120_000);
      const canceled: Row = { ...order, status: 'canceled', canceled_at: encode.timestampSeconds(canceledMs), updated_at: encode.datetimeMicros(canceledMs) };
      timeline.add(canceledMs, 1, () => writer.commit(canceledMs, [{ table: 'orders', op: 'u', before: order, after: canceled }]));
    }
  }
  timeline.run();
  return writer.messages;
}

/**
 * Carts input: per cart one transaction with the carts row and its first item, then 0 to 3 edits
 * 3 to 20 s apart, and for 40 % a checkout. An edit adds an item or changes a quantity, and
 * updates the cart's updated_at.
 */
export function cartsInput(mapping: Mapping, options: TrafficOptions): TopicMessages {
  const dice = new Dice(options.seed + 1);
  const writer = new DebeziumJsonWriter(mapping, options.runId);
  const timeline = new Timeline();
  const customers = customerIds(options.records);
  let itemId = 0;

  const newItem = (cartId: string, atMs: number): Row => {
    itemId += 1;
    const product = dice.pick(PRODUCTS);
    return {
      id: itemId,
      cart_id: cartId,
      sku: product.sku,
      variant_id: `${product.sku}-std`,
      name: product.name,
      category: product.category,
      quantity: dice.between(1, 3),
      unit_price: encode.decimal(product.unitPrice, 3),
      added_at: encode.datetimeMillis(atMs),
    };
  };

  for (let session = 0; timeline.records < options.records; session += 1) {
    let atMs = sessionStart(options, session);
    const cartId = `cart-${session + 1}`;
    let cart: Row = {
      id: cartId,
      customer_id: dice.pick(customers),
      status: 'open',
      currency: 'USD',
      checkout_started_at: null,
      created_at: encode.datetimeMillis(atMs),
      updated_at: encode.datetimeMillis(atMs),
    };
    const items = [newItem(cartId, atMs)];
    const created: RowChange[] = [
      { table: 'carts', op: 'c', after: cart },
      { table: 'cart_items', op: 'c', after: items[0]! },
    ];
    const createdMs = atMs;
    timeline.add(createdMs, created.length, () => writer.commit(createdMs, created));

    for (let edit = dice.between(0, 3); edit > 0; edit -= 1) {
      atMs += dice.between(3_000, 20_000);
      const before = cart;
      cart = { ...cart, updated_at: encode.datetimeMillis(atMs) };
      let itemChange: RowChange;
      if (dice.chance(0.5)) {
        const added = newItem(cartId, atMs);
        items.push(added);
        itemChange = { table: 'cart_items', op: 'c', after: added };
      } else {
        const index = dice.between(0, items.length - 1);
        const old = items[index]!;
        const changed = { ...old, quantity: (old['quantity'] as number) + 1 };
        items[index] = changed;
        itemChange = { table: 'cart_items', op: 'u', before: old, after: changed };
      }
      const changes: RowChange[] = [itemChange, { table: 'carts', op: 'u', before, after: cart }];
      const editMs = atMs;
      timeline.add(editMs, changes.length, () => writer.commit(editMs, changes));
    }

    if (dice.chance(0.4)) {
      const checkoutMs = atMs + dice.between(10_000, 60_000);
      const checkout: Row = { ...cart, status: 'checkout', checkout_started_at: encode.datetimeMillis(checkoutMs), updated_at: encode.datetimeMillis(checkoutMs) };
      const before = cart;
      timeline.add(checkoutMs, 1, () => writer.commit(checkoutMs, [{ table: 'carts', op: 'u', before, after: checkout }]));
    }
  }
  timeline.run();
  return writer.messages;
}

/** Builds the source of an order event as the orders processor writes it: the orders row's coordinates. */
function orderEventSource(mapping: Mapping, orderId: number, atMs: number, sequence: number): OutboxSource {
  const gtid = `0-1-${sequence}`;
  return {
    table: `${mapping.source.database}.${mapping.tables.orders.table}`,
    topic: topicOf(mapping, 'orders'),
    partition: orderId % 3,
    offset: String(sequence),
    binlogFile: 'mariadb-bin.000001',
    binlogPos: 4 + sequence * 700,
    row: 0,
    gtid,
    txId: gtid,
    tsMs: Math.floor(atMs / 1000) * 1000,
  };
}

/**
 * People input: per customer the customers row, then 1 to 3 orders over the next minutes as the
 * suppression processor passes their events on (order_placed, and order_paid for 60 %), and for
 * 15 % an email change.
 */
export function peopleInput(mapping: Mapping, customerEventsTopic: string, options: TrafficOptions): TopicMessages {
  const dice = new Dice(options.seed + 2);
  const writer = new DebeziumJsonWriter(mapping, options.runId);
  const timeline = new Timeline();
  const events: Message[] = [];
  let orderId = 0;

  for (let session = 0; timeline.records < options.records; session += 1) {
    const createdMs = sessionStart(options, session);
    const id = 1_000 + session;
    const customerId = String(id);
    const customer: Row = {
      id,
      email: `shopper${id}@example.com`,
      phone: dice.chance(0.3) ? `+1555${String(id).padStart(7, '0')}` : null,
      first_name: dice.pick(FIRST_NAMES),
      last_name: dice.pick(LAST_NAMES),
      country: dice.pick(COUNTRIES),
      sms_opt_in: dice.chance(0.3) ? 1 : 0,
      email_opt_in: dice.chance(0.7) ? 1 : 0,
      loyalty_tier: 0,
      created_at: encode.datetimeMicros(createdMs),
      updated_at: encode.timestampMillis(createdMs),
    };
    timeline.add(createdMs, 1, () => writer.commit(createdMs, [{ table: 'customers', op: 'c', after: customer }]));

    let atMs = createdMs;
    for (let order = dice.between(1, 3); order > 0; order -= 1) {
      atMs += dice.between(5_000, 120_000);
      orderId += 1;
      const lines = dice.lines(1, 4);
      const total = Number(linesTotal(lines));
      const placedMs = atMs;
      const placedData = {
        order_id: String(orderId),
        order_total: total,
        currency: 'USD',
        discount_code: null,
        items: eventItems(lines),
        created_at: Math.floor(placedMs / 1000),
      };
      const placedSource = orderEventSource(mapping, orderId, placedMs, orderId * 2);
      const placed = eventRecord(customerId, mapping.events.orderPlaced, [String(orderId)], placedMs, placedData, placedSource);
      timeline.add(placedMs, 1, () => events.push(encodeOutboxRecord(placed)));
      if (dice.chance(0.6)) {
        const paidMs = placedMs + dice.between(2_000, 30_000);
        const paidData = { order_id: String(orderId), order_total: total, currency: 'USD' };
        const paidSource = orderEventSource(mapping, orderId, paidMs, orderId * 2 + 1);
        const paid = eventRecord(customerId, mapping.events.orderPaid, [String(orderId)], paidMs, paidData, paidSource);
        timeline.add(paidMs, 1, () => events.push(encodeOutboxRecord(paid)));
      }
    }

    if (dice.chance(0.15)) {
      const changedMs = createdMs + dice.between(60_000, 300_000);
      const changed: Row = { ...customer, email: `shopper${id}.new@example.com`, updated_at: encode.timestampMillis(changedMs) };
      timeline.add(changedMs, 1, () => writer.commit(changedMs, [{ table: 'customers', op: 'u', before: customer, after: changed }]));
    }
  }
  timeline.run();
  return new Map([...writer.messages, [customerEventsTopic, events]]);
}

/**
 * Suppression input: per shopper visit a cart_updated, for half of the visits a second one, and
 * for half a checkout_started. 60 % of the checkouts end in an order: order_placed 30 s to 5 min
 * later, and order_paid for 60 % of those. Cart events and order events are keyed by customer id.
 */
export function suppressionInput(mapping: Mapping, topics: { readonly cartEvents: string; readonly orderEvents: string }, options: TrafficOptions): TopicMessages {
  const dice = new Dice(options.seed + 3);
  const timeline = new Timeline();
  const customers = customerIds(options.records);
  const cartEvents: Message[] = [];
  const orderEvents: Message[] = [];
  const names = mapping.events;
  let orderId = 0;

  const cartData = (cartId: string, lines: readonly Line[]): JsonObject => ({
    cart_id: cartId,
    items: eventItems(lines),
    cart_total: Number(linesTotal(lines)),
    currency: 'USD',
    item_count: lines.reduce((sum, line) => sum + line.quantity, 0),
  });
  for (let session = 0; timeline.records < options.records; session += 1) {
    let atMs = sessionStart(options, session);
    const customerId = String(dice.pick(customers));
    const cartId = `cart-${session + 1}`;
    const lines = dice.lines(1, 3);
    let version = 1;
    const first = eventRecord(customerId, names.cartUpdated, [cartId, String(version)], atMs, { ...cartData(cartId, lines), updated_at: seconds(atMs) });
    timeline.add(atMs, 1, () => cartEvents.push(encodeOutboxRecord(first)));

    if (dice.chance(0.5)) {
      atMs += dice.between(5_000, 60_000);
      version += 1;
      lines.push(...dice.lines(1, 1));
      const second = eventRecord(customerId, names.cartUpdated, [cartId, String(version)], atMs, { ...cartData(cartId, lines), updated_at: seconds(atMs) });
      timeline.add(atMs, 1, () => cartEvents.push(encodeOutboxRecord(second)));
    }

    if (!dice.chance(0.5)) continue;
    atMs += dice.between(10_000, 120_000);
    const checkoutData = { ...cartData(cartId, lines), checkout_started_at: seconds(atMs) };
    const checkout = eventRecord(customerId, names.checkoutStarted, [cartId, String(seconds(atMs))], atMs, checkoutData);
    timeline.add(atMs, 1, () => cartEvents.push(encodeOutboxRecord(checkout)));

    if (!dice.chance(0.6)) continue;
    orderId += 1;
    atMs += dice.between(30_000, 300_000);
    const total = Number(linesTotal(lines));
    const placed = eventRecord(customerId, names.orderPlaced, [String(orderId)], atMs, {
      order_id: String(orderId),
      order_total: total,
      currency: 'USD',
      discount_code: null,
      items: eventItems(lines),
      created_at: Math.floor(atMs / 1000),
    });
    timeline.add(atMs, 1, () => orderEvents.push(encodeOutboxRecord(placed)));
    if (dice.chance(0.6)) {
      const paidMs = atMs + dice.between(2_000, 30_000);
      const paid = eventRecord(customerId, names.orderPaid, [String(orderId)], paidMs, { order_id: String(orderId), order_total: total, currency: 'USD' });
      timeline.add(paidMs, 1, () => orderEvents.push(encodeOutboxRecord(paid)));
    }
  }
  timeline.run();
  return new Map([
    [topics.cartEvents, cartEvents],
    [topics.orderEvents, orderEvents],
  ]);
}
