import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventRecord } from '../../processors/customerio/records.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import { PersonIdRejectedError } from '../../processors/people/errors.ts';
import { applyCustomerChange, applyOrderEvent, booleanOf, checkPersonId, peopleRules } from '../../processors/people/process.ts';
import type { PersonState } from '../../processors/people/records.ts';
import { decodeCustomer } from './support.ts';

const mapping = loadMapping();
const rules = peopleRules(mapping, { seenEventIds: 100, dedupePositions: 16 });
const source = { topic: 't', partition: 0, offset: '0' };

function orderPlaced(id: string, total: number, createdAt: number, category: string): EventRecord {
  return {
    kind: 'event',
    customerId: '501',
    name: 'order_placed',
    id,
    timestamp: createdAt,
    data: { order_id: id, order_total: total, items: [{ category: 'other' }, { category }], created_at: createdAt },
    origin: 'live',
  };
}

const customer = { id: 501, email: 'mei.tanaka@example.net', first_name: 'Mei', sms_opt_in: 1, created_at: 1704103200000000 };

describe('people process', () => {
  it('sends created_at in unix seconds read in the mapping zone', async () => {
    const newYork = applyCustomerChange(undefined, '501', await decodeCustomer('America/New_York', 'c', customer), source, rules);
    assert.equal(newYork.identify?.attributes['created_at'], 1704121200);
    const utc = applyCustomerChange(undefined, '501', await decodeCustomer('UTC', 'c', customer), source, rules);
    assert.equal(utc.identify?.attributes['created_at'], 1704103200);
  });

  it('sends the full attribute set with the source time', async () => {
    const result = applyCustomerChange(undefined, '501', await decodeCustomer('UTC', 'c', customer), source, rules);
    assert.deepEqual(result.identify?.attributes, {
      email: 'mei.tanaka@example.net',
      phone: null,
      first_name: 'Mei',
      last_name: null,
      created_at: 1704103200,
      sms_opt_in: true,
      total_orders: 0,
      lifetime_value: 0,
      first_order_at: null,
      last_order_at: null,
      last_category: null,
    });
    assert.equal(result.identify?.timestamp, 1721050200);
    assert.equal(result.identify?.origin, 'live');
  });

  it('reads sms_opt_in as a boolean whatever the stored flag', async () => {
    assert.equal(booleanOf(1), true);
    assert.equal(booleanOf(-1), true);
    assert.equal(booleanOf(2), true);
    assert.equal(booleanOf(true), true);
    assert.equal(booleanOf(0), false);
    const snapshot = applyCustomerChange(undefined, '504', await decodeCustomer('UTC', 'r', { ...customer, id: 504, sms_opt_in: -1 }), source, rules);
    assert.equal(snapshot.identify?.attributes['sms_opt_in'], true);
    assert.equal(snapshot.identify?.origin, 'snapshot');
    const zero = applyCustomerChange(undefined, '505', await decodeCustomer('UTC', 'c', { ...customer, id: 505, sms_opt_in: 0 }), source, rules);
    assert.equal(zero.identify?.attributes['sms_opt_in'], false);
  });

  it('sends nothing when no attribute changed', async () => {
    const first = applyCustomerChange(undefined, '501', await decodeCustomer('UTC', 'c', customer, 100), source, rules);
    const again = applyCustomerChange(first.state, '501', await decodeCustomer('UTC', 'u', customer, 200), source, rules);
    assert.equal(again.identify, null);
  });

  it('drops a customers change the connector emitted again', async () => {
    const event = await decodeCustomer('UTC', 'c', customer, 300);
    const first = applyCustomerChange(undefined, '501', event, source, rules);
    assert.equal(applyCustomerChange(first.state, '501', event, source, rules).outcome, 'duplicate');
  });

  it('rolls up orders and refunds exactly and counts an order event once', () => {
    let state: PersonState | undefined;
    const placed = applyOrderEvent(state, '501', orderPlaced('01A', 59.8, 1721050200, 'socks'), source, rules);
    state = placed.state;
    assert.equal(placed.identify?.attributes['total_orders'], 1);
    assert.equal(placed.identify?.attributes['lifetime_value'], 59.8);
    assert.equal(placed.identify?.attributes['last_order_at'], 1721050200);
    assert.equal(placed.identify?.attributes['last_category'], 'socks');
    const repeat = applyOrderEvent(state, '501', orderPlaced('01A', 59.8, 1721050200, 'socks'), source, rules);
    assert.equal(repeat.outcome, 'duplicate');
    for (const amount of ['-5.00', '5.00']) {
      const refund: EventRecord = { kind: 'event', customerId: '501', name: 'refund_created', id: `R${amount}`, timestamp: 1721050300, data: { amount: Number(amount) } };
      state = applyOrderEvent(state, '501', refund, source, rules).state;
    }
    assert.equal(state.rollups.lifetime_value, '49.80');
    const older = applyOrderEvent(state, '501', orderPlaced('01B', 0.1, 1690000000, 'hats'), source, rules);
    assert.equal(older.state.rollups.first_order_at, 1690000000);
    assert.equal(older.state.rollups.last_category, 'socks');
    assert.equal(older.state.rollups.lifetime_value, '49.90');
  });

  it('rejects an email address or a cio_ id as the person id, naming it', () => {
    assert.throws(() => checkPersonId('tom.varga@example.net', 'shop.customers.id', source), (error: unknown) => {
      assert.ok(error instanceof PersonIdRejectedError);
      assert.equal(error.retriable, false);
      assert.match(error.message, /customer id "t…@example\.net" .* looks like an email address/);
      return true;
    });
    assert.throws(() => checkPersonId('cio_abc', 'shop.customers.id', source), /customer id "cio_abc" .*starts with cio_/);
    assert.doesNotThrow(() => checkPersonId('507', 'shop.customers.id', source));
  });
});
