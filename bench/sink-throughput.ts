// Delivery throughput of the Customer.io sink against the local stand-in, next to the ceiling
// that the request-rate limit sets.
//
//   node bench/sink-throughput.ts [--records 5000] [--rate 20] [--batch-items 100]
//        [--customers 1000] [--partitions 3] [--latency-ms 50] [--brokers 127.0.0.1:9092]
//        [--timeout-s <derived>] [--log-level warn] [--json]
//
// Before timing, the bench writes --records valid outbox records (one identify, then events, per
// customer) to a fresh outbox topic. It then starts a stand-in on a free 127.0.0.1 port with a
// fixed latency and a limit of --rate requests per second, and runs one CustomerioSink in this
// process. The sink's client uses v2 batches, paces itself at the same --rate and packs at most
// --batch-items items per batch. Records go round-robin over customers, so consecutive records
// of a partition belong to different people and the one-operation-per-person rule of a v2 batch
// rarely cuts a batch short.
//
// Wall time runs from the stand-in's first receipt of a request to its last one. The target is
// 0.95 x rate x (items per accepted batch request, counted from the stand-in's calls). Because
// n paced requests span n - 1 intervals, a short run can beat the target slightly.
//
// Prints a table, the machine and the command line. With --json it prints one JSON line instead.
// Progress and sink logs go to stderr. The run stops after --timeout-s, then deletes its topics
// and its consumer group, and exits 1 if not every record was delivered.
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient } from 'kafkajs';
import { pino } from 'pino';

import { deriveEventId } from '../processors/customerio/event-id.ts';
import { encodeOutboxRecord, type EventRecord, type IdentifyRecord, type OutboxRecord } from '../processors/customerio/records.ts';
import { parseSinkConfig } from '../processors/customerio/sink/config.ts';
import { CustomerioSink } from '../processors/customerio/sink/sink.ts';
import { startStandin, type Standin } from '../processors/standin/server.ts';
import type { CallRecord } from '../processors/standin/store.ts';

const { Kafka, Partitioners, logLevel } = kafkajs;

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '20' },
    'batch-items': { type: 'string', default: '100' },
    customers: { type: 'string', default: '1000' },
    partitions: { type: 'string', default: '3' },
    'latency-ms': { type: 'string', default: '50' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'timeout-s': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
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

const records = positiveInteger('records', args.records);
const rate = positiveInteger('rate', args.rate);
const batchItems = positiveInteger('batch-items', args['batch-items']);
const customers = Math.min(records, positiveInteger('customers', args.customers));
const partitions = positiveInteger('partitions', args.partitions);
const latencyMs = Number(args['latency-ms']);
if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new Error(`--latency-ms must be 0 or more, got ${JSON.stringify(args['latency-ms'])}`);
const brokers = args.brokers.split(',');
// Three times the paced duration of full batches, plus a minute for the group join and topic setup.
const timeoutSeconds =
  args['timeout-s'] === undefined ? 60 + Math.ceil((3 * records) / (rate * batchItems)) : positiveInteger('timeout-s', args['timeout-s']);
const runId = randomUUID().slice(0, 8);

const SITE_ID = 'bench-site';
const API_KEY = 'bench-key';
const POLL_MS = 200;
const BASE_TIMESTAMP = 1_721_050_200;

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** Builds the outbox records: round r contains record r of every customer, and round 0 is the identify. */
function buildRecords(): OutboxRecord[] {
  const built: OutboxRecord[] = [];
  for (let round = 0; built.length < records; round += 1) {
    for (let customer = 0; customer < customers && built.length < records; customer += 1) {
      const customerId = String(100_000 + customer);
      if (round === 0) {
        const identify: IdentifyRecord = {
          kind: 'identify',
          customerId,
          attributes: { first_name: `Bench${customer}`, created_at: BASE_TIMESTAMP - 86_400, plan: 'basic' },
          timestamp: BASE_TIMESTAMP,
          origin: 'live',
        };
        built.push(identify);
        continue;
      }
      const orderId = `${runId}-${customer}-${round}`;
      const event: EventRecord = {
        kind: 'event',
        customerId,
        name: 'order_placed',
        id: deriveEventId(['order_placed', 'order', orderId]),
        timestamp: BASE_TIMESTAMP + round,
        data: { order_id: orderId, total: '19.90', currency: 'EUR' },
        origin: 'live',
      };
      built.push(event);
    }
  }
  return built;
}

interface Topics {
  outbox: string;
  deadLetter: string;
  deliveryLog: string;
}

async function createTopics(admin: Admin, topics: Topics): Promise<void> {
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: topics.deadLetter, numPartitions: 1, replicationFactor: 1 },
      { topic: topics.deliveryLog, numPartitions: 1, replicationFactor: 1 },
      { topic: topics.outbox, numPartitions: partitions, replicationFactor: 1 },
    ],
  });
}

/** Writes the records to the outbox keyed by customer id and returns the end offset of each partition. */
async function produceOutbox(kafka: KafkaClient, admin: Admin, topic: string, outbox: readonly OutboxRecord[]): Promise<Map<number, string>> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let start = 0; start < outbox.length; start += 1000) {
      await producer.send({ topic, acks: -1, messages: outbox.slice(start, start + 1000).map(encodeOutboxRecord) });
    }
  } finally {
    await producer.disconnect();
  }
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((entry) => [entry.partition, entry.high]));
}

async function committedToEnd(admin: Admin, groupId: string, topic: string, ends: Map<number, string>): Promise<boolean> {
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  // An empty partition has no commit to wait for.
  return [...ends].every(([partition, end]) => end === '0' || committed?.partitions.find((entry) => entry.partition === partition)?.offset === end);
}

/** Sum of a counter over all its label sets. */
async function counterTotal(sink: CustomerioSink, name: string): Promise<number> {
  const metric = sink.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`sink metric ${name} not found. Update the bench to the sink's metric names`);
  const { values } = await metric.get();
  return values.reduce((sum, entry) => sum + entry.value, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function batchItemCount(call: CallRecord): number {
  const batch = (call.requestBody as { batch?: unknown } | null)?.batch;
  return Array.isArray(batch) ? batch.length : 0;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

interface Measurement {
  delivered: number;
  rejected: number;
  committedToEnd: boolean;
  timedOut: boolean;
}

/** Runs the sink until every record is delivered or dead-lettered and committed, or the timeout passes. */
async function runSink(admin: Admin, standin: Standin, topics: Topics, groupId: string, ends: Map<number, string>): Promise<Measurement> {
  const config = parseSinkConfig({
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_CLIENT_ID: `bench-sink-${runId}`,
    SINK_GROUP_ID: groupId,
    SINK_OUTBOX_TOPIC: topics.outbox,
    SINK_DLQ_TOPIC: topics.deadLetter,
    SINK_DELIVERY_LOG_TOPIC: topics.deliveryLog,
    SINK_HTTP_PORT: '0',
    LOG_LEVEL: args['log-level'],
    CIO_SITE_ID: SITE_ID,
    CIO_TRACK_API_KEY: API_KEY,
    CIO_TRACK_BASE_URL: standin.url,
    CIO_TRACK_API_VERSION: 'v2',
    CIO_REQUESTS_PER_SECOND: String(rate),
    CIO_MAX_BATCH_ITEMS: String(batchItems),
  });
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const sink = new CustomerioSink({ config, logger });

  const deadline = Date.now() + timeoutSeconds * 1000;
  let delivered = 0;
  let rejected = 0;
  let caughtUp = false;
  try {
    await sink.start();
    while (Date.now() < deadline) {
      delivered = await counterTotal(sink, 'cio_sink_delivered_total');
      rejected = await counterTotal(sink, 'cio_sink_rejected_total');
      if (delivered + rejected >= records && (await committedToEnd(admin, groupId, topics.outbox, ends))) {
        caughtUp = true;
        break;
      }
      await sleep(POLL_MS);
    }
  } finally {
    await sink.stop();
  }
  return { delivered, rejected, committedToEnd: caughtUp, timedOut: !caughtUp };
}

async function removeTopicsAndGroup(admin: Admin, topics: Topics, groupId: string): Promise<void> {
  try {
    await admin.deleteGroups([groupId]);
  } catch (err) {
    progress(`failed to delete consumer group ${groupId}: ${(err as Error).message}`);
  }
  try {
    await admin.deleteTopics({ topics: [topics.outbox, topics.deadLetter, topics.deliveryLog], timeout: 30_000 });
  } catch (err) {
    progress(`failed to delete topics ${topics.outbox}, ${topics.deadLetter}, ${topics.deliveryLog}: ${(err as Error).message}`);
  }
}

function commandLine(): string {
  return process.argv.map((part) => (/^[\w./:=@,+-]+$/.test(part) ? part : JSON.stringify(part))).join(' ');
}

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: `bench-${runId}`, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const topics: Topics = {
    outbox: `bench-sink-outbox-${runId}`,
    deadLetter: `bench-sink-dlq-${runId}`,
    deliveryLog: `bench-sink-log-${runId}`,
  };
  const groupId = `bench-sink-${runId}`;
  const outbox = buildRecords();

  await admin.connect();
  let standin: Standin | undefined;
  try {
    await createTopics(admin, topics);
    progress(`writing ${records} outbox records for ${customers} customers to ${topics.outbox} (${partitions} partitions)`);
    const ends = await produceOutbox(kafka, admin, topics.outbox, outbox);

    standin = await startStandin({
      port: 0,
      siteId: SITE_ID,
      apiKey: API_KEY,
      faults: { latencyMs, requestsPerSecond: rate },
    });
    progress(`stand-in at ${standin.url}: ${latencyMs} ms latency, limit ${rate} requests/s; sink: v2, ${rate} requests/s, ${batchItems} items per batch; timeout ${timeoutSeconds} s`);
    const measured = await runSink(admin, standin, topics, groupId, ends);

    const calls = standin.calls();
    const stats = standin.stats();
    const receipts = calls.map((call) => call.receivedAtMs);
    const wallSeconds = receipts.length < 2 ? Number.NaN : (Math.max(...receipts) - Math.min(...receipts)) / 1000;
    const accepted = calls.filter((call) => call.path === '/api/v2/batch' && (call.status === 200 || call.status === 207));
    const acceptedItems = accepted.reduce((sum, call) => sum + batchItemCount(call), 0);
    const itemsPerBatch = accepted.length === 0 ? Number.NaN : acceptedItems / accepted.length;
    const eventsPerSecond = measured.delivered / wallSeconds;
    const targetPerSecond = 0.95 * rate * itemsPerBatch;

    const result = {
      recordsDelivered: measured.delivered,
      recordsDeadLettered: measured.rejected,
      wallSeconds: round(wallSeconds, 2),
      eventsPerSecond: round(eventsPerSecond, 1),
      itemsPerBatch: round(itemsPerBatch, 2),
      targetPerSecond: round(targetPerSecond, 1),
      ratio: round(eventsPerSecond / targetPerSecond, 3),
      httpRequests: stats.calls,
      acceptedBatchRequests: accepted.length,
      responses429: stats.callsByStatus['429'] ?? 0,
      standinEventsStored: stats.events,
      standinPeople: stats.people,
      committedToEnd: measured.committedToEnd,
      timedOut: measured.timedOut,
    };
    const machine = {
      cpuModel: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      node: process.version,
    };
    const settings = { records, rate, batchItems, customers, partitions, latencyMs, timeoutSeconds };

    if (args.json) {
      process.stdout.write(`${JSON.stringify({ bench: 'sink-throughput', settings, result, machine, command: commandLine() })}\n`);
    } else {
      console.table(result);
      process.stdout.write(`machine: ${machine.cpuModel} x ${machine.cpus} CPUs, ${machine.memoryGiB} GiB memory, node ${machine.node}\n`);
      process.stdout.write(`command: ${commandLine()}\n`);
    }
    if (measured.timedOut) {
      progress(`timed out after ${timeoutSeconds} s with ${measured.delivered + measured.rejected} of ${records} records finished`);
      process.exitCode = 1;
    } else if (measured.rejected > 0) {
      progress(`${measured.rejected} records were dead-lettered; every bench record should be valid`);
      process.exitCode = 1;
    }
  } finally {
    await standin?.close();
    await removeTopicsAndGroup(admin, topics, groupId);
    await admin.disconnect();
  }
}

try {
  await main();
} finally {
  // A client handle left open must not keep the bench alive after its report.
  setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
}
