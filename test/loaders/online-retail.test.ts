import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { parse } from 'csv-parse/sync';
import { Decimal } from 'decimal.js';
import type { RowDataPacket } from 'mysql2/promise';

import { LoaderInputError, LoaderWriteError } from '../../processors/loaders/errors.ts';
import { openLoaderConnection, parseMysqlUrl } from '../../processors/loaders/mysql.ts';
import { loadOnlineRetail } from '../../processors/loaders/online-retail.ts';
import type { OnlineRetailSummary } from '../../processors/loaders/online-retail.ts';
import { createTestDatabase, dataFile } from './database.ts';
import type { TestDatabase } from './database.ts';

type Row = Record<string, string>;

function readRows(path: string): Row[] {
  return parse(readFileSync(path, 'utf8'), { columns: true }) as Row[];
}

const repoDir = join(import.meta.dirname, '..', '..');
const fast = { speed: null, limitRows: null, idOffset: 0n } as const;

async function rows(db: TestDatabase, sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const [result] = await db.connection.query<RowDataPacket[]>(sql, params);
  return result;
}

async function loadFile(db: TestDatabase, file: string, options: { limitRows?: number | null; idOffset?: bigint } = {}): Promise<OnlineRetailSummary> {
  const connection = await openLoaderConnection(parseMysqlUrl(db.url));
  try {
    return await loadOnlineRetail(connection, file, { ...fast, ...options });
  } finally {
    await connection.end();
  }
}

/** Runs the real command line and resolves with its exit code and output. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoDir, 'processors', 'cli', 'main.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function writeTempCsv(lines: string[]): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'load-test-'));
  const file = join(dir, 'invoices.csv');
  writeFileSync(file, `${['InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country', ...lines].join('\n')}\n`);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('online retail loader', () => {
  describe('when the slice is loaded', () => {
    const sliceFile = dataFile('online_retail_slice', 'online_retail_slice.csv');
    const raw = readRows(sliceFile);
    const publishedOrders = readRows(dataFile('online_retail_slice', 'orders.csv')).filter((order) => order.customer_id !== '' && order.kind === 'sale');
    const publishedOrderIds = new Set(publishedOrders.map((order) => order.order_id ?? ''));
    const publishedItems = readRows(dataFile('online_retail_slice', 'order_items.csv')).filter((item) => publishedOrderIds.has(item.order_id ?? ''));
    const publishedRefunds = readRows(dataFile('online_retail_slice', 'refunds.csv')).filter((refund) => refund.customer_id !== '');
    const publishedRefundItems = readRows(dataFile('online_retail_slice', 'refund_items.csv'));
    const publishedCustomers = readRows(dataFile('online_retail_slice', 'customers.csv'));

    let db: TestDatabase;
    let summary: OnlineRetailSummary;
    before(async () => {
      db = await createTestDatabase();
      summary = await loadFile(db, sliceFile);
    });
    after(async () => {
      await db?.drop();
    });

    test('writes one order per customer sale invoice', async () => {
      const [count] = await rows(db, 'SELECT COUNT(*) AS n FROM orders');
      assert.equal(summary.orders, publishedOrders.length);
      assert.equal(Number(count?.n), publishedOrders.length);
    });

    test('writes every line of those invoices as an order item', async () => {
      const [count] = await rows(db, 'SELECT COUNT(*) AS n FROM order_items');
      assert.equal(summary.orderItems, publishedItems.length);
      assert.equal(Number(count?.n), publishedItems.length);
    });

    test('writes each order with all its items', async () => {
      const loaded = await rows(db, 'SELECT o.id, COUNT(i.id) AS n FROM orders o LEFT JOIN order_items i ON i.order_id = o.id GROUP BY o.id');
      const itemCount = new Map(loaded.map((row) => [String(row.id), Number(row.n)]));
      const wrong = publishedOrders.filter((order) => itemCount.get(order.order_id ?? '') !== Number(order.line_count));
      assert.deepEqual(wrong.map((order) => order.order_id), []);
    });

    test('stores each order total rounded to 2 decimals as published', async () => {
      const loaded = await rows(db, 'SELECT id, total, customer_id, placed_at, status, currency FROM orders');
      const byId = new Map(loaded.map((row) => [String(row.id), row]));
      const wrongTotal = publishedOrders.filter((order) => byId.get(order.order_id ?? '')?.total !== order.total_amount);
      assert.deepEqual(wrongTotal.map((order) => order.order_id), []);
      const wrongCustomer = publishedOrders.filter((order) => String(byId.get(order.order_id ?? '')?.customer_id) !== order.customer_id);
      assert.deepEqual(wrongCustomer.map((order) => order.order_id), []);
      const wrongTime = publishedOrders.filter((order) => byId.get(order.order_id ?? '')?.placed_at !== order.ordered_at);
      assert.deepEqual(wrongTime.map((order) => order.order_id), []);
      assert.deepEqual(new Set(loaded.map((row) => `${String(row.status)} ${String(row.currency)}`)), new Set(['paid GBP']));
    });

    test('matches totals computed here from the raw lines', async () => {
      const linesOf = new Map<string, Row[]>();
      for (const line of raw) linesOf.set(line.InvoiceNo ?? '', [...(linesOf.get(line.InvoiceNo ?? '') ?? []), line]);
      const largest = [...publishedOrderIds].sort((a, b) => (linesOf.get(b)?.length ?? 0) - (linesOf.get(a)?.length ?? 0))[0] ?? '';
      const last = [...publishedOrderIds].at(-1) ?? '';
      const first = raw.find((line) => /^\d+$/.test(line.InvoiceNo ?? '') && line.CustomerID !== '')?.InvoiceNo ?? '';
      for (const id of [first, largest, last]) {
        const expected = (linesOf.get(id) ?? [])
          .reduce((sum, line) => sum.plus(new Decimal(line.UnitPrice ?? '0').times(line.Quantity ?? '0')), new Decimal(0))
          .toDecimalPlaces(2, Decimal.ROUND_HALF_UP)
          .toFixed(2);
        const [order] = await rows(db, 'SELECT total FROM orders WHERE id = ?', [id]);
        assert.equal(order?.total, expected, `total of order ${id}`);
        const [sum] = await rows(db, 'SELECT SUM(quantity * unit_price) AS exact FROM order_items WHERE order_id = ?', [id]);
        assert.equal(new Decimal(String(sum?.exact)).toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2), expected, `items of order ${id}`);
      }
    });

    test('writes one refund per customer cancellation with the exact amount', async () => {
      const expected = new Map<string, Decimal>();
      for (const item of publishedRefundItems) {
        const id = (item.refund_id ?? '').replace(/^C/, '');
        expected.set(id, (expected.get(id) ?? new Decimal(0)).plus(new Decimal(item.unit_price ?? '0').times(item.quantity ?? '0')));
      }
      const loaded = await rows(db, 'SELECT id, amount, customer_id, order_id, created_at, currency FROM refunds');
      assert.equal(summary.refunds, publishedRefunds.length);
      assert.equal(loaded.length, publishedRefunds.length);
      const byId = new Map(loaded.map((row) => [String(row.id), row]));
      const wrongAmount = publishedRefunds.filter((refund) => {
        const id = (refund.refund_id ?? '').replace(/^C/, '');
        return byId.get(id)?.amount !== expected.get(id)?.toFixed(3);
      });
      assert.deepEqual(wrongAmount.map((refund) => refund.refund_id), []);
      const wrongRounded = publishedRefunds.filter((refund) => {
        const amount = String(byId.get((refund.refund_id ?? '').replace(/^C/, ''))?.amount);
        return new Decimal(amount).toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2) !== refund.total_amount;
      });
      assert.deepEqual(wrongRounded.map((refund) => refund.refund_id), []);
      const wrongTime = publishedRefunds.filter((refund) => byId.get((refund.refund_id ?? '').replace(/^C/, ''))?.created_at !== refund.refunded_at);
      assert.deepEqual(wrongTime.map((refund) => refund.refund_id), []);
      assert.deepEqual(new Set(loaded.map((row) => row.order_id)), new Set([null]));
    });

    test('creates each customer once with the country and time of first sight', async () => {
      const loaded = await rows(db, 'SELECT id, country, created_at, email, first_name, phone FROM customers');
      assert.equal(summary.customers, publishedCustomers.length);
      assert.equal(loaded.length, publishedCustomers.length);
      const byId = new Map(loaded.map((row) => [String(row.id), row]));
      const wrong = publishedCustomers.filter((customer) => {
        const row = byId.get(customer.customer_id ?? '');
        return row?.country !== customer.country || row?.created_at !== `${customer.first_seen_at}.000000`;
      });
      assert.deepEqual(wrong.map((customer) => customer.customer_id), []);
      assert.equal(loaded.filter((row) => row.email !== null || row.first_name !== null || row.phone !== null).length, 0);
    });

    test('counts skipped adjustment and guest invoices and their lines', () => {
      const invoices = new Map<string, Row[]>();
      for (const line of raw) invoices.set(line.InvoiceNo ?? '', [...(invoices.get(line.InvoiceNo ?? '') ?? []), line]);
      const adjustments = [...invoices.keys()].filter((id) => id.startsWith('A'));
      const guests = [...invoices.entries()].filter(([id, lines]) => !id.startsWith('A') && lines.every((line) => line.CustomerID === ''));
      const skippedLines = adjustments.reduce((sum, id) => sum + (invoices.get(id)?.length ?? 0), 0) + guests.reduce((sum, [, lines]) => sum + lines.length, 0);
      assert.equal(summary.skippedInvoices.adjustment, adjustments.length);
      assert.equal(summary.skippedInvoices['no-customer'], guests.length);
      assert.equal(summary.skippedLines, skippedLines);
      assert.equal(summary.rowsRead, raw.length);
    });

    test('loads the same file again under an id offset', async () => {
      const limit = 2000;
      const offset = 100_000_000n;
      const head = raw.slice(0, limit);
      const expectedOrders = new Set(head.filter((line) => /^\d+$/.test(line.InvoiceNo ?? '') && line.CustomerID !== '').map((line) => line.InvoiceNo));
      const expectedItems = head.filter((line) => /^\d+$/.test(line.InvoiceNo ?? '') && line.CustomerID !== '').length;
      const expectedCustomers = new Set(head.filter((line) => /^[C\d]/.test(line.InvoiceNo ?? '') && line.CustomerID !== '').map((line) => line.CustomerID));

      const result = await runCli(['load', 'online-retail', sliceFile, '--limit', String(limit), '--id-offset', String(offset), '--json', '--mysql-url', db.url]);
      assert.equal(result.code, 0, result.stderr);
      const json = JSON.parse(result.stdout) as OnlineRetailSummary;
      assert.equal(json.orders, expectedOrders.size);
      assert.equal(json.orderItems, expectedItems);
      assert.equal(json.customers, expectedCustomers.size);

      const [orders] = await rows(db, 'SELECT COUNT(*) AS n FROM orders WHERE id >= ?', [offset.toString()]);
      assert.equal(Number(orders?.n), expectedOrders.size);
      const [items] = await rows(db, 'SELECT COUNT(*) AS n FROM order_items WHERE order_id >= ?', [offset.toString()]);
      assert.equal(Number(items?.n), expectedItems);
      const [customers] = await rows(db, 'SELECT COUNT(*) AS n FROM customers WHERE id >= ?', [offset.toString()]);
      assert.equal(Number(customers?.n), expectedCustomers.size);
      const sample = [...expectedOrders][0] ?? '';
      const [shifted] = await rows(db, 'SELECT o.total = p.total AS same, o.customer_id - p.customer_id AS shift FROM orders o JOIN orders p ON p.id = ? WHERE o.id = ?', [sample, (BigInt(sample) + offset).toString()]);
      assert.equal(Number(shifted?.same), 1);
      assert.equal(String(shifted?.shift), offset.toString());
      const [original] = await rows(db, 'SELECT COUNT(*) AS n FROM orders WHERE id < ?', [offset.toString()]);
      assert.equal(Number(original?.n), publishedOrders.length);
    });
  });

  describe('when prices have 3 decimals', () => {
    test('keeps unit prices exact and rounds the total half-up', async () => {
      const input = writeTempCsv([
        '536365,85123A,TINY PART,5,2010-12-01 08:26:00,0.001,17850,United Kingdom',
        '536365,85123B,"PART, WITH COMMA",1,2010-12-01 08:26:00,1.2,17850,United Kingdom',
        'C536366,85123A,TINY PART,-3,2010-12-01 09:00:00,0.001,17850,United Kingdom',
      ]);
      const db = await createTestDatabase();
      try {
        await loadFile(db, input.file);
        const items = await rows(db, 'SELECT sku, name, unit_price FROM order_items ORDER BY id');
        assert.deepEqual(items.map((row) => [row.sku, row.name, row.unit_price]), [
          ['85123A', 'TINY PART', '0.001'],
          ['85123B', 'PART, WITH COMMA', '1.200'],
        ]);
        // 5 x 0.001 + 1.2 = 1.205, which rounds half-up to 1.21.
        const [order] = await rows(db, 'SELECT total FROM orders WHERE id = 536365');
        assert.equal(order?.total, '1.21');
        const [refund] = await rows(db, 'SELECT amount FROM refunds WHERE id = 536366');
        assert.equal(refund?.amount, '0.003');
      } finally {
        await db.drop();
        input.remove();
      }
    });
  });

  describe('when a row is malformed', () => {
    test('names the line and field and writes nothing', async () => {
      const input = writeTempCsv(['536365,85123A,HANGER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom', '536366,22633,WARMER,six,2010-12-01 08:28:00,1.85,17850,United Kingdom']);
      const db = await createTestDatabase();
      try {
        await assert.rejects(loadFile(db, input.file), (err: unknown) => {
          assert.ok(err instanceof LoaderInputError);
          assert.equal(err.line, 3);
          assert.equal(err.field, 'Quantity');
          assert.match(err.message, /line 3 field Quantity = "six"/);
          return true;
        });
        const [orders] = await rows(db, 'SELECT COUNT(*) AS n FROM orders');
        assert.equal(Number(orders?.n), 0);
      } finally {
        await db.drop();
        input.remove();
      }
    });

    test('rejects a date that is not YYYY-MM-DD HH:MM:SS', async () => {
      const input = writeTempCsv(['536365,85123A,HANGER,6,12/1/2010 8:26,2.55,17850,United Kingdom']);
      const db = await createTestDatabase();
      try {
        await assert.rejects(loadFile(db, input.file), /line 2 field InvoiceDate/);
      } finally {
        await db.drop();
        input.remove();
      }
    });
  });

  describe('when writing an invoice fails', () => {
    test('rolls back the whole invoice and keeps the ones before it', async () => {
      const input = writeTempCsv([
        '536365,85123A,HANGER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom',
        '536366,22633,WARMER,6,2010-12-01 08:28:00,1.85,13047,United Kingdom',
        '536366,22632,WARMER RED,6,2010-12-01 08:28:00,1.85,13047,United Kingdom',
      ]);
      const db = await createTestDatabase();
      try {
        // The second invoice's order id is taken, so its transaction fails after inserting its new customer.
        await db.connection.query("INSERT INTO orders (id, total, placed_at) VALUES (536366, 0, '2000-01-01 00:00:00')");
        await assert.rejects(loadFile(db, input.file), (err: unknown) => err instanceof LoaderWriteError && /536366/.test(err.message) && /--id-offset/.test(err.message));
        const customers = await rows(db, 'SELECT id FROM customers ORDER BY id');
        assert.deepEqual(customers.map((row) => String(row.id)), ['17850']);
        const [items] = await rows(db, 'SELECT COUNT(*) AS n FROM order_items');
        assert.equal(Number(items?.n), 1);
      } finally {
        await db.drop();
        input.remove();
      }
    });
  });

  describe('when the command line is wrong', () => {
    test('exits 2 and names the bad option', async () => {
      const result = await runCli(['load', 'online-retail', 'x.csv', '--speed', '0']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--speed must be a number above 0/);
    });

    test('exits 1 and names the file when it cannot be read', async () => {
      const db = await createTestDatabase();
      try {
        const result = await runCli(['load', 'online-retail', '/nonexistent/invoices.csv', '--mysql-url', db.url]);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /\/nonexistent\/invoices\.csv: cannot read the file \(ENOENT\)/);
      } finally {
        await db.drop();
      }
    });
  });
});
