// Throughput and batch latency of a pass-through processor on the runtime,
// against a raw kafkajs loop doing the same work: consume a batch, produce it
// to an output topic and commit the input offsets in one transaction.
//
//   node bench/runtime-passthrough.ts [--records 100000] [--partitions 3]
//        [--value-bytes 200] [--brokers 127.0.0.1:9092] [--max-records 1000]
//
// Both runs read the same input topic (written once, before timing) with their
// own consumer group, read_committed, and write their own output topic. Timing
// starts when the consumer is created and stops when the group's committed
// offsets reach the end of every input partition, so it includes the group
// join. Prints a table and one JSON line with the machine it ran on.
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient } from 'kafkajs';

import { passthroughTopology } from '../processors/runtime/examples/passthrough/topology.ts';
import { parseRuntimeConfig } from '../processors/runtime/config.ts';
import { ProcessorRuntime } from '../processors/runtime/runtime.ts';

const { Kafka, Partitioners, logLevel } = kafkajs;

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    partitions: { type: 'string', default: '3' },
    'value-bytes': { type: 'string', default: '200' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'max-records': { type: 'string', default: '1000' },
  },
});

const records = Number(args.records);
const partitions = Number(args.partitions);
const valueBytes = Number(args['value-bytes']);
const brokers = args.brokers.split(',');
const maxRecords = Number(args['max-records']);
const runId = randomUUID().slice(0, 8);

interface Result {
  readonly name: string;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly batches: number;
  readonly p50BatchMs: number;
  readonly p99BatchMs: number;
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function summarize(name: string, seconds: number, batchMs: number[]): Result {
  const sorted = [...batchMs].sort((a, b) => a - b);
  return {
    name,
    records,
    seconds: Number(seconds.toFixed(2)),
    recordsPerSecond: Math.round(records / seconds),
    batches: sorted.length,
    p50BatchMs: Number(percentile(sorted, 0.5).toFixed(1)),
    p99BatchMs: Number(percentile(sorted, 0.99).toFixed(1)),
  };
}

async function caughtUp(admin: Admin, groupId: string, topic: string, ends: Map<number, string>): Promise<boolean> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (committed?.partitions ?? []).every((entry) => entry.offset === ends.get(entry.partition));
}

async function waitUntilCaughtUp(admin: Admin, groupId: string, topic: string, ends: Map<number, string>): Promise<void> {
  while (!(await caughtUp(admin, groupId, topic, ends))) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function prepareInput(kafka: KafkaClient, admin: Admin, topic: string): Promise<Map<number, string>> {
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const padding = 'x'.repeat(Math.max(0, valueBytes - 40));
  for (let start = 0; start < records; start += 1_000) {
    const count = Math.min(1_000, records - start);
    const messages = Array.from({ length: count }, (_, index) => ({
      key: `customer-${(start + index) % 997}`,
      value: JSON.stringify({ id: start + index, padding }),
    }));
    await producer.send({ topic, messages, acks: -1 });
  }
  await producer.disconnect();
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((entry) => [entry.partition, entry.offset]));
}

async function runRuntime(admin: Admin, input: string, ends: Map<number, string>): Promise<Result> {
  const applicationId = `bench-runtime-${runId}`;
  const config = parseRuntimeConfig(
    {
      KAFKA_BROKERS: brokers.join(','),
      CIO_CDC_APPLICATION_ID: applicationId,
      CIO_CDC_HTTP_PORT: '0',
      KAFKA_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_FETCH_MAX_WAIT_MS: '100',
      CIO_CDC_TRANSACTION_MAX_RECORDS: String(maxRecords),
      KAFKA_LOG_LEVEL: 'nothing',
      LOG_LEVEL: 'warn',
    },
    { applicationId },
  );
  const runtime = new ProcessorRuntime(passthroughTopology({ input, output: `${applicationId}-out` }, applicationId), { config });
  const batchMs: number[] = [];
  runtime.on('committed', (event) => {
    if (event.records > 0) {
      batchMs.push(event.durationMs);
    }
  });
  const started = performance.now();
  await runtime.start();
  await waitUntilCaughtUp(admin, applicationId, input, ends);
  const seconds = (performance.now() - started) / 1000;
  await runtime.stop();
  return summarize('runtime pass-through (counting store)', seconds, batchMs);
}

/**
 * Runs the baseline: one transactional producer, batches handled one at a time,
 * each batch's records sent to the output and its offsets committed in the same
 * transaction. No state, no changelog, no dead-letter handling.
 */
async function runRaw(kafka: KafkaClient, admin: Admin, input: string, ends: Map<number, string>): Promise<Result> {
  const groupId = `bench-raw-${runId}`;
  const output = `${groupId}-out`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: output, numPartitions: partitions, replicationFactor: 1 }] });
  const producer = kafka.producer({
    transactionalId: `${groupId}-producer`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
  const batchMs: number[] = [];

  const started = performance.now();
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
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
  await waitUntilCaughtUp(admin, groupId, input, ends);
  const seconds = (performance.now() - started) / 1000;

  await consumer.disconnect();
  await producer.disconnect();
  return summarize('raw kafkajs transactional loop', seconds, batchMs);
}

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: `bench-${runId}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const input = `bench-in-${runId}`;
    process.stdout.write(`writing ${records} records of about ${valueBytes} bytes to ${input} (${partitions} partitions)\n`);
    const ends = await prepareInput(kafka, admin, input);
    const results = [await runRaw(kafka, admin, input, ends), await runRuntime(admin, input, ends)];
    console.table(results);
    const machine = {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    };
    process.stdout.write(`${JSON.stringify({ bench: 'runtime-passthrough', records, partitions, valueBytes, maxRecords, machine, results })}\n`);
  } finally {
    await admin.disconnect();
  }
}

await main();
