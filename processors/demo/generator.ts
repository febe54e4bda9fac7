/**
 * Deterministic shop traffic for the demo: a seeded plan of business actions, each one MySQL
 * transaction, written into the `shop` database as live traffic.
 *
 * The plan is pure: the same seed, customer count and first ids give the same actions and the
 * same SQL text, so a run can be repeated and tested without a database. Times are not in the
 * plan: every statement stamps its rows with the database clock (UTC_TIMESTAMP() for DATETIME
 * columns, NOW() for TIMESTAMP columns, in a session whose time zone is UTC). The events then
 * carry real commit times, and the suppression window measures a real gap between a cart change
 * and an order.
 *
 * Example action (one transaction):
 *   { kind: 'order', customerId: '1000042', orderId: '2000007', statements: [
 *       { sql: 'INSERT INTO orders (...) VALUES (?, ?, ...)', params: ['2000007', '1000042', ...] },
 *       { sql: 'INSERT INTO order_items (...) VALUES (...)', params: [...] }, ... ] }
 */
import { Decimal } from 'decimal.js';
import type { Connection } from 'mysql2/promise';

import { DemoLoadError } from './errors.ts';

export type ActionKind =
  | 'customer_created'
  | 'email_changed'
  | 'cart_created'
  | 'cart_edited'
  | 'checkout_started'
  | 'order_placed'
  | 'order_paid'
  | 'order_fulfilled'
  | 'order_canceled'
  | 'refund_created';

export interface Statement {
  readonly sql: string;
  readonly params: readonly (string | number | null)[];
}

export interface Action {
  readonly kind: ActionKind;
  readonly customerId: string;
  /** Set on order_placed and the later steps of that order. */
  readonly orderId?: string;
  readonly cartId?: string;
  /** Written in one transaction, in this order. */
  readonly statements: readonly Statement[];
}

export interface FirstIds {
  /** First customer id to use; every id of the plan is at or above it. */
  readonly customerId: bigint;
  readonly orderId: bigint;
}

export interface PlanOptions {
  /** PRNG seed; the same seed gives the same plan. */
  readonly seed: number;
  /** Customers in the plan; each one gets a short story of 2 to 15 actions. */
  readonly customers: number;
  readonly firstIds: FirstIds;
  /** Prefix of the cart ids (carts.id is text): keeps carts of different runs apart. */
  readonly cartIdPrefix: string;
}

export interface Plan {
  readonly actions: readonly Action[];
  /** Order ids of every order_placed in the plan, in plan order. */
  readonly orderIds: readonly string[];
  readonly customerIds: readonly string[];
  readonly counts: Readonly<Record<ActionKind, number>>;
  /** Carts left open after edits, never bought. */
  readonly abandonedCarts: number;
  /** Carts that became an order. */
  readonly convertedCarts: number;
}

/**
 * mulberry32: a small 32-bit PRNG with a full period, enough for test traffic. Not for secrets.
 * Returns floats in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Product {
  readonly sku: string;
  readonly name: string;
  readonly category: string;
  /** Unit price with the column's 3 decimals. */
  readonly unitPrice: string;
}

const PRODUCTS: readonly Product[] = [
  { sku: 'MUG-001', name: 'Enamel mug', category: 'kitchen', unitPrice: '12.500' },
  { sku: 'TEA-010', name: 'Green tea, 100 g', category: 'grocery', unitPrice: '7.900' },
  { sku: 'BAG-204', name: 'Canvas tote', category: 'accessories', unitPrice: '19.990' },
  { sku: 'LMP-330', name: 'Desk lamp', category: 'home', unitPrice: '44.000' },
  { sku: 'NTB-120', name: 'Dot-grid notebook', category: 'stationery', unitPrice: '9.750' },
  { sku: 'PEN-007', name: 'Fountain pen', category: 'stationery', unitPrice: '31.250' },
  { sku: 'SCF-501', name: 'Wool scarf', category: 'apparel', unitPrice: '39.900' },
  { sku: 'CND-044', name: 'Soy candle', category: 'home', unitPrice: '15.000' },
  { sku: 'SOC-220', name: 'Merino socks', category: 'apparel', unitPrice: '14.990' },
  { sku: 'BWL-081', name: 'Stoneware bowl', category: 'kitchen', unitPrice: '22.400' },
];

const FIRST_NAMES = ['Ada', 'Bram', 'Chiara', 'Dmitri', 'Elif', 'Femi', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kavya', 'Luca'];
const LAST_NAMES = ['Okafor', 'Lindqvist', 'Moreau', 'Tanaka', 'Novak', 'Haddad', 'Silva', 'Byrne'];
const COUNTRIES = ['GB', 'DE', 'FR', 'US', 'NL', 'IE'];
const CARRIERS = ['DHL', 'UPS', 'Royal Mail', 'DPD'];
const REFUND_REASONS = ['damaged in transit', 'wrong size', 'changed mind'];

interface Line {
  readonly product: Product;
  quantity: number;
}

/** Builds the plan: one story per customer, interleaved at random so customers overlap. */
export function planTraffic(options: PlanOptions): Plan {
  if (!Number.isInteger(options.customers) || options.customers < 1) {
    throw new RangeError(`customers must be a whole number above 0, got ${options.customers}`);
  }
  const random = seededRandom(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const between = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));
  const chance = (p: number): boolean => random() < p;

  let nextOrderId = options.firstIds.orderId;
  let nextCart = 1;
  let abandonedCarts = 0;
  let convertedCarts = 0;
  const stories: Action[][] = [];
  const customerIds: string[] = [];

  for (let index = 0; index < options.customers; index += 1) {
    const customerId = (options.firstIds.customerId + BigInt(index)).toString();
    customerIds.push(customerId);
    const story: Action[] = [];
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const emailOf = (suffix: string) => `${first}.${last}.${customerId}${suffix}@example.com`.toLowerCase();
    story.push({
      kind: 'customer_created',
      customerId,
      statements: [
        {
          sql:
            'INSERT INTO customers (id, email, phone, first_name, last_name, country, sms_opt_in, email_opt_in, created_at) ' +
            'VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))',
          params: [customerId, emailOf(''), `+4477${String(between(10_000_000, 99_999_999))}`, first, last, pick(COUNTRIES), chance(0.4) ? 1 : 0, chance(0.8) ? 1 : 0],
        },
      ],
    });

    const visits = between(1, 3);
    for (let visit = 0; visit < visits; visit += 1) {
      const cartId = `${options.cartIdPrefix}-${nextCart}`;
      nextCart += 1;
      const lines: Line[] = [{ product: pick(PRODUCTS), quantity: between(1, 3) }];
      story.push({
        kind: 'cart_created',
        customerId,
        cartId,
        statements: [
          { sql: "INSERT INTO carts (id, customer_id, status, currency, created_at, updated_at) VALUES (?, ?, 'open', 'GBP', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))", params: [cartId, customerId] },
          cartItemInsert(cartId, lines[0]!),
        ],
      });
      const edits = between(1, 3);
      for (let edit = 0; edit < edits; edit += 1) {
        story.push(cartEdit(cartId, customerId, lines, { pick, between, chance }));
      }
      // Outcome of the visit: bought (often after a checkout), checkout left, or cart left open.
      const roll = random();
      if (roll < 0.55) {
        const checkedOut = chance(0.7);
        if (checkedOut) story.push(checkoutStart(cartId, customerId));
        const orderId = nextOrderId.toString();
        nextOrderId += 1n;
        convertedCarts += 1;
        story.push(orderPlaced(orderId, customerId, cartId, lines.slice(0, 4)));
        story.push(...orderLifecycle(orderId, customerId, lines.slice(0, 4), { pick, between, chance }));
      } else if (roll < 0.75) {
        story.push(checkoutStart(cartId, customerId));
        abandonedCarts += 1;
      } else {
        abandonedCarts += 1;
      }
    }

    if (chance(0.3)) {
      // Bought again directly (a repeat order without a tracked cart).
      const orderId = nextOrderId.toString();
      nextOrderId += 1n;
      const lines: Line[] = [];
      const count = between(1, 4);
      for (let i = 0; i < count; i += 1) lines.push({ product: PRODUCTS[(i * 3 + index) % PRODUCTS.length]!, quantity: between(1, 2) });
      story.push(orderPlaced(orderId, customerId, null, lines));
      story.push(...orderLifecycle(orderId, customerId, lines, { pick, between, chance }));
    }

    if (chance(0.2)) {
      // Some customers change their email later; the position in the story is random.
      const at = between(1, story.length);
      story.splice(at, 0, {
        kind: 'email_changed',
        customerId,
        statements: [{ sql: 'UPDATE customers SET email = ? WHERE id = ?', params: [emailOf('+new'), customerId] }],
      });
    }
    stories.push(story);
  }

  // Interleave: repeatedly take the next action of a random customer that has some left.
  const actions: Action[] = [];
  const cursors = stories.map(() => 0);
  let remaining = stories.reduce((sum, story) => sum + story.length, 0);
  while (remaining > 0) {
    const open = stories.map((story, i) => (cursors[i]! < story.length ? i : -1)).filter((i) => i >= 0);
    const chosen = open[Math.floor(random() * open.length)]!;
    actions.push(stories[chosen]![cursors[chosen]!]!);
    cursors[chosen]! += 1;
    remaining -= 1;
  }

  const counts = Object.fromEntries(
    (['customer_created', 'email_changed', 'cart_created', 'cart_edited', 'checkout_started', 'order_placed', 'order_paid', 'order_fulfilled', 'order_canceled', 'refund_created'] as const).map((kind) => [
      kind,
      actions.filter((action) => action.kind === kind).length,
    ]),
  ) as Record<ActionKind, number>;
  const orderIds = actions.filter((action) => action.kind === 'order_placed').map((action) => action.orderId!);
  return Object.freeze({ actions, orderIds, customerIds, counts, abandonedCarts, convertedCarts });
}

interface Dice {
  pick: <T>(list: readonly T[]) => T;
  between: (low: number, high: number) => number;
  chance: (p: number) => boolean;
}

function cartItemInsert(cartId: string, line: Line): Statement {
  return {
    sql: 'INSERT INTO cart_items (cart_id, sku, name, category, quantity, unit_price, added_at) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))',
    params: [cartId, line.product.sku, line.product.name, line.product.category, line.quantity, line.product.unitPrice],
  };
}

const TOUCH_CART = 'UPDATE carts SET updated_at = UTC_TIMESTAMP(3) WHERE id = ?';

/** Adds a product, changes a quantity or removes a line; the cart row is touched in the same transaction. */
function cartEdit(cartId: string, customerId: string, lines: Line[], dice: Dice): Action {
  const statements: Statement[] = [];
  const roll = Math.floor(dice.between(0, 9));
  const absent = PRODUCTS.filter((product) => !lines.some((line) => line.product.sku === product.sku));
  if ((roll < 5 || lines.length === 1) && absent.length > 0 && lines.length < 4) {
    const line = { product: dice.pick(absent), quantity: dice.between(1, 3) };
    lines.push(line);
    statements.push(cartItemInsert(cartId, line));
  } else if (roll < 8 || lines.length === 1) {
    const line = dice.pick(lines);
    line.quantity = line.quantity >= 4 ? 1 : line.quantity + 1;
    statements.push({ sql: 'UPDATE cart_items SET quantity = ? WHERE cart_id = ? AND sku = ?', params: [line.quantity, cartId, line.product.sku] });
  } else {
    const line = lines.pop()!;
    statements.push({ sql: 'DELETE FROM cart_items WHERE cart_id = ? AND sku = ?', params: [cartId, line.product.sku] });
  }
  statements.push({ sql: TOUCH_CART, params: [cartId] });
  return { kind: 'cart_edited', customerId, cartId, statements };
}

function checkoutStart(cartId: string, customerId: string): Action {
  return {
    kind: 'checkout_started',
    customerId,
    cartId,
    statements: [{ sql: "UPDATE carts SET status = 'checkout', checkout_started_at = UTC_TIMESTAMP(3), updated_at = UTC_TIMESTAMP(3) WHERE id = ?", params: [cartId] }],
  };
}

/** Exact order total: the sum of quantity × unit price, rounded half-up to the column's 2 decimals. */
export function orderTotal(lines: readonly { readonly quantity: number; readonly unitPrice: string }[]): string {
  return lines
    .reduce((sum, line) => sum.plus(new Decimal(line.unitPrice).times(line.quantity)), new Decimal(0))
    .toDecimalPlaces(2, Decimal.ROUND_HALF_UP)
    .toFixed(2);
}

/** The order row, its items and (for a cart) the cart's conversion, in one transaction. */
function orderPlaced(orderId: string, customerId: string, cartId: string | null, lines: readonly Line[]): Action {
  const total = orderTotal(lines.map((line) => ({ quantity: line.quantity, unitPrice: line.product.unitPrice })));
  const statements: Statement[] = [
    {
      sql: "INSERT INTO orders (id, customer_id, status, currency, total, placed_at) VALUES (?, ?, 'pending', 'GBP', ?, UTC_TIMESTAMP())",
      params: [orderId, customerId, total],
    },
    ...lines.map((line) => ({
      sql: 'INSERT INTO order_items (order_id, sku, name, category, quantity, unit_price) VALUES (?, ?, ?, ?, ?, ?)',
      params: [orderId, line.product.sku, line.product.name, line.product.category, line.quantity, line.product.unitPrice],
    })),
  ];
  if (cartId !== null) {
    statements.push({ sql: "UPDATE carts SET status = 'converted', updated_at = UTC_TIMESTAMP(3) WHERE id = ?", params: [cartId] });
  }
  return { kind: 'order_placed', customerId, orderId, ...(cartId === null ? {} : { cartId }), statements };
}

/** Payment, then usually a fulfillment and sometimes a refund; a few orders are canceled unpaid. */
function orderLifecycle(orderId: string, customerId: string, lines: readonly Line[], dice: Dice): Action[] {
  if (dice.chance(0.1)) {
    return [
      {
        kind: 'order_canceled',
        customerId,
        orderId,
        statements: [{ sql: "UPDATE orders SET status = 'canceled', canceled_at = NOW() WHERE id = ?", params: [orderId] }],
      },
    ];
  }
  const steps: Action[] = [
    { kind: 'order_paid', customerId, orderId, statements: [{ sql: "UPDATE orders SET status = 'paid', paid_at = NOW() WHERE id = ?", params: [orderId] }] },
  ];
  if (dice.chance(0.8)) {
    steps.push({
      kind: 'order_fulfilled',
      customerId,
      orderId,
      statements: [
        {
          sql: "INSERT INTO fulfillments (order_id, status, carrier, tracking_number, shipped_at, created_at) VALUES (?, 'shipped', ?, ?, NOW(), UTC_TIMESTAMP())",
          params: [orderId, dice.pick(CARRIERS), `TRK${orderId}`],
        },
      ],
    });
    if (dice.chance(0.15)) {
      const line = lines[0]!;
      steps.push({
        kind: 'refund_created',
        customerId,
        orderId,
        statements: [
          {
            sql: 'INSERT INTO refunds (order_id, customer_id, amount, currency, reason, created_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP())',
            params: [orderId, customerId, line.product.unitPrice, 'GBP', dice.pick(REFUND_REASONS)],
          },
        ],
      });
    }
  }
  return steps;
}

export interface WrittenAction {
  readonly action: Action;
  /** Date.now() right after COMMIT returned. */
  readonly committedAtMs: number;
}

/**
 * Writes the plan, one transaction per action, in plan order. `pauseMs` spaces the actions so
 * the processors see traffic over time rather than one burst. Calls onProgress after each action.
 */
export async function writePlan(
  connection: Connection,
  plan: Plan,
  options: { readonly pauseMs: number; readonly onProgress?: (done: number, total: number) => void },
): Promise<WrittenAction[]> {
  await connection.query("SET time_zone = '+00:00'");
  const written: WrittenAction[] = [];
  for (const [index, action] of plan.actions.entries()) {
    try {
      await connection.beginTransaction();
      for (const statement of action.statements) {
        await connection.execute(statement.sql, [...statement.params]);
      }
      await connection.commit();
    } catch (err) {
      await connection.rollback().catch(() => undefined);
      throw new DemoLoadError(`writing action ${index + 1} (${action.kind} of customer ${action.customerId}) failed; the demo stops, rows written before it stay`, err);
    }
    written.push({ action, committedAtMs: Date.now() });
    options.onProgress?.(index + 1, plan.actions.length);
    if (options.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  return written;
}

/** First free ids: one above the largest customer and order id in the database. */
export async function firstFreeIds(connection: Connection): Promise<FirstIds & { readonly refundId: bigint }> {
  const [rows] = await connection.query(
    'SELECT CAST(COALESCE((SELECT MAX(id) FROM customers), 0) AS CHAR) AS customers, ' +
      'CAST(COALESCE((SELECT MAX(id) FROM orders), 0) AS CHAR) AS orders, ' +
      'CAST(COALESCE((SELECT MAX(id) FROM refunds), 0) AS CHAR) AS refunds',
  );
  const row = (rows as Record<string, string>[])[0]!;
  return { customerId: BigInt(row['customers']!) + 1n, orderId: BigInt(row['orders']!) + 1n, refundId: BigInt(row['refunds']!) + 1n };
}
