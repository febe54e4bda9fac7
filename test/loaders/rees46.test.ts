import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { parse } from 'csv-parse/sync';
import { Decimal } from 'decimal.js';
import type { RowDataPacket } from 'mysql2/promise';

import { openLoaderConnection, parseMysqlUrl } from '../../processors/loaders/mysql.ts';
import { loadRees46 } from '../../processors/loaders/rees46.ts';
import type { Rees46Summary } from '../../processors/loaders/rees46.ts';
import { createTestDatabase, dataFile } from './database.ts';
import type { TestDatabase } from './database.ts';

type Row = Record<string, string>;

const eventsFile = dataFile('rees46_events_sample', 'events_2019-10-01.csv');
const events = parse(readFileSync(eventsFile, 'utf8'), { columns: true }) as Row[];

/** Computes an order id by the documented rule, restated here: 2^52 + the first 52 bits of SHA-256(session), plus the offset. */
function expectedOrderId(session: string, offset = 0n): string {
  const bits = BigInt(`0x${createHash('sha256').update(session).digest('hex').slice(0, 13)}`);
  return ((1n << 52n) + bits + offset).toString();
}

function sessionsWith(rows: readonly Row[], type: string): Set<string> {
  return new Set(rows.filter((row) => row.event_type === type).map((row) => row.user_session ?? ''));
}

async function load(db: TestDatabase, limitRows: number | null, idOffset: bigint, file = eventsFile): Promise<Rees46Summary> {
  const connection = await openLoaderConnection(parseMysqlUrl(db.url));
  try {
    return await loadRees46(connection, file, { speed: null, limitRows, idOffset });
  } finally {
    await connection.end();
  }
}

describe('rees46 loader', () => {
  const cartSessions = sessionsWith(events, 'cart');
  const purchaseSessions = sessionsWith(events, 'purchase');
  const converted = [...cartSessions].filter((session) => purchaseSessions.has(session));

  let db: TestDatabase;
  let summary: Rees46Summary;
  before(async () => {
    db = await createTestDatabase();
    summary = await load(db, null, 0n);
  });
  after(async () => {
    await db?.drop();
  });

  async function rows(sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
    const [result] = await db.connection.query<RowDataPacket[]>(sql, params);
    return result;
  }

  test('the sample has the cart sessions the data description states', () => {
    assert.equal(cartSessions.size, 118);
    assert.equal(converted.length, 65);
    assert.equal(purchaseSessions.size, 200);
  });

  test('creates one cart per session with a cart event', async () => {
    const [count] = await rows('SELECT COUNT(*) AS n FROM carts');
    assert.equal(Number(count?.n), cartSessions.size);
    assert.equal(summary.carts, cartSessions.size);
  });

  test('marks carts of purchasing sessions converted and leaves the others open', async () => {
    const loaded = await rows('SELECT id, status FROM carts');
    const convertedIds = loaded.filter((row) => row.status === 'converted').map((row) => String(row.id)).sort();
    assert.deepEqual(convertedIds, [...converted].sort());
    assert.equal(loaded.filter((row) => row.status === 'open').length, cartSessions.size - converted.length);
    assert.equal(summary.convertedCarts, converted.length);
  });

  test('fills a converted cart with the products of its cart events', async () => {
    const counts = new Map<string, number>();
    for (const session of converted) counts.set(session, events.filter((row) => row.user_session === session && row.event_type === 'cart').length);
    const session = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
    const expected = new Map<string, { quantity: number; price: string; at: string }>();
    for (const row of events.filter((event) => event.user_session === session && event.event_type === 'cart')) {
      const line = expected.get(row.product_id ?? '');
      if (line === undefined) expected.set(row.product_id ?? '', { quantity: 1, price: new Decimal(row.price ?? '0').toFixed(3), at: `${(row.event_time ?? '').replace(' UTC', '')}.000` });
      else line.quantity += 1;
    }
    const loaded = await rows('SELECT sku, quantity, unit_price, added_at FROM cart_items WHERE cart_id = ? ORDER BY id', [session]);
    assert.deepEqual(
      loaded.map((row) => [row.sku, row.quantity, row.unit_price, row.added_at]),
      [...expected.entries()].map(([sku, line]) => [sku, line.quantity, line.price, line.at]),
    );
  });

  test('writes one order per purchasing session with its complete items', async () => {
    const [count] = await rows('SELECT COUNT(*) AS n FROM orders');
    assert.equal(Number(count?.n), purchaseSessions.size);
    const multi = [...purchaseSessions].filter((session) => events.filter((row) => row.user_session === session && row.event_type === 'purchase').length > 1);
    assert.ok(multi.length > 0, 'the sample has sessions with several purchase events');
    for (const session of multi) {
      const purchases = events.filter((row) => row.user_session === session && row.event_type === 'purchase');
      const id = expectedOrderId(session);
      const [order] = await rows('SELECT total, placed_at, customer_id FROM orders WHERE id = ?', [id]);
      const total = purchases.reduce((sum, row) => sum.plus(row.price ?? '0'), new Decimal(0)).toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2);
      assert.equal(order?.total, total, `total of session ${session}`);
      assert.equal(order?.placed_at, (purchases[0]?.event_time ?? '').replace(' UTC', ''));
      assert.equal(String(order?.customer_id), purchases[0]?.user_id);
      const [items] = await rows('SELECT SUM(quantity) AS n FROM order_items WHERE order_id = ?', [id]);
      assert.equal(Number(items?.n), purchases.length, `items of session ${session}`);
    }
  });

  test('creates customers for users with cart or purchase events only', async () => {
    const users = new Set(events.filter((row) => row.event_type !== 'view').map((row) => row.user_id));
    const [count] = await rows('SELECT COUNT(*) AS n FROM customers');
    assert.equal(Number(count?.n), users.size);
  });

  test('counts view events as ignored', () => {
    assert.equal(summary.viewsIgnored, events.filter((row) => row.event_type === 'view').length);
    assert.equal(summary.rowsRead, events.length);
  });

  test('loads the head of the file again under an id offset', async () => {
    const limit = 8000;
    const offset = 7_000_000_000n;
    const head = events.slice(0, limit);
    const result = await load(db, limit, offset);
    const headCarts = sessionsWith(head, 'cart');
    const headPurchases = sessionsWith(head, 'purchase');
    assert.equal(result.carts, headCarts.size);
    const carts = await rows('SELECT id FROM carts WHERE id LIKE ?', [`${offset}-%`]);
    assert.deepEqual(carts.map((row) => String(row.id)).sort(), [...headCarts].map((session) => `${offset}-${session}`).sort());
    const session = [...headPurchases][0] ?? '';
    const [order] = await rows('SELECT customer_id FROM orders WHERE id = ?', [expectedOrderId(session, offset)]);
    const buyer = head.find((row) => row.user_session === session && row.event_type === 'purchase')?.user_id ?? '0';
    assert.equal(String(order?.customer_id), (BigInt(buyer) + offset).toString());
    const [orders] = await rows('SELECT COUNT(*) AS n FROM orders');
    assert.equal(Number(orders?.n), purchaseSessions.size + headPurchases.size);
  });
});

describe('rees46 loader with remove_from_cart events', () => {
  test('lowers the quantity and deletes the line at zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'load-test-'));
    const file = join(dir, 'events.csv');
    const session = '0b4a9b7e-0000-4000-8000-000000000001';
    const event = (time: string, type: string, product: string) => `2019-10-01 00:00:${time} UTC,${type},${product},2103807459595387724,,brand,5.50,541312140,${session}`;
    writeFileSync(
      file,
      `${[
        'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session',
        event('01', 'remove_from_cart', '1'),
        event('02', 'cart', '1'),
        event('03', 'cart', '1'),
        event('04', 'cart', '2'),
        event('05', 'remove_from_cart', '1'),
        event('06', 'remove_from_cart', '2'),
      ].join('\n')}\n`,
    );
    const db = await createTestDatabase();
    try {
      const summary = await load(db, null, 0n, file);
      const [items] = await db.connection.query<RowDataPacket[]>('SELECT sku, quantity FROM cart_items WHERE cart_id = ? ORDER BY id', [session]);
      assert.deepEqual(items.map((row) => [row.sku, row.quantity]), [['1', 1]]);
      const [carts] = await db.connection.query<RowDataPacket[]>('SELECT status, created_at, updated_at FROM carts WHERE id = ?', [session]);
      assert.deepEqual(carts.map((row) => [row.status, row.created_at, row.updated_at]), [['open', '2019-10-01 00:00:02.000', '2019-10-01 00:00:06.000']]);
      assert.equal(summary.cartItemsRemoved, 2);
      assert.equal(summary.skippedEvents['remove-without-cart-line'], 1);
    } finally {
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
