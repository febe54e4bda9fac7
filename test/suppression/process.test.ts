// Decision logic of the suppression processor with explicit event times, no Kafka.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventRecord } from '../../processors/customerio/records.ts';
import { parseSuppressionConfig } from '../../processors/suppression/config.ts';
import {
  EMPTY_CUSTOMER,
  applyProgress,
  canRelease,
  lowWatermark,
  onCartEvent,
  onOrderEvent,
  producerInputProgress,
  pruneOrders,
  releaseHeld,
} from '../../processors/suppression/process.ts';
import type { Effect, Outcome, Rules } from '../../processors/suppression/process.ts';
import type { CustomerState, DecisionRecord } from '../../processors/suppression/records.ts';

const MINUTE = 60_000;
const T0 = Date.parse('2024-07-15T09:00:00Z');
const at = (minutes: number) => T0 + minutes * MINUTE;

const rules: Rules = {
  windowMs: 60 * MINUTE,
  quietMs: 60 * MINUTE,
  latenessBoundMs: 5 * MINUTE,
  ordersPerCustomer: 16,
  names: { cartUpdated: 'cart_updated', checkoutStarted: 'checkout_started', orderPlaced: 'order_placed' },
};

function event(name: string, id: string, timeMs: number, data: Record<string, string>): EventRecord {
  return { kind: 'event', customerId: '512', name, id, timestamp: timeMs / 1000, data, origin: 'live' };
}
const checkout = (id: string, minutes: number) => event('checkout_started', id, at(minutes), { cart_id: '3010' });
const cartUpdate = (id: string, minutes: number, items: string) => event('cart_updated', id, at(minutes), { cart_id: '3010', items });
const order = (orderId: string, minutes: number) => event('order_placed', `order-${orderId}`, at(minutes), { order_id: orderId });

const decisions = (outcome: Outcome): DecisionRecord[] =>
  outcome.effects.filter((effect): effect is Extract<Effect, { type: 'decision' }> => effect.type === 'decision').map((effect) => effect.decision);
const emitted = (outcome: Outcome): EventRecord[] =>
  outcome.effects.filter((effect): effect is Extract<Effect, { type: 'emit' }> => effect.type === 'emit').map((effect) => effect.record);

function cart(state: CustomerState, record: EventRecord): Outcome {
  return onCartEvent(state, record, record.timestamp * 1000, null, rules);
}
function orderIn(state: CustomerState, record: EventRecord): Outcome {
  return onOrderEvent(state, record, record.timestamp * 1000, null, rules);
}
function release(state: CustomerState, heldKey: string): Outcome {
  return releaseHeld(state, heldKey, null, rules);
}

describe('suppression decisions', () => {
  describe('checkout_started', () => {
    it('is held until its event time plus the window', () => {
      const outcome = cart(EMPTY_CUSTOMER, checkout('c1', 0));
      assert.equal(outcome.state.held.length, 1);
      assert.equal(outcome.state.held[0]!.deadlineMs, at(60));
      assert.deepEqual(decisions(outcome).map((d) => d.decision), ['held']);
      assert.deepEqual(emitted(outcome), []);
    });

    it('is released when no order comes within the window', () => {
      const held = cart(EMPTY_CUSTOMER, checkout('c1', 0)).state;
      const outcome = release(held, 'checkout:c1');
      assert.deepEqual(emitted(outcome), [checkout('c1', 0)]);
      assert.deepEqual(decisions(outcome).map((d) => d.decision), ['released']);
      assert.equal(outcome.state.held.length, 0);
    });

    it('is suppressed by an order during the hold and the decision names the order', () => {
      const held = cart(EMPTY_CUSTOMER, checkout('c1', 0)).state;
      const outcome = orderIn(held, order('1017', 20));
      const suppressed = decisions(outcome).find((d) => d.decision === 'suppressed');
      assert.equal(suppressed?.order_id, '1017');
      assert.equal(suppressed?.event_id, 'c1');
      assert.equal(outcome.state.held.length, 0);
    });

    it('is suppressed by an order at exactly the release time', () => {
      const held = cart(EMPTY_CUSTOMER, checkout('c1', 0)).state;
      const outcome = orderIn(held, order('1017', 60));
      assert.equal(outcome.state.held.length, 0);
    });

    it('is released when the order comes after the window', () => {
      const held = cart(EMPTY_CUSTOMER, checkout('c1', 0)).state;
      const afterOrder = orderIn(held, order('1017', 61));
      assert.equal(afterOrder.state.held.length, 1);
      const outcome = release(afterOrder.state, 'checkout:c1');
      assert.deepEqual(decisions(outcome).map((d) => d.decision), ['released']);
    });

    it('is dropped on arrival when an order before it is within the quiet period', () => {
      const ordered = orderIn(EMPTY_CUSTOMER, order('1017', 0)).state;
      const outcome = cart(ordered, checkout('c1', 30));
      assert.equal(outcome.state.held.length, 0);
      assert.equal(decisions(outcome)[0]?.decision, 'suppressed');
      assert.equal(decisions(outcome)[0]?.order_id, '1017');
    });

    it('is dropped at release when the order read later was placed during the hold', () => {
      // The cart input was read first: the order arrives after the hold was decided to be due.
      const held = cart(EMPTY_CUSTOMER, checkout('c1', 0)).state;
      const withOrder: CustomerState = { ...held, orders: [{ orderId: '1017', timeMs: at(20) }] };
      const outcome = release(withOrder, 'checkout:c1');
      assert.deepEqual(emitted(outcome), []);
      assert.equal(decisions(outcome)[0]?.order_id, '1017');
    });
  });

  describe('cart_updated', () => {
    it('coalesces edits of one cart and releases the newest snapshot once', () => {
      let state = cart(EMPTY_CUSTOMER, cartUpdate('u1', 0, 'a')).state;
      state = cart(state, cartUpdate('u2', 10, 'a,b')).state;
      const last = cart(state, cartUpdate('u3', 20, 'a,b,c'));
      assert.equal(last.state.held.length, 1);
      assert.equal(last.state.held[0]!.deadlineMs, at(80));
      assert.equal(decisions(last)[0]?.decision, 'coalesced');
      const outcome = release(last.state, 'cart:3010');
      assert.deepEqual(emitted(outcome), [cartUpdate('u3', 20, 'a,b,c')]);
    });

    it('keeps the newer snapshot when an older edit arrives late', () => {
      let state = cart(EMPTY_CUSTOMER, cartUpdate('u2', 10, 'a,b')).state;
      state = cart(state, cartUpdate('u1', 0, 'a')).state;
      assert.equal(state.held[0]!.record.id, 'u2');
      assert.equal(state.held[0]!.firstTimeMs, at(0));
    });

    it('is dropped by the quiet period when the edit comes after a purchase', () => {
      const ordered = orderIn(EMPTY_CUSTOMER, order('1017', 0)).state;
      const outcome = cart(ordered, cartUpdate('u1', 45, 'a'));
      assert.equal(outcome.state.held.length, 0);
      assert.equal(decisions(outcome)[0]?.reason, 'cart event within the quiet period after an order');
    });

    it('is held again once the quiet period has ended', () => {
      const ordered = orderIn(EMPTY_CUSTOMER, order('1017', 0)).state;
      const outcome = cart(ordered, cartUpdate('u1', 61, 'a'));
      assert.equal(outcome.state.held.length, 1);
    });
  });

  describe('order events', () => {
    it('pass through at once', () => {
      const refund = event('refund_created', 'r1', at(0), { refund_id: '9' });
      const outcome = orderIn(EMPTY_CUSTOMER, refund);
      assert.deepEqual(emitted(outcome), [refund]);
      assert.deepEqual(decisions(outcome).map((d) => d.decision), ['passed']);
    });

    it('stay remembered while a hold they suppress is open', () => {
      const held = cart(EMPTY_CUSTOMER, checkout('c1', 0)).state;
      const state: CustomerState = { ...held, orders: [{ orderId: '1017', timeMs: at(20) }] };
      assert.equal(pruneOrders(state, at(600), rules).orders.length, 1);
      assert.equal(pruneOrders({ ...state, held: [] }, at(600), rules).orders.length, 0);
    });

    it('remember only the configured number of orders', () => {
      let state = EMPTY_CUSTOMER;
      for (let index = 0; index < 20; index += 1) {
        state = orderIn(state, order(String(index), index)).state;
      }
      assert.equal(state.orders.length, 16);
      assert.equal(state.orders[0]!.orderId, '4');
    });
  });

  describe('release rule', () => {
    const deadline = at(60);
    it('waits for an input that is behind the deadline and not idle', () => {
      const inputs = [
        { watermarkMs: at(180), idle: false },
        { watermarkMs: null, idle: false },
      ];
      assert.equal(canRelease(deadline, inputs, at(180), rules.latenessBoundMs), false);
    });

    it('releases once both inputs are past the deadline', () => {
      const inputs = [
        { watermarkMs: at(61), idle: false },
        { watermarkMs: at(90), idle: false },
      ];
      assert.equal(canRelease(deadline, inputs, at(0), rules.latenessBoundMs), true);
    });

    it('does not release at exactly the deadline', () => {
      const inputs = [
        { watermarkMs: deadline, idle: false },
        { watermarkMs: deadline, idle: false },
      ];
      assert.equal(canRelease(deadline, inputs, at(0), rules.latenessBoundMs), false);
    });

    it('lets an idle input stop holding the watermark back', () => {
      const inputs = [
        { watermarkMs: at(90), idle: false },
        { watermarkMs: null, idle: true },
      ];
      assert.equal(canRelease(deadline, inputs, at(0), rules.latenessBoundMs), true);
    });

    it('releases on the wall clock only past the lateness bound when every input is idle', () => {
      const inputs = [
        { watermarkMs: at(0), idle: true },
        { watermarkMs: null, idle: true },
      ];
      assert.equal(canRelease(deadline, inputs, at(64), rules.latenessBoundMs), false);
      assert.equal(canRelease(deadline, inputs, at(65), rules.latenessBoundMs), true);
    });

    it('takes the low watermark over active inputs', () => {
      assert.equal(lowWatermark([{ watermarkMs: at(10), idle: false }, { watermarkMs: at(5), idle: false }]), at(5));
      assert.equal(lowWatermark([{ watermarkMs: at(10), idle: false }, { watermarkMs: at(5), idle: true }]), at(10));
      assert.equal(lowWatermark([{ watermarkMs: at(10), idle: false }, { watermarkMs: null, idle: false }]), null);
    });
  });

  describe('config', () => {
    it('defaults the quiet period to the window', () => {
      const config = parseSuppressionConfig({ SUPPRESSION_WINDOW_MS: '120000' });
      assert.equal(config.quietMs, 120_000);
      assert.equal(parseSuppressionConfig({}).windowMs, 1_800_000);
    });

    it('rejects a window that is not a number', () => {
      assert.throws(() => parseSuppressionConfig({ SUPPRESSION_WINDOW_MS: '30m' }), /SUPPRESSION_WINDOW_MS/);
    });
  });
});

describe('orders input progress from producer records', () => {
  const report = (task: number, tasks: number, idle: boolean, watermarkMs: number | null) =>
    ({ kind: 'progress', producer: 'orders', task, tasks, idle, watermark_ms: watermarkMs, at_ms: 0 }) as const;

  it('is null without producers', () => {
    assert.equal(producerInputProgress([], 500), null);
  });

  it('is idle when every task is', () => {
    let producer = applyProgress(undefined, report(0, 2, true, 100));
    assert.deepEqual(producerInputProgress([producer], 500), { watermarkMs: null, idle: false }, 'task 1 has not reported');
    producer = applyProgress(producer, report(1, 2, true, 300));
    assert.deepEqual(producerInputProgress([producer], 500), { watermarkMs: 500, idle: true }, 'all idle: the read watermark stands');
    const other = applyProgress(undefined, { ...report(0, 1, false, 250), producer: 'orders-eu' });
    assert.deepEqual(producerInputProgress([producer, other], 500), { watermarkMs: 250, idle: false });
  });

  it('takes the busy tasks\' lowest watermark', () => {
    let producer = applyProgress(undefined, report(0, 3, false, 900));
    producer = applyProgress(producer, report(1, 3, false, 400));
    producer = applyProgress(producer, report(2, 3, true, 100));
    assert.deepEqual(producerInputProgress([producer], 1_000), { watermarkMs: 400, idle: false });
    producer = applyProgress(producer, report(1, 3, false, null));
    assert.deepEqual(producerInputProgress([producer], 1_000), { watermarkMs: null, idle: false });
  });

  it('drops tasks beyond a new count', () => {
    let producer = applyProgress(undefined, report(2, 3, false, 10));
    producer = applyProgress(producer, report(0, 2, true, 50));
    assert.deepEqual(producer, { tasks: 2, reports: { '0': { idle: true, watermarkMs: 50 } } });
  });

  it('keeps holds for a busy producer', () => {
    const deadline = 1_000;
    const carts = { watermarkMs: 5_000, idle: false };
    const busy = producerInputProgress([applyProgress(undefined, report(0, 1, false, 999))], 4_000)!;
    assert.equal(canRelease(deadline, [carts, busy], 10_000_000, 0), false);
    const done = producerInputProgress([applyProgress(undefined, report(0, 1, true, 999))], 4_000)!;
    assert.equal(canRelease(deadline, [carts, done], 10_000_000, 0), true);
  });
});
