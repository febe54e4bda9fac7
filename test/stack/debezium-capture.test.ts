import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Pool } from 'mysql2/promise';

import { registerConnector } from '../../deploy/connect/register.ts';
import { DebeziumDecoder, Instant, RegistrySchemaLookup, parseJsonExact } from '../../processors/debezium/index.ts';
import type { ChangeEvent, DecodedRecord } from '../../processors/debezium/index.ts';
import { testStack } from '../support/env.ts';
import { consumeUntil, testKafka } from '../support/kafka.ts';
import type { ConsumedRecord } from '../support/kafka.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';

const kafka = testKafka('stack-capture');
const topic = (table: string) => `${testStack.topicPrefix}.shop.${table}`;

interface ShopIds {
  customerId: string;
  orderId: string;
  itemIds: string[];
}

/** Writes one customer, one order and three items in a single MySQL transaction. */
async function insertShopTransaction(mysql: Pool, ids: { customerId: string; orderId: string }): Promise<ShopIds> {
  const connection = await mysql.getConnection();
  try {
    await connection.beginTransaction();
    await connection.query(
      "INSERT INTO customers (id, email, first_name, sms_opt_in, created_at) VALUES (?, ?, 'Mei', 1, '2024-01-01 10:00:00.123456')",
      [ids.customerId, `mei.${ids.customerId}@example.net`],
    );
    await connection.query(
      "INSERT INTO orders (id, customer_id, status, currency, total, placed_at, paid_at) VALUES (?, ?, 'paid', 'USD', 59.80, '2024-07-15 09:30:00', '2024-07-15 13:30:00')",
      [ids.orderId, ids.customerId],
    );
    const itemIds: string[] = [];
    for (const [sku, quantity, price] of [['SOCK-3', 2, '19.900'], ['CAP-1', 1, '10.000'], ['PIN-9', 1, '0.005']] as const) {
      const [result] = await connection.query('INSERT INTO order_items (order_id, sku, quantity, unit_price) VALUES (?, ?, ?, ?)', [ids.orderId, sku, quantity, price]);
      itemIds.push(String((result as { insertId: number }).insertId));
    }
    await connection.commit();
    return { ...ids, itemIds };
  } finally {
    connection.release();
  }
}

function changeOf(record: DecodedRecord): ChangeEvent {
  assert.equal(record.kind, 'change');
  return record as ChangeEvent;
}

function rawOf(record: ConsumedRecord) {
  return { topic: record.topic, partition: record.partition, offset: record.offset, key: record.message.key, value: record.message.value, headers: record.message.headers ?? {} };
}

function keyId(record: ConsumedRecord): string | null {
  const key = record.message.key;
  if (key === null || key.length === 0 || key[0] !== 0x7b) return null;
  const parsed = parseJsonExact(key.toString('utf8')) as { id?: unknown };
  return parsed.id === undefined ? null : String(parsed.id);
}

/** Waits until Kafka Connect has created the topic, so a consumer can subscribe to it. */
async function waitForTopic(name: string, timeoutMs: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    while (!(await admin.listTopics()).includes(name)) {
      if (Date.now() > deadline) throw new Error(`topic ${name} was not created within ${timeoutMs} ms`);
      await sleep(500);
    }
  } finally {
    await admin.disconnect();
  }
}

describe('debezium capture through kafka', () => {
  let mysql: Pool;

  before(() => {
    mysql = testMysql();
  });

  after(async () => {
    await mysql.end();
  });

  it('decodes one transaction with exact column values', async () => {
    const ids = await insertShopTransaction(mysql, { customerId: uniqueId(), orderId: uniqueId() });
    const wanted = new Set([`customers:${ids.customerId}`, `orders:${ids.orderId}`, ...ids.itemIds.map((id) => `order_items:${id}`)]);
    const records = await consumeUntil(
      kafka,
      [topic('customers'), topic('orders'), topic('order_items')],
      (seen) => seen.length === wanted.size,
      { filter: (record) => wanted.has(`${record.topic.split('.').at(-1)}:${keyId(record)}`) },
    );

    const decoder = new DebeziumDecoder({
      valueFormat: 'json',
      datetimeZone: 'America/New_York',
      columnHints: { 'shop.customers': { sms_opt_in: { type: 'boolean' } } },
    });
    const events = await Promise.all(records.map(async (record) => changeOf(await decoder.decode(rawOf(record)))));
    const byTable = (table: string) => events.filter((event) => event.source.table === table);

    const [customer] = byTable('customers');
    const [order] = byTable('orders');
    const items = byTable('order_items');
    assert.ok(customer && order, 'customer and order events arrived');
    assert.equal(items.length, 3);

    // DECIMAL(12,2) and DECIMAL(12,3), exact, with the column's scale.
    assert.equal(order.after?.['total'], '59.80');
    assert.deepEqual(items.map((item) => item.after?.['unit_price']).sort(), ['0.005', '10.000', '19.900']);

    // DATETIME is a wall-clock reading in the shop's zone: 09:30 in New York (EDT) is 13:30Z.
    const placedAt = order.after?.['placed_at'];
    assert.ok(placedAt instanceof Instant);
    assert.equal(placedAt.toUnixSeconds(), 1721050200);

    // TIMESTAMP is an instant already in UTC, so it is not shifted again.
    const paidAt = order.after?.['paid_at'];
    assert.ok(paidAt instanceof Instant);
    assert.equal(paidAt.toUnixSeconds(), 1721050200);

    // DATETIME(6) keeps its microseconds: 10:00 EST is 15:00Z.
    const createdAt = customer.after?.['created_at'];
    assert.ok(createdAt instanceof Instant);
    assert.equal(createdAt.toISOString(), '2024-01-01T15:00:00.123456Z');
    assert.equal(createdAt.toUnixSeconds(), 1704121200);

    // TINYINT(1) declared a boolean.
    assert.equal(customer.after?.['sms_opt_in'], true);

    for (const event of events) {
      assert.equal(event.op, 'create');
      assert.equal(event.source.isSnapshot, false);
    }
  });

  it('publishes transaction BEGIN and END with per-table counts', async () => {
    const ids = await insertShopTransaction(mysql, { customerId: uniqueId(), orderId: uniqueId() });
    const [orderRecord] = await consumeUntil(kafka, [topic('orders')], (seen) => seen.length === 1, { filter: (record) => keyId(record) === ids.orderId });
    assert.ok(orderRecord);
    const order = changeOf(await new DebeziumDecoder({ valueFormat: 'json' }).decode(rawOf(orderRecord)));
    const transactionId = order.transaction?.id;
    assert.ok(transactionId, 'the order event carries its transaction id');

    const markers = await consumeUntil(kafka, [`${testStack.topicPrefix}.transaction`], (seen) => seen.length === 2, {
      filter: (record) => (parseJsonExact(record.message.value?.toString('utf8') ?? 'null') as { payload?: { id?: string } } | null)?.payload?.id === transactionId,
    });
    const payloads = markers.map((record) => (parseJsonExact(record.message.value!.toString('utf8')) as { payload: Record<string, unknown> }).payload);
    const [begin, end] = payloads;
    assert.equal(begin?.['status'], 'BEGIN');
    assert.equal(end?.['status'], 'END');
    assert.ok(BigInt(markers[0]!.offset) < BigInt(markers[1]!.offset), 'BEGIN precedes END');
    assert.equal(String(end?.['event_count']), '5');

    const counts = Object.fromEntries(
      (end?.['data_collections'] as { data_collection: string; event_count: number | bigint }[]).map((entry) => [entry.data_collection, String(entry.event_count)]),
    );
    assert.deepEqual(counts, { 'shop.customers': '1', 'shop.orders': '1', 'shop.order_items': '3' });

    assert.equal(order.transaction?.totalOrder, 2, 'the order is the second change of its transaction');
  });

  it('decodes avro records through the schema registry', async () => {
    const prefix = `avro_${randomBytes(4).toString('hex')}`;
    const connectorName = `shop-avro-${prefix}`;
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
          'database.server.id': String(200000 + Math.floor(Math.random() * 100000)),
          'database.include.list': 'shop',
          'table.include.list': 'shop.orders',
          'topic.prefix': prefix,
          'schema.history.internal.kafka.bootstrap.servers': testStack.fromConnect.kafkaBootstrap,
          'schema.history.internal.kafka.topic': `${prefix}.schema-history`,
          'snapshot.mode': 'no_data',
          'include.schema.changes': 'false',
          'schema.name.adjustment.mode': 'avro',
          ...converter('key'),
          ...converter('value'),
        },
      },
      120_000,
    );

    try {
      // The connector reads the binlog from the position it found at start, so
      // keep writing orders until one reaches its topic.
      const orderIds: string[] = [];
      let stop = false;
      const inserting = (async () => {
        for (let attempt = 0; attempt < 30; attempt++) {
          const ids = await insertShopTransaction(mysql, { customerId: uniqueId(), orderId: uniqueId() });
          orderIds.push(ids.orderId);
          await sleep(3000);
          if (stop) return;
        }
      })();
      let record: ConsumedRecord | undefined;
      try {
        await waitForTopic(`${prefix}.shop.orders`, 120_000);
        [record] = await consumeUntil(kafka, [`${prefix}.shop.orders`], (seen) => seen.length >= 1, { timeoutMs: 120_000 });
      } finally {
        stop = true;
        await inserting;
      }
      assert.ok(record);
      assert.equal(record.message.value?.[0], 0, 'value starts with the Confluent magic byte');

      const decoder = new DebeziumDecoder({
        valueFormat: 'avro',
        schemaLookup: new RegistrySchemaLookup({ host: testStack.registryUrl }),
        datetimeZone: 'America/New_York',
      });
      const order = changeOf(await decoder.decode(rawOf(record)));
      assert.equal(order.op, 'create');
      assert.ok(orderIds.includes(String(order.after?.['id'])), 'the record is one of the inserted orders');
      assert.equal(order.after?.['total'], '59.80');
      assert.equal((order.after?.['placed_at'] as Instant).toUnixSeconds(), 1721050200);
      assert.equal((order.after?.['paid_at'] as Instant).toUnixSeconds(), 1721050200);
      assert.notEqual(order.valueSchemaId, null);
    } finally {
      await fetch(`${testStack.connectUrl}/connectors/${connectorName}`, { method: 'DELETE' }).then((response) => response.arrayBuffer());
    }
  });
});
