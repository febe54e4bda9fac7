// The trace's decoding, timeline and outcomes, without Kafka: fetched records in, exact lines out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import type { EventRecord, IdentifyRecord } from '../../processors/customerio/records.ts';
import { DEAD_LETTER_HEADERS } from '../../processors/customerio/sink/sink.ts';
import type { DeliveryLogEntry } from '../../processors/customerio/sink/sink.ts';
import { SOURCE_FORMAT_DEFAULTS } from '../../processors/debezium/source-format.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import type { Mapping } from '../../processors/mapping/mapping.ts';
import type { TraceSource } from '../../processors/ops/trace-config.ts';
import { renderJsonLines, renderText } from '../../processors/ops/trace-format.ts';
import { customerSourceKey, partitionForKey } from '../../processors/ops/trace-read.ts';
import type { FetchedRecord, TopicRead } from '../../processors/ops/trace-read.ts';
import { TraceDecoder } from '../../processors/ops/trace-records.ts';
import { buildOutcomes } from '../../processors/ops/trace-outcomes.ts';
import { buildTimeline } from '../../processors/ops/trace-timeline.ts';
import type { TraceResult } from '../../processors/ops/trace.ts';
import { onCartEvent, onOrderEvent, releaseHeld, EMPTY_CUSTOMER } from '../../processors/suppression/process.ts';
import type { Effect, Outcome as SuppressionOutcome, Rules } from '../../processors/suppression/process.ts';
import type { DecisionRecord } from '../../processors/suppression/records.ts';

const MINUTE = 60_000;
const T0 = Date.parse('2024-07-15T09:00:00Z');
const at = (minutes: number) => T0 + minutes * MINUTE;

const TOPICS: Readonly<Record<TraceSource, string>> = {
  customers: 'shop.shop.customers',
  orderEvents: 'cio.order-events',
  cartEvents: 'cio.cart-events',
  decisions: 'cio.suppression-decisions',
  customerEvents: 'cio.customer-events',
  outbox: 'cio.outbox',
  deliveryLog: 'cio.delivery-log',
  deadLetter: 'cio.outbox.dlq',
};

const rules: Rules = {
  windowMs: 30 * MINUTE,
  // Short enough that the cart edits after the order are held, not dropped as quiet-period events.
  quietMs: 5 * MINUTE,
  latenessBoundMs: 5 * MINUTE,
  ordersPerCustomer: 16,
  names: { cartUpdated: 'cart_updated', checkoutStarted: 'checkout_started', orderPlaced: 'order_placed' },
};

const mapping = loadMapping();
const nextOffset = new Map<TraceSource, number>();

function fetched(source: TraceSource, value: string | null, options: { timestampMs?: number; headers?: Record<string, string> } = {}): FetchedRecord {
  const offset = nextOffset.get(source) ?? 0;
  nextOffset.set(source, offset + 1);
  return {
    source,
    topic: TOPICS[source],
    partition: 1,
    offset: String(offset),
    key: Buffer.from('702'),
    value: value === null ? null : Buffer.from(value),
    headers: options.headers ?? {},
    timestampMs: options.timestampMs ?? 0,
  };
}

function event(name: string, id: string, timeMs: number, data: Record<string, string>, table: string): EventRecord {
  return {
    kind: 'event',
    customerId: '702',
    name,
    id,
    timestamp: timeMs / 1000,
    data,
    origin: 'live',
    source: { table, binlogFile: 'mariadb-bin.000002', binlogPos: 4000 + timeMs / MINUTE - T0 / MINUTE },
  };
}

function decisionsOf(outcome: SuppressionOutcome): DecisionRecord[] {
  return outcome.effects.filter((effect): effect is Extract<Effect, { type: 'decision' }> => effect.type === 'decision').map((effect) => effect.decision);
}

/** Builds a real Debezium record of a customers insert (captured from MariaDB), moved to `commitMs`. */
function customerChange(commitMs: number, change: (payload: Record<string, unknown>) => void = () => undefined): string {
  const fixture = JSON.parse(readFileSync(new URL('../debezium/fixtures/mariadb-customers-create.json', import.meta.url), 'utf8')) as { value: string };
  const value = JSON.parse(fixture.value) as { payload: Record<string, unknown> };
  (value.payload['source'] as Record<string, unknown>)['ts_ms'] = commitMs;
  change(value.payload);
  return JSON.stringify(value);
}

function readsOf(records: readonly FetchedRecord[]): TopicRead[] {
  return (Object.keys(TOPICS) as TraceSource[]).map((source) => {
    const matched = records.filter((record) => record.source === source).length;
    return { source, topic: TOPICS[source], partitionCount: 3, partition: 1, fromOffset: '0', endOffset: String(matched + 10), scanned: matched + 10, matched };
  });
}

async function trace(records: FetchedRecord[], readMapping: Mapping = mapping): Promise<TraceResult> {
  const decoder = new TraceDecoder(readMapping, SOURCE_FORMAT_DEFAULTS);
  const decoded = [];
  for (const record of records) decoded.push(await decoder.decode(record));
  const entries = buildTimeline(decoded);
  return { customerId: '702', startedAt: '2024-07-15T11:00:00.000Z', reads: readsOf(records), entries, outcomes: buildOutcomes(entries) };
}

/** Builds a customer's day: a checkout suppressed by an order, a rejected order event, a debounced cart. */
function suppressedCheckoutDay(): FetchedRecord[] {
  // The delivery log below names outbox offsets 0 and 1.
  nextOffset.clear();
  const checkout = event('checkout_started', 'co-702', at(0), { cart_id: '3010' }, 'shop.carts');
  const order = event('order_placed', 'op-1001', at(12), { order_id: '1001' }, 'shop.orders');
  const firstEdit = event('cart_updated', 'cu-1', at(20), { cart_id: '3011' }, 'shop.cart_items');
  const secondEdit = event('cart_updated', 'cu-2', at(25), { cart_id: '3011' }, 'shop.cart_items');

  const held = onCartEvent(EMPTY_CUSTOMER, checkout, at(0), at(0), rules);
  const ordered = onOrderEvent(held.state, order, at(12), at(12), rules);
  const edited = onCartEvent(ordered.state, firstEdit, at(20), at(20), rules);
  const reEdited = onCartEvent(edited.state, secondEdit, at(25), at(25), rules);
  const released = releaseHeld(reEdited.state, 'cart:3011', at(56), rules);
  const decisions = [held, ordered, edited, reEdited, released].flatMap(decisionsOf);

  const identify: IdentifyRecord = { kind: 'identify', customerId: '702', attributes: { email: 'mei@example.com', total_orders: 1 }, timestamp: at(12) / 1000 };
  const rejection: DeliveryLogEntry = {
    eventId: 'op-1001',
    kind: 'event',
    name: 'order_placed',
    customerId: '702',
    status: 'rejected',
    reason: 'invalid_total',
    attempts: 1,
    latencyMs: 42,
    source: { topic: TOPICS.outbox, partition: 1, offset: '0' },
    // One millisecond after the dead letter's failed-at time, as the sink may write them.
    at: new Date(at(12) + 3_001).toISOString(),
  };
  const identified: DeliveryLogEntry = {
    eventId: null,
    kind: 'identify',
    name: null,
    customerId: '702',
    status: 'delivered',
    reason: null,
    attempts: 2,
    latencyMs: 310,
    source: { topic: TOPICS.outbox, partition: 1, offset: '1' },
    at: new Date(at(12) + 4_000).toISOString(),
  };
  const deadLetterHeaders = {
    [DEAD_LETTER_HEADERS.topic]: TOPICS.outbox,
    [DEAD_LETTER_HEADERS.partition]: '1',
    [DEAD_LETTER_HEADERS.offset]: '0',
    [DEAD_LETTER_HEADERS.reason]: 'invalid_total',
    [DEAD_LETTER_HEADERS.status]: '207',
    [DEAD_LETTER_HEADERS.field]: 'data.order_id',
    [DEAD_LETTER_HEADERS.message]: 'order id rejected',
    [DEAD_LETTER_HEADERS.failedAt]: new Date(at(12) + 3_000).toISOString(),
  };

  // Fetched per topic in offset order, as the reader returns them; the timeline sorts.
  return [
    fetched('customers', customerChange(at(-10))),
    fetched('customers', customerChange(at(-5), (payload) => {
      const after = payload['after'] as Record<string, unknown>;
      payload['before'] = { ...after };
      payload['after'] = { ...after, first_name: 'Mei', updated_at: '2024-07-15T08:55:00.000Z' };
      payload['op'] = 'u';
      (payload['source'] as Record<string, unknown>)['pos'] = 1900;
    })),
    fetched('cartEvents', JSON.stringify(checkout)),
    fetched('cartEvents', JSON.stringify(firstEdit)),
    fetched('cartEvents', JSON.stringify(secondEdit)),
    fetched('orderEvents', JSON.stringify(order)),
    ...decisions.map((decision) => fetched('decisions', JSON.stringify(decision))),
    fetched('customerEvents', JSON.stringify(order)),
    fetched('customerEvents', JSON.stringify(secondEdit)),
    fetched('outbox', JSON.stringify(order)),
    fetched('outbox', JSON.stringify(identify)),
    fetched('outbox', JSON.stringify(secondEdit)),
    fetched('deliveryLog', JSON.stringify(rejection)),
    fetched('deliveryLog', JSON.stringify(identified)),
    fetched('deadLetter', JSON.stringify(order), { headers: deadLetterHeaders }),
  ];
}

describe('trace partitioning', () => {
  it('partitionForKey matches the Java murmur2 partitioner', () => {
    // Hashes from Kafka's own murmur2 test vectors (org.apache.kafka.common.utils.UtilsTest).
    const javaHashes: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of javaHashes) {
      for (const partitions of [3, 7, 1000]) {
        assert.equal(partitionForKey(key, partitions), (hash & 0x7fffffff) % partitions, `${key} in ${partitions} partitions`);
      }
    }
  });

  it('customerSourceKey writes the id as Debezium keys it', () => {
    assert.equal(customerSourceKey(mapping, '501'), '{"id":501}');
    assert.equal(customerSourceKey(mapping, '18446744073709551615'), '{"id":18446744073709551615}');
    assert.equal(customerSourceKey(mapping, 'c-501'), '{"id":"c-501"}');
    const textIds: Mapping = {
      ...mapping,
      tables: { ...mapping.tables, customers: { ...mapping.tables.customers, columns: { ...mapping.tables.customers.columns, id: 'customer_ref' }, types: { customer_ref: 'string' } } },
    };
    assert.equal(customerSourceKey(textIds, '501'), '{"customer_ref":"501"}');
  });
});

describe('trace timeline', () => {
  it('explains every record in time order', async () => {
    const result = await trace(suppressedCheckoutDay());
    assert.deepEqual(
      result.entries.map((entry) => `${new Date(entry.timeMs).toISOString().slice(11, 19)} ${entry.text}`),
      [
        '08:50:00 customer row inserted into shop.customers (binlog mariadb-bin.000002:1657)',
        '08:55:00 customer row updated in shop.customers: first_name, updated_at changed (binlog mariadb-bin.000002:1900)',
        '09:00:00 checkout_started for cart 3010, from shop.carts (binlog mariadb-bin.000002:4000)',
        '09:00:00 checkout_started held until 09:30 (window 30 min)',
        '09:12:00 order_placed for order 1001, from shop.orders (binlog mariadb-bin.000002:4012)',
        '09:12:00 order_placed passed through (order events are never held)',
        '09:12:00 checkout_started suppressed by order 1001 (order placed during the hold)',
        '09:12:00 order_placed handed to the people processor for the outbox (event id op-1001)',
        '09:12:00 order_placed written to the outbox (event id op-1001)',
        '09:12:00 identify written to the outbox (attributes: email, total_orders)',
        '09:12:03 order_placed dead-lettered to cio.outbox.dlq: invalid_total (HTTP 207, field data.order_id): order id rejected',
        '09:12:03 order_placed rejected by Customer.io: invalid_total (1 attempt, 42 ms)',
        '09:12:04 identify delivered to Customer.io (2 attempts, 310 ms)',
        '09:20:00 cart_updated for cart 3011, from shop.cart_items (binlog mariadb-bin.000002:4020)',
        '09:20:00 cart_updated held until 09:50 (window 30 min)',
        '09:25:00 cart_updated for cart 3011, from shop.cart_items (binlog mariadb-bin.000002:4025)',
        '09:25:00 cart_updated merged into the held cart 3011; release moved to 09:55',
        '09:55:00 cart_updated released (no order within the window; newest of 2 changes)',
        '09:55:00 cart_updated handed to the people processor for the outbox (event id cu-2)',
        '09:55:00 cart_updated written to the outbox (event id cu-2)',
      ],
    );
  });

  it('names each event outcome', async () => {
    const result = await trace(suppressedCheckoutDay());
    assert.deepEqual(
      result.outcomes.map((outcome) => `${outcome.event} ${outcome.key} ${outcome.status}: ${outcome.text}`),
      [
        'checkout_started co-702 suppressed: suppressed by order 1001 (order placed during the hold)',
        'order_placed op-1001 rejected: rejected: invalid_total (dead-lettered to cio.outbox.dlq)',
        'identify cio.outbox[1]@1 delivered: delivered to Customer.io',
        'cart_updated cu-1 merged: merged into the newer change cu-2 of cart 3011, whose outcome decides',
        'cart_updated cu-2 queued: in the outbox; the delivery log has no result for it yet',
      ],
    );
  });

  it('renders text with reads, days and outcomes', async () => {
    const about = (source: TraceSource, ...parts: string[]) => (record: FetchedRecord) =>
      record.source === source && parts.every((part) => record.value?.toString().includes(part) === true);
    const day = suppressedCheckoutDay();
    const text = renderText(await trace([day.find(about('cartEvents', '"co-702"'))!, day.find(about('decisions', '"co-702"', '"held"'))!]));
    assert.equal(
      text,
      [
        'Customer 702, traced at 2024-07-15T11:00:00.000Z',
        'Read one partition per topic, from the earliest offset to the end offset at that time:',
        '  source       shop.shop.customers        partition 1 of 3, offsets 0 to 10: 0 of 10 records',
        '  orders       cio.order-events           partition 1 of 3, offsets 0 to 10: 0 of 10 records',
        '  carts        cio.cart-events            partition 1 of 3, offsets 0 to 11: 1 of 11 records',
        '  suppression  cio.suppression-decisions  partition 1 of 3, offsets 0 to 11: 1 of 11 records',
        '  events       cio.customer-events        partition 1 of 3, offsets 0 to 10: 0 of 10 records',
        '  outbox       cio.outbox                 partition 1 of 3, offsets 0 to 10: 0 of 10 records',
        '  delivery     cio.delivery-log           partition 1 of 3, offsets 0 to 10: 0 of 10 records',
        '  dead-letter  cio.outbox.dlq             partition 1 of 3, offsets 0 to 10: 0 of 10 records',
        '',
        '2024-07-15 (UTC)',
        '  09:00:00  carts        checkout_started for cart 3010, from shop.carts (binlog mariadb-bin.000002:4000)',
        '  09:00:00  suppression  checkout_started held until 09:30 (window 30 min)',
        '',
        'Outcome:',
        '  checkout_started co-702: still held until 09:30; no release and no suppression recorded yet',
        '',
      ].join('\n'),
    );
  });

  it('renders JSON lines of reads, entries and outcomes', async () => {
    const result = await trace(suppressedCheckoutDay());
    const lines = renderJsonLines(result).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(lines.map((line) => line['type']), [...result.reads.map(() => 'read'), ...result.entries.map(() => 'entry'), ...result.outcomes.map(() => 'outcome')]);
    const suppressed = lines.find((line) => line['type'] === 'entry' && String(line['text']).includes('suppressed by order'));
    assert.equal(suppressed?.['time'], '2024-07-15T09:12:00.000Z');
    assert.equal(suppressed?.['topic'], TOPICS.decisions);
    assert.equal((suppressed?.['record'] as Record<string, unknown>)['order_id'], '1001');
  });

  it('places decisions in event time when stream time ran ahead', async () => {
    const checkout = event('checkout_started', 'co-late', at(0), { cart_id: '3010' }, 'shop.carts');
    const order = event('order_placed', 'op-1003', at(12), { order_id: '1003' }, 'shop.orders');
    // A processor catching up decides everything at a stream time hours after the events.
    const held = onCartEvent(EMPTY_CUSTOMER, checkout, at(0), at(600), rules);
    const ordered = onOrderEvent(held.state, order, at(12), at(600), rules);
    const other = event('checkout_started', 'co-other', at(30), { cart_id: '3012' }, 'shop.carts');
    const heldOther = onCartEvent(ordered.state, other, at(30), at(600), rules);
    const released = releaseHeld(heldOther.state, 'checkout:co-other', at(600), rules);
    nextOffset.clear();
    const result = await trace([
      fetched('orderEvents', JSON.stringify(order)),
      ...[held, ordered, heldOther, released].flatMap(decisionsOf).map((decision) => fetched('decisions', JSON.stringify(decision))),
    ]);
    assert.deepEqual(
      result.entries.map((entry) => `${new Date(entry.timeMs).toISOString().slice(11, 19)} ${entry.text}`),
      [
        '09:00:00 checkout_started held until 09:30 (window 30 min)',
        '09:12:00 order_placed for order 1003, from shop.orders (binlog mariadb-bin.000002:4012)',
        '09:12:00 order_placed passed through (order events are never held)',
        '09:12:00 checkout_started suppressed by order 1003 (order placed during the hold)',
        '09:30:00 checkout_started held until 10:00 (window 30 min)',
        '10:00:00 checkout_started released (no order within the window)',
      ],
    );
  });

  it('notes events delivered too late to trigger campaigns', async () => {
    const old = event('order_placed', 'op-old', at(0), { order_id: '1002' }, 'shop.orders');
    const delivery = (status: DeliveryLogEntry['status'], offset: string, atMs: number, reason: string | null): DeliveryLogEntry => ({
      eventId: old.id,
      kind: 'event',
      name: 'order_placed',
      customerId: '702',
      status,
      reason,
      attempts: status === 'delivered' ? 1 : 0,
      latencyMs: 12,
      source: { topic: TOPICS.outbox, partition: 1, offset },
      at: new Date(atMs).toISOString(),
    });
    nextOffset.clear();
    const result = await trace([
      fetched('outbox', JSON.stringify(old)),
      fetched('deliveryLog', JSON.stringify(delivery('delivered', '0', at(73 * 60), null))),
    ]);
    assert.deepEqual(result.entries.map((entry) => entry.text), [
      'order_placed written to the outbox (event id op-old)',
      'order_placed delivered to Customer.io (1 attempt, 12 ms), but the event was 73 h old, so Customer.io triggers no campaign for it (limit 72 h)',
    ]);
    assert.deepEqual(result.outcomes.map((outcome) => `${outcome.status}: ${outcome.text}`), [
      'delivered: delivered to Customer.io, but the event was 73 h old, so Customer.io triggers no campaign for it (limit 72 h)',
    ]);

    const skipped = await trace([fetched('deliveryLog', JSON.stringify(delivery('skipped', '0', at(80 * 60), 'backfill_horizon_exceeded')))]);
    assert.deepEqual(skipped.entries.map((entry) => entry.text), ['order_placed not sent by the sink: backfill_horizon_exceeded']);
    assert.deepEqual(skipped.outcomes.map((outcome) => `${outcome.status}: ${outcome.text}`), ['skipped: not sent: backfill_horizon_exceeded']);

    const fresh = await trace([fetched('outbox', JSON.stringify(old)), fetched('deliveryLog', JSON.stringify(delivery('delivered', '1', at(72 * 60), null)))]);
    assert.equal(fresh.entries[1]?.text, 'order_placed delivered to Customer.io (1 attempt, 12 ms)');
  });

  it('explains rejections before sending and unreadable records', async () => {
    const invalid: DeliveryLogEntry = {
      eventId: null,
      kind: 'identify',
      name: null,
      customerId: '702',
      status: 'rejected',
      reason: 'value_too_long',
      attempts: 0,
      latencyMs: 0,
      source: { topic: TOPICS.outbox, partition: 1, offset: '7' },
      at: '2024-07-15T10:00:00.000Z',
    };
    const undecodable = {
      [DEAD_LETTER_HEADERS.reason]: 'invalid_outbox_record',
      [DEAD_LETTER_HEADERS.status]: 'not_sent',
      [DEAD_LETTER_HEADERS.field]: '(value)',
      [DEAD_LETTER_HEADERS.message]: 'outbox record value is not valid JSON',
      [DEAD_LETTER_HEADERS.failedAt]: '2024-07-15T10:00:01.000Z',
    };
    const result = await trace([
      fetched('deliveryLog', JSON.stringify(invalid)),
      fetched('deadLetter', 'not json', { headers: undecodable }),
      fetched('decisions', '{"decision":"forgotten"}', { timestampMs: Date.parse('2024-07-15T10:00:02Z') }),
      fetched('outbox', '{"kind":"event"}', { timestampMs: Date.parse('2024-07-15T10:00:03Z') }),
    ]);
    assert.deepEqual(
      result.entries.map((entry) => entry.text),
      [
        'identify rejected before sending: value_too_long',
        'record dead-lettered to cio.outbox.dlq: invalid_outbox_record (not sent, field (value)): outbox record value is not valid JSON',
        `unreadable record at offset ${result.entries[2]!.offset}: decision record has decision "forgotten", expected one of held, coalesced, released, suppressed, passed`,
        `unreadable record at offset ${result.entries[3]!.offset}: outbox record field customerId must be a string, got nothing`,
      ],
    );
  });
});
