// `cio-cdc trace` against the real stack: the suppression processor and the sink write per-test
// topics, the trace reads them back for one customer, from that customer's partition only.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { pino } from 'pino';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, IdentifyRecord } from '../../processors/customerio/records.ts';
import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { CustomerioSink } from '../../processors/customerio/sink/sink.ts';
import { parseTraceConfig, TRACE_SOURCES } from '../../processors/ops/trace-config.ts';
import type { TraceSource } from '../../processors/ops/trace-config.ts';
import { renderText } from '../../processors/ops/trace-format.ts';
import { customerSourceKey, partitionForKey } from '../../processors/ops/trace-read.ts';
import { traceCustomer } from '../../processors/ops/trace.ts';
import type { TraceResult } from '../../processors/ops/trace.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { startStandin } from '../../processors/standin/server.ts';
import type { Standin } from '../../processors/standin/server.ts';
import { suppressionTopology } from '../../processors/suppression/topology.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';
import { brokers, capturingLogger, createTopics, produce, startRuntime, testConfig, uniqueName } from '../runtime/helpers.ts';
import { at, event, message, PARTITIONS, suppressionConfig, suppressionEnv, testTopics, ticks } from '../suppression/support.ts';

const SITE_ID = 'trace-site';
const API_KEY = 'trace-key';
const silent = pino({ level: 'silent' });

const stops: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop();
});

/** Kafka settings of the trace: the test brokers, short fetch waits, no log lines. */
const kafkaEnv = { KAFKA_BROKERS: brokers.join(','), KAFKA_FETCH_MAX_WAIT_MS: '100', KAFKA_LOG_LEVEL: 'nothing', LOG_LEVEL: 'silent' };

/** Traces `customerId` about once a second until `done` accepts the result; fails with the last trace after `timeoutMs`. */
async function traceUntil(
  env: Record<string, string>,
  overrides: Partial<Record<TraceSource, string>>,
  customerId: string,
  done: (result: TraceResult) => boolean,
  timeoutMs = 150_000,
): Promise<TraceResult> {
  const config = parseTraceConfig(env, overrides);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await traceCustomer(config, customerId, { logger: silent });
    if (done(result)) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the trace of ${customerId}:\n${renderText(result)}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** Returns a customer id whose key maps to another partition than `other`'s. */
function idInOtherPartition(other: string, partitions: number, make: () => string): string {
  for (;;) {
    const candidate = make();
    if (partitionForKey(candidate, partitions) !== partitionForKey(other, partitions)) return candidate;
  }
}

/** Checks that the trace read exactly one partition of every existing topic: the customer key's. */
function assertOnePartitionEach(result: TraceResult, customerId: string): void {
  const mapping = parseTraceConfig(kafkaEnv).mapping;
  const key = (source: TraceSource) => (source === 'customers' ? customerSourceKey(mapping, customerId) : customerId);
  assert.deepEqual(result.reads.map((read) => read.source), [...TRACE_SOURCES]);
  for (const read of result.reads) {
    if (read.partitionCount === null) continue;
    assert.equal(read.partition, partitionForKey(key(read.source), read.partitionCount), `partition read of ${read.topic}`);
  }
  for (const entry of result.entries) {
    const read = result.reads.find((candidate) => candidate.topic === entry.topic);
    assert.equal(entry.partition, read?.partition, `partition of ${entry.topic} offset ${entry.offset}`);
  }
}

describe('trace on the real stack', () => {
  it('names the order that suppressed a checkout', async () => {
    const topics = await testTopics('trace');
    const customersTopic = uniqueName('trace-customers');
    await createTopics([{ topic: customersTopic, partitions: PARTITIONS }]);
    const env = {
      ...kafkaEnv,
      // suppressionEnv names the suppression output CIO_CDC_CUSTOMER_EVENTS_TOPIC; no people
      // processor or sink runs, so the outbox and the sink's topics do not exist.
      ...suppressionEnv(topics),
      SINK_OUTBOX_TOPIC: uniqueName('trace-absent-outbox'),
      SINK_DELIVERY_LOG_TOPIC: uniqueName('trace-absent-log'),
    };

    const buyer = uniqueId();
    const browser = idInOtherPartition(buyer, PARTITIONS, uniqueId);
    const checkout = (customerId: string) => event(customerId, 'checkout_started', `co-${customerId}`, at(0), { cart_id: `cart-${customerId}` });
    const order: EventRecord = event(buyer, 'order_placed', `op-${buyer}`, at(20), { order_id: '1001' });
    await produce(topics.carts, [message(checkout(buyer)), message(checkout(browser))]);
    await produce(topics.orders, [message(order)]);
    // Ticks move both inputs' event time past every deadline, so the browser's checkout is released.
    await produce(topics.carts, ticks('carts', at(600)));
    await produce(topics.orders, ticks('orders', at(600)));

    const applicationId = uniqueName('trace-suppression');
    const runtime: ProcessorRuntime = await startRuntime(suppressionTopology(suppressionConfig(topics), { name: applicationId }), {
      config: testConfig(applicationId),
      logger: capturingLogger('warn').logger,
    });
    stops.push(() => runtime.stop());

    const suppressedLine = 'checkout_started suppressed by order 1001 (order placed during the hold)';
    const result = await traceUntil(env, { customers: customersTopic }, buyer, (trace) =>
      trace.entries.some((entry) => entry.text === suppressedLine) && trace.entries.some((entry) => entry.source === 'customerEvents'),
    );

    const texts = result.entries.map((entry) => entry.text);
    const heldLine = 'checkout_started held until 10:00 (window 1 h)';
    assert.ok(texts.includes(heldLine), texts.join('\n'));
    assert.ok(texts.includes(suppressedLine), texts.join('\n'));
    // Decisions sit at event time: the hold at the checkout, the suppression at the order.
    assert.equal(result.entries.find((entry) => entry.text === heldLine)?.timeMs, at(0));
    assert.equal(result.entries.find((entry) => entry.text === suppressedLine)?.timeMs, at(20));
    assert.ok(renderText(result).includes(`suppression  ${suppressedLine}`));
    const outcome = result.outcomes.find((candidate) => candidate.eventId === `co-${buyer}`);
    assert.equal(outcome?.status, 'suppressed');
    assert.equal(outcome?.text, 'suppressed by order 1001 (order placed during the hold)');
    assert.equal(result.outcomes.find((candidate) => candidate.eventId === order.id)?.status, 'waiting');

    // Only the buyer's partition was read, and nothing of the browser or the tick records shows.
    assertOnePartitionEach(result, buyer);
    assert.deepEqual(
      result.reads.filter((read) => read.partitionCount === null).map((read) => read.source),
      ['outbox', 'deliveryLog', 'deadLetter'],
    );
    assert.ok(result.entries.every((entry) => !JSON.stringify(entry.record).includes(browser)));
    // Every partition of the cart input contains a tick record of customer "tick", which the trace skips.
    const carts = result.reads.find((read) => read.source === 'cartEvents')!;
    assert.deepEqual([carts.scanned, carts.matched], [2, 1]);

    // The browser's own trace finds its checkout, released, in its other partition.
    const browserTrace = await traceUntil(env, { customers: customersTopic }, browser, (trace) =>
      trace.entries.some((entry) => entry.text === 'checkout_started released (no order within the window)'),
    );
    assertOnePartitionEach(browserTrace, browser);
    assert.ok(browserTrace.entries.every((entry) => !JSON.stringify(entry.record).includes(buyer)));
  });

  it('names the reason Customer.io or the validator rejected an event', async () => {
    const topics = { outbox: uniqueName('trace-outbox'), dlq: uniqueName('trace-dlq'), log: uniqueName('trace-log') };
    await createTopics([
      { topic: topics.outbox, partitions: 3 },
      { topic: topics.dlq, partitions: 3 },
      { topic: topics.log, partitions: 3 },
    ]);
    const standin: Standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY });
    stops.push(() => standin.close());
    // The first request carries the buyer's order alone; Customer.io rejects its only item.
    await standin.setFaults({
      script: [{ status: 207, body: { errors: [{ batch_index: 0, reason: 'invalid_total', field: 'data.order_id', message: 'order id rejected' }] } }],
    });

    const buyer = uniqueId();
    const other = idInOtherPartition(buyer, 3, uniqueId);
    const order: EventRecord = {
      kind: 'event',
      customerId: buyer,
      name: 'order_placed',
      id: deriveEventId(['order_placed', 'order', buyer]),
      timestamp: 1721050200,
      data: { order_id: '2001' },
    };
    // An attribute value over Customer.io's 1000-byte limit: the sink's validator rejects it unsent.
    const oversized: IdentifyRecord = { kind: 'identify', customerId: other, attributes: { note: 'x'.repeat(1200) }, timestamp: 1721050200 };
    await produce(topics.outbox, [order, oversized].map((record) => ({ key: record.customerId, value: JSON.stringify(record) })));

    const sinkEnv = {
      KAFKA_BROKERS: brokers.join(','),
      SINK_GROUP_ID: uniqueName('trace-sink'),
      SINK_OUTBOX_TOPIC: topics.outbox,
      SINK_DLQ_TOPIC: topics.dlq,
      SINK_DELIVERY_LOG_TOPIC: topics.log,
      SINK_SESSION_TIMEOUT_MS: '10000',
      SINK_HEARTBEAT_INTERVAL_MS: '1000',
      SINK_INLINE_WAIT_MAX_MS: '3000',
      SINK_HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      CIO_SITE_ID: SITE_ID,
      CIO_TRACK_API_KEY: API_KEY,
      CIO_TRACK_BASE_URL: standin.url,
      CIO_TRACK_API_VERSION: 'v2',
    };
    const sink = new CustomerioSink({ config: parseSinkConfig(sinkEnv), logger: silent });
    stops.push(() => sink.stop());
    await sink.start();

    const absent = uniqueName('trace-absent');
    const env = {
      ...kafkaEnv,
      ...sinkEnv,
      CIO_CDC_CART_EVENTS_TOPIC: `${absent}-carts`,
      CIO_CDC_ORDER_EVENTS_TOPIC: `${absent}-orders`,
      CIO_CDC_SUPPRESSION_DECISIONS_TOPIC: `${absent}-decisions`,
      CIO_CDC_CUSTOMER_EVENTS_TOPIC: `${absent}-events`,
    };
    const overrides = { customers: `${absent}-customers` };
    const rejectedLine = 'order_placed rejected by Customer.io: invalid_total';
    const rejected = await traceUntil(env, overrides, buyer, (trace) =>
      trace.entries.some((entry) => entry.text.startsWith(rejectedLine)) && trace.entries.some((entry) => entry.source === 'deadLetter'),
    );
    assert.match(rejected.entries.find((entry) => entry.source === 'deliveryLog')!.text, /^order_placed rejected by Customer\.io: invalid_total \(1 attempt, \d+ ms\)$/);
    const deadLetter = rejected.entries.find((entry) => entry.source === 'deadLetter')!;
    assert.ok(deadLetter.text.startsWith(`order_placed dead-lettered to ${topics.dlq}: invalid_total (HTTP 207, field data.order_id)`), deadLetter.text);
    assert.deepEqual(
      rejected.outcomes.map((outcome) => [outcome.eventId, outcome.status, outcome.text]),
      [[order.id, 'rejected', `rejected: invalid_total (dead-lettered to ${topics.dlq})`]],
    );
    assertOnePartitionEach(rejected, buyer);
    assert.ok(rejected.entries.every((entry) => !JSON.stringify(entry.record).includes(other)));

    // A later identify of the buyer goes through; the trace links its delivery to the outbox record.
    const identify: IdentifyRecord = { kind: 'identify', customerId: buyer, attributes: { first_name: 'Mei' }, timestamp: 1721050300 };
    await produce(topics.outbox, [{ key: buyer, value: JSON.stringify(identify) }]);
    const delivered = await traceUntil(env, overrides, buyer, (trace) => trace.outcomes.some((outcome) => outcome.event === 'identify' && outcome.status === 'delivered'));
    assert.ok(delivered.entries.some((entry) => /^identify delivered to Customer\.io \(1 attempt, \d+ ms\)$/.test(entry.text)));

    // The other customer, in another partition, was rejected by the validator before sending.
    const validated = await traceUntil(env, overrides, other, (trace) => trace.entries.some((entry) => entry.source === 'deadLetter'));
    assert.ok(validated.entries.some((entry) => entry.text === 'identify rejected before sending: value_too_long'));
    assert.ok(validated.entries.some((entry) => entry.text.startsWith(`identify dead-lettered to ${topics.dlq}: value_too_long (not sent, field attributes.note)`)));
    assertOnePartitionEach(validated, other);
  });

  it('finds the customers source row in the partition of its Debezium key', async () => {
    const mysql = testMysql();
    stops.push(() => mysql.end());
    const customerId = uniqueId();
    await mysql.query("INSERT INTO customers (id, first_name, created_at) VALUES (?, 'Ada', '2024-01-01 10:00:00')", [customerId]);
    await mysql.query("UPDATE customers SET first_name = 'Mei' WHERE id = ?", [customerId]);

    const absent = uniqueName('trace-absent');
    const env = {
      ...kafkaEnv,
      CIO_CDC_CART_EVENTS_TOPIC: `${absent}-carts`,
      CIO_CDC_ORDER_EVENTS_TOPIC: `${absent}-orders`,
      CIO_CDC_SUPPRESSION_DECISIONS_TOPIC: `${absent}-decisions`,
      CIO_CDC_CUSTOMER_EVENTS_TOPIC: `${absent}-events`,
      SINK_OUTBOX_TOPIC: `${absent}-outbox`,
      SINK_DELIVERY_LOG_TOPIC: `${absent}-log`,
    };
    // The customers topic comes from the default mapping, as the people processor reads it.
    const result = await traceUntil(env, {}, customerId, (trace) => trace.entries.length >= 2, 60_000);
    assert.equal(result.reads[0]?.topic, 'shop.shop.customers');

    assert.equal(result.entries.length, 2);
    assert.match(result.entries[0]!.text, /^customer row inserted into shop\.customers \(binlog \S+:\d+\)$/);
    assert.match(result.entries[1]!.text, /^customer row updated in shop\.customers: first_name(, updated_at)? changed \(binlog \S+:\d+\)$/);
    assertOnePartitionEach(result, customerId);
    assert.equal(result.reads[0]?.matched, 2);
  });
});
