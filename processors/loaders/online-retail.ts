/**
 * Replays a file in the UCI Online Retail format into the reference shop schema, one MySQL
 * transaction per invoice, so Debezium captures the traffic a live shop would produce.
 *
 * Rules (where the data leaves a choice, the choice is stated):
 * - Digits-only invoice with a CustomerID -> one `orders` row (id = invoice number + id offset,
 *   status 'paid' with paid_at = the invoice instant, because every invoice in the data is a
 *   completed sale; currency GBP) and one `order_items` row per line. total = sum of
 *   quantity x unit price, rounded half-up to 2 decimals.
 * - `C` invoice with a CustomerID -> one `refunds` row (id = its digits + id offset,
 *   amount = sum of |quantity| x unit price, exact). order_id stays NULL: nothing in the data
 *   links a cancellation to the sale it reverses.
 * - `A` invoices (bad-debt adjustments), invoices with any other number, and lines without a
 *   CustomerID are skipped and counted.
 * - A customer row is inserted in the transaction of the first invoice that names it
 *   (id = CustomerID + id offset, country and created_at of that invoice). The data has no
 *   names, e-mails or phones, so those columns stay NULL.
 * - Times: InvoiceDate is Europe/London wall clock. DATETIME columns (placed_at, created_at)
 *   get that reading unchanged; the TIMESTAMP column paid_at gets the UTC instant. An
 *   invoice's time is its earliest line.
 * - An invoice is written when its last line has been read. A first pass over the file finds
 *   each invoice's last line, so an invoice whose lines are interleaved with another's is
 *   still one transaction. That pass also checks every row: a malformed row (bad number,
 *   bad date, missing invoice number) stops the load before anything is written, with an
 *   error naming the line and the field.
 * - With --limit, only the first N rows count: an invoice cut by the limit is written with
 *   the lines read.
 */

import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';
import type { Connection } from 'mysql2/promise';

import { readCsv } from './csv.ts';
import type { CsvRow } from './csv.ts';
import { LoaderInputError } from './errors.ts';
import { inTransaction, insertRows } from './mysql.ts';
import { bump, Pacer, ProgressTicker, systemClock } from './replay.ts';
import type { ReplayOptions } from './replay.ts';

export const ONLINE_RETAIL_COLUMNS = ['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'UnitPrice', 'CustomerID', 'Country'] as const;

/** Zone of the InvoiceDate wall clock: the retailer is in the UK. */
export const ONLINE_RETAIL_ZONE = 'Europe/London';
export const ONLINE_RETAIL_CURRENCY = 'GBP';
export const ONLINE_RETAIL_ORDER_STATUS = 'paid';

export type InvoiceSkipReason = 'adjustment' | 'no-customer' | 'unrecognised-invoice-number';

export interface OnlineRetailSummary {
  readonly dataset: 'online-retail';
  readonly rowsRead: number;
  readonly transactions: number;
  readonly orders: number;
  readonly orderItems: number;
  readonly refunds: number;
  readonly customers: number;
  /** Invoices not written, by reason. */
  readonly skippedInvoices: Readonly<Record<string, number>>;
  /** Lines not written: every line of a skipped invoice plus lines without a CustomerID. */
  readonly skippedLines: number;
}

interface InvoiceLine {
  readonly line: number;
  readonly invoiceNo: string;
  readonly stockCode: string;
  readonly description: string | null;
  readonly quantity: number;
  readonly invoiceDate: string;
  readonly invoiceMs: number;
  readonly unitPrice: Decimal;
  readonly customerId: string | null;
  readonly country: string | null;
}

const DATE_PATTERN = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const QUANTITY_PATTERN = /^-?\d{1,9}$/;
/** Unit prices go to DECIMAL(12,3) columns, so more than 3 decimals would be rounded by MySQL. */
const PRICE_PATTERN = /^-?\d{1,9}(\.\d{1,3})?$/;
const CUSTOMER_PATTERN = /^\d{1,19}$/;

function parseLine(file: string, row: CsvRow): InvoiceLine {
  const get = (field: string): string => row.fields[field] ?? '';
  const fail = (field: string, message: string): never => {
    throw new LoaderInputError(message, { file, line: row.line, field, value: get(field) });
  };
  const invoiceNo = get('InvoiceNo');
  if (invoiceNo === '') fail('InvoiceNo', 'is empty; every line needs an invoice number');
  const stockCode = get('StockCode');
  if (stockCode === '' || stockCode.length > 64) fail('StockCode', 'must be 1 to 64 characters');
  const quantityText = get('Quantity');
  if (!QUANTITY_PATTERN.test(quantityText)) fail('Quantity', 'is not a whole number');
  const invoiceDate = get('InvoiceDate');
  if (!DATE_PATTERN.test(invoiceDate)) fail('InvoiceDate', 'is not a date of the form YYYY-MM-DD HH:MM:SS');
  const instant = DateTime.fromSQL(invoiceDate, { zone: ONLINE_RETAIL_ZONE });
  if (!instant.isValid) fail('InvoiceDate', `is not a valid date (${instant.invalidExplanation ?? 'invalid'})`);
  const priceText = get('UnitPrice');
  if (!PRICE_PATTERN.test(priceText)) fail('UnitPrice', 'is not a decimal number with at most 3 decimals');
  const customerText = get('CustomerID');
  if (customerText !== '' && !CUSTOMER_PATTERN.test(customerText)) fail('CustomerID', 'is not a whole number');
  const description = get('Description');
  const country = get('Country');
  return {
    line: row.line,
    invoiceNo,
    stockCode,
    description: description === '' ? null : description,
    quantity: Number(quantityText),
    invoiceDate,
    invoiceMs: instant.toMillis(),
    unitPrice: new Decimal(priceText),
    customerId: customerText === '' ? null : customerText,
    country: country === '' ? null : country,
  };
}

type InvoiceKind = 'sale' | 'cancellation' | InvoiceSkipReason;

function invoiceKind(invoiceNo: string): InvoiceKind {
  if (/^\d+$/.test(invoiceNo)) return 'sale';
  if (/^C\d+$/.test(invoiceNo)) return 'cancellation';
  if (/^A\d+$/.test(invoiceNo)) return 'adjustment';
  return 'unrecognised-invoice-number';
}

/** Adds the id offset to a numeric id from the data, as a decimal string for MySQL. */
function offsetId(id: string, idOffset: bigint): string {
  return (BigInt(id) + idOffset).toString();
}

/** First pass: checks every row and returns the line of each invoice's last row. */
async function scanInvoices(file: string, limitRows: number | null): Promise<Map<string, number>> {
  const lastLine = new Map<string, number>();
  for await (const row of readCsv(file, ONLINE_RETAIL_COLUMNS, limitRows)) {
    const line = parseLine(file, row);
    lastLine.set(line.invoiceNo, line.line);
  }
  return lastLine;
}

/** Loads `file` through `connection` (whose database holds the reference schema); resolves with the counts. */
export async function loadOnlineRetail(connection: Connection, file: string, options: ReplayOptions): Promise<OnlineRetailSummary> {
  const lastLine = await scanInvoices(file, options.limitRows);

  const pacer = new Pacer(options.speed, options.clock ?? systemClock);
  const ticker = new ProgressTicker(options);
  const knownCustomers = new Set<string>();
  const pending = new Map<string, InvoiceLine[]>();
  const skippedInvoices: Record<string, number> = {};
  const counts = { rowsRead: 0, transactions: 0, orders: 0, orderItems: 0, refunds: 0, customers: 0, skippedLines: 0 };
  const progress = () => ({ ...counts });

  const writeInvoice = async (invoiceNo: string, lines: InvoiceLine[]): Promise<void> => {
    const kind = invoiceKind(invoiceNo);
    if (kind !== 'sale' && kind !== 'cancellation') {
      bump(skippedInvoices, kind);
      counts.skippedLines += lines.length;
      return;
    }
    const withCustomer = lines.filter((line) => line.customerId !== null);
    counts.skippedLines += lines.length - withCustomer.length;
    const first = withCustomer[0];
    if (first === undefined) {
      bump(skippedInvoices, 'no-customer');
      return;
    }
    const other = withCustomer.find((line) => line.customerId !== first.customerId);
    if (other !== undefined) {
      throw new LoaderInputError(`invoice ${invoiceNo} names customer ${String(first.customerId)} on line ${first.line} and another customer here; an invoice belongs to one customer`, {
        file,
        line: other.line,
        field: 'CustomerID',
        value: other.customerId ?? '',
      });
    }
    const earliest = withCustomer.reduce((a, b) => (b.invoiceMs < a.invoiceMs ? b : a));
    const customerId = offsetId(first.customerId as string, options.idOffset);
    const invoiceId = offsetId(invoiceNo.replace(/^C/, ''), options.idOffset);
    const newCustomer = !knownCustomers.has(customerId);

    await pacer.waitFor(earliest.invoiceMs);
    await inTransaction(connection, `invoice ${invoiceNo} (line ${first.line})`, async () => {
      if (newCustomer) {
        await connection.query('INSERT INTO customers (id, country, created_at) VALUES (?, ?, ?)', [customerId, earliest.country, earliest.invoiceDate]);
      }
      if (kind === 'sale') {
        const total = withCustomer.reduce((sum, line) => sum.plus(line.unitPrice.times(line.quantity)), new Decimal(0));
        await connection.query('INSERT INTO orders (id, customer_id, status, currency, total, placed_at, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
          invoiceId,
          customerId,
          ONLINE_RETAIL_ORDER_STATUS,
          ONLINE_RETAIL_CURRENCY,
          total.toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2),
          earliest.invoiceDate,
          DateTime.fromMillis(earliest.invoiceMs, { zone: 'utc' }).toFormat('yyyy-MM-dd HH:mm:ss'),
        ]);
        await insertRows(
          connection,
          'order_items',
          ['order_id', 'sku', 'name', 'quantity', 'unit_price'],
          withCustomer.map((line) => [invoiceId, line.stockCode, line.description, line.quantity, line.unitPrice.toFixed(3)]),
        );
      } else {
        const amount = withCustomer.reduce((sum, line) => sum.plus(line.unitPrice.times(Math.abs(line.quantity))), new Decimal(0));
        await connection.query('INSERT INTO refunds (id, order_id, customer_id, amount, currency, created_at) VALUES (?, NULL, ?, ?, ?, ?)', [
          invoiceId,
          customerId,
          amount.toFixed(3),
          ONLINE_RETAIL_CURRENCY,
          earliest.invoiceDate,
        ]);
      }
    });
    counts.transactions += 1;
    if (newCustomer) {
      knownCustomers.add(customerId);
      counts.customers += 1;
    }
    if (kind === 'sale') {
      counts.orders += 1;
      counts.orderItems += withCustomer.length;
    } else {
      counts.refunds += 1;
    }
    ticker.tick(progress);
  };

  for await (const row of readCsv(file, ONLINE_RETAIL_COLUMNS, options.limitRows)) {
    const line = parseLine(file, row);
    counts.rowsRead += 1;
    const lines = pending.get(line.invoiceNo) ?? [];
    lines.push(line);
    pending.set(line.invoiceNo, lines);
    if (lastLine.get(line.invoiceNo) === line.line) {
      pending.delete(line.invoiceNo);
      await writeInvoice(line.invoiceNo, lines);
    }
  }
  // Only reachable when the file changed between the two passes.
  for (const [invoiceNo, lines] of pending) await writeInvoice(invoiceNo, lines);
  ticker.tick(progress, true);

  return Object.freeze({ dataset: 'online-retail', ...counts, skippedInvoices: Object.freeze({ ...skippedInvoices }) });
}
