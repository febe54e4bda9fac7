// Transactions against the real broker: committed offsets are last processed
// + 1, aborted transactions stay invisible to read_committed readers, offset-only
// transactions back to back survive CONCURRENT_TRANSACTIONS, and a second
// producer with the same transactional id fences the first.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pino } from 'pino';

import { passthroughTopology } from '../../processors/runtime/examples/passthrough/topology.ts';
import { TaskFencedError } from '../../processors/runtime/errors.ts';
import { RuntimeMetrics } from '../../processors/runtime/telemetry.ts';
import { TaskProducer } from '../../processors/runtime/transaction.ts';
import {
  committedFromLog,
  committedOffsets,
  createTopics,
  produce,
  readLog,
  readTopic,
  startRuntime,
  testConfig,
  testKafka,
  uniqueName,
  waitFor,
} from './helpers.ts';

function recordsFor(partition: number, first: number, count: number) {
  return Array.from({ length: count }, (_, index) => ({
    key: `p${partition}-${first + index}`,
    value: JSON.stringify({ id: `p${partition}-${first + index}` }),
    partition,
  }));
}

async function offsetsReach(groupId: string, topic: string, expected: Record<number, string>): Promise<boolean> {
  const committed = await committedOffsets(groupId, topic);
  return Object.entries(expected).every(([partition, offset]) => committed.get(Number(partition)) === offset);
}

describe('transactions', () => {
  it('commits last processed offset plus one', async () => {
    const input = uniqueName('txn-in');
    const output = uniqueName('txn-out');
    const app = uniqueName('txn-app');
    await createTopics([{ topic: input, partitions: 2 }]);
    const config = testConfig(app, { KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY: '2' });

    await produce(input, [...recordsFor(0, 0, 30), ...recordsFor(1, 0, 12)]);
    const first = await startRuntime(passthroughTopology({ input, output }, app), { config });
    try {
      await waitFor('offsets 30 and 12', () => offsetsReach(app, input, { 0: '30', 1: '12' }));
      // Records 30..41 on partition 0 and 12..15 on partition 1, processed concurrently.
      await produce(input, [...recordsFor(0, 30, 12), ...recordsFor(1, 12, 4)]);
      await waitFor('offsets 42 and 16', () => offsetsReach(app, input, { 0: '42', 1: '16' }));
    } finally {
      await first.stop();
    }
    const committed = await committedOffsets(app, input);
    assert.equal(committed.get(0), '42');
    assert.equal(committed.get(1), '16');

    // A restart resumes at 42 and 16: records 41 and 15 are not processed again.
    const second = await startRuntime(passthroughTopology({ input, output }, app), { config });
    try {
      await produce(input, [...recordsFor(0, 42, 1), ...recordsFor(1, 16, 1)]);
      await waitFor('offsets 43 and 17', () => offsetsReach(app, input, { 0: '43', 1: '17' }));
    } finally {
      await second.stop();
    }
    const records = await readTopic(output, { expected: 60 });
    const ids = records.map((record) => record.key);
    assert.equal(records.length, 60);
    assert.equal(new Set(ids).size, 60, 'an input record was output twice');
  });

  it('hides aborted transactions from read_committed readers', async () => {
    const input = uniqueName('abort-in');
    const output = uniqueName('abort-out');
    const app = uniqueName('abort-app');
    await createTopics([{ topic: input, partitions: 2 }]);
    await produce(input, [...recordsFor(0, 0, 50), ...recordsFor(1, 0, 50)]);

    let injected = 0;
    const runtime = await startRuntime(passthroughTopology({ input, output }, app), {
      config: testConfig(app),
      hooks: {
        // Every task's first two transactions fail after their records were sent.
        beforeCommit: ({ transaction }) => {
          if (transaction <= 2) {
            injected += 1;
            throw new Error('injected failure before commit');
          }
        },
      },
    });
    try {
      await waitFor('offsets 50 and 50', () => offsetsReach(app, input, { 0: '50', 1: '50' }));
    } finally {
      await runtime.stop();
    }

    const committed = await readTopic(output, { expected: 100 });
    const log = await readLog(output);
    const expected = committedFromLog(log);
    const abortedRecords = log.filter((record) => record.marker === null).length - expected.length;
    assert.ok(injected >= 2, `only ${injected} failures were injected`);
    assert.ok(abortedRecords > 0, 'no aborted record reached the topic, so the test shows nothing');
    assert.equal(expected.length, 100);
    assert.equal(new Set(expected.map((record) => record.key)).size, 100, 'the log commits a record twice');
    assert.equal(committed.length, 100);
    assert.equal(new Set(committed.map((record) => record.key)).size, 100, 'a committed record appears twice');
    assert.deepEqual(
      committed.map((record) => `${record.partition}:${record.offset}`).sort(),
      expected.map((record) => `${record.partition}:${record.offset}`).sort(),
    );
    const aborted = await runtime.metrics.transactions.get();
    const abortedCount = aborted.values.find((value) => value.labels.result === 'aborted')?.value ?? 0;
    assert.ok(abortedCount >= 2, `transactions_total{result="aborted"} is ${abortedCount}`);
  });

  it('retries offset-only transactions back to back', async (t) => {
    const topic = uniqueName('offsets-in');
    const group = uniqueName('offsets-group');
    await createTopics([{ topic, partitions: 1 }]);

    const metrics = new RuntimeMetrics(group);
    const producer = new TaskProducer({
      kafka: testKafka('offsets-test'),
      task: 0,
      transactionalId: `${group}-task-0`,
      consumerGroupId: group,
      transactionTimeoutMs: 30_000,
      retry: { initialDelayMs: 20, maxDelayMs: 500, attempts: 20 },
      log: pino({ level: 'silent' }),
      metrics,
      hooks: {},
    });
    await producer.init();

    try {
      // With no records to send, AddOffsetsToTxn is each transaction's first
      // request, which the broker may reject with CONCURRENT_TRANSACTIONS while the
      // previous transaction's markers are still being written.
      for (let offset = 1; offset <= 20; offset += 1) {
        await producer.commit({ topicMessages: [], offsets: [{ topic, partition: 0, offset: String(offset) }] });
      }
    } finally {
      await producer.close();
    }

    const committed = await committedOffsets(group, topic);
    assert.equal(committed.get(0), '20');

    const results = await metrics.transactions.get();
    assert.equal(results.values.find((value) => value.labels.result === 'committed')?.value, 20);
    const retries = (await metrics.retries.get()).values.find((value) => value.labels.reason === 'transaction-send-offsets');
    t.diagnostic(`send-offsets retries (CONCURRENT_TRANSACTIONS and similar): ${retries?.value ?? 0}`);
  });

  it('fences the older producer of a task', async () => {
    const topic = uniqueName('fence-out');
    const group = uniqueName('fence-group');
    await createTopics([{ topic, partitions: 1 }]);
    const make = () =>
      new TaskProducer({
        kafka: testKafka('fence-test'),
        task: 0,
        transactionalId: `${group}-task-0`,
        consumerGroupId: group,
        transactionTimeoutMs: 30_000,
        retry: { initialDelayMs: 20, maxDelayMs: 500, attempts: 10 },
        log: pino({ level: 'silent' }),
        metrics: new RuntimeMetrics(group),
        hooks: {},
      });
    const older = make();
    const newer = make();
    await older.init();
    await newer.init();
    try {
      await assert.rejects(
        older.commit({ topicMessages: [{ topic, messages: [{ key: 'k', value: 'zombie' }] }], offsets: [] }),
        TaskFencedError,
      );
      await newer.commit({ topicMessages: [{ topic, messages: [{ key: 'k', value: 'owner' }] }], offsets: [] });
    } finally {
      await older.close();
      await newer.close();
    }
    const records = await readTopic(topic, { expected: 1 });
    assert.deepEqual(
      records.map((record) => record.value),
      ['owner'],
    );
  });
});
