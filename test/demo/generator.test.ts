import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { orderTotal, planTraffic, seededRandom } from '../../processors/demo/generator.ts';

const options = { seed: 42, customers: 40, firstIds: { customerId: 9_000_000n, orderId: 7_000_000n }, cartIdPrefix: 'demo-test' };

describe('demo generator', () => {
  it('gives the same actions and SQL for the same seed', () => {
    const first = planTraffic(options);
    const second = planTraffic(options);
    assert.deepEqual(second.actions, first.actions);
    assert.deepEqual(second.orderIds, first.orderIds);
  });

  it('gives other actions for another seed', () => {
    const first = planTraffic(options);
    const other = planTraffic({ ...options, seed: 43 });
    assert.notDeepEqual(other.actions, first.actions);
  });

  it('writes a few hundred actions by default and scales with the customer count', () => {
    const full = planTraffic(options);
    const small = planTraffic({ ...options, customers: 10 });
    assert.ok(full.actions.length >= 200 && full.actions.length <= 600, `got ${full.actions.length} actions`);
    assert.ok(small.actions.length < full.actions.length / 2, `10 customers gave ${small.actions.length} actions`);
  });

  it('contains every kind of business action', () => {
    const { counts, abandonedCarts, convertedCarts } = planTraffic(options);
    for (const [kind, count] of Object.entries(counts)) assert.ok(count > 0, `no ${kind} action`);
    assert.ok(abandonedCarts > 0, 'no abandoned cart');
    assert.ok(convertedCarts > 0, 'no converted cart');
  });

  it('uses ids at or above the first free ids', () => {
    const plan = planTraffic(options);
    for (const id of plan.customerIds) assert.ok(BigInt(id) >= options.firstIds.customerId, `customer id ${id}`);
    for (const id of plan.orderIds) assert.ok(BigInt(id) >= options.firstIds.orderId, `order id ${id}`);
    assert.equal(new Set(plan.orderIds).size, plan.orderIds.length);
  });

  it('creates a customer before any other action of that customer', () => {
    const seen = new Set<string>();
    for (const action of planTraffic(options).actions) {
      if (action.kind === 'customer_created') seen.add(action.customerId);
      else assert.ok(seen.has(action.customerId), `${action.kind} of ${action.customerId} before the customer exists`);
    }
  });

  it('places orders of one to four items whose total is the exact sum', () => {
    for (const action of planTraffic(options).actions.filter((candidate) => candidate.kind === 'order_placed')) {
      const items = action.statements.filter((statement) => statement.sql.startsWith('INSERT INTO order_items'));
      assert.ok(items.length >= 1 && items.length <= 4, `order ${action.orderId} has ${items.length} items`);
      const expected = orderTotal(items.map((item) => ({ quantity: item.params[4] as number, unitPrice: item.params[5] as string })));
      assert.equal(action.statements[0]!.params[2], expected);
    }
  });

  it('pays, fulfills or refunds an order only after placing it', () => {
    const placed = new Set<string>();
    for (const action of planTraffic(options).actions) {
      if (action.kind === 'order_placed') placed.add(action.orderId!);
      if (['order_paid', 'order_fulfilled', 'order_canceled', 'refund_created'].includes(action.kind)) {
        assert.ok(placed.has(action.orderId!), `${action.kind} of order ${action.orderId} before it was placed`);
      }
    }
  });
});

describe('order total', () => {
  it('sums quantity times unit price exactly', () => {
    assert.equal(orderTotal([{ quantity: 3, unitPrice: '0.100' }, { quantity: 1, unitPrice: '0.200' }]), '0.50');
  });

  it('rounds half up to two decimals', () => {
    assert.equal(orderTotal([{ quantity: 1, unitPrice: '1.005' }]), '1.01');
  });
});

describe('seeded random', () => {
  it('repeats its sequence for a seed', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    assert.deepEqual([a(), a(), a()], [b(), b(), b()]);
  });

  it('stays within 0 inclusive and 1 exclusive', () => {
    const random = seededRandom(1);
    for (let i = 0; i < 1000; i += 1) {
      const value = random();
      assert.ok(value >= 0 && value < 1, `got ${value}`);
    }
  });
});
