// Real stack: sink members of one consumer group lose partitions while a batch waits on a slow
// Customer.io stand-in. Every record must reach the stand-in, no committed offset may pass a
// record the stand-in has not accepted or go back, and a record sent twice carries its event id.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';

import type { Admin, Kafka } from 'kafkajs';
import { pino } from 'pino';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, IdentifyRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { CustomerioSink } from '../../processors/customerio/sink/sink.ts';
import { startStandin, type Standin } from '../../processors/standin/server.ts';
import { freePort } from '../e2e/support.ts';
import { waitFor } from '../runtime/helpers.ts';
import { testStack } from '../support/env.ts';
import { testKafka, uniqueName } from '../support/kafka.ts';

const SITE_ID = 'rebalance-site';
const API_KEY = 'rebalance-key';
const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const SINK_MAIN = new URL('../../processors/customerio/sink/main.ts', import.meta.url).pathname;

function identify(customerId: string): IdentifyRecord {
  return { kind: 'identify', customerId, attributes: { created_at: 1704121200, first_name: `P${customerId}` }, timestamp: 1721050200 };
}

function orderPlaced(customerId: string): EventRecord {
  const orderId = `${customerId}-1`;
  return { kind: 'event', customerId, name: 'order_placed', id: deriveEventId(['order_placed', 'order', orderId]), timestamp: 1721050200, data: { order_id: orderId } };
}

/** Builds an identify and an order_placed per customer, in that order. */
function recordsOf(customers: readonly string[]): OutboxRecord[] {
  return customers.flatMap((customer) => [identify(customer), orderPlaced(customer)]);
}

interface Placed {
  readonly partition: number;
  readonly offset: number;
  readonly record: OutboxRecord;
}

interface Harness {
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly standin: Standin;
  readonly outbox: string;
  readonly groupId: string;
  readonly env: Record<string, string>;
}

async function setup(t: TestContext, partitions: number, env: Record<string, string>): Promise<Harness> {
  const kafka = testKafka('sink-rebalance-test');
  const admin = kafka.admin();
  await admin.connect();
  const outbox = uniqueName('sink-rebalance-outbox');
  const dlq = uniqueName('sink-rebalance-dlq');
  const log = uniqueName('sink-rebalance-log');
  const groupId = uniqueName('sink-rebalance-group');
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: outbox, numPartitions: partitions, replicationFactor: 1 },
      { topic: dlq, numPartitions: 1, replicationFactor: 1 },
      { topic: log, numPartitions: 1, replicationFactor: 1 },
    ],
  });
  const standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY });
  t.after(async () => {
    await standin.close();
    await admin.disconnect();
  });
  return {
    kafka,
    admin,
    standin,
    outbox,
    groupId,
    env: {
      KAFKA_BROKERS: testStack.kafkaBrokers.join(','),
      SINK_GROUP_ID: groupId,
      SINK_OUTBOX_TOPIC: outbox,
      SINK_DLQ_TOPIC: dlq,
      SINK_DELIVERY_LOG_TOPIC: log,
      SINK_HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      CIO_SITE_ID: SITE_ID,
      CIO_TRACK_API_KEY: API_KEY,
      CIO_TRACK_BASE_URL: standin.url,
      CIO_TRACK_API_VERSION: 'v1',
      CIO_MAX_CONCURRENT_REQUESTS: '1',
      CIO_REQUESTS_PER_SECOND: '500',
      CIO_BURST_REQUESTS: '50',
      ...env,
    },
  };
}

/** Writes each partition's records to that partition, in order, and returns where each went. */
async function produceByPartition(harness: Harness, byPartition: readonly OutboxRecord[][]): Promise<Placed[]> {
  const producer = harness.kafka.producer();
  await producer.connect();
  try {
    for (const [partition, records] of byPartition.entries()) {
      await producer.send({ topic: harness.outbox, acks: -1, messages: records.map((record) => ({ key: record.customerId, value: JSON.stringify(record), partition })) });
    }
  } finally {
    await producer.disconnect();
  }
  return byPartition.flatMap((records, partition) => records.map((record, offset) => ({ partition, offset, record })));
}

async function startSink(t: TestContext, harness: Harness): Promise<CustomerioSink> {
  const sink = new CustomerioSink({ config: parseSinkConfig(harness.env), logger: pino({ level: 'silent' }) });
  t.after(() => sink.stop());
  await sink.start();
  return sink;
}

/** Committed offset of every partition of the outbox; 0 where nothing was committed. */
async function committed(harness: Harness): Promise<Map<number, number>> {
  const [entry] = await harness.admin.fetchOffsets({ groupId: harness.groupId, topics: [harness.outbox] });
  return new Map((entry?.partitions ?? []).map((item) => [item.partition, Math.max(0, Number(item.offset))]));
}

/** Returns a check of whether the stand-in returned 200 to the call that delivers a record. */
function deliveredCheck(standin: Standin): (record: OutboxRecord) => boolean {
  const accepted = standin.calls().filter((call) => call.status === 200);
  const identified = new Set(accepted.filter((call) => call.method === 'PUT').map((call) => call.path));
  const events = new Set(accepted.filter((call) => call.method === 'POST').map((call) => `${call.path} ${String((call.requestBody as { id?: unknown }).id)}`));
  return (record) => {
    const person = `/api/v1/customers/${record.customerId}`;
    return record.kind === 'identify' ? identified.has(person) : events.has(`${person}/events ${record.id}`);
  };
}

function successfulCalls(standin: Standin): number {
  return standin.calls().filter((call) => call.status === 200).length;
}

/**
 * Samples the group's committed offsets every 100 ms until stopped. Each sample must cover only
 * records the stand-in accepted (read after the offsets, so a commit is never judged against
 * older deliveries), and no partition's offset may go back.
 */
function watchCommits(harness: Harness, placed: readonly Placed[]): { stop(): Promise<{ samples: number; violations: string[] }> } {
  const violations: string[] = [];
  const highest = new Map<number, number>();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const offsets = await committed(harness);
      const delivered = deliveredCheck(harness.standin);
      for (const [partition, offset] of offsets) {
        if (offset < (highest.get(partition) ?? 0)) violations.push(`partition ${partition}: committed offset went back from ${highest.get(partition)} to ${offset}`);
        highest.set(partition, Math.max(offset, highest.get(partition) ?? 0));
        for (const entry of placed.filter((item) => item.partition === partition && item.offset < offset)) {
          if (!delivered(entry.record)) violations.push(`partition ${partition}: offset ${offset} committed before offset ${entry.offset} was delivered`);
        }
      }
      samples += 1;
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, violations: [...new Set(violations)] };
    },
  };
}

/** Event ids the stand-in stored, with how often each was stored. */
function storedEventCounts(standin: Standin): Map<string, number> {
  const counts = new Map<string, number>();
  for (const person of standin.people()) {
    for (const event of person.events) counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
  }
  return counts;
}

/** Event ids of every event call the stand-in received, repeats included. */
function sentEventIds(standin: Standin): string[] {
  return standin
    .calls()
    .filter((call) => call.method === 'POST' && call.path.endsWith('/events'))
    .map((call) => String((call.requestBody as { id?: unknown }).id));
}

function assertOnePerId(standin: Standin, placed: readonly Placed[]): void {
  const ids = placed.flatMap((entry) => (entry.record.kind === 'event' ? [entry.record.id] : []));
  assert.deepEqual([...storedEventCounts(standin)].sort(), ids.map((id) => [id, 1]).sort());
  // A record sent again (after an aborted request or by the new owner) repeats its own id.
  assert.deepEqual(sentEventIds(standin).filter((id) => !ids.includes(id)), []);
  const customers = new Set(placed.map((entry) => entry.record.customerId));
  assert.equal(standin.people().filter((person) => person.identified).length, customers.size);
}

function metricValue(text: string, name: string): number {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0);
}

describe('sink rebalance during a batch', { timeout: 240_000 }, () => {
  test('member joins during a slow batch', async (t) => {
    const harness = await setup(t, 2, { SINK_SESSION_TIMEOUT_MS: '10000', SINK_HEARTBEAT_INTERVAL_MS: '1000', SINK_INLINE_WAIT_MAX_MS: '3000' });
    await harness.standin.setFaults({ latencyMs: 700 });
    const customers = Array.from({ length: 12 }, (_, index) => String(2100 + index));
    const placed = await produceByPartition(harness, [recordsOf(customers.slice(0, 6)), recordsOf(customers.slice(6))]);
    const watch = watchCommits(harness, placed);

    const first = await startSink(t, harness);
    await waitFor('the first sink to deliver three records', () => successfulCalls(harness.standin) >= 3);
    const deliveredAtJoin = successfulCalls(harness.standin);
    const second = await startSink(t, harness);
    await waitFor('every offset committed', async () => [...(await committed(harness)).values()].reduce((sum, offset) => sum + offset, 0) === placed.length, 120_000);
    const report = await watch.stop();

    assert.ok(deliveredAtJoin < placed.length, `the second sink joined after ${deliveredAtJoin} of ${placed.length} deliveries`);
    assert.deepEqual(report.violations, []);
    assert.ok(report.samples >= 10, `only ${report.samples} samples of the committed offsets`);
    const firstMetrics = await first.registry.metrics();
    const secondMetrics = await second.registry.metrics();
    // The first member rejoined after the rebalance and the second delivered what it took over.
    assert.ok(metricValue(firstMetrics, 'cio_sink_group_joins_total') >= 2, firstMetrics);
    assert.ok(metricValue(secondMetrics, 'cio_sink_delivered_total') > 0, secondMetrics);
    assertOnePerId(harness.standin, placed);
  });

  test('late commit of a frozen member is dropped', async (t) => {
    const latencyMs = 1000;
    const harness = await setup(t, 1, {
      SINK_SESSION_TIMEOUT_MS: '6000',
      SINK_HEARTBEAT_INTERVAL_MS: '1000',
      SINK_REBALANCE_TIMEOUT_MS: '6000',
      SINK_INLINE_WAIT_MAX_MS: '2000',
      // Far beyond the freeze, so the frozen member reads the response it was waiting for.
      CIO_REQUEST_TIMEOUT_MS: '120000',
    });
    await harness.standin.setFaults({ latencyMs });
    const placed = await produceByPartition(harness, [recordsOf(['2201', '2202', '2203', '2204', '2205'])]);
    const watch = watchCommits(harness, placed);

    const port = await freePort();
    const frozen: ChildProcess = spawn(NODE, [SINK_MAIN], { env: { ...process.env, ...harness.env, SINK_HTTP_PORT: String(port), LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit'] });
    t.after(async () => {
      if (frozen.exitCode === null && frozen.signalCode === null) {
        frozen.kill('SIGKILL');
        await once(frozen, 'exit');
      }
    });
    await waitFor('the first sink to deliver two records', () => successfulCalls(harness.standin) >= 2, 60_000);
    // Half a latency after a response, the member has committed and waits on its next request.
    await sleep(latencyMs / 2);
    frozen.kill('SIGSTOP');
    const deliveredAtFreeze = successfulCalls(harness.standin);

    // The new member gets the partition once the frozen one's session expires, and finishes it.
    await startSink(t, harness);
    await waitFor('the second sink to commit every offset', async () => (await committed(harness)).get(0) === placed.length, 90_000);
    assert.ok(deliveredAtFreeze < placed.length, `the freeze came after ${deliveredAtFreeze} of ${placed.length} deliveries`);

    // The frozen member reads its response and tries to commit. The broker rejects the commit and the sink drops it.
    frozen.kill('SIGCONT');
    const dropped = async (): Promise<number> => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      return response === undefined ? 0 : metricValue(await response.text(), 'cio_sink_commits_dropped_total');
    };
    await waitFor('the resumed sink to drop its commit', async () => (await dropped()) >= 1, 30_000);
    // A few more samples after the drop.
    await sleep(500);
    const report = await watch.stop();

    assert.deepEqual(report.violations, []);
    assert.equal((await committed(harness)).get(0), placed.length);
    assertOnePerId(harness.standin, placed);
    frozen.kill('SIGTERM');
    const [exitCode] = (await once(frozen, 'exit')) as [number | null];
    assert.equal(exitCode, 0);
  });
});
