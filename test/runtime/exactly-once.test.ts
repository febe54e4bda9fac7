// Exactly once between topics under crashes. The pass-through processor with a
// counting store runs as a child process that is SIGKILLed at random moments
// and restarted. Afterwards every input appears once in the output, read
// committed, and the restored store contains the exact counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { passthroughTopology } from '../../processors/runtime/examples/passthrough/topology.ts';
import { ProcessorChild } from './child.ts';
import {
  committedFromLog,
  committedOffsets,
  createTopics,
  jsonMessages,
  produce,
  readLog,
  readTopic,
  startRuntime,
  testConfig,
  testEnvironment,
  uniqueName,
  waitFor,
  withAdmin,
} from './helpers.ts';
import type { ReadRecord } from './helpers.ts';

const TOTAL_RECORDS = 10_000;
const KILLS = 10;
const KEYS = 37;
const PARTITIONS = 3;

/** Small transactions and the broker's minimum session timeout keep restarts quick. */
const childSettings = {
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  KAFKA_REBALANCE_TIMEOUT_MS: '6000',
  KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
  CIO_CDC_TRANSACTION_MAX_RECORDS: '50',
  KAFKA_FETCH_MAX_BYTES_PER_PARTITION: '65536',
  LOG_LEVEL: 'warn',
};

function keyOf(id: number): string {
  return `customer-${id % KEYS}`;
}

function expectedCounts(total: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let id = 0; id < total; id += 1) {
    counts.set(keyOf(id), (counts.get(keyOf(id)) ?? 0) + 1);
  }
  return counts;
}

async function caughtUp(groupId: string, topic: string): Promise<boolean> {
  const committed = await committedOffsets(groupId, topic);
  const ends = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  return ends.every((entry) => committed.get(entry.partition) === entry.offset);
}

describe('exactly once under SIGKILL', () => {
  it('outputs every record once and restores exact counts', async () => {
    const input = uniqueName('eos-in');
    const output = uniqueName('eos-out');
    const app = uniqueName('eos-app');
    await createTopics([{ topic: input, partitions: PARTITIONS }]);

    const perWave = TOTAL_RECORDS / KILLS;
    const killDelays: number[] = [];
    for (let wave = 0; wave < KILLS; wave += 1) {
      const first = wave * perWave;
      await produce(input, jsonMessages(perWave, (index) => ({ key: keyOf(first + index), value: { id: first + index } })));

      const child = new ProcessorChild('passthrough-child.ts', [input, output, app], testEnvironment(app, childSettings));
      await child.waitForLine('ready', 60_000);
      // Random moments within the time a wave takes to process, so kills land
      // mid-batch, mid-commit or between transactions.
      const delayMs = Math.floor(Math.random() * 600);
      killDelays.push(delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const exit = await child.kill('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL', `child ${wave} was not killed by SIGKILL\n${child.output()}`);
    }

    // The last restart runs in this process so its restored store can be inspected.
    const runtime = await startRuntime(passthroughTopology({ input, output }, app), {
      config: testConfig(app, { ...childSettings, LOG_LEVEL: 'silent' }),
    });
    let records: ReadRecord[];
    try {
      await waitFor('the final instance to commit every input offset', () => caughtUp(app, input), 60_000);
      records = await readTopic(output, { expected: TOTAL_RECORDS, timeoutMs: 60_000 });

      const restored = new Map<string, unknown>();
      for (const task of runtime.taskIds()) {
        for (const [key, count] of runtime.storeSnapshot(task, 'counts')) {
          restored.set(key, count);
        }
      }
      assert.deepEqual(
        [...restored].sort(([a], [b]) => a.localeCompare(b)),
        [...expectedCounts(TOTAL_RECORDS)].sort(([a], [b]) => a.localeCompare(b)),
        `restored counts differ (kill delays ${killDelays.join(', ')} ms)`,
      );
    } finally {
      await runtime.stop();
    }

    assert.equal(records.length, TOTAL_RECORDS, `output holds ${records.length} records (kill delays ${killDelays.join(', ')} ms)`);

    // The same, decided from the raw log by each producer's next transaction marker,
    // without the broker's aborted-transaction list that the read_committed filter uses.
    const fromLog = committedFromLog(await readLog(output));
    assert.deepEqual(
      fromLog.map((record) => `${record.partition}:${record.offset}`).sort(),
      records.map((record) => `${record.partition}:${record.offset}`).sort(),
    );
    const ids = new Set(records.map((record) => (JSON.parse(record.value!) as { id: number }).id));
    assert.equal(ids.size, TOTAL_RECORDS, 'some input ids are missing or doubled in the output');

    // The count carried by each output is the store's value when the record was
    // processed: per key they must run 1, 2, 3, ... with no gap and no repeat.
    const countsByKey = new Map<string, number[]>();
    for (const record of records) {
      const counts = countsByKey.get(record.key!) ?? [];
      counts.push((JSON.parse(record.value!) as { count: number }).count);
      countsByKey.set(record.key!, counts);
    }
    for (const [key, counts] of countsByKey) {
      const sorted = [...counts].sort((a, b) => a - b);
      assert.deepEqual(sorted, Array.from({ length: sorted.length }, (_, index) => index + 1), `counts of ${key} have a gap or a repeat`);
    }
  });
});
