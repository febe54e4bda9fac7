// Throughput and batch latency of the orders, carts, people and suppression processors, each
// against a raw kafkajs transactional loop reading the same input on the same broker.
//
//   node bench/processor-throughput.ts [--records 20000] [--processors orders,carts,people,suppression]
//        [--partitions 3] [--max-records 1000] [--seed 7] [--brokers 127.0.0.1:9092]
//        [--timeout-s <derived>] [--log-level error] [--keep-topics] [--json]
//
// Before any timing, the bench writes about --records input records per processor to topics of
// its own (`bench-<run id>.shop.<table>` through a mapping with that topic prefix, and
// `bench-<run id>-*` for the EventRecord inputs):
//   orders       Debezium orders and order_items changes (orders with items, paid, canceled)
//   carts        Debezium carts and cart_items changes (carts, edits, checkouts)
//   people       Debezium customers changes and order EventRecords on the customer events topic
//   suppression  cart EventRecords and order EventRecords, keyed by customer id
// The Debezium records carry schemas, as the stack's connector writes them
// (bench/debezium-json.ts). Event times end near the time of the run.
//
// Then, per processor, the raw loop and the processor read that input with their own consumer
// group, read_committed. The raw loop writes one output record per input record and commits the
// input offsets in the same transaction. The processor is built through its config parser and
// topology function and runs on a ProcessorRuntime in this process with the runtime's defaults,
// except a 100 ms fetch wait (as the raw loop) and one replica. Timing starts when the raw loop
// creates its consumer, and when the processor's runtime.start() is called (it creates the
// internal topics, then the consumer). It stops when the group's committed offsets reach the end
// of every input partition.
// A processor that re-keys an input also has to process every record it forwarded to its
// repartition topic before the clock stops. Records per second count input records.
//
// Prints a table and one JSON line with the machine, or only the JSON line with --json. Progress
// and the processors' logs (at --log-level) go to stderr. At the end the bench deletes its topics
// and consumer groups (unless --keep-topics), and exits 1 when a processor dead-lettered a record
// or a run timed out.
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient, Message } from 'kafkajs';

import { parseCartsConfig } from '../processors/carts/config.ts';
import { cartsTopology } from '../processors/carts/topology.ts';
import { loadOrdersConfig } from '../processors/orders/config.ts';
import { ordersTopology } from '../processors/orders/topology.ts';
import { parsePeopleConfig } from '../processors/people/config.ts';
import { peopleTopology } from '../processors/people/topology.ts';
import { parseRuntimeConfig } from '../processors/runtime/config.ts';
import type { SomeProcessorDefinition } from '../processors/runtime/index.ts';
import { ProcessorRuntime } from '../processors/runtime/runtime.ts';
import { parseSuppressionConfig } from '../processors/suppression/config.ts';
import { suppressionTopology } from '../processors/suppression/topology.ts';
import { mappingWithTopicPrefix } from '../test/people/support.ts';
import { createTopics, endOffsets, inputTopicsOf, machine, summarize, waitUntilCommittedToEnd } from './measure.ts';
import type { EndOffsets, Result } from './measure.ts';
import { runRawLoop } from './raw-loop.ts';
import { cartsInput, ordersInput, peopleInput, suppressionInput } from './shop-input.ts';
import type { TopicMessages, TrafficOptions } from './shop-input.ts';

const { Kafka, Partitioners, logLevel } = kafkajs;

const PROCESSOR_NAMES = ['orders', 'carts', 'people', 'suppression'] as const;
type ProcessorName = (typeof PROCESSOR_NAMES)[number];

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    processors: { type: 'string', default: PROCESSOR_NAMES.join(',') },
    partitions: { type: 'string', default: '3' },
    'max-records': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '7' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'timeout-s': { type: 'string' },
    'log-level': { type: 'string', default: 'error' },
    'keep-topics': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`--${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

function processorNames(text: string): ProcessorName[] {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of names) {
    if (!(PROCESSOR_NAMES as readonly string[]).includes(name)) {
      throw new Error(`--processors lists unknown processor ${JSON.stringify(name)}; expected some of ${PROCESSOR_NAMES.join(', ')}`);
    }
  }
  if (names.length === 0) throw new Error('--processors must name at least one processor');
  return names as ProcessorName[];
}

const records = positiveInteger('records', args.records);
const selected = processorNames(args.processors);
const partitions = positiveInteger('partitions', args.partitions);
const maxRecords = positiveInteger('max-records', args['max-records']);
const seed = positiveInteger('seed', args.seed);
const brokers = args.brokers.split(',');
// A floor of 200 input records per second, plus a minute for the group join and topic creation.
const timeoutMs = 1000 * (args['timeout-s'] === undefined ? 60 + Math.ceil(records / 200) : positiveInteger('timeout-s', args['timeout-s']));
const runId = randomUUID().slice(0, 8);
const prefix = `bench-${runId}`;
/** Event time between two sessions of generated traffic. */
const SESSION_SPACING_MS = 50;
/** Records per produce request: Debezium values with schemas are about 3 KB each. */
const PRODUCE_CHUNK = 200;
const FETCH_MAX_WAIT_MS = 100;

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

interface Bench {
  readonly name: ProcessorName;
  readonly applicationId: string;
  readonly definition: SomeProcessorDefinition;
  readonly input: TopicMessages;
}

/** Builds each processor through its config parser and topology function, with the bench's topics. */
function buildBench(name: ProcessorName): Bench {
  const applicationId = `${prefix}-${name}`;
  const mapping = mappingWithTopicPrefix(prefix);
  // Event times end about now: sessions start SESSION_SPACING_MS apart, about 3 records each.
  const traffic: TrafficOptions = {
    records,
    seed,
    startMs: Date.now() - Math.ceil(records / 3) * SESSION_SPACING_MS,
    sessionSpacingMs: SESSION_SPACING_MS,
    runId: randomUUID(),
  };
  switch (name) {
    case 'orders': {
      const config = loadOrdersConfig({ ORDERS_OUTPUT_TOPIC: `${applicationId}-order-events` });
      return { name, applicationId, definition: ordersTopology({ config, mapping, name: applicationId }), input: ordersInput(mapping, traffic) };
    }
    case 'carts': {
      const config = parseCartsConfig({ CIO_CDC_CART_EVENTS_TOPIC: `${applicationId}-cart-events`, CIO_CDC_CART_SNAPSHOTS_TOPIC: `${applicationId}-cart-snapshots` });
      return { name, applicationId, definition: cartsTopology(config, mapping, applicationId), input: cartsInput(mapping, traffic) };
    }
    case 'people': {
      const config = parsePeopleConfig({ CIO_CDC_CUSTOMER_EVENTS_TOPIC: `${prefix}-customer-events`, CIO_CDC_OUTBOX_TOPIC: `${applicationId}-outbox` });
      return { name, applicationId, definition: peopleTopology(config, mapping, applicationId), input: peopleInput(mapping, config.customerEventsTopic, traffic) };
    }
    case 'suppression': {
      const config = parseSuppressionConfig({
        CIO_CDC_CART_EVENTS_TOPIC: `${prefix}-cart-events`,
        CIO_CDC_ORDER_EVENTS_TOPIC: `${prefix}-order-events`,
        CIO_CDC_CUSTOMER_EVENTS_TOPIC: `${applicationId}-customer-events`,
        CIO_CDC_SUPPRESSION_DECISIONS_TOPIC: `${applicationId}-decisions`,
      });
      const input = suppressionInput(mapping, { cartEvents: config.cartEventsTopic, orderEvents: config.orderEventsTopic }, traffic);
      return { name, applicationId, definition: suppressionTopology(config, { name: applicationId }), input };
    }
  }
}

function recordCount(input: TopicMessages): number {
  return [...input.values()].reduce((sum, messages) => sum + messages.length, 0);
}

/**
 * Creates every input topic of the processor and writes the generated records. Inputs without
 * generated records (the orders processor's fulfillments, refunds and subscriptions) stay empty.
 */
async function writeInput(kafka: KafkaClient, admin: Admin, bench: Bench): Promise<EndOffsets> {
  const topics = inputTopicsOf(bench.definition);
  for (const topic of bench.input.keys()) {
    if (!topics.includes(topic)) {
      throw new Error(`the bench generates records for ${topic}, which the ${bench.name} processor does not read (its inputs: ${topics.join(', ')}); update bench/shop-input.ts`);
    }
  }
  await createTopics(admin, topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (const [topic, messages] of bench.input) {
      for (let start = 0; start < messages.length; start += PRODUCE_CHUNK) {
        await producer.send({ topic, acks: -1, messages: messages.slice(start, start + PRODUCE_CHUNK) as Message[] });
      }
    }
  } finally {
    await producer.disconnect();
  }
  return endOffsets(admin, topics);
}

interface ProcessorRun {
  readonly result: Result;
  readonly deadLetters: number;
  /** Records written per output, changelog and repartition topic. */
  readonly outputs: Record<string, number>;
}

async function counterByTopic(counter: ProcessorRuntime['metrics']['recordsOut']): Promise<Record<string, number>> {
  const { values } = await counter.get();
  const byTopic: Record<string, number> = {};
  for (const { labels, value } of values) {
    const topic = String(labels['topic']).replace(`${prefix}-`, '');
    byTopic[topic] = (byTopic[topic] ?? 0) + value;
  }
  return byTopic;
}

async function runProcessor(admin: Admin, bench: Bench, ends: EndOffsets): Promise<ProcessorRun> {
  const { applicationId } = bench;
  const config = parseRuntimeConfig(
    {
      KAFKA_BROKERS: brokers.join(','),
      CIO_CDC_APPLICATION_ID: applicationId,
      CIO_CDC_HTTP_PORT: '0',
      KAFKA_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_FETCH_MAX_WAIT_MS: String(FETCH_MAX_WAIT_MS),
      CIO_CDC_TRANSACTION_MAX_RECORDS: String(maxRecords),
      KAFKA_LOG_LEVEL: 'nothing',
      LOG_LEVEL: args['log-level'],
    },
    { applicationId },
  );
  const runtime = new ProcessorRuntime(bench.definition, { config });
  const batchMs: number[] = [];
  const processed = new Map<string, number>();
  runtime.on('committed', (event) => {
    const topic = event.offsets[0]?.topic;
    if (event.records > 0 && topic !== undefined) {
      batchMs.push(event.durationMs);
      processed.set(topic, (processed.get(topic) ?? 0) + event.records);
    }
  });

  const started = performance.now();
  await runtime.start();
  // Each re-keyed input must also be read back from its repartition topic: every generated
  // record is valid, so each one is forwarded once.
  const forwarded = [...runtime.plan.sources.values()]
    .filter((source) => source.role === 'repartition-source')
    .map((source) => ({ topic: source.repartitionTopic!, expected: bench.input.get(source.topic)?.length ?? 0 }));
  try {
    await waitUntilCommittedToEnd(admin, applicationId, ends, {
      timeoutMs,
      what: `the ${bench.name} processor`,
      alsoDone: () => forwarded.every(({ topic, expected }) => (processed.get(topic) ?? 0) >= expected),
    });
  } catch (error) {
    const deadLetters = Object.values(await counterByTopic(runtime.metrics.deadLetters)).reduce((sum, value) => sum + value, 0);
    await runtime.stop();
    throw new Error(`${(error as Error).message}; ${deadLetters} records were dead-lettered to ${applicationId}-dlq`, { cause: error });
  }
  const seconds = (performance.now() - started) / 1000;
  const outputs = await counterByTopic(runtime.metrics.recordsOut);
  const deadLetters = Object.values(await counterByTopic(runtime.metrics.deadLetters)).reduce((sum, value) => sum + value, 0);
  await runtime.stop();
  return { result: summarize(`${bench.name} processor`, recordCount(bench.input), seconds, batchMs), deadLetters, outputs };
}

async function removeTopicsAndGroups(admin: Admin, groups: readonly string[]): Promise<void> {
  try {
    await admin.deleteGroups([...groups]);
  } catch (error) {
    progress(`failed to delete consumer groups ${groups.join(', ')}: ${(error as Error).message}`);
  }
  const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${prefix}.`) || topic.startsWith(`${prefix}-`));
  try {
    await admin.deleteTopics({ topics, timeout: 60_000 });
  } catch (error) {
    progress(`failed to delete ${topics.length} topics named ${prefix}*: ${(error as Error).message}`);
  }
}

interface Row {
  processor: ProcessorName;
  side: string;
  records: number;
  seconds: number;
  'records/s': number;
  ratio: number | string;
  transactions: number;
  'p50 batch ms': number;
  'p99 batch ms': number;
}

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: `bench-${runId}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const groups: string[] = [];
  const results: unknown[] = [];
  const rows: Row[] = [];
  let failed = false;
  try {
    const benches: { bench: Bench; ends: EndOffsets }[] = [];
    for (const name of selected) {
      const bench = buildBench(name);
      progress(`writing ${recordCount(bench.input)} records for ${name}: ${[...bench.input].map(([topic, messages]) => `${topic} ${messages.length}`).join(', ')}`);
      benches.push({ bench, ends: await writeInput(kafka, admin, bench) });
    }

    for (const { bench, ends } of benches) {
      const inputRecords = recordCount(bench.input);
      const rawGroup = `${prefix}-raw-${bench.name}`;
      groups.push(rawGroup, bench.applicationId);
      progress(`${bench.name}: raw loop`);
      const rawRun = await runRawLoop(kafka, admin, { groupId: rawGroup, ends, outputPartitions: partitions, maxRecords, fetchMaxWaitMs: FETCH_MAX_WAIT_MS, timeoutMs });
      const raw = summarize('raw kafkajs transactional loop', inputRecords, rawRun.seconds, rawRun.batchMs);
      progress(`${bench.name}: processor`);
      const run = await runProcessor(admin, bench, ends);
      const ratio = Number((run.result.recordsPerSecond / raw.recordsPerSecond).toFixed(2));
      if (run.deadLetters > 0) {
        failed = true;
        progress(`${bench.name}: ${run.deadLetters} records were dead-lettered; every generated record should be valid`);
      }
      results.push({ name: bench.name, raw, processor: run.result, ratio, deadLetters: run.deadLetters, outputs: run.outputs });
      for (const [side, result] of [
        [raw.name, raw],
        ['processor', run.result],
      ] as const) {
        rows.push({
          processor: bench.name,
          side,
          records: result.records,
          seconds: result.seconds,
          'records/s': result.recordsPerSecond,
          ratio: side === 'processor' ? ratio : '',
          transactions: result.batches,
          'p50 batch ms': result.p50BatchMs,
          'p99 batch ms': result.p99BatchMs,
        });
      }
    }
  } catch (error) {
    failed = true;
    progress(`bench failed: ${(error as Error).message}`);
  } finally {
    if (!args['keep-topics']) await removeTopicsAndGroups(admin, groups);
    await admin.disconnect();
  }

  const line = JSON.stringify({ bench: 'processor-throughput', records, partitions, maxRecords, seed, target: 0.8, machine: machine(), results });
  if (!args.json) {
    console.table(rows);
    process.stdout.write('target: each processor reaches at least 0.8 x the raw loop\'s records per second\n');
  }
  process.stdout.write(`${line}\n`);
  if (failed) process.exitCode = 1;
}

try {
  await main();
} finally {
  // A client handle left open must not keep the bench alive after its report.
  setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
}
