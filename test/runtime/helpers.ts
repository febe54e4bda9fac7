// Helpers for the runtime tests: topics, producing, reading back with an
// independent kafkajs consumer, waiting on conditions, and runtimes configured
// with short timeouts.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient, KafkaMessage, Message } from 'kafkajs';
import { pino } from 'pino';
import type { Logger } from 'pino';

import { parseRuntimeConfig } from '../../processors/runtime/config.ts';
import { installReadCommittedFix } from '../../processors/runtime/read-committed.ts';
import type { RuntimeConfig } from '../../processors/runtime/config.ts';
import { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import type { RuntimeOptions } from '../../processors/runtime/runtime.ts';
import type { SomeProcessorDefinition } from '../../processors/runtime/processor.ts';
import { testStack } from '../support/env.ts';

const { Kafka, Partitioners, logLevel } = kafkajs;

export const brokers = testStack.kafkaBrokers;

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function testKafka(clientId = 'runtime-test'): KafkaClient {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
}

/** Environment for a runtime under test: short timeouts, any free HTTP port, one replica. */
export function testEnvironment(applicationId: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers.join(','),
    CIO_CDC_APPLICATION_ID: applicationId,
    CIO_CDC_INSTANCE_ID: uniqueName('instance'),
    CIO_CDC_HTTP_PORT: '0',
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    KAFKA_REBALANCE_TIMEOUT_MS: '10000',
    KAFKA_FETCH_MAX_WAIT_MS: '100',
    KAFKA_TOPIC_REPLICATION_FACTOR: '1',
    KAFKA_LOG_LEVEL: 'nothing',
    CIO_CDC_TIMER_CHECK_INTERVAL_MS: '100',
    CIO_CDC_RETRY_INITIAL_DELAY_MS: '50',
    CIO_CDC_RETRY_MAX_DELAY_MS: '500',
    CIO_CDC_SHUTDOWN_TIMEOUT_MS: '20000',
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

export function testConfig(applicationId: string, overrides: Record<string, string> = {}): RuntimeConfig {
  return parseRuntimeConfig(testEnvironment(applicationId, overrides), { applicationId });
}

/** Creates a pino logger that keeps every line as an object, for asserting on logs. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        }
      }
      callback();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export async function withAdmin<T>(work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = testKafka('runtime-test-admin').admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

export async function createTopics(specs: { topic: string; partitions: number; compacted?: boolean }[]): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.createTopics({
      waitForLeaders: true,
      topics: specs.map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.partitions,
        replicationFactor: 1,
        configEntries: spec.compacted === true ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      })),
    });
  });
}

/** Produces with the Java-compatible partitioner, the one the runtime uses. */
export async function produce(topic: string, messages: Message[]): Promise<void> {
  const producer = testKafka('runtime-test-producer').producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    // Chunks keep each request well below the broker's message size limit.
    for (let start = 0; start < messages.length; start += 500) {
      await producer.send({ topic, messages: messages.slice(start, start + 500), acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string>;
  readonly timestamp: string;
}

function toRecord(topic: string, partition: number, message: KafkaMessage): ReadRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) {
      headers[name] = Array.isArray(value) ? value.map(String).join(',') : value.toString();
    }
  }
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString('utf8'),
    value: message.value === null ? null : message.value.toString('utf8'),
    headers,
    timestamp: message.timestamp,
  };
}

/**
 * Reads `topic` from the beginning with a fresh consumer group until at least
 * `expected` records arrived and the consumer has reached the end offsets taken
 * after that, so records beyond the expected count (duplicates) are seen too.
 * read_committed unless `readUncommitted`.
 */
export async function readTopic(
  topic: string,
  options: { expected: number; timeoutMs?: number; readUncommitted?: boolean },
): Promise<ReadRecord[]> {
  // kafkajs's own read_committed filter lets aborted records through when
  // transactions of several producers interleave. The runtime installs the fix
  // for its consumers, so a reader downstream gets the same.
  installReadCommittedFix();
  const kafka = testKafka('runtime-test-reader');
  const admin = kafka.admin();
  const consumer = kafka.consumer({
    groupId: uniqueName('runtime-test-reader'),
    readUncommitted: options.readUncommitted ?? false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    maxWaitTimeInMs: 100,
  });
  const records: ReadRecord[] = [];
  const positions = new Map<number, bigint>();
  let ends: Map<number, bigint> | undefined;
  let poll: NodeJS.Timeout | undefined;
  const timeoutMs = options.timeoutMs ?? 60_000;
  await admin.connect();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${timeoutMs} ms reading ${topic}: ${records.length} of ${options.expected} records`)),
        timeoutMs,
      );
      const check = async () => {
        if (records.length < options.expected) {
          return;
        }
        // Taken once the expected count arrived: admin.fetchTopicOffsets requests
        // read_committed end offsets, which no reader can pass.
        ends ??= new Map((await admin.fetchTopicOffsets(topic)).map((entry) => [entry.partition, BigInt(entry.offset)]));
        const done = [...ends].every(([partition, end]) => end === 0n || (positions.get(partition) ?? 0n) >= end);
        if (done) {
          clearTimeout(timer);
          resolve();
        }
      };
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const message of batch.messages) {
              records.push(toRecord(batch.topic, batch.partition, message));
            }
          },
        })
        .catch(reject);
      // END_BATCH_PROCESS also reports batches that held only transaction markers,
      // which never reach eachBatch but still move the position.
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        positions.set(event.payload.partition, BigInt(event.payload.lastOffset) + 1n);
        check().catch(reject);
      });
      poll = setInterval(() => check().catch(reject), 200);
    });
  } finally {
    clearInterval(poll);
    await consumer.disconnect();
    await admin.disconnect();
  }
  return records;
}

/** Polls `condition` every 50 ms until it returns true; fails naming `what` after timeoutMs. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Resolves with the next emission of `event`, or fails after timeoutMs. */
export function nextEvent(runtime: ProcessorRuntime, event: 'ready' | 'stopped', timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for runtime event "${event}"`)), timeoutMs);
    runtime.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts a runtime and waits until every assigned task runs. */
export async function startRuntime(
  definition: SomeProcessorDefinition,
  options: RuntimeOptions,
): Promise<ProcessorRuntime> {
  const runtime = new ProcessorRuntime(definition, options);
  const ready = nextEvent(runtime, 'ready');
  await runtime.start();
  await ready;
  return runtime;
}

/** Committed offsets of a group for one topic, by partition. */
export async function committedOffsets(groupId: string, topic: string): Promise<Map<number, string>> {
  return withAdmin(async (admin) => {
    const result = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(result[0]!.partitions.map((entry) => [entry.partition, entry.offset]));
  });
}

/** Number of records a runtime committed from input topics, counted from its events. */
export function countCommitted(runtime: ProcessorRuntime): { total: () => number } {
  let total = 0;
  runtime.on('committed', (event) => {
    total += event.records;
  });
  return { total: () => total };
}

export function jsonMessages(count: number, make: (index: number) => { key: string; value: unknown; timestamp?: number }): Message[] {
  return Array.from({ length: count }, (_, index) => {
    const { key, value, timestamp } = make(index);
    return {
      key,
      value: JSON.stringify(value),
      ...(timestamp === undefined ? {} : { timestamp: String(timestamp) }),
    };
  });
}

/** One record of a partition's log as written, transaction markers included. */
export interface LogRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | null;
  readonly producerId: string;
  readonly inTransaction: boolean;
  /** 'commit' or 'abort' for a transaction marker, null for a data record. */
  readonly marker: 'commit' | 'abort' | null;
}

interface RawBatchRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly isControlRecord: boolean;
  readonly batchContext: { readonly producerId: string; readonly inTransaction: boolean };
}

/**
 * Reads every record of `topic` read_uncommitted, markers included, up to the
 * high watermark taken before reading.
 */
export async function readLog(topic: string, timeoutMs = 30_000): Promise<LogRecord[]> {
  const kafka = testKafka('runtime-test-log-reader');
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  for (const entry of await admin.fetchTopicOffsets(topic)) {
    ends.set(entry.partition, BigInt(entry.high));
  }
  await admin.disconnect();

  const consumer = kafka.consumer({ groupId: uniqueName('runtime-test-log-reader'), readUncommitted: true, maxWaitTimeInMs: 100 });
  const records: LogRecord[] = [];
  const positions = new Map<number, bigint>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms reading the log of ${topic}`)), timeoutMs);
      const check = () => {
        if ([...ends].every(([partition, end]) => (positions.get(partition) ?? 0n) >= end)) {
          clearTimeout(timer);
          resolve();
        }
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, (event) => {
        positions.set(event.payload.partition, BigInt(event.payload.lastOffset) + 1n);
        check();
      });
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            // messagesWithinOffset is kafkajs's list before control records are dropped.
            const raw = (batch as unknown as { messagesWithinOffset: RawBatchRecord[] }).messagesWithinOffset;
            for (const message of raw) {
              const keyHex = message.key?.toString('hex');
              records.push({
                partition: batch.partition,
                offset: BigInt(message.offset),
                key: message.isControlRecord || message.key === null ? null : message.key.toString('utf8'),
                producerId: message.batchContext.producerId,
                inTransaction: message.batchContext.inTransaction,
                marker: message.isControlRecord ? (keyHex === '00000000' ? 'abort' : 'commit') : null,
              });
            }
          },
        })
        .catch(reject);
      check();
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/**
 * The data records a read_committed reader must return, decided from the log
 * alone: a transactional record counts when the next marker of its producer in
 * the same partition is a commit. This is independent of the broker's list of
 * aborted transactions, which the runtime's filter uses.
 */
export function committedFromLog(log: readonly LogRecord[]): LogRecord[] {
  const committed: LogRecord[] = [];
  const byPartition = new Map<number, LogRecord[]>();
  for (const record of log) {
    byPartition.set(record.partition, [...(byPartition.get(record.partition) ?? []), record]);
  }
  for (const records of byPartition.values()) {
    const sorted = [...records].sort((a, b) => Number(a.offset - b.offset));
    const nextMarker = new Map<string, 'commit' | 'abort'>();
    const decided: LogRecord[] = [];
    for (let index = sorted.length - 1; index >= 0; index -= 1) {
      const record = sorted[index]!;
      if (record.marker !== null) {
        nextMarker.set(record.producerId, record.marker);
      } else if (!record.inTransaction || nextMarker.get(record.producerId) === 'commit') {
        decided.push(record);
      }
    }
    committed.push(...decided.reverse());
  }
  return committed;
}
