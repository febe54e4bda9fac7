import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { describe, test, type TestContext } from 'node:test';

import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { pino } from 'pino';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, IdentifyRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { CustomerioSink, DEAD_LETTER_HEADERS, type DeliveryLogEntry } from '../../processors/customerio/sink/sink.ts';
import { startStandin, type Standin } from '../../processors/standin/server.ts';
import { consumeUntil, testKafka, uniqueName } from '../support/kafka.ts';
import { testStack } from '../support/env.ts';

const SITE_ID = 'sink-site';
const API_KEY = 'sink-key-secret';
const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const SINK_MAIN = new URL('../../processors/customerio/sink/main.ts', import.meta.url).pathname;

function identify(customerId: string): IdentifyRecord {
  return { kind: 'identify', customerId, attributes: { created_at: 1704121200, first_name: `P${customerId}` }, timestamp: 1721050200 };
}

function orderPlaced(customerId: string, orderId: string, name = 'order_placed'): EventRecord {
  return {
    kind: 'event',
    customerId,
    name,
    id: deriveEventId(['order_placed', 'order', orderId]),
    timestamp: 1721050200,
    data: { order_id: orderId },
  };
}

interface Topics {
  outbox: string;
  dlq: string;
  log: string;
  groupId: string;
}

interface Harness {
  kafka: Kafka;
  admin: Admin;
  topics: Topics;
  standin: Standin;
  env: Record<string, string>;
}

/** Creates fresh topics and a stand-in on a free port, and the sink environment for them. */
async function setup(t: TestContext, options: { partitions?: number; env?: Record<string, string> } = {}): Promise<Harness> {
  const kafka = testKafka('sink-test');
  const admin = kafka.admin();
  await admin.connect();
  const topics: Topics = {
    outbox: uniqueName('sink-outbox'),
    dlq: uniqueName('sink-dlq'),
    log: uniqueName('sink-log'),
    groupId: uniqueName('sink-group'),
  };
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: topics.outbox, numPartitions: options.partitions ?? 1, replicationFactor: 1 },
      { topic: topics.dlq, numPartitions: 1, replicationFactor: 1 },
      { topic: topics.log, numPartitions: 1, replicationFactor: 1 },
    ],
  });
  const standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY });
  const env: Record<string, string> = {
    KAFKA_BROKERS: testStack.kafkaBrokers.join(','),
    SINK_GROUP_ID: topics.groupId,
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
    CIO_TRACK_API_VERSION: 'v1',
    CIO_REQUESTS_PER_SECOND: '500',
    CIO_BURST_REQUESTS: '50',
    CIO_RETRY_INITIAL_DELAY_MS: '100',
    CIO_RETRY_MAX_DELAY_MS: '500',
    ...options.env,
  };
  t.after(async () => {
    await standin.close();
    await admin.disconnect();
  });
  return { kafka, admin, topics, standin, env };
}

async function startSink(t: TestContext, harness: Harness): Promise<CustomerioSink> {
  const sink = new CustomerioSink({ config: parseSinkConfig(harness.env), logger: pino({ level: 'silent' }) });
  t.after(() => sink.stop());
  await sink.start();
  return sink;
}

async function produce(kafka: Kafka, topic: string, messages: { key: string | null; value: string | Buffer | null }[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

function outboxMessages(records: OutboxRecord[]): { key: string; value: string }[] {
  return records.map((record) => ({ key: record.customerId, value: JSON.stringify(record) }));
}

/** Committed offset of the group on partition 0 of `topic`; '-1' when nothing was committed. */
async function committedOffset(admin: Admin, groupId: string, topic: string, partition = 0): Promise<string> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return entry?.partitions.find((item) => item.partition === partition)?.offset ?? '-1';
}

async function waitFor(description: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function readTopic(kafka: Kafka, topic: string, count: number): Promise<KafkaMessage[]> {
  const records = await consumeUntil(kafka, [topic], (seen) => seen.length >= count, { timeoutMs: 30_000 });
  return records.map((record) => record.message);
}

async function topicSize(admin: Admin, topic: string): Promise<string> {
  const [partition] = await admin.fetchTopicOffsets(topic);
  return partition?.high ?? '-1';
}

function header(message: KafkaMessage | undefined, name: string): string | undefined {
  const value = message?.headers?.[name];
  return value === undefined ? undefined : String(value);
}

function successfulCalls(standin: Standin): string[] {
  return standin
    .calls()
    .filter((call) => call.status === 200)
    .map((call) => `${call.method} ${call.path}`);
}

/** Number of stored events per event id, over every person of the stand-in. */
function eventCounts(standin: Standin): Map<string, number> {
  const counts = new Map<string, number>();
  for (const person of standin.people()) {
    for (const event of person.events) counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
  }
  return counts;
}

/** Event ids carried by the event calls the stand-in received, repeats included. */
function sentEventIds(standin: Standin): string[] {
  return standin
    .calls()
    .filter((call) => call.method === 'POST' && call.path.endsWith('/events'))
    .map((call) => String((call.requestBody as { id?: unknown }).id));
}

async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe('customer.io sink', () => {
  test('a new group retries a first 503 and delivers from the earliest offset', async (t) => {
    // One request at a time, so the order across people is the offset order too.
    const harness = await setup(t, { env: { CIO_MAX_CONCURRENT_REQUESTS: '1' } });
    const { kafka, admin, topics, standin } = harness;
    await standin.setFaults({ script: [{ status: 503 }] });
    await produce(kafka, topics.outbox, outboxMessages([identify('501'), orderPlaced('501', '1001'), identify('502')]));

    await startSink(t, harness);
    await waitFor('offset 3 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '3');

    assert.equal(standin.calls()[0]?.status, 503);
    assert.deepEqual(successfulCalls(standin), ['PUT /api/v1/customers/501', 'POST /api/v1/customers/501/events', 'PUT /api/v1/customers/502']);
    const log = (await readTopic(kafka, topics.log, 3)).map((message) => JSON.parse(String(message.value)) as DeliveryLogEntry);
    assert.deepEqual(
      log.map((entry) => [entry.customerId, entry.kind, entry.status, entry.source.offset]),
      [
        ['501', 'identify', 'delivered', '0'],
        ['501', 'event', 'delivered', '1'],
        ['502', 'identify', 'delivered', '2'],
      ],
    );
    assert.equal(log[1]?.eventId, deriveEventId(['order_placed', 'order', '1001']));
    assert.equal(log[0]?.attempts, 2);
  });

  test('delivers everything after a 5xx outage with one event per id', async (t) => {
    const harness = await setup(t);
    const { kafka, admin, topics, standin } = harness;
    const records = ['511', '512', '513'].flatMap((customer, index) => [identify(customer), orderPlaced(customer, String(1100 + index))]);
    const ids = records.flatMap((record) => (record.kind === 'event' ? [record.id] : []));
    await standin.setFaults({ outages: [{ durationMs: 3000, mode: '503' }] });
    await produce(kafka, topics.outbox, outboxMessages(records));

    await startSink(t, harness);
    await waitFor('offset 6 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '6', 60_000);

    assert.ok(standin.calls().some((call) => call.status === 503 && call.fault === 'outage'));
    assert.deepEqual(
      [...eventCounts(standin)].sort(),
      ids.map((id) => [id, 1]).sort(),
    );
    assert.deepEqual(
      sentEventIds(standin).filter((id) => !ids.includes(id)),
      [],
    );
    assert.deepEqual(
      ['511', '512', '513'].map((customer) => standin.person(customer)?.attributes['first_name']),
      ['P511', 'P512', 'P513'],
    );
    assert.equal(await topicSize(admin, topics.dlq), '0');
  });

  test('a 429 storm pauses the partition and commits only after the 200', async (t) => {
    const harness = await setup(t, { env: { SINK_INLINE_WAIT_MAX_MS: '1000' } });
    const { kafka, admin, topics, standin } = harness;
    await standin.setFaults({
      script: [
        { status: 429, retryAfter: '2' },
        { status: 429, retryAfter: '2' },
      ],
    });
    await produce(kafka, topics.outbox, outboxMessages([identify('601'), orderPlaced('601', '1201')]));

    const sink = await startSink(t, harness);
    await waitFor('two 429 responses', () => standin.calls().filter((call) => call.status === 429).length === 2);
    assert.equal(await committedOffset(admin, topics.groupId, topics.outbox), '-1');
    assert.equal(successfulCalls(standin).length, 0);

    await waitFor('offset 2 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '2');
    assert.deepEqual(successfulCalls(standin), ['PUT /api/v1/customers/601', 'POST /api/v1/customers/601/events']);
    assert.equal(await topicSize(admin, topics.dlq), '0');
    const metrics = await httpGet(sink.httpPort, '/metrics');
    assert.match(metrics.body, /^cio_sink_partition_pauses_total 2$/m);
    const delivered = [...metrics.body.matchAll(/^cio_sink_delivered_total\{[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    assert.equal(delivered, 2);
    assert.match(metrics.body, /^cio_sink_delivered_total\{kind="event",name="order_placed"\} 1$/m);
  });

  test('a Retry-After longer than the session pauses the partition and keeps the member', async (t) => {
    const harness = await setup(t, { env: { SINK_SESSION_TIMEOUT_MS: '6000', SINK_INLINE_WAIT_MAX_MS: '2000' } });
    const { kafka, admin, topics, standin } = harness;
    await standin.setFaults({ script: [{ status: 429, retryAfter: '9' }] });
    await produce(kafka, topics.outbox, outboxMessages([identify('651'), orderPlaced('651', '1251')]));

    const sink = await startSink(t, harness);
    await waitFor('one 429 response', () => standin.calls().some((call) => call.status === 429));
    const paused = await httpGet(sink.httpPort, '/metrics');
    assert.match(paused.body, /^cio_sink_paused_partitions 1$/m);
    assert.equal(await committedOffset(admin, topics.groupId, topics.outbox), '-1');

    await waitFor('offset 2 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '2');
    const metrics = await httpGet(sink.httpPort, '/metrics');
    assert.match(metrics.body, /^cio_sink_group_joins_total 1$/m);
    assert.match(metrics.body, /^cio_sink_paused_partitions 0$/m);
    assert.match(metrics.body, /^cio_sink_commits_dropped_total 0$/m);
    assert.deepEqual(successfulCalls(standin), ['PUT /api/v1/customers/651', 'POST /api/v1/customers/651/events']);
  });

  test('dead-letters a 207 item error and a validation failure and commits past them', async (t) => {
    const harness = await setup(t, { env: { CIO_TRACK_API_VERSION: 'v2' } });
    const { kafka, admin, topics, standin } = harness;
    await standin.setFaults({
      script: [{ status: 207, body: { errors: [{ batch_index: 1, reason: 'invalid_total', field: 'data.order_id', message: 'order id rejected' }] } }],
    });
    await produce(
      kafka,
      topics.outbox,
      outboxMessages([identify('701'), orderPlaced('702', '2001'), orderPlaced('703', '2002', 'OrderPlaced'), identify('704')]),
    );

    await startSink(t, harness);
    await waitFor('offset 4 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '4');

    const dead = await readTopic(kafka, topics.dlq, 2);
    const byOffset = new Map(dead.map((message) => [header(message, DEAD_LETTER_HEADERS.offset), message]));
    const apiError = byOffset.get('1');
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.reason), 'invalid_total');
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.field), 'data.order_id');
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.status), '207');
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.errorClass), 'TrackRejectedError');
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.topic), topics.outbox);
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.partition), '0');
    assert.equal(header(apiError, DEAD_LETTER_HEADERS.key), '702');
    const invalid = byOffset.get('2');
    assert.equal(header(invalid, DEAD_LETTER_HEADERS.reason), 'not_snake_case');
    assert.equal(header(invalid, DEAD_LETTER_HEADERS.field), 'name');
    assert.equal(header(invalid, DEAD_LETTER_HEADERS.status), 'not_sent');
    assert.equal(header(invalid, DEAD_LETTER_HEADERS.errorClass), 'ValidationError');
    assert.equal(String(invalid?.value), JSON.stringify(orderPlaced('703', '2002', 'OrderPlaced')));

    const log = (await readTopic(kafka, topics.log, 4)).map((message) => JSON.parse(String(message.value)) as DeliveryLogEntry);
    assert.deepEqual(
      log.map((entry) => [entry.source.offset, entry.customerId, entry.status, entry.reason]),
      [
        ['0', '701', 'delivered', null],
        ['1', '702', 'rejected', 'invalid_total'],
        ['2', '703', 'rejected', 'not_snake_case'],
        ['3', '704', 'delivered', null],
      ],
    );
    const batches = standin.calls().filter((call) => call.path === '/api/v2/batch');
    assert.deepEqual(
      batches.map((call) => call.status),
      [207],
    );
    assert.equal((batches[0]?.requestBody as { batch?: unknown[] }).batch?.length, 3);
  });

  test('dead-letters bytes that are not JSON and moves on', async (t) => {
    const harness = await setup(t);
    const { kafka, admin, topics, standin } = harness;
    await produce(kafka, topics.outbox, [
      ...outboxMessages([identify('801')]),
      { key: '801', value: Buffer.from([0x48, 0x49, 0x00, 0x7b]) },
      { key: '802', value: null },
      ...outboxMessages([identify('803')]),
    ]);

    await startSink(t, harness);
    await waitFor('offset 4 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '4');

    const [dead] = await readTopic(kafka, topics.dlq, 1);
    assert.equal(header(dead, DEAD_LETTER_HEADERS.offset), '1');
    assert.equal(header(dead, DEAD_LETTER_HEADERS.reason), 'invalid_outbox_record');
    assert.equal(header(dead, DEAD_LETTER_HEADERS.field), '(value)');
    assert.equal(header(dead, DEAD_LETTER_HEADERS.errorClass), 'OutboxRecordError');
    assert.deepEqual(dead?.value, Buffer.from([0x48, 0x49, 0x00, 0x7b]));
    assert.equal(await topicSize(admin, topics.dlq), '1');
    assert.deepEqual(successfulCalls(standin), ['PUT /api/v1/customers/801', 'PUT /api/v1/customers/803']);
  });

  test('the backfill guard skips old events and still identifies', async (t) => {
    const harness = await setup(t, { env: { CIO_BACKFILL_GUARD: 'skip', CIO_MAX_CONCURRENT_REQUESTS: '1' } });
    const { kafka, admin, topics, standin } = harness;
    const fresh: EventRecord = { ...orderPlaced('1601', '4002'), timestamp: Math.floor(Date.now() / 1000) - 3600 };
    // The identify and the first event carry a timestamp of July 2024, far beyond 72 hours.
    await produce(kafka, topics.outbox, outboxMessages([identify('1601'), orderPlaced('1601', '4001'), fresh]));

    const sink = await startSink(t, harness);
    await waitFor('offset 3 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '3');

    assert.deepEqual(successfulCalls(standin), ['PUT /api/v1/customers/1601', 'POST /api/v1/customers/1601/events']);
    assert.deepEqual(sentEventIds(standin), [fresh.id]);
    const log = (await readTopic(kafka, topics.log, 3)).map((message) => JSON.parse(String(message.value)) as DeliveryLogEntry);
    assert.deepEqual(
      log.map((entry) => [entry.source.offset, entry.kind, entry.status, entry.reason]),
      [
        ['0', 'identify', 'delivered', null],
        ['1', 'event', 'skipped', 'backfill_horizon_exceeded'],
        ['2', 'event', 'delivered', null],
      ],
    );
    assert.equal(log[1]?.eventId, deriveEventId(['order_placed', 'order', '4001']));
    assert.equal(log[1]?.attempts, 0);
    assert.equal(await topicSize(admin, topics.dlq), '0');
    const metrics = await httpGet(sink.httpPort, '/metrics');
    assert.match(metrics.body, /^cio_sink_backfill_events_total\{action="skipped",name="order_placed"\} 1$/m);
  });

  test('the backfill guard marks old events in their data', async (t) => {
    const harness = await setup(t, { env: { CIO_BACKFILL_GUARD: 'mark', CIO_BACKFILL_HORIZON_HOURS: '1', CIO_MAX_CONCURRENT_REQUESTS: '1' } });
    const { kafka, admin, topics, standin } = harness;
    const nowSeconds = Math.floor(Date.now() / 1000);
    const old: EventRecord = { ...orderPlaced('1701', '4101'), timestamp: nowSeconds - 2 * 3600 };
    const fresh: EventRecord = { ...orderPlaced('1701', '4102'), timestamp: nowSeconds - 600 };
    await produce(kafka, topics.outbox, outboxMessages([old, fresh]));

    const sink = await startSink(t, harness);
    await waitFor('offset 2 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '2');

    const events = new Map((standin.person('1701')?.events ?? []).map((event) => [event.id, event.data]));
    assert.deepEqual(events.get(old.id), { order_id: '4101', backfill: true });
    assert.deepEqual(events.get(fresh.id), { order_id: '4102' });
    const log = (await readTopic(kafka, topics.log, 2)).map((message) => JSON.parse(String(message.value)) as DeliveryLogEntry);
    assert.deepEqual(
      log.map((entry) => entry.status),
      ['delivered', 'delivered'],
    );
    const metrics = await httpGet(sink.httpPort, '/metrics');
    assert.match(metrics.body, /^cio_sink_backfill_events_total\{action="marked",name="order_placed"\} 1$/m);
  });

  test('a 401 stops consumption without moving the committed offset', async (t) => {
    const harness = await setup(t);
    const { kafka, admin, topics, standin } = harness;
    await produce(kafka, topics.outbox, outboxMessages([identify('901')]));
    const sink = await startSink(t, harness);
    await waitFor('offset 1 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '1');
    assert.equal((await httpGet(sink.httpPort, '/readyz')).status, 200);

    await standin.setFaults({ script: [{ status: 401 }] });
    await produce(kafka, topics.outbox, outboxMessages([identify('902'), orderPlaced('902', '1301')]));
    await waitFor('the sink to stop on credentials', () => sink.authFailed);
    // A short window in which a sink that kept going would send the identify again or the event.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    assert.equal(await committedOffset(admin, topics.groupId, topics.outbox), '1');
    assert.deepEqual(
      standin.calls().map((call) => `${call.status} ${call.path}`),
      ['200 /api/v1/customers/901', '401 /api/v1/customers/902'],
    );
    assert.equal((await httpGet(sink.httpPort, '/readyz')).status, 503);
    assert.equal((await httpGet(sink.httpPort, '/healthz')).status, 200);
    assert.match((await httpGet(sink.httpPort, '/metrics')).body, /^cio_sink_auth_alert 1$/m);
    assert.equal(await topicSize(admin, topics.dlq), '0');
  });

  test('records of one key arrive in offset order whichever producer wrote first', async (t) => {
    const harness = await setup(t, { partitions: 2 });
    const { kafka, admin, topics, standin } = harness;
    // Producer A (orders) writes first for 508; producer B (people) writes first for 509.
    await produce(kafka, topics.outbox, outboxMessages([orderPlaced('508', '1013')]));
    await produce(kafka, topics.outbox, outboxMessages([identify('508'), identify('509')]));
    await produce(kafka, topics.outbox, outboxMessages([orderPlaced('509', '1014')]));

    await startSink(t, harness);
    await waitFor('four records delivered', () => successfulCalls(standin).length === 4);
    const callsOf = (customer: string): string[] => successfulCalls(standin).filter((call) => call.includes(`/customers/${customer}`));
    assert.deepEqual(callsOf('508'), ['POST /api/v1/customers/508/events', 'PUT /api/v1/customers/508']);
    assert.deepEqual(callsOf('509'), ['PUT /api/v1/customers/509', 'POST /api/v1/customers/509/events']);
    const committed = await Promise.all([0, 1].map((partition) => committedOffset(admin, topics.groupId, topics.outbox, partition)));
    assert.equal(committed.reduce((sum, offset) => sum + Number(offset === '-1' ? 0 : offset), 0), 4);
  });

  test('a sink killed mid-batch resumes and delivers every record once per id', async (t) => {
    const harness = await setup(t, {
      env: { SINK_SESSION_TIMEOUT_MS: '6000', SINK_HEARTBEAT_INTERVAL_MS: '1000', SINK_INLINE_WAIT_MAX_MS: '2000', CIO_MAX_CONCURRENT_REQUESTS: '1' },
    });
    const { kafka, admin, topics, standin } = harness;
    const customers = Array.from({ length: 10 }, (_, index) => String(1500 + index));
    const records = customers.flatMap((customer, index) => [identify(customer), orderPlaced(customer, String(3000 + index))]);
    const ids = records.flatMap((record) => (record.kind === 'event' ? [record.id] : []));
    await standin.setFaults({ latencyMs: 150 });
    await produce(kafka, topics.outbox, outboxMessages(records));

    const children: ChildProcess[] = [];
    const spawnSink = (): ChildProcess => {
      const child = spawn(NODE, [SINK_MAIN], { env: { ...process.env, ...harness.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(child);
      return child;
    };
    t.after(async () => {
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      }
    });

    const first = spawnSink();
    await waitFor('the first sink to deliver some records', () => successfulCalls(standin).length >= 4);
    first.kill('SIGKILL');
    await once(first, 'exit');
    const deliveredBeforeKill = successfulCalls(standin).length;
    assert.ok(deliveredBeforeKill < records.length, `the kill came after ${deliveredBeforeKill} of ${records.length} calls`);

    const second = spawnSink();
    await waitFor('offset 20 committed', async () => (await committedOffset(admin, topics.groupId, topics.outbox)) === '20', 90_000);
    second.kill('SIGTERM');
    const [exitCode] = (await once(second, 'exit')) as [number | null];

    assert.equal(exitCode, 0);
    assert.deepEqual(
      [...eventCounts(standin)].sort(),
      ids.map((id) => [id, 1]).sort(),
    );
    assert.deepEqual(
      sentEventIds(standin).filter((id) => !ids.includes(id)),
      [],
    );
    assert.equal(standin.people().filter((person) => person.identified).length, 10);
  });
});
