// The people processor's forwarding logic without Kafka: in-memory stores, timers kept in a map,
// and customers changes decoded by the real Debezium decoder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { EventRecord, IdentifyRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import { heldEventKey, onCustomerChange, onCustomerEvent, onIdentifyWaitExpired } from '../../processors/people/forward.ts';
import type { ForwardOptions, PeopleContext, PeopleStores } from '../../processors/people/forward.ts';
import { peopleRules } from '../../processors/people/process.ts';
import type { HeldEvent, HeldIndex, PersonState } from '../../processors/people/records.ts';
import type { Timer, TimerKind, TimerRequest } from '../../processors/runtime/index.ts';
import { MemoryStore } from '../orders/harness.ts';
import { capturingLogger } from '../runtime/helpers.ts';
import { customerEvent, decodeCustomer } from './support.ts';

const WAIT_MS = 60_000;
const T0 = Date.parse('2024-07-15T13:30:00Z');
const at = { topic: 'cio.customer-events', partition: 0, offset: '0' };

class TestContext implements PeopleContext {
  readonly stores: PeopleStores = {
    people: new MemoryStore<PersonState>('people'),
    held: new MemoryStore<HeldIndex>('held'),
    'held-events': new MemoryStore<HeldEvent>('held-events'),
  };
  readonly outbox: OutboxRecord[] = [];
  readonly timers = new Map<string, TimerRequest>();
  readonly logs = capturingLogger('debug');
  readonly log = this.logs.logger;
  streamTimeMs: number | null = null;

  store<K extends keyof PeopleStores>(name: K): PeopleStores[K] {
    return this.stores[name];
  }

  emit(_output: 'outbox', record: { key: string; value: OutboxRecord }): void {
    assert.equal(record.key, record.value.customerId);
    this.outbox.push(record.value);
  }

  schedule(timer: TimerRequest): void {
    this.timers.set(`${timer.kind}/${timer.key}`, timer);
  }

  cancel(kind: TimerKind, key: string): boolean {
    return this.timers.delete(`${kind}/${key}`);
  }

  /** Moves stream time as the runtime does and fires the event-time timers it made due. */
  advance(streamTimeMs: number, options: ForwardOptions): void {
    this.streamTimeMs = Math.max(this.streamTimeMs ?? streamTimeMs, streamTimeMs);
    for (const [id, request] of [...this.timers].sort(([, a], [, b]) => a.deadlineMs - b.deadlineMs)) {
      if (request.kind === 'event-time' && request.deadlineMs <= this.streamTimeMs) {
        this.timers.delete(id);
        const timer: Timer = { kind: request.kind, key: request.key, deadlineMs: request.deadlineMs, payload: request.payload ?? null };
        onIdentifyWaitExpired(this, timer, options);
      }
    }
  }

  /** Handles one customer event as the topology does, after moving stream time to its commit time. */
  event(record: EventRecord, options: ForwardOptions): void {
    this.advance(record.source?.tsMs ?? record.timestamp * 1000, options);
    onCustomerEvent(this, record, { ...(record.source ?? {}), ...at }, at, options);
  }

  async customer(customerId: string, commitMs: number, options: ForwardOptions, op: 'c' | 'u' | 'd' = 'c'): Promise<void> {
    const change = await decodeCustomer('UTC', op, { id: Number(customerId), email: `c${customerId}@example.net`, first_name: 'Léa', sms_opt_in: 0, created_at: 1721050140000000 }, commitMs, { tsMs: commitMs });
    this.advance(commitMs, options);
    onCustomerChange(this, customerId, change, { tsMs: commitMs }, at, options);
  }

  summary(): string[] {
    return this.outbox.map((record) => (record.kind === 'identify' ? `identify ${record.customerId} ${String(record.attributes['email'] ?? null)} orders=${String(record.attributes['total_orders'])}` : `${record.name} ${record.customerId}`));
  }
}

function options(): ForwardOptions & { releasedTotal: () => number } {
  let released = 0;
  return {
    rules: peopleRules(loadMapping(), { seenEventIds: 100, dedupePositions: 16 }),
    identifyWaitMs: WAIT_MS,
    onReleasedUnidentified: (events) => {
      released += events;
    },
    releasedTotal: () => released,
  };
}

const placed = (customerId: string, order: string, commitMs: number) =>
  customerEvent(customerId, 'order_placed', order, commitMs, { order_id: order, order_total: 42, items: [{ category: 'tees' }], created_at: Math.floor(commitMs / 1000) });

describe('people forwarding', () => {
  it('forwards after the rollup identify', async () => {
    const ctx = new TestContext();
    const opts = options();
    await ctx.customer('508', T0, opts);
    ctx.event(placed('508', '1013', T0 + 1000), opts);
    ctx.event(customerEvent('508', 'order_paid', '1013', T0 + 2000, { order_id: '1013' }), opts);
    assert.deepEqual(ctx.summary(), [
      'identify 508 c508@example.net orders=0',
      'identify 508 c508@example.net orders=1',
      'order_placed 508',
      'order_paid 508',
    ]);
    assert.equal(ctx.stores.held.size, 0);
  });

  it('holds events until the first identify', async () => {
    const ctx = new TestContext();
    const opts = options();
    ctx.event(placed('508', '1013', T0), opts);
    ctx.event(customerEvent('508', 'order_paid', '1013', T0 + 500, { order_id: '1013' }), opts);
    ctx.event(placed('509', '1014', T0 + 600), opts);
    assert.equal(ctx.outbox.length, 0);
    assert.deepEqual(ctx.stores.held.get('508'), { heldSinceMs: T0, deadlineMs: T0 + WAIT_MS, count: 2 });
    assert.equal(ctx.timers.get('event-time/508')?.deadlineMs, T0 + WAIT_MS);

    // The customers row of the same transaction as the order: same commit time.
    await ctx.customer('508', T0, opts);
    assert.deepEqual(ctx.summary(), ['identify 508 c508@example.net orders=1', 'order_placed 508', 'order_paid 508']);
    const identify = ctx.outbox[0];
    assert.equal(identify?.kind, 'identify');
    assert.equal((identify as IdentifyRecord).attributes['lifetime_value'], 42);
    assert.equal(ctx.stores.held.has('508'), false);
    assert.equal(ctx.stores['held-events'].has(heldEventKey('508', 0)), false);
    assert.equal(ctx.timers.has('event-time/508'), false);
    // 509 still waits for its own row.
    assert.equal(ctx.stores.held.get('509')?.count, 1);
    assert.equal(opts.releasedTotal(), 0);
  });

  it('counts a held repeat once', async () => {
    const ctx = new TestContext();
    const opts = options();
    ctx.event(placed('510', '1020', T0), opts);
    ctx.event(placed('510', '1020', T0 + 100), opts);
    await ctx.customer('510', T0 + 200, opts);
    assert.deepEqual(ctx.summary(), ['identify 510 c510@example.net orders=1', 'order_placed 510', 'order_placed 510']);
  });

  it('sends held events after the wait', async () => {
    const ctx = new TestContext();
    const opts = options();
    ctx.event(placed('511', '1030', T0), opts);
    ctx.event(customerEvent('511', 'order_paid', '1030', T0 + 1000, { order_id: '1030' }), opts);
    ctx.event(placed('512', '1031', T0 + WAIT_MS - 1), opts);
    assert.equal(ctx.outbox.length, 0);

    // An event of another customer moves stream time to the deadline of 511.
    ctx.event(placed('512', '1032', T0 + WAIT_MS), opts);
    assert.deepEqual(ctx.summary(), ['identify 511 null orders=1', 'order_placed 511', 'order_paid 511']);
    assert.equal(opts.releasedTotal(), 2);
    const warning = ctx.logs.lines.find((line) => line['msg'] === 'customers row not seen within the identify wait; held events sent without the profile');
    assert.ok(warning, 'the release is logged as a warning');
    assert.equal(warning['level'], 40);
    assert.equal(warning['customerId'], '511');
    assert.equal(warning['events'], 2);
    assert.equal(warning['heldSinceMs'], T0);
    assert.equal(warning['deadlineMs'], T0 + WAIT_MS);
    assert.equal(warning['firstEvent'], 'order_placed');
    assert.equal(warning['topic'], at.topic);

    // Later events of 511 pass at once; its row, when it comes, updates the person.
    ctx.event(customerEvent('511', 'order_fulfilled', '1030', T0 + WAIT_MS + 10, { order_id: '1030' }), opts);
    await ctx.customer('511', T0 + WAIT_MS + 20, opts);
    assert.deepEqual(ctx.summary().slice(3), ['order_fulfilled 511', 'identify 511 c511@example.net orders=1']);
    // 512's wait started at its own first event.
    assert.equal(ctx.stores.held.get('512')?.deadlineMs, T0 + 2 * WAIT_MS - 1);
  });

  it('sends held events of a deleted row', async () => {
    const ctx = new TestContext();
    const opts = options();
    ctx.event(placed('513', '1040', T0), opts);
    await ctx.customer('513', T0 + 10, opts, 'd');
    assert.deepEqual(ctx.summary(), ['order_placed 513']);
    assert.equal(ctx.stores.held.has('513'), false);
    ctx.event(placed('513', '1041', T0 + 20), opts);
    assert.deepEqual(ctx.summary(), ['order_placed 513', 'order_placed 513']);
    assert.equal(ctx.stores.people.get('513')?.rollups.total_orders, 2);
  });
});
