import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Admin, Producer } from 'kafkajs';

import { consumeUntil, testKafka, uniqueName } from '../support/kafka.ts';

const kafka = testKafka('stack-transactions');

describe('kafka 4 broker with kafkajs transactions', () => {
  let admin: Admin;
  let producer: Producer;
  const topic = uniqueName('stack-txn');

  before(async () => {
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    producer = kafka.producer({ transactionalId: uniqueName('stack-txn-producer'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
  });

  after(async () => {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('read_committed consumer never sees an aborted transaction', async () => {
    const committedFirst = await producer.transaction();
    await committedFirst.send({ topic, messages: [{ key: 'a', value: 'committed-1' }, { key: 'b', value: 'committed-2' }] });
    await committedFirst.commit();

    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ key: 'a', value: 'aborted-1' }, { key: 'b', value: 'aborted-2' }] });
    await aborted.abort();

    const committedLast = await producer.transaction();
    await committedLast.send({ topic, messages: [{ key: 'a', value: 'committed-3' }] });
    await committedLast.commit();

    const records = await consumeUntil(kafka, [topic], (seen) => seen.some((record) => record.message.value?.toString() === 'committed-3'));
    const values = records.map((record) => record.message.value?.toString()).sort();
    assert.deepEqual(values, ['committed-1', 'committed-2', 'committed-3']);
  });

  it('read_uncommitted consumer does see the aborted records', async () => {
    // The control for the test above: the aborted records are in the log, and
    // only the isolation level keeps them from a consumer.
    const records = await consumeUntil(kafka, [topic], (seen) => seen.length >= 5, { readUncommitted: true });
    const values = records.map((record) => record.message.value?.toString());
    assert.ok(values.includes('aborted-1'), `expected aborted-1 among ${values.join(', ')}`);
    assert.ok(values.includes('aborted-2'), `expected aborted-2 among ${values.join(', ')}`);
  });

  it('sendOffsets commits the next offset to read', async () => {
    const groupId = uniqueName('stack-txn-group');
    const transaction = await producer.transaction();
    await transaction.send({ topic, messages: [{ key: 'c', value: 'with-offsets' }] });
    // Records 30..41 processed on partition 0: the offset to commit is 42.
    await transaction.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '42' }] }] });
    await transaction.commit();

    // The coordinator applies transactional offsets once the commit markers are written, a
    // moment after commit() returns, so read until they appear (bounded).
    let offset: string | undefined;
    for (let attempt = 0; attempt < 50 && offset !== '42'; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      offset = committed?.partitions.find((entry) => entry.partition === 0)?.offset;
    }
    assert.equal(offset, '42');
  });
});
