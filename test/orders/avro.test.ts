// The orders processor reading Avro values (SOURCE_VALUE_FORMAT=avro) on the real stack: Kafka,
// the schema registry, and in the last test Debezium with Apicurio's Avro converter.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Pool } from 'mysql2/promise';

import { registerConnector } from '../../deploy/connect/register.ts';
import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord } from '../../processors/customerio/records.ts';
import { writeConfluentFrame } from '../../processors/debezium/avro.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import type { Mapping } from '../../processors/mapping/mapping.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import { ordersTopology } from '../../processors/orders/topology.ts';
import { DLQ_HEADERS, dlqTopicName } from '../../processors/runtime/index.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { avroEnvelopeSchema, avroFrame, avroSource } from '../debezium/helpers.ts';
import { capturingLogger, createTopics, produce, readTopic, startRuntime, testConfig, uniqueName, waitFor, withAdmin } from '../runtime/helpers.ts';
import type { ReadRecord } from '../runtime/helpers.ts';
import { testStack } from '../support/env.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';

const PLACED_AT_MS = Date.UTC(2024, 6, 15, 10, 0, 0);
/** A schema id no registry in the stack hands out (Apicurio numbers content ids from 1). */
const UNKNOWN_SCHEMA_ID = 2_000_000_001;

/** Returns the default mapping with only orders and order_items, read from topics under `topicPrefix`. */
function mappingFor(topicPrefix: string): Mapping {
  const base = loadMapping();
  return {
    ...base,
    source: { ...base.source, topicPrefix },
    tables: { customers: base.tables.customers, orders: base.tables.orders, orderItems: base.tables.orderItems },
  };
}

function decimalType(scale: number, precision: number): Record<string, unknown> {
  return {
    type: 'bytes',
    scale,
    precision,
    'connect.version': 1,
    'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
    'connect.name': 'org.apache.kafka.connect.data.Decimal',
    logicalType: 'decimal',
  };
}

const optional = (name: string, type: unknown) => ({ name, type: ['null', type], default: null });

const ORDER_FIELDS_V1 = [
  { name: 'id', type: 'long' },
  optional('customer_id', 'long'),
  optional('status', 'string'),
  optional('currency', 'string'),
  optional('total', decimalType(2, 12)),
  optional('placed_at', { type: 'long', 'connect.version': 1, 'connect.name': 'io.debezium.time.Timestamp' }),
];
// Version 2 after `ALTER TABLE orders ADD COLUMN discount_code ... AFTER total`.
const ORDER_FIELDS_V2 = [...ORDER_FIELDS_V1.slice(0, 5), optional('discount_code', 'string'), ...ORDER_FIELDS_V1.slice(5)];
const ITEM_FIELDS = [
  { name: 'id', type: 'long' },
  { name: 'order_id', type: 'long' },
  optional('sku', 'string'),
  optional('variant_id', 'string'),
  optional('name', 'string'),
  optional('category', 'string'),
  optional('quantity', 'int'),
  optional('unit_price', decimalType(3, 12)),
];

/** Encodes a decimal text as Avro decimal bytes: its unscaled value in big-endian two's complement. */
function decimalBytes(text: string, scale: number): Buffer {
  const [whole, fraction = ''] = text.split('.');
  let unscaled = BigInt(`${whole}${fraction.padEnd(scale, '0')}`);
  const bytes: number[] = [];
  for (;;) {
    bytes.unshift(Number(BigInt.asUintN(8, unscaled)));
    unscaled >>= 8n;
    // Done once the rest is only sign extension of the top byte's sign bit.
    const negative = (bytes[0]! & 0x80) !== 0;
    if (unscaled === (negative ? -1n : 0n)) return Buffer.from(bytes);
  }
}

async function registerSchema(subject: string, schema: unknown): Promise<number> {
  const response = await fetch(`${testStack.registryUrl}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  const body = (await response.json()) as { id?: number };
  assert.equal(response.status, 200, `registering ${subject} failed: ${JSON.stringify(body)}`);
  return body.id!;
}

/**
 * A proxy in front of the stack's registry that simulates an outage while `failing` is set. It
 * leaves the first `hangingRequests` requests without a response, then responds 503.
 */
class RegistryProxy {
  failing = true;
  hangingRequests = 2;
  failedRequests = 0;
  forwardedRequests = 0;
  private server: Server | undefined;
  private readonly target = new URL(testStack.registryUrl).origin;

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.writeHead(502, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: String(error) }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${port}${new URL(testStack.registryUrl).pathname}`;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (this.failing) {
      this.failedRequests += 1;
      if (this.failedRequests <= this.hangingRequests) {
        return;
      }
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end('{"error_code":50301,"message":"registry unavailable"}');
      return;
    }
    this.forwardedRequests += 1;
    const upstream = await fetch(`${this.target}${request.url ?? '/'}`, { method: request.method ?? 'GET', headers: { accept: String(request.headers.accept ?? '*/*') } });
    const body = Buffer.from(await upstream.arrayBuffer());
    response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
    response.end(body);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }
}

function eventsOf(records: readonly ReadRecord[], customerId: string): EventRecord[] {
  return records.filter((record) => record.key === customerId && record.value !== null).map((record) => JSON.parse(record.value!) as EventRecord);
}

/** Reads `topic` until `expected` events of `customerId` are there, then once more after a pause so duplicates show. */
async function readEvents(topic: string, customerId: string, expected: number, timeoutMs: number): Promise<EventRecord[]> {
  const deadline = Date.now() + timeoutMs;
  while (eventsOf(await readTopic(topic, { expected: 1, timeoutMs }), customerId).length < expected) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${expected} events of customer ${customerId} on ${topic}`);
    }
    await sleep(1000);
  }
  await sleep(2000);
  return eventsOf(await readTopic(topic, { expected: 1, timeoutMs }), customerId);
}

function startOrders(app: string, outputTopic: string, mapping: Mapping, registryUrl: string, logger?: ReturnType<typeof capturingLogger>['logger']): Promise<ProcessorRuntime> {
  const config = loadOrdersConfig({
    ORDERS_GRACE_MS: '3000',
    ORDERS_OUTPUT_TOPIC: outputTopic,
    SOURCE_VALUE_FORMAT: 'avro',
    SCHEMA_REGISTRY_URL: registryUrl,
    SCHEMA_REGISTRY_TIMEOUT_MS: '1000',
  });
  return startRuntime(ordersTopology({ config, mapping, name: app }), {
    config: testConfig(app, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '500', LOG_LEVEL: 'warn' }),
    ...(logger === undefined ? {} : { logger }),
  });
}

describe('orders processor with Avro values', { timeout: 300_000 }, () => {
  test('decodes each writer schema, dead-letters bad records and waits out a registry outage', { timeout: 120_000 }, async () => {
    const prefix = `avro${randomBytes(4).toString('hex')}`;
    const mapping = mappingFor(prefix);
    const ordersTopic = `${prefix}.shop.orders`;
    const itemsTopic = `${prefix}.shop.order_items`;
    const app = uniqueName('orders-avro-test');
    const outputTopic = uniqueName('orders-avro-test-events');
    await createTopics([
      { topic: ordersTopic, partitions: 3 },
      { topic: itemsTopic, partitions: 3 },
    ]);

    const ordersV1 = avroEnvelopeSchema('orders', ORDER_FIELDS_V1);
    const ordersV2 = avroEnvelopeSchema('orders', ORDER_FIELDS_V2);
    const items = avroEnvelopeSchema('order_items', ITEM_FIELDS);
    const ordersV1Id = await registerSchema(`${ordersTopic}-value`, ordersV1);
    const ordersV2Id = await registerSchema(`${ordersTopic}-value`, ordersV2);
    const itemsId = await registerSchema(`${itemsTopic}-value`, items);
    assert.notEqual(ordersV1Id, ordersV2Id);

    const customer = uniqueId();
    const [before, altered, oldAgain] = [uniqueId(), uniqueId(), uniqueId()];
    const [sockId, capId, mugId, penId] = [uniqueId(), uniqueId(), uniqueId(), uniqueId()];
    let position = 4000;
    const envelope = (table: string, tsMs: number, after: Record<string, unknown>) => ({
      before: null,
      after,
      source: avroSource(table, { ts_ms: tsMs, pos: (position += 100) }),
      transaction: null,
      op: 'c',
      ts_ms: tsMs + 5,
      ts_ns: null,
    });
    const orderRow = (id: string, total: string, tsOffsetMs: number) => ({
      id: Number(id),
      customer_id: Number(customer),
      status: 'pending',
      currency: 'USD',
      total: decimalBytes(total, 2),
      placed_at: PLACED_AT_MS + tsOffsetMs,
    });
    const itemRow = (id: string, orderId: string, sku: string, quantity: number, price: string) => ({
      id: Number(id),
      order_id: Number(orderId),
      sku,
      variant_id: null,
      name: `name ${sku}`,
      category: 'apparel',
      quantity,
      unit_price: decimalBytes(price, 3),
    });

    // Every record goes to partition 0, as one connector task writing one transaction after the
    // other would: items then reach their order's task in commit order, which the completion rule
    // relies on. The orders records take offsets 0-4 (the topic is new).
    const orderMessages = [
      { key: `{"id":${before}}`, value: avroFrame(ordersV1Id, ordersV1, envelope('orders', PLACED_AT_MS, orderRow(before, '59.80', 0))) },
      { key: '{"id":1006}', value: Buffer.from('{"id":1006}') },
      { key: '{"id":1007}', value: writeConfluentFrame(UNKNOWN_SCHEMA_ID, Buffer.from([0x02, 0x04])) },
      {
        key: `{"id":${altered}}`,
        value: avroFrame(ordersV2Id, ordersV2, envelope('orders', PLACED_AT_MS + 10_000, { ...orderRow(altered, '19.90', 10_000), discount_code: 'SUMMER10' })),
      },
      { key: `{"id":${oldAgain}}`, value: avroFrame(ordersV1Id, ordersV1, envelope('orders', PLACED_AT_MS + 20_000, orderRow(oldAgain, '4.00', 20_000))) },
    ].map((message) => ({ ...message, partition: 0 }));
    const itemMessages = [
      [sockId, before, 'SOCK-3', 2, '19.900', 0],
      [capId, before, 'CAP-1', 1, '20.000', 0],
      [mugId, altered, 'MUG-1', 1, '19.900', 10_000],
      [penId, oldAgain, 'PEN-2', 4, '1.000', 20_000],
    ].map(([id, orderId, sku, quantity, price, offsetMs]) => ({
      key: `{"id":${String(id)}}`,
      value: avroFrame(itemsId, items, envelope('order_items', PLACED_AT_MS + Number(offsetMs), itemRow(String(id), String(orderId), String(sku), Number(quantity), String(price)))),
      partition: 0,
    }));
    await produce(ordersTopic, orderMessages);
    await produce(itemsTopic, itemMessages);

    const proxy = new RegistryProxy();
    const registryUrl = await proxy.start();
    const { logger, lines } = capturingLogger('warn');
    const runtime = await startOrders(app, outputTopic, mapping, registryUrl, logger);
    try {
      // The registry is down from the start, first without responding at all, then responding 503.
      // Decoding is retried, and nothing is dead-lettered meanwhile.
      const retriedDecodes = (failure: string) =>
        lines.filter((line) => {
          const err = line['err'] as { code?: string; message?: string } | undefined;
          return line['msg'] === 'decode failed with a retriable error; retrying' && err?.code === 'ERR_DEBEZIUM_SCHEMA_REGISTRY_UNAVAILABLE' && err.message?.includes(failure);
        });
      await waitFor('decodes retried during the registry outage', () => retriedDecodes('could not be reached').length >= 1 && retriedDecodes('returned HTTP 503').length >= 2, 60_000);
      assert.equal(lines.filter((line) => line['msg'] === 'record sent to the dead-letter topic').length, 0);
      assert.ok(retriedDecodes('returned HTTP 503').every((line) => line['topic'] !== undefined && line['offset'] !== undefined));
      proxy.failing = false;

      const events = await readEvents(outputTopic, customer, 3, 60_000);
      assert.ok(proxy.failedRequests > 0);
      assert.ok(proxy.forwardedRequests > 0);
      assert.deepEqual(
        events.map((event) => [event.name, event.data['order_id']]).sort(),
        [['order_placed', altered], ['order_placed', before], ['order_placed', oldAgain]].sort(),
      );
      const placed = (orderId: string) => events.find((event) => event.data['order_id'] === orderId)!;
      const item = (sku: string, quantity: number, price: number) => ({ sku, variant_id: null, name: `name ${sku}`, category: 'apparel', quantity, price });

      // Written with schema version 1: no discount_code column, so the field is null.
      const first = placed(before);
      assert.equal(first.id, deriveEventId(['order_placed', before]));
      assert.equal(first.customerId, customer);
      assert.equal(first.timestamp, PLACED_AT_MS / 1000);
      assert.equal(first.origin, 'live');
      assert.deepEqual(first.data, {
        order_id: before,
        order_total: 59.8,
        currency: 'USD',
        discount_code: null,
        // Items in item id order; uniqueId hands out increasing ids.
        items: [item('SOCK-3', 2, 19.9), item('CAP-1', 1, 20)],
        created_at: PLACED_AT_MS / 1000,
      });
      assert.equal(first.source?.table, 'shop.orders');

      // Written with schema version 2, which added discount_code.
      assert.deepEqual(placed(altered).data, {
        order_id: altered,
        order_total: 19.9,
        currency: 'USD',
        discount_code: 'SUMMER10',
        items: [item('MUG-1', 1, 19.9)],
        created_at: PLACED_AT_MS / 1000 + 10,
      });
      // Version 1 again after version 2: each record is read with its own writer schema.
      assert.deepEqual(placed(oldAgain).data, {
        order_id: oldAgain,
        order_total: 4,
        currency: 'USD',
        discount_code: null,
        items: [item('PEN-2', 4, 1)],
        created_at: PLACED_AT_MS / 1000 + 20,
      });

      // Offsets 1 (plain JSON) and 2 (unknown schema id) went to the dead-letter topic and were committed.
      const deadLetters = await readTopic(dlqTopicName(app), { expected: 2, timeoutMs: 30_000 });
      assert.equal(deadLetters.length, 2);
      const byOffset = new Map(deadLetters.map((record) => [record.headers[DLQ_HEADERS.offset], record]));
      const notAvro = byOffset.get('1');
      assert.ok(notAvro, 'the plain JSON record at offset 1 was dead-lettered');
      assert.equal(notAvro.key, '{"id":1006}');
      assert.equal(notAvro.value, '{"id":1006}');
      assert.equal(notAvro.headers[DLQ_HEADERS.topic], ordersTopic);
      assert.equal(notAvro.headers[DLQ_HEADERS.partition], '0');
      assert.equal(notAvro.headers[DLQ_HEADERS.stage], 'decode');
      assert.equal(notAvro.headers[DLQ_HEADERS.errorCode], 'ERR_DEBEZIUM_NOT_CONFLUENT_FRAMED');
      assert.match(notAvro.headers[DLQ_HEADERS.errorMessage]!, new RegExp(`first byte is 0x7b.*\\(topic ${ordersTopic}, partition 0, offset 1\\)`));
      const unknownId = byOffset.get('2');
      assert.ok(unknownId, 'the record with an unknown schema id at offset 2 was dead-lettered');
      assert.equal(unknownId.key, '{"id":1007}');
      assert.equal(unknownId.headers[DLQ_HEADERS.errorCode], 'ERR_DEBEZIUM_UNKNOWN_SCHEMA_ID');
      assert.match(unknownId.headers[DLQ_HEADERS.errorMessage]!, new RegExp(`Schema id ${UNKNOWN_SCHEMA_ID} is not in the schema registry.*offset 2\\)`));

      await waitFor('the orders partition committed past the last record', async () => {
        const offsets = await withAdmin((admin) => admin.fetchOffsets({ groupId: app, topics: [ordersTopic] }));
        return offsets[0]!.partitions.find((entry) => entry.partition === 0)?.offset === '5';
      });
    } finally {
      await runtime.stop();
      await proxy.stop();
    }
  });

  describe('with a Debezium connector writing Avro', () => {
    let mysql: Pool;
    before(() => {
      mysql = testMysql();
    });
    after(async () => {
      await mysql.end();
    });

    async function insertOrder(orderId: string, customerId: string, items: readonly (readonly [string, number, string])[]): Promise<void> {
      const connection = await mysql.getConnection();
      try {
        await connection.beginTransaction();
        await connection.query("INSERT INTO orders (id, customer_id, status, currency, total, discount_code, placed_at) VALUES (?, ?, 'pending', 'USD', ?, 'AVRO5', '2024-07-15 10:00:00')", [
          orderId,
          customerId,
          items.reduce((sum, [, quantity, price]) => sum + quantity * Number(price), 0).toFixed(2),
        ]);
        for (const [sku, quantity, price] of items) {
          await connection.query("INSERT INTO order_items (order_id, sku, variant_id, name, category, quantity, unit_price) VALUES (?, ?, NULL, ?, 'apparel', ?, ?)", [orderId, sku, `name ${sku}`, quantity, price]);
        }
        await connection.commit();
      } finally {
        connection.release();
      }
    }

    test('turns Avro change events into order_placed', { timeout: 180_000 }, async () => {
      const prefix = `avrocdc${randomBytes(4).toString('hex')}`;
      const connectorName = `shop-avro-orders-${prefix}`;
      const converter = (side: 'key' | 'value') => ({
        [`${side}.converter`]: 'io.apicurio.registry.utils.converter.AvroConverter',
        [`${side}.converter.apicurio.registry.url`]: testStack.fromConnect.registryNativeUrl,
        [`${side}.converter.apicurio.registry.auto-register`]: 'true',
        [`${side}.converter.apicurio.registry.find-latest`]: 'true',
        // Confluent wire format: magic byte 0 and a 4-byte content id.
        [`${side}.converter.apicurio.registry.as-confluent`]: 'true',
        [`${side}.converter.apicurio.registry.use-id`]: 'contentId',
        [`${side}.converter.apicurio.registry.headers.enabled`]: 'false',
      });
      await registerConnector(
        testStack.connectUrl,
        {
          name: connectorName,
          config: {
            'connector.class': testStack.connectorClass,
            'tasks.max': '1',
            'database.hostname': testStack.fromConnect.mysqlHost,
            'database.port': String(testStack.fromConnect.mysqlPort),
            'database.user': 'debezium',
            'database.password': 'dbz',
            'database.server.id': String(300000 + Math.floor(Math.random() * 100000)),
            'database.include.list': 'shop',
            'table.include.list': 'shop.orders,shop.order_items',
            'topic.prefix': prefix,
            'schema.history.internal.kafka.bootstrap.servers': testStack.fromConnect.kafkaBootstrap,
            'schema.history.internal.kafka.topic': `${prefix}.schema-history`,
            'snapshot.mode': 'no_data',
            'include.schema.changes': 'false',
            'decimal.handling.mode': 'precise',
            'schema.name.adjustment.mode': 'avro',
            ...converter('key'),
            ...converter('value'),
          },
        },
        120_000,
      );

      const app = uniqueName('orders-avro-cdc-test');
      const outputTopic = uniqueName('orders-avro-cdc-test-events');
      const ordersTopic = `${prefix}.shop.orders`;
      const itemsTopic = `${prefix}.shop.order_items`;
      let runtime: ProcessorRuntime | undefined;
      try {
        // The connector streams from the binlog position it found at start, so probe orders are
        // written until both topics exist. The order under test comes after them.
        const probeCustomer = uniqueId();
        await waitFor(
          `Debezium topics ${ordersTopic} and ${itemsTopic}`,
          async () => {
            await insertOrder(uniqueId(), probeCustomer, [['PROBE', 1, '1.000']]);
            await sleep(2000);
            return withAdmin(async (admin) => {
              const existing = new Set(await admin.listTopics());
              return existing.has(ordersTopic) && existing.has(itemsTopic);
            });
          },
          120_000,
        );
        const customer = uniqueId();
        const orderId = uniqueId();
        await insertOrder(orderId, customer, [['SOCK-3', 2, '19.900'], ['CAP-1', 1, '20.000']]);

        runtime = await startOrders(app, outputTopic, mappingFor(prefix), testStack.registryUrl);
        const events = await readEvents(outputTopic, customer, 1, 90_000);
        assert.equal(events.length, 1);
        const [placed] = events;
        assert.equal(placed!.name, 'order_placed');
        assert.equal(placed!.id, deriveEventId(['order_placed', orderId]));
        assert.equal(placed!.timestamp, PLACED_AT_MS / 1000);
        assert.deepEqual(placed!.data, {
          order_id: orderId,
          order_total: 59.8,
          currency: 'USD',
          discount_code: 'AVRO5',
          items: [
            { sku: 'SOCK-3', variant_id: null, name: 'name SOCK-3', category: 'apparel', quantity: 2, price: 19.9 },
            { sku: 'CAP-1', variant_id: null, name: 'name CAP-1', category: 'apparel', quantity: 1, price: 20 },
          ],
          created_at: PLACED_AT_MS / 1000,
        });
        const deadLetters = await withAdmin((admin) => admin.fetchTopicOffsets(dlqTopicName(app)));
        assert.deepEqual(deadLetters.map((entry) => entry.high).filter((high) => high !== '0'), [], 'no record was dead-lettered');
      } finally {
        await runtime?.stop();
        await fetch(`${testStack.connectUrl}/connectors/${connectorName}`, { method: 'DELETE' }).then((response) => response.arrayBuffer());
      }
    });
  });
});
