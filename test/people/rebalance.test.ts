// Real stack: the people processor on three-partition topics of its own, run once with one
// instance and once with two instances between which the partitions move while events are held.
// Both runs must write the same outbox records for every customer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pino } from 'pino';

import type { EventRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { parsePeopleConfig } from '../../processors/people/config.ts';
import { peopleTopology } from '../../processors/people/topology.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { committedOffsets, createTopics, produce, readTopic, startRuntime, testConfig, uniqueName, waitFor, withAdmin } from '../runtime/helpers.ts';
import { customerEnvelope, customerEvent, mappingWithTopicPrefix } from './support.ts';

const PARTITIONS = 3;
const T0 = Date.parse('2024-07-15T13:30:00Z');
const CUSTOMERS = Array.from({ length: 12 }, (_, index) => String(7001 + index));

const placed = (customerId: string, order: string, commitMs: number): EventRecord =>
  customerEvent(customerId, 'order_placed', order, commitMs, { order_id: order, order_total: 15.5, items: [{ category: 'mugs' }], created_at: Math.floor(commitMs / 1000) });

/** Formats an outbox record without its input coordinates, which name each run's own topics. */
function normalized(record: OutboxRecord): string {
  if (record.kind === 'identify') {
    return `identify ${record.timestamp} ${record.origin ?? ''} ${JSON.stringify(record.attributes)}`;
  }
  return `${record.name} ${record.id} ${record.timestamp} ${JSON.stringify(record.data)}`;
}

async function caughtUp(groupId: string, topic: string): Promise<boolean> {
  const committed = await committedOffsets(groupId, topic);
  const ends = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  return ends.every((entry) => entry.offset === '0' || committed.get(entry.partition) === entry.offset);
}

/**
 * Runs the same input through the processor and returns each customer's outbox records, in
 * offset order. With two instances, a second instance joins while every event is held, and the
 * first leaves after the customers rows were applied.
 */
async function run(instances: 1 | 2): Promise<Map<string, string[]>> {
  const prefix = uniqueName('people-rebalance');
  const topics = { customers: `${prefix}.shop.customers`, events: uniqueName('people-rebalance-events'), outbox: uniqueName('people-rebalance-outbox') };
  const app = uniqueName('people-rebalance');
  await createTopics([
    { topic: topics.customers, partitions: PARTITIONS },
    { topic: topics.events, partitions: PARTITIONS },
    { topic: topics.outbox, partitions: PARTITIONS },
  ]);
  const config = parsePeopleConfig({ CIO_CDC_CUSTOMER_EVENTS_TOPIC: topics.events, CIO_CDC_OUTBOX_TOPIC: topics.outbox });
  const definition = peopleTopology(config, mappingWithTopicPrefix(prefix), app);
  // Rebalances log at warn; the assertions cover what matters.
  const start = () => startRuntime(definition, { config: testConfig(app), logger: pino({ level: 'error' }) });
  const sendEvents = (events: EventRecord[]) => produce(topics.events, events.map((event) => ({ key: event.customerId, value: JSON.stringify(event) })));

  const first = await start();
  let second: ProcessorRuntime | undefined;
  try {
    // Phase 1: events of customers whose rows have not arrived; all of them are held.
    await sendEvents(CUSTOMERS.flatMap((customerId, index) => [
      placed(customerId, `${customerId}-1`, T0 + index),
      customerEvent(customerId, 'order_paid', `${customerId}-1`, T0 + index + 1, { order_id: `${customerId}-1` }),
    ]));
    await waitFor('the events to be read', () => caughtUp(app, topics.events), 60_000);
    assert.equal((await readTopic(topics.outbox, { expected: 0 })).length, 0, 'every event waits for its customer');

    if (instances === 2) {
      second = await start();
      await waitFor('both instances to hold tasks', () => first.taskIds().length > 0 && second!.taskIds().length > 0, 60_000);
      assert.equal(first.taskIds().length + second.taskIds().length, PARTITIONS);
      // The held events moved with their tasks: the new owner restored them from the changelog.
      const held = [first, second].flatMap((runtime) => runtime.taskIds().flatMap((task) => [...runtime.storeSnapshot(task, 'held')].map(([key]) => key)));
      assert.deepEqual(held.sort(), [...CUSTOMERS].sort());
    }

    // Phase 2: the customers rows; each identify is followed by that customer's held events.
    let position = 100;
    await produce(topics.customers, CUSTOMERS.map((customerId, index) => {
      position += 10;
      const row = { id: Number(customerId), email: `c${customerId}@example.net`, first_name: 'Léa', sms_opt_in: 1, created_at: 1721050140000000 };
      return { key: JSON.stringify({ id: Number(customerId) }), value: customerEnvelope('c', row, position, { tsMs: T0 + 100 + index }) };
    }));
    await readTopic(topics.outbox, { expected: 3 * CUSTOMERS.length });

    if (second !== undefined) {
      await first.stop();
      await waitFor('the second instance to take every task', () => second!.taskIds().length === PARTITIONS, 60_000);
    }

    // Phase 3: a second order of each identified customer goes out at once, after its identify.
    await sendEvents(CUSTOMERS.map((customerId, index) => placed(customerId, `${customerId}-2`, T0 + 200 + index)));
    const records = await readTopic(topics.outbox, { expected: 5 * CUSTOMERS.length });

    const byCustomer = new Map<string, string[]>();
    for (const record of records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))) {
      const value = JSON.parse(record.value!) as OutboxRecord;
      assert.equal(record.key, value.customerId);
      byCustomer.set(value.customerId, [...(byCustomer.get(value.customerId) ?? []), normalized(value)]);
    }
    return byCustomer;
  } finally {
    await first.stop();
    await second?.stop();
  }
}

describe('people with partitions moving between instances', { timeout: 240_000 }, () => {
  it('writes what one instance writes', async () => {
    const one = await run(1);
    const two = await run(2);

    assert.deepEqual([...one.keys()].sort(), [...CUSTOMERS].sort());
    for (const customerId of CUSTOMERS) {
      const records = one.get(customerId)!;
      assert.equal(records.length, 5, `records of ${customerId}: ${records.join('\n')}`);
      assert.match(records[0]!, /^identify .*"email":"c\d+@example\.net".*"total_orders":1,/);
      assert.match(records[1]!, new RegExp(`^order_placed .*"order_id":"${customerId}-1"`));
      assert.match(records[2]!, /^order_paid /);
      assert.match(records[3]!, /^identify .*"total_orders":2,"lifetime_value":31,/);
      assert.match(records[4]!, new RegExp(`^order_placed .*"order_id":"${customerId}-2"`));
      assert.deepEqual(two.get(customerId), records, `customer ${customerId}`);
    }
    assert.equal(two.size, one.size);
  });
});
