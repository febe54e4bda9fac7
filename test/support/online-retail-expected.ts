// What the pipeline must deliver to Customer.io for rows of the UCI Online Retail file, computed
// from the CSV rows alone with decimal.js and luxon, never with the processors' code. The
// end-to-end test and bench/verify-online-retail.ts compare the stand-in's people with it.
//
// Rules (those of processors/loaders/online-retail.ts, restated from the data's description):
// digits-only invoices of a customer are orders, `C` invoices of a customer are refunds, other
// invoices and lines without a CustomerID send nothing. An invoice's time is its earliest line,
// read as Europe/London wall clock. An order's total is the sum of quantity x unit price rounded
// half-up to 2 decimals; a refund's amount is the exact sum of |quantity| x unit price.
import assert from 'node:assert/strict';

import { Decimal } from 'decimal.js';
import { DateTime } from 'luxon';

export const ONLINE_RETAIL_ZONE = 'Europe/London';

export interface ExpectedOrder {
  readonly invoiceNo: string;
  readonly atSec: number;
  readonly total: Decimal;
  readonly lines: number;
}

export interface ExpectedRefund {
  readonly invoiceNo: string;
  readonly amount: Decimal;
}

export interface ExpectedCustomer {
  readonly customerId: string;
  readonly createdAtSec: number;
  readonly orders: ExpectedOrder[];
  readonly refunds: ExpectedRefund[];
}

/** Wall clock of the file's InvoiceDate, read in the shop's zone, as unix seconds. */
export function londonSeconds(text: string): number {
  const instant = DateTime.fromFormat(text, 'yyyy-MM-dd HH:mm:ss', { zone: ONLINE_RETAIL_ZONE });
  assert.ok(instant.isValid, `InvoiceDate ${text} is not a date`);
  return instant.toSeconds();
}

/** Expectations from the rows alone: sales (all-digit invoices) and cancellations (C + digits) of customers. */
export function expectedCustomers(rows: Iterable<Record<string, string>>): Map<string, ExpectedCustomer> {
  const invoices = new Map<string, Record<string, string>[]>();
  for (const row of rows) {
    const lines = invoices.get(row['InvoiceNo']!) ?? [];
    lines.push(row);
    invoices.set(row['InvoiceNo']!, lines);
  }
  // The full file has about 23,000 distinct times over 542,000 lines, and luxon parses slowly.
  const secondsOf = new Map<string, number>();
  const londonSecondsCached = (text: string): number => {
    let value = secondsOf.get(text);
    if (value === undefined) {
      value = londonSeconds(text);
      secondsOf.set(text, value);
    }
    return value;
  };
  const customers = new Map<string, ExpectedCustomer>();
  for (const [invoiceNo, lines] of invoices) {
    const sale = /^\d+$/.test(invoiceNo);
    const refund = /^C\d+$/.test(invoiceNo);
    const named = lines.filter((line) => line['CustomerID'] !== '');
    if ((!sale && !refund) || named.length === 0) continue;
    const customerId = named[0]!['CustomerID']!;
    const atSec = Math.min(...named.map((line) => londonSecondsCached(line['InvoiceDate']!)));
    const customer = customers.get(customerId) ?? { customerId, createdAtSec: atSec, orders: [], refunds: [] };
    customers.set(customerId, customer);
    if (sale) {
      const exact = named.reduce((sum, line) => sum.plus(new Decimal(line['UnitPrice']!).times(line['Quantity']!)), new Decimal(0));
      customer.orders.push({ invoiceNo, atSec, total: exact.toDecimalPlaces(2, Decimal.ROUND_HALF_UP), lines: named.length });
    } else {
      const amount = named.reduce((sum, line) => sum.plus(new Decimal(line['UnitPrice']!).times(line['Quantity']!).abs()), new Decimal(0));
      customer.refunds.push({ invoiceNo, amount });
    }
  }
  return customers;
}

/** Sum of the order totals minus the refund amounts, as a JSON number. */
export function lifetimeValue(customer: ExpectedCustomer): number {
  const orders = customer.orders.reduce((sum, order) => sum.plus(order.total), new Decimal(0));
  const refunds = customer.refunds.reduce((sum, refund) => sum.plus(refund.amount), new Decimal(0));
  return orders.minus(refunds).toNumber();
}

/**
 * Builds every attribute of the customer's profile. The data has no names, e-mails, phones or
 * categories, so those are null and sms_opt_in is false.
 */
export function expectedAttributes(customer: ExpectedCustomer): Record<string, unknown> {
  const times = customer.orders.map((order) => order.atSec);
  return {
    email: null,
    phone: null,
    first_name: null,
    last_name: null,
    created_at: customer.createdAtSec,
    sms_opt_in: false,
    total_orders: customer.orders.length,
    lifetime_value: lifetimeValue(customer),
    first_order_at: times.length === 0 ? null : Math.min(...times),
    last_order_at: times.length === 0 ? null : Math.max(...times),
    last_category: null,
  };
}

/** The fields of an order_placed event that the file determines. */
export interface OrderPlacedShape {
  readonly orderId: unknown;
  readonly timestamp: number;
  readonly replaced: boolean;
  readonly total: unknown;
  readonly currency: unknown;
  readonly items: number;
}

/** Reduces a stored order_placed event to the fields the file determines. */
export function orderPlacedShape(event: { timestamp: number; timestampReplaced: boolean; data: Record<string, unknown> }): OrderPlacedShape {
  return {
    orderId: event.data['order_id'],
    timestamp: event.timestamp,
    replaced: event.timestampReplaced,
    total: event.data['order_total'],
    currency: event.data['currency'],
    items: Array.isArray(event.data['items']) ? event.data['items'].length : -1,
  };
}

/** Lists the customer's order_placed events as orderPlacedShape reduces them, sorted by order id. */
export function expectedOrderPlaced(customer: ExpectedCustomer, idOf: (fileId: string) => string): OrderPlacedShape[] {
  return customer.orders
    .map((order) => ({ orderId: idOf(order.invoiceNo), timestamp: order.atSec, replaced: false, total: order.total.toNumber(), currency: 'GBP', items: order.lines }))
    .sort((a, b) => a.orderId.localeCompare(b.orderId));
}
