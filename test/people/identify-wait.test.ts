// Real stack: the people processor on its own one-partition topics (customers changes in Debezium's
// JSON envelope, customer events, outbox). Events of a customer whose row does not come within
// PEOPLE_IDENTIFY_WAIT_MS of stream time go out anyway, after an identify with the rollups alone,
// with a warning and a metric.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { EventRecord, IdentifyRecord, OutboxRecord } from '../../processors/customerio/records.ts';
import { parsePeopleConfig } from '../../processors/people/config.ts';
import { PeopleMetrics } from '../../processors/people/metrics.ts';
import { peopleTopology } from '../../processors/people/topology.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { capturingLogger, committedOffsets, createTopics, produce, readTopic, startRuntime, testConfig, uniqueName, waitFor } from '../runtime/helpers.ts';
import { customerEnvelope, customerEvent, mappingWithTopicPrefix } from './support.ts';

const WAIT_MS = 5_000;
const T0 = Date.parse('2024-07-15T13:30:00Z');
const WARNING = 'customers row not seen within the identify wait; held events sent without the profile';

describe('identify wait of the people processor', { timeout: 120_000 }, () => {
  const prefix = uniqueName('people-wait');
  const mapping = mappingWithTopicPrefix(prefix);
  const topics = { customers: `${prefix}.shop.customers`, events: uniqueName('people-wait-events'), outbox: uniqueName('people-wait-outbox') };
  const app = uniqueName('people-wait');
  const metrics = new PeopleMetrics();
  const logs = capturingLogger('warn');
  let runtime: ProcessorRuntime | undefined;
  let position = 1000;

  const sendEvents = (...events: EventRecord[]) => produce(topics.events, events.map((event) => ({ key: event.customerId, value: JSON.stringify(event) })));
  const sendCustomer = (customerId: string, commitMs: number) => {
    position += 100;
    const row = { id: Number(customerId), email: `c${customerId}@example.net`, first_name: 'Léa', sms_opt_in: 1, created_at: 1721050140000000 };
    return produce(topics.customers, [{ key: JSON.stringify({ id: Number(customerId) }), value: customerEnvelope('c', row, position, { tsMs: commitMs }) }]);
  };
  const outbox = async (expected: number): Promise<OutboxRecord[]> =>
    (await readTopic(topics.outbox, { expected })).map((record) => JSON.parse(record.value!) as OutboxRecord);
  const describeRecord = (record: OutboxRecord) =>
    record.kind === 'identify' ? `identify ${record.customerId} email=${String(record.attributes['email'] ?? null)} orders=${String(record.attributes['total_orders'])}` : `${record.name} ${record.customerId}`;
  const caughtUp = async (topic: string, offset: string) => (await committedOffsets(app, topic)).get(0) === offset;

  before(async () => {
    await createTopics([
      { topic: topics.customers, partitions: 1 },
      { topic: topics.events, partitions: 1 },
      { topic: topics.outbox, partitions: 1 },
    ]);
    const config = parsePeopleConfig({ CIO_CDC_CUSTOMER_EVENTS_TOPIC: topics.events, CIO_CDC_OUTBOX_TOPIC: topics.outbox, PEOPLE_IDENTIFY_WAIT_MS: String(WAIT_MS) });
    runtime = await startRuntime(peopleTopology(config, mapping, app, metrics), { config: testConfig(app), logger: logs.logger });
    metrics.registerIn(runtime.metrics.registry);
  });

  after(async () => {
    await runtime?.stop();
  });

  it('sends held events after the wait', async () => {
    const placed = (customerId: string, order: string, commitMs: number) =>
      customerEvent(customerId, 'order_placed', order, commitMs, { order_id: order, order_total: 10, items: [{ category: 'tees' }], created_at: 1721050200 });
    await sendEvents(
      placed('601', '6001', T0),
      customerEvent('601', 'order_paid', '6001', T0 + 1000, { order_id: '6001' }),
      placed('602', '6002', T0 + 2000),
    );
    await waitFor('people to read the events', () => caughtUp(topics.events, '3'));
    assert.equal((await outbox(0)).length, 0, 'both customers wait for their rows');
    assert.equal(await metrics.releasedUnidentifiedCount(), 0);

    // Another customer's row moves stream time past the deadline of 601 (T0 + wait), not of 602.
    await sendCustomer('603', T0 + WAIT_MS + 1);
    const released = await outbox(4);
    assert.deepEqual(released.map(describeRecord), ['identify 601 email=null orders=1', 'order_placed 601', 'order_paid 601', 'identify 603 email=c603@example.net orders=0']);
    assert.equal((released[0] as IdentifyRecord).attributes['lifetime_value'], 10);
    assert.equal(await metrics.releasedUnidentifiedCount(), 2);
    const scraped = await runtime!.metrics.registry.metrics();
    assert.match(scraped, /^cio_cdc_people_events_released_unidentified_total\{application_id="[^"]+"\} 2$/m);

    const warnings = logs.lines.filter((line) => line['msg'] === WARNING);
    assert.equal(warnings.length, 1);
    const warning = warnings[0]!;
    assert.equal(warning['level'], 40);
    assert.equal(warning['customerId'], '601');
    assert.equal(warning['events'], 2);
    assert.equal(warning['identifyWaitMs'], WAIT_MS);
    assert.equal(warning['heldSinceMs'], T0);
    assert.equal(warning['deadlineMs'], T0 + WAIT_MS);
    assert.equal(warning['streamTimeMs'], T0 + WAIT_MS + 1);
    assert.equal(warning['firstEvent'], 'order_placed');
    assert.equal(warning['topic'], topics.events);
    assert.equal(warning['partition'], 0);
    assert.equal(warning['offset'], '0');

    // 602's row comes within its wait: its events follow its first identify, nothing is counted.
    await sendCustomer('602', T0 + WAIT_MS + 2);
    // A later row of 601 updates the person that is already in Customer.io.
    await sendCustomer('601', T0 + WAIT_MS + 3);
    const all = await outbox(7);
    assert.deepEqual(all.slice(4).map(describeRecord), ['identify 602 email=c602@example.net orders=1', 'order_placed 602', 'identify 601 email=c601@example.net orders=1']);
    assert.equal(await metrics.releasedUnidentifiedCount(), 2);
    assert.equal(logs.lines.filter((line) => line['msg'] === WARNING).length, 1);
  });
});
