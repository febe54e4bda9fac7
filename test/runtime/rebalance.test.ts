// Two instances in one group: a second instance takes over partitions, then the
// first stops and the second takes the rest. Nothing is lost or doubled. A batch
// longer than the session timeout keeps the membership by heartbeating.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { passthroughTopology } from '../../processors/runtime/examples/passthrough/topology.ts';
import { defineProcessor, input, output } from '../../processors/runtime/processor.ts';
import type { SourceMessage } from '../../processors/runtime/processor.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import {
  capturingLogger,
  committedOffsets,
  countCommitted,
  createTopics,
  jsonMessages,
  produce,
  readTopic,
  startRuntime,
  testConfig,
  uniqueName,
  waitFor,
  withAdmin,
} from './helpers.ts';

const PARTITIONS = 4;
const PER_PHASE = 1_500;
const KEYS = 23;

function keyOf(id: number): string {
  return `customer-${id % KEYS}`;
}

async function produceRange(topic: string, first: number, count: number): Promise<void> {
  await produce(topic, jsonMessages(count, (index) => ({ key: keyOf(first + index), value: { id: first + index } })));
}

async function decodeJson(message: SourceMessage): Promise<{ id: number } | null> {
  return message.value === null ? null : (JSON.parse(message.value.toString('utf8')) as { id: number });
}

async function caughtUp(groupId: string, topic: string): Promise<boolean> {
  const committed = await committedOffsets(groupId, topic);
  const ends = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  return ends.every((entry) => committed.get(entry.partition) === entry.offset);
}

describe('rebalance between two instances', () => {
  it('moves partitions without losing or doubling records', async () => {
    const input = uniqueName('rebalance-in');
    const output = uniqueName('rebalance-out');
    const app = uniqueName('rebalance-app');
    await createTopics([{ topic: input, partitions: PARTITIONS }]);
    const config = () => testConfig(app, { CIO_CDC_TRANSACTION_MAX_RECORDS: '100', KAFKA_FETCH_MAX_BYTES_PER_PARTITION: '32768' });
    const definition = passthroughTopology({ input, output }, app);

    await produceRange(input, 0, PER_PHASE);
    const first = await startRuntime(definition, { config: config() });
    let second: ProcessorRuntime | undefined;
    try {
      const firstCommitted = countCommitted(first);
      await waitFor('the first instance to commit some records', () => firstCommitted.total() >= 200);
      assert.deepEqual(first.taskIds(), [0, 1, 2, 3]);

      // Records keep arriving while the second instance joins.
      const producing = produceRange(input, PER_PHASE, PER_PHASE);
      second = await startRuntime(definition, { config: config() });
      await producing;
      await waitFor('both instances to hold tasks', () => first.taskIds().length > 0 && second!.taskIds().length > 0);
      assert.equal(first.taskIds().length + second.taskIds().length, PARTITIONS);

      await first.stop();
      await produceRange(input, 2 * PER_PHASE, PER_PHASE);
      await waitFor('the second instance to take every task', () => second!.taskIds().length === PARTITIONS);
      await waitFor('the second instance to commit every input offset', () => caughtUp(app, input), 60_000);

      const counts = new Map<string, unknown>();
      for (const task of second.taskIds()) {
        for (const [key, count] of second.storeSnapshot(task, 'counts')) {
          counts.set(key, count);
        }
      }
      const expected = new Map<string, number>();
      for (let id = 0; id < 3 * PER_PHASE; id += 1) {
        expected.set(keyOf(id), (expected.get(keyOf(id)) ?? 0) + 1);
      }
      assert.deepEqual(
        [...counts].sort(([a], [b]) => a.localeCompare(b)),
        [...expected].sort(([a], [b]) => a.localeCompare(b)),
      );
    } finally {
      await first.stop();
      await second?.stop();
    }

    const records = await readTopic(output, { expected: 3 * PER_PHASE });
    assert.equal(records.length, 3 * PER_PHASE);
    const ids = new Set(records.map((record) => (JSON.parse(record.value!) as { id: number }).id));
    assert.equal(ids.size, 3 * PER_PHASE, 'an input record is missing or doubled');
  });
});

describe('long batches', () => {
  it('keep the membership past the session timeout', async () => {
    const topics = { input: uniqueName('slow-in'), output: uniqueName('slow-out') };
    const app = uniqueName('slow-app');
    await createTopics([{ topic: topics.input, partitions: 1 }]);
    await produce(topics.input, jsonMessages(40, (index) => ({ key: `k${index}`, value: { id: index } })));

    const definition = defineProcessor({
      name: app,
      inputs: { source: input({ topic: topics.input, decode: decodeJson, keyedBy: 'id' }) },
      outputs: { sink: output<{ id: number }>(topics.output) },
      // 40 records of 200 ms each: one batch of 8 s against a 6 s session timeout,
      // like a delivery waiting out a long Retry-After.
      async process(record, ctx) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        ctx.emit('sink', { key: record.key, value: record.value });
      },
    });
    const { logger, lines } = capturingLogger('info');
    const runtime = await startRuntime(definition, {
      config: testConfig(app, { KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_REBALANCE_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '1000' }),
      logger,
    });
    const batches: number[] = [];
    runtime.on('committed', (event) => batches.push(event.records));
    try {
      await waitFor('offset 40 to be committed', async () => (await committedOffsets(app, topics.input)).get(0) === '40', 30_000);
    } finally {
      await runtime.stop();
    }
    const batchSeconds = (await runtime.metrics.batchDuration.get()).values.find(
      (value) => value.metricName === 'cio_cdc_batch_duration_seconds_sum',
    )?.value;
    assert.deepEqual(batches, [40], 'the records were not processed as one batch');
    assert.ok((batchSeconds ?? 0) > 6, `the batch took ${batchSeconds} s, not longer than the session timeout`);
    assert.equal(lines.filter((line) => line['msg'] === 'partitions assigned').length, 1, 'the instance joined the group again');
    assert.equal(lines.filter((line) => line['msg'] === 'group rebalancing').length, 0);
    const outputs = await readTopic(topics.output, { expected: 40 });
    assert.equal(outputs.length, 40);
  });
});
