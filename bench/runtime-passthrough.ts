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
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient } from 'kafkajs';

import { passthroughTopology } from '../processors/runtime/examples/passthrough/topology.ts';
import { parseRuntimeConfig } from '../processors/runtime/config.ts';
import { ProcessorRuntime } from '../processors/runtime/runtime.ts';
import { createTopics, machine, summarize, waitUntilCommittedToEnd } from './measure.ts';
import type { Result } from './measure.ts';
import { runRawLoop } from './raw-loop.ts';

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

async function prepareInput(kafka: KafkaClient, admin: Admin, topic: string): Promise<Map<number, string>> {
  await createTopics(admin, [{ topic, numPartitions: partitions, replicationFactor: 1 }]);
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
  await waitUntilCommittedToEnd(admin, applicationId, new Map([[input, ends]]));
  const seconds = (performance.now() - started) / 1000;
  await runtime.stop();
  return summarize('runtime pass-through (counting store)', records, seconds, batchMs);
}

async function runRaw(kafka: KafkaClient, admin: Admin, input: string, ends: Map<number, string>): Promise<Result> {
  const groupId = `bench-raw-${runId}`;
  const run = await runRawLoop(kafka, admin, { groupId, ends: new Map([[input, ends]]), outputPartitions: partitions, maxRecords, fetchMaxWaitMs: 100 });
  return summarize('raw kafkajs transactional loop', records, run.seconds, run.batchMs);
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
    process.stdout.write(`${JSON.stringify({ bench: 'runtime-passthrough', records, partitions, valueBytes, maxRecords, machine: machine(), results })}\n`);
  } finally {
    await admin.disconnect();
  }
}

await main();
