// The baseline the processors are measured against: a kafkajs consume → produce loop with
// transactions and nothing else.
import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient } from 'kafkajs';

import { createTopics, waitUntilCommittedToEnd } from './measure.ts';
import type { EndOffsets } from './measure.ts';

const { Partitioners } = kafkajs;

export interface RawLoopOptions {
  /** Consumer group; the output topic is `<groupId>-out` and the transactional id `<groupId>-producer`. */
  readonly groupId: string;
  /** Topics read, with the end offsets at which the run is complete. */
  readonly ends: EndOffsets;
  readonly outputPartitions: number;
  /** Input records per transaction, at most. */
  readonly maxRecords: number;
  readonly fetchMaxWaitMs: number;
  /** Gives up with an error after this long; no limit when absent. */
  readonly timeoutMs?: number;
}

export interface RawLoopRun {
  /** From the consumer's creation until its committed offsets reached every end offset. */
  readonly seconds: number;
  /** Duration of each transaction, from its first send to its commit. */
  readonly batchMs: number[];
}

/**
 * Runs the baseline: one transactional producer, batches handled one at a time,
 * each batch's records sent to the output and its offsets committed in the same
 * transaction. No state, no changelog, no dead-letter handling.
 */
export async function runRawLoop(kafka: KafkaClient, admin: Admin, options: RawLoopOptions): Promise<RawLoopRun> {
  const { groupId, maxRecords } = options;
  const output = `${groupId}-out`;
  await createTopics(admin, [{ topic: output, numPartitions: options.outputPartitions, replicationFactor: 1 }]);
  const producer = kafka.producer({
    transactionalId: `${groupId}-producer`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: options.fetchMaxWaitMs });
  const batchMs: number[] = [];

  const started = performance.now();
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.ends.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (let start = 0; start < batch.messages.length; start += maxRecords) {
          const chunk = batch.messages.slice(start, start + maxRecords);
          const chunkStarted = performance.now();

          const transaction = await producer.transaction();
          try {
            await transaction.send({ topic: output, messages: chunk.map((message) => ({ key: message.key, value: message.value })), acks: -1 });
            const next = (BigInt(chunk[chunk.length - 1]!.offset) + 1n).toString();
            await transaction.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
            await transaction.commit();
          } catch (error) {
            await transaction.abort();
            throw error;
          }

          resolveOffset(chunk[chunk.length - 1]!.offset);
          batchMs.push(performance.now() - chunkStarted);
          await heartbeat();
        }
      },
    });
    await waitUntilCommittedToEnd(admin, groupId, options.ends, {
      what: `raw loop ${groupId}`,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    return { seconds: (performance.now() - started) / 1000, batchMs };
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}
