// Real stack: a new customer's first order goes MySQL → Debezium → orders → suppression → people
// → sink → Customer.io stand-in, every processor in-process on this test's own topics and groups.
// Customer.io must receive the identify that carries the email before the order_placed event,
// also when the event reaches the people processor before the customers row.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';
import type { Pool } from 'mysql2/promise';
import { pino } from 'pino';

import type { OutboxRecord } from '../../processors/customerio/records.ts';
import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { CustomerioSink } from '../../processors/customerio/sink/sink.ts';
import { pointGroupAtEnd } from '../../processors/demo/demo.ts';
import { loadMapping, topicOf } from '../../processors/mapping/mapping.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import { ordersTopology } from '../../processors/orders/topology.ts';
import { parsePeopleConfig } from '../../processors/people/config.ts';
import { peopleTopology } from '../../processors/people/topology.ts';
import type { ProcessorRuntime, SomeProcessorDefinition } from '../../processors/runtime/index.ts';
import { startStandin } from '../../processors/standin/server.ts';
import type { Standin } from '../../processors/standin/server.ts';
import type { CallRecord } from '../../processors/standin/store.ts';
import { parseSuppressionConfig } from '../../processors/suppression/config.ts';
import { suppressionTopology } from '../../processors/suppression/topology.ts';
import { Collector, waitForTopics } from '../carts/stack-support.ts';
import { committedOffsets, createTopics, startRuntime, testConfig, testKafka, uniqueName, waitFor, withAdmin } from '../runtime/helpers.ts';
import { testStack } from '../support/env.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';
import { customerEvent } from './support.ts';

const SITE_ID = 'outbox-order-site';
const API_KEY = 'outbox-order-key';
const mapping = loadMapping();

const topics = {
  orderEvents: uniqueName('b28-order-events'),
  cartEvents: uniqueName('b28-cart-events'),
  customerEvents: uniqueName('b28-customer-events'),
  decisions: uniqueName('b28-decisions'),
  outbox: uniqueName('b28-outbox'),
  dlq: uniqueName('b28-outbox-dlq'),
  deliveryLog: uniqueName('b28-delivery-log'),
};
const apps = {
  orders: uniqueName('b28-orders'),
  suppression: uniqueName('b28-suppression'),
  people: uniqueName('b28-people'),
  sink: uniqueName('b28-sink'),
};

function inputTopics(definition: SomeProcessorDefinition): string[] {
  return Object.values(definition.inputs as Record<string, { topic: string }>).map((input) => input.topic);
}

/** Returns the successful Track API calls for one person from /_admin/calls, in the order the stand-in recorded them. */
async function callsOf(standin: Standin, customerId: string): Promise<CallRecord[]> {
  const response = await fetch(`${standin.url}/_admin/calls`);
  assert.equal(response.status, 200);
  const { calls } = (await response.json()) as { calls: CallRecord[] };
  const person = `/api/v1/customers/${customerId}`;
  return calls.filter((call) => call.status === 200 && (call.path === person || call.path === `${person}/events`));
}

function describeCall(call: CallRecord): string {
  const body = call.requestBody as Record<string, unknown>;
  return call.method === 'PUT' ? `identify email=${String(body['email'] ?? null)}` : `event ${String(body['name'])}`;
}

/** Inserts the customer, its first order and the order's item in one MySQL transaction. */
async function insertFirstOrder(pool: Pool, customerId: string, email: string, orderId: string): Promise<void> {
  const connection = await pool.getConnection();
  try {
    await connection.beginTransaction();
    await connection.query('INSERT INTO customers (id, email, first_name, created_at) VALUES (?, ?, ?, ?)', [customerId, email, 'Léa', '2024-07-15 13:29:00']);
    await connection.query('INSERT INTO orders (id, customer_id, total, placed_at) VALUES (?, ?, 42.00, ?)', [orderId, customerId, '2024-07-15 13:30:00']);
    await connection.query('INSERT INTO order_items (id, order_id, sku, quantity, unit_price) VALUES (?, ?, ?, 1, 42.00)', [uniqueId(), orderId, 'TEE-02']);
    await connection.commit();
  } finally {
    connection.release();
  }
}

describe('identify before the first event at Customer.io', { timeout: 300_000 }, () => {
  let pool: Pool;
  let standin: Standin;
  let sink: CustomerioSink | undefined;
  const runtimes: ProcessorRuntime[] = [];
  const collector = new Collector();

  const outboxOf = (customerId: string): OutboxRecord[] =>
    collector.records.filter((record) => record.key === customerId).map((record) => JSON.parse(record.value!) as OutboxRecord);

  /**
   * Waits for the order_placed at the stand-in and returns the person's calls, as
   * `identify email=…` and `event NAME` lines, after checking that the event came last, after an
   * identify with the email and the order in its rollups.
   */
  async function identifiesThenEvent(customerId: string, email: string, orderId: string): Promise<string[]> {
    await waitFor(
      `order_placed of order ${orderId} at the stand-in`,
      async () => (await callsOf(standin, customerId)).some((call) => call.method === 'POST'),
      120_000,
    );
    const calls = await callsOf(standin, customerId);
    const event = calls[calls.length - 1]!;
    assert.equal(describeCall(event), 'event order_placed');
    assert.equal((event.requestBody as { data: Record<string, unknown> }).data['order_id'], orderId);
    assert.equal(event.flags.some((flag) => flag.flag === 'event_before_identify'), false);
    assert.ok(calls.length >= 2, `an identify precedes the event: ${calls.map(describeCall).join(', ')}`);
    for (const call of calls.slice(0, -1)) {
      assert.equal(describeCall(call), `identify email=${email}`);
    }
    const lastIdentify = calls[calls.length - 2]!.requestBody as Record<string, unknown>;
    assert.equal(lastIdentify['first_name'], 'Léa');
    assert.equal(lastIdentify['total_orders'], 1);
    assert.equal(lastIdentify['lifetime_value'], 42);

    // The outbox has the same order: people wrote the identify records first.
    const outbox = outboxOf(customerId).map((record) => (record.kind === 'identify' ? 'identify' : record.name));
    assert.deepEqual(outbox, [...calls.slice(0, -1).map(() => 'identify'), 'order_placed']);
    return calls.map(describeCall);
  }

  before(async () => {
    pool = testMysql();
    const orders = ordersTopology({ config: loadOrdersConfig({ ORDERS_GRACE_MS: '1000', ORDERS_OUTPUT_TOPIC: topics.orderEvents }), mapping, name: apps.orders });
    const suppression = suppressionTopology(
      parseSuppressionConfig({
        CIO_CDC_CART_EVENTS_TOPIC: topics.cartEvents,
        CIO_CDC_ORDER_EVENTS_TOPIC: topics.orderEvents,
        CIO_CDC_CUSTOMER_EVENTS_TOPIC: topics.customerEvents,
        CIO_CDC_SUPPRESSION_DECISIONS_TOPIC: topics.decisions,
      }),
      { name: apps.suppression },
    );
    const people = peopleTopology(parsePeopleConfig({ CIO_CDC_CUSTOMER_EVENTS_TOPIC: topics.customerEvents, CIO_CDC_OUTBOX_TOPIC: topics.outbox }), mapping, apps.people);

    await waitForTopics([...inputTopics(orders), topicOf(mapping, 'customers')]);
    await createTopics([
      { topic: topics.orderEvents, partitions: 3 },
      { topic: topics.cartEvents, partitions: 3 },
      { topic: topics.customerEvents, partitions: 3 },
      { topic: topics.outbox, partitions: 3 },
      { topic: topics.dlq, partitions: 1 },
      { topic: topics.deliveryLog, partitions: 1 },
    ]);
    // The Debezium topics are shared: the groups start at their current end, so the processors
    // read this test's rows and not the history other tests left there.
    await withAdmin(async (admin) => {
      const existing = new Set(await admin.listTopics());
      await pointGroupAtEnd(admin, apps.orders, inputTopics(orders), existing);
      await pointGroupAtEnd(admin, apps.people, inputTopics(people), existing);
    });

    for (const [definition, app] of [
      [orders, apps.orders],
      [suppression, apps.suppression],
      [people, apps.people],
    ] as const) {
      runtimes.push(await startRuntime(definition, { config: testConfig(app, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '500' }), logger: pino({ level: 'error' }) }));
    }

    standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY });
    sink = new CustomerioSink({
      config: parseSinkConfig({
        KAFKA_BROKERS: testStack.kafkaBrokers.join(','),
        SINK_GROUP_ID: apps.sink,
        SINK_OUTBOX_TOPIC: topics.outbox,
        SINK_DLQ_TOPIC: topics.dlq,
        SINK_DELIVERY_LOG_TOPIC: topics.deliveryLog,
        SINK_SESSION_TIMEOUT_MS: '10000',
        SINK_HEARTBEAT_INTERVAL_MS: '1000',
        SINK_INLINE_WAIT_MAX_MS: '3000',
        SINK_HTTP_PORT: '0',
        CIO_SITE_ID: SITE_ID,
        CIO_TRACK_API_KEY: API_KEY,
        CIO_TRACK_BASE_URL: standin.url,
        CIO_TRACK_API_VERSION: 'v1',
      }),
      logger: pino({ level: 'silent' }),
    });
    await sink.start();
    await collector.start([topics.outbox]);
  });

  after(async () => {
    await collector.stop();
    await sink?.stop();
    for (const runtime of runtimes.reverse()) await runtime.stop();
    await standin?.close();
    await pool.end();
  });

  it('sends identify before order_placed', async () => {
    const customerId = uniqueId();
    const orderId = uniqueId();
    const email = 'lea.moreau@example.net';
    await insertFirstOrder(pool, customerId, email, orderId);
    await identifiesThenEvent(customerId, email, orderId);
  });

  it('holds an event until the row arrives', async () => {
    const customerId = uniqueId();
    const orderId = uniqueId();
    // Customer.io keeps one person per email, so this customer has its own.
    const email = `lea.moreau.${customerId}@example.net`;
    const placed = customerEvent(customerId, 'order_placed', orderId, Date.now(), {
      order_id: orderId,
      order_total: 42,
      items: [{ sku: 'TEE-02', quantity: 1, price: 42 }],
      created_at: 1721050200,
    });
    // The event is written where suppression writes, before MySQL has the customer.
    const producer = testKafka('b28-test-producer').producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    const [written] = await producer.send({ topic: topics.customerEvents, acks: -1, messages: [{ key: customerId, value: JSON.stringify(placed) }] });
    await producer.disconnect();
    assert.ok(written !== undefined, 'the producer returned the record metadata');
    assert.ok(written.baseOffset !== undefined, 'the record metadata has an offset');
    await waitFor(
      'people to commit the event',
      async () => BigInt((await committedOffsets(apps.people, topics.customerEvents)).get(written.partition) ?? '-1') > BigInt(written.baseOffset!),
      60_000,
    );
    assert.deepEqual(outboxOf(customerId), [], 'the event waits for the customer');

    const connection = await pool.getConnection();
    try {
      await connection.query('INSERT INTO customers (id, email, first_name, created_at) VALUES (?, ?, ?, ?)', [customerId, email, 'Léa', '2024-07-15 13:29:00']);
    } finally {
      connection.release();
    }
    // The held event counted in the first identify, which went out right before it.
    assert.deepEqual(await identifiesThenEvent(customerId, email, orderId), [`identify email=${email}`, 'event order_placed']);
  });
});
