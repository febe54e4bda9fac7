/**
 * Reads, for one customer, the records of every traced topic. Each topic is read in one
 * partition only: the partition the customer's key maps to under kafkajs's DefaultPartitioner
 * (murmur2, as the Java client computes it). The runtime's and the sink's producers use that
 * partitioner, and Kafka Connect's Java producer applies the same hash to Debezium's keys. The
 * read goes from the partition's earliest offset to its end offset taken at the start, read_committed,
 * and then stops. kafkajs's admin lists offsets read_committed, so that end is the last stable offset.
 */
import kafkajs from 'kafkajs';
import type { Admin, IHeaders, Kafka, PartitionMetadata } from 'kafkajs';

import { parseJsonExact } from '../debezium/index.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { PartitionReader } from '../runtime/partition-reader.ts';
import { installReadCommittedFix } from '../runtime/read-committed.ts';
import type { TraceConfig, TraceSource } from './trace-config.ts';
import { TRACE_SOURCES } from './trace-config.ts';

const { Partitioners } = kafkajs;

/** Declared id types whose values Debezium's JSON key converter writes as JSON numbers. */
const NUMERIC_ID_TYPES = new Set(['bigint', 'bigint unsigned', 'number']);

/** One topic to read: the customer's key in that topic and how to recognise it. */
export interface TraceTarget {
  readonly source: TraceSource;
  readonly topic: string;
  /** The key bytes the producer partitions by. */
  readonly key: Buffer;
  readonly matches: (key: Buffer | null) => boolean;
}

/** The partition read of one topic, with its offsets and record counts. */
export interface TopicRead {
  readonly source: TraceSource;
  readonly topic: string;
  /** Partition count of the topic, or null when the topic does not exist. */
  readonly partitionCount: number | null;
  /** The one partition read, or null when the topic does not exist. */
  readonly partition: number | null;
  /** First offset read, or null when the topic does not exist. */
  readonly fromOffset: string | null;
  /** End offset (exclusive) taken at the start of the read, or null when the topic does not exist. */
  readonly endOffset: string | null;
  /** Records read from the partition. */
  readonly scanned: number;
  /** Records of them whose key is the customer's. */
  readonly matched: number;
}

/** One record of the customer, as read. */
export interface FetchedRecord {
  readonly source: TraceSource;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Headers as UTF-8 text; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  /** Kafka record timestamp, epoch milliseconds. */
  readonly timestampMs: number;
}

/** Returns the partition kafkajs's DefaultPartitioner (Java-compatible murmur2) picks for `key`. */
export function partitionForKey(key: Buffer | string, partitionCount: number): number {
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitionCount }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  return Partitioners.DefaultPartitioner()({ topic: '', partitionMetadata, message: { key, value: null } });
}

/**
 * Returns the key Debezium writes for the customer's row: the primary key struct as compact JSON
 * (the JSON key converter without schemas, as deploy/connect/shop-connector.json sets it),
 * for example `{"id":501}`. The id is a JSON number when the mapping declares the id column
 * numeric, or declares no type and the id is all digits. Any other id is a JSON string.
 */
// NOTE: Avro keys, or JSON keys with embedded schemas, have other bytes, so the computed partition is
// wrong for them and the trace finds no source row.
export function customerSourceKey(mapping: Mapping, customerId: string): string {
  const column = mapping.tables.customers.columns['id'] ?? 'id';
  const declared = mapping.tables.customers.types[column];
  const numeric = /^-?\d+$/.test(customerId) && (declared === undefined || NUMERIC_ID_TYPES.has(declared));
  return `{${JSON.stringify(column)}:${numeric ? customerId : JSON.stringify(customerId)}}`;
}

/** Returns whether a Debezium key names the customer's row, comparing the id column as text. */
function sourceKeyMatcher(mapping: Mapping, customerId: string): (key: Buffer | null) => boolean {
  const column = mapping.tables.customers.columns['id'] ?? 'id';
  return (key) => {
    if (key === null || key[0] !== 0x7b) return false;
    try {
      const parsed = parseJsonExact(key.toString('utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
      const id = (parsed as Record<string, unknown>)[column];
      return id !== undefined && id !== null && String(id) === customerId;
    } catch {
      return false;
    }
  };
}

/** Returns the topics of the trace with the customer's key in each. */
export function traceTargets(config: TraceConfig, customerId: string): TraceTarget[] {
  const customerKey = Buffer.from(customerId, 'utf8');
  return TRACE_SOURCES.map((source) => {
    const topic = config.topics[source];
    if (source === 'customers') {
      return { source, topic, key: Buffer.from(customerSourceKey(config.mapping, customerId), 'utf8'), matches: sourceKeyMatcher(config.mapping, customerId) };
    }
    return { source, topic, key: customerKey, matches: (key: Buffer | null) => key !== null && key.equals(customerKey) };
  });
}

function headerText(headers: IHeaders): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) text[name] = last.toString();
  }
  return text;
}

/**
 * Reads the customer's partition of each target topic. A topic that does not exist is reported
 * with null partition fields and is not an error, because a pipeline may not have written it yet.
 */
export async function readTargets(kafka: Kafka, targets: readonly TraceTarget[], options: { maxWaitMs: number; maxBytes: number }): Promise<{ reads: TopicRead[]; records: FetchedRecord[] }> {
  // kafkajs 2.2.4's own read_committed filter lets aborted records through when transactions of
  // several producers interleave in one partition, as they do on the outbox.
  installReadCommittedFix();
  const admin: Admin = kafka.admin();
  const reader = new PartitionReader(kafka, { maxWaitMs: options.maxWaitMs, maxBytes: options.maxBytes });
  const reads: TopicRead[] = [];
  const records: FetchedRecord[] = [];
  await admin.connect();
  try {
    await reader.connect();
    const existing = new Set(await admin.listTopics());
    for (const target of targets) {
      if (!existing.has(target.topic)) {
        reads.push({ source: target.source, topic: target.topic, partitionCount: null, partition: null, fromOffset: null, endOffset: null, scanned: 0, matched: 0 });
        continue;
      }
      reads.push(await readTarget(admin, reader, target, records));
    }
  } finally {
    await reader.disconnect();
    await admin.disconnect();
  }
  return { reads, records };
}

async function readTarget(admin: Admin, reader: PartitionReader, target: TraceTarget, records: FetchedRecord[]): Promise<TopicRead> {
  const offsets = await admin.fetchTopicOffsets(target.topic);
  const partition = partitionForKey(target.key, offsets.length);
  const range = offsets.find((entry) => entry.partition === partition);
  if (range === undefined) {
    throw new Error(`topic ${target.topic} has ${offsets.length} partitions but listed no offsets for partition ${partition}`);
  }
  let scanned = 0;
  let matched = 0;
  if (BigInt(range.low) < BigInt(range.offset)) {
    await reader.read(target.topic, partition, {
      from: range.low,
      to: range.offset,
      onRecords: (chunk) => {
        scanned += chunk.length;
        for (const record of chunk) {
          if (!target.matches(record.key)) continue;
          matched += 1;
          records.push({
            source: target.source,
            topic: target.topic,
            partition,
            offset: record.offset,
            key: record.key,
            value: record.value,
            headers: headerText(record.headers),
            timestampMs: Number(record.timestamp),
          });
        }
      },
    });
  }
  return { source: target.source, topic: target.topic, partitionCount: offsets.length, partition, fromOffset: range.low, endOffset: range.offset, scanned, matched };
}
