// Real stack: customers rows into MariaDB and customer events produced by the test → the people
// processor in-process → identify records and forwarded events read back read_committed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Pool } from 'mysql2/promise';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, IdentifyRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import { parsePeopleConfig } from '../../processors/people/config.ts';
import { peopleTopology } from '../../processors/people/topology.ts';
import { DLQ_HEADERS, dlqTopicName } from '../../processors/runtime/index.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { createTopics, produce, readTopic, startRuntime, testConfig, uniqueName } from '../runtime/helpers.ts';
import { testMysql, uniqueId } from '../support/mysql.ts';
import { Collector, until, waitForTopics } from '../carts/stack-support.ts';

describe('people processor on the real stack', () => {
  let mysql: Pool;
  let runtime: ProcessorRuntime | undefined;
  const collector = new Collector();
  const customerId = uniqueId();
  const customerEventsTopic = uniqueName('test-customer-events');
  const outboxTopic = uniqueName('test-outbox');
  const applicationId = uniqueName('test-people');

  const outboxOf = () =>
    collector.records
      .filter((record) => record.topic === outboxTopic && record.key === customerId)
      .map((record) => JSON.parse(record.value!) as OutboxRecord);
  const identifies = () => outboxOf().filter((record): record is IdentifyRecord => record.kind === 'identify');

  const orderEvent = (name: string, identity: string, data: EventRecord['data'], timestamp: number): EventRecord => ({
    kind: 'event',
    customerId,
    name,
    id: deriveEventId([name, identity]),
    timestamp,
    data,
    origin: 'live',
  });
  const send = (event: EventRecord) => produce(customerEventsTopic, [{ key: event.customerId, value: JSON.stringify(event) }]);

  before(async () => {
    mysql = testMysql();
    await waitForTopics(['shop.shop.customers']);
    await createTopics([{ topic: customerEventsTopic, partitions: 3 }, { topic: outboxTopic, partitions: 3 }]);
    const config = parsePeopleConfig({ CIO_CDC_CUSTOMER_EVENTS_TOPIC: customerEventsTopic, CIO_CDC_OUTBOX_TOPIC: outboxTopic });
    runtime = await startRuntime(peopleTopology(config, loadMapping(), applicationId), { config: testConfig(applicationId) });
    await collector.start([outboxTopic]);
  });

  after(async () => {
    await collector.stop();
    await runtime?.stop();
    await mysql.end();
  });

  it('identifies a customer and keeps the rollups of its orders', async () => {
    await mysql.query(
      "INSERT INTO customers (id, email, phone, first_name, last_name, sms_opt_in, created_at) VALUES (?, ?, '+15550100', 'Mei', 'Tanaka', 1, '2024-01-01 10:00:00.000000')",
      [customerId, `mei.${customerId}@example.net`],
    );
    await until('the first identify', () => identifies().length >= 1, 60_000);
    const first = identifies()[0]!;
    assert.equal(first.kind, 'identify');
    assert.equal(first.origin, 'live');
    assert.equal(String(first.timestamp).length, 10);
    assert.deepEqual(first.attributes, {
      email: `mei.${customerId}@example.net`,
      phone: '+15550100',
      first_name: 'Mei',
      last_name: 'Tanaka',
      created_at: 1704103200,
      sms_opt_in: true,
      total_orders: 0,
      lifetime_value: 0,
      first_order_at: null,
      last_order_at: null,
      last_category: null,
    });

    await mysql.query('UPDATE customers SET email = ? WHERE id = ?', [`mei.t.${customerId}@example.org`, customerId]);
    await until('the identify with the new email', () => identifies().length >= 2);
    assert.equal(identifies()[1]!.customerId, customerId);
    assert.equal(identifies()[1]!.attributes['email'], `mei.t.${customerId}@example.org`);

    const placed = orderEvent('order_placed', `${customerId}-1`, { order_id: `${customerId}-1`, order_total: 59.8, items: [{ category: 'hats' }, { category: 'socks' }], created_at: 1721050200 }, 1721050200);
    await send(placed);
    await until('the identify after the order', () => identifies().length >= 3);
    const afterOrder = identifies()[2]!;
    assert.equal(afterOrder.attributes['total_orders'], 1);
    assert.equal(afterOrder.attributes['lifetime_value'], 59.8);
    assert.equal(afterOrder.attributes['last_order_at'], 1721050200);
    assert.equal(afterOrder.attributes['first_order_at'], 1721050200);
    assert.equal(afterOrder.attributes['last_category'], 'socks');
    assert.equal(afterOrder.timestamp, 1721050200);

    await send(orderEvent('refund_created', `${customerId}-r1`, { amount: -5 }, 1721050300));
    await until('the identify after the refund', () => identifies().length >= 4);
    assert.equal(identifies()[3]!.attributes['lifetime_value'], 54.8);

    // The same order event again is counted once: the next order makes two, not three.
    await send(placed);
    await send(orderEvent('order_placed', `${customerId}-2`, { order_id: `${customerId}-2`, order_total: 10.05, items: [{ category: 'mugs' }], created_at: 1721060000 }, 1721060000));
    await until('the identify after the second order', () => identifies().length >= 5);
    await sleep(1000);
    assert.equal(identifies().length, 5);
    assert.equal(identifies()[4]!.attributes['total_orders'], 2);
    assert.equal(identifies()[4]!.attributes['lifetime_value'], 64.85);
    assert.equal(identifies()[4]!.attributes['last_category'], 'mugs');

    // Every event is forwarded, the repeat too, each after the identify its rollups changed.
    const sequence = outboxOf().map((record) => (record.kind === 'identify' ? 'identify' : record.name));
    assert.deepEqual(sequence, ['identify', 'identify', 'identify', 'order_placed', 'identify', 'refund_created', 'order_placed', 'identify', 'order_placed']);
  });

  it('dead-letters an order event keyed by an email address', async () => {
    const email = `tom.${uniqueId()}@example.net`;
    const event: EventRecord = { kind: 'event', customerId: email, name: 'order_placed', id: deriveEventId(['order_placed', email]), timestamp: 1721050200, data: { order_total: 1 } };
    await send(event);
    const dead = await readTopic(dlqTopicName(applicationId), { expected: 1 });
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.headers[DLQ_HEADERS.errorMessage] ?? '', /looks like an email address/);
    assert.equal(collector.records.some((record) => record.key === email), false);
  });
});
