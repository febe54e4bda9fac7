/**
 * Reads one partition from a start offset up to an end offset, read_committed,
 * without joining a consumer group. The stores use it to restore a task from its
 * changelog partition, `cio-cdc trace` to read the partition of one customer,
 * and tasks to tell whether they have read an input to its end (caught-up.ts).
 *
 * NOTE: kafkajs 2.2.4 has no public API to read a partition outside a consumer
 * group, so this module uses kafkajs internals. They are the Kafka instance's
 * private cluster factory, `Broker.fetch` and `Broker.listOffsets`, and the consumer's `Batch` class,
 * which drops control records (and aborted records, see read-committed.ts). package.json pins kafkajs to
 * exactly 2.2.4; re-check this file before changing that version.
 */
import { createRequire } from 'node:module';

import type { IHeaders, Kafka } from 'kafkajs';

import { RuntimeError } from './errors.ts';
import { installReadCommittedFix } from './read-committed.ts';

const require = createRequire(import.meta.url);

/** Fetch isolation level 1 = READ_COMMITTED in the Kafka protocol. */
const READ_COMMITTED = 1;
/** Isolation level 0 = READ_UNCOMMITTED: ListOffsets then returns the high watermark. */
const READ_UNCOMMITTED = 0;
/** ListOffsets timestamp -1 = the latest offset. */
const LATEST_OFFSET = -1;

interface RawMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: IHeaders;
  readonly timestamp: string;
}

interface InternalBatch {
  readonly messages: RawMessage[];
  readonly rawMessages: RawMessage[];
  isEmptyIncludingFiltered(): boolean;
  lastOffset(): string;
}

type BatchConstructor = new (topic: string, fetchedOffset: string, partitionData: unknown) => InternalBatch;

interface InternalBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
  }): Promise<{ responses: { topicName: string; partitions: unknown[] }[] }>;
  listOffsets(request: {
    isolationLevel: number;
    topics: { topic: string; partitions: { partition: number; timestamp: number }[] }[];
  }): Promise<{ responses: { topic: string; partitions: { partition: number; offset: string }[] }[] }>;
}

interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(query: { nodeId: string }): Promise<InternalBroker>;
  fetchTopicsOffset(
    topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

const Batch = require('kafkajs/src/consumer/batch.js') as BatchConstructor;

function createInternalCluster(kafka: Kafka): InternalCluster {
  const factorySymbol = Object.getOwnPropertySymbols(kafka).find(
    (symbol) => symbol.description === 'private:Kafka:createCluster',
  );
  if (factorySymbol === undefined) {
    throw new RuntimeError(
      'KAFKAJS_INTERNALS_CHANGED',
      'kafkajs no longer exposes its cluster factory; the changelog reader supports kafkajs 2.2.4 only',
    );
  }
  const factory = (kafka as unknown as Record<symbol, (options: object) => InternalCluster>)[factorySymbol]!;
  return factory({ isolationLevel: READ_COMMITTED, allowAutoTopicCreation: false });
}

export interface PartitionRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
  /** Kafka record timestamp, epoch milliseconds as text. */
  readonly timestamp: string;
}

export interface OffsetRange {
  /** First offset still in the log. */
  readonly earliest: string;
  /** Last stable offset: the end a read_committed reader can reach. */
  readonly end: string;
}

export interface ReadOptions {
  readonly from: string;
  readonly to: string;
  readonly onRecords: (records: readonly PartitionRecord[], nextOffset: string) => void;
  /** Checked between fetches; true stops the read early. */
  readonly isCancelled?: () => boolean;
  /**
   * Bytes one fetch may return; defaults to the reader's maxBytes. The broker
   * still returns the first record batch when it is larger, so 1 reads one batch
   * per fetch.
   */
  readonly maxBytes?: number;
}

export interface PartitionReaderOptions {
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  /** Pause between fetches that return nothing before the end offset. */
  readonly emptyFetchDelayMs?: number;
}

export class PartitionReader {
  private readonly cluster: InternalCluster;
  private readonly options: PartitionReaderOptions;
  private connected = false;
  /**
   * Fetches run one at a time. kafkajs 2.2.4 opens a new socket for every request
   * that arrives while a broker connection is still connecting, and loses track
   * of all but the last, so concurrent first fetches would leak sockets.
   */
  private fetchQueue: Promise<unknown> = Promise.resolve();

  constructor(kafka: Kafka, options: PartitionReaderOptions) {
    installReadCommittedFix();
    this.cluster = createInternalCluster(kafka);
    this.options = options;
  }

  async connect(): Promise<void> {
    if (!this.connected) {
      await this.cluster.connect();
      this.connected = true;
    }
  }

  async disconnect(): Promise<void> {
    if (this.connected) {
      this.connected = false;
      await this.cluster.disconnect();
    }
  }

  /** Earliest offset and last stable offset of each partition. */
  async offsetRanges(topic: string, partitions: readonly number[]): Promise<Map<number, OffsetRange>> {
    await this.cluster.addTargetTopic(topic);
    const request = (fromBeginning: boolean) => [
      { topic, fromBeginning, partitions: partitions.map((partition) => ({ partition })) },
    ];
    const [earliest, latest] = await Promise.all([
      this.cluster.fetchTopicsOffset(request(true)),
      this.cluster.fetchTopicsOffset(request(false)),
    ]);
    const ranges = new Map<number, OffsetRange>();
    for (const { partition, offset } of earliest[0]?.partitions ?? []) {
      const end = latest[0]?.partitions.find((entry) => entry.partition === partition)?.offset;
      if (end === undefined) {
        throw new RuntimeError('OFFSETS_MISSING', `no end offset returned for ${topic}[${partition}]`, { retriable: true });
      }
      ranges.set(partition, { earliest: offset, end });
    }
    return ranges;
  }

  /** Reloads topic metadata, after a request failed because a leader moved. */
  async refreshMetadata(): Promise<void> {
    await this.cluster.refreshMetadata();
  }

  /**
   * Looks up the high watermark of each partition: the end a read_uncommitted reader reaches.
   * It is beyond the last stable offset while a transaction in the partition is
   * still undecided.
   */
  async highWatermarks(topic: string, partitions: readonly number[]): Promise<Map<number, string>> {
    await this.cluster.addTargetTopic(topic);
    const leaders = this.cluster.findLeaderForPartitions(topic, [...partitions]);
    const result = new Map<number, string>();
    for (const [nodeId, led] of Object.entries(leaders)) {
      const broker = await this.cluster.findBroker({ nodeId });
      const { responses } = await broker.listOffsets({
        isolationLevel: READ_UNCOMMITTED,
        topics: [{ topic, partitions: led.map((partition) => ({ partition, timestamp: LATEST_OFFSET })) }],
      });
      for (const entry of responses.flatMap((response) => response.partitions)) {
        result.set(entry.partition, entry.offset);
      }
    }
    for (const partition of partitions) {
      if (!result.has(partition)) {
        throw new RuntimeError('OFFSETS_MISSING', `no high watermark returned for ${topic}[${partition}]`, { retriable: true });
      }
    }
    return result;
  }

  /**
   * Reads [from, to) of one partition and hands each fetched chunk of committed
   * records to `onRecords`. Aborted records and transaction markers are skipped
   * but still advance the position.
   */
  async read(topic: string, partition: number, options: ReadOptions): Promise<void> {
    await this.cluster.addTargetTopic(topic);
    let position = BigInt(options.from);
    const end = BigInt(options.to);

    while (position < end) {
      if (options.isCancelled?.() === true) {
        return;
      }
      const fetchOffset = position.toString();
      const partitionData = await this.fetchOnce(topic, partition, fetchOffset, options.maxBytes ?? this.options.maxBytes);
      const batch = new Batch(topic, fetchOffset, partitionData);

      if (batch.rawMessages.length === 0) {
        // Nothing at or after `position` yet, although the end offset is beyond it:
        // the leader may have changed. Wait briefly and fetch again.
        await new Promise((resolve) => setTimeout(resolve, this.options.emptyFetchDelayMs ?? 50));
        continue;
      }
      position = batch.isEmptyIncludingFiltered() ? position + 1n : BigInt(batch.lastOffset()) + 1n;
      const records = batch.messages
        .filter((message) => BigInt(message.offset) < end)
        .map((message) => ({ offset: message.offset, key: message.key, value: message.value, headers: message.headers ?? {}, timestamp: message.timestamp }));
      options.onRecords(records, position.toString());
    }
  }

  private fetchOnce(topic: string, partition: number, fetchOffset: string, maxBytes: number): Promise<unknown> {
    const result = this.fetchQueue.then(() => this.fetchWithRetry(topic, partition, fetchOffset, maxBytes));
    this.fetchQueue = result.catch(() => undefined);
    return result;
  }

  private async fetchWithRetry(topic: string, partition: number, fetchOffset: string, maxBytes: number): Promise<unknown> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const leaders = this.cluster.findLeaderForPartitions(topic, [partition]);
        const nodeId = Object.keys(leaders)[0];
        if (nodeId === undefined) {
          throw new RuntimeError('LEADER_NOT_FOUND', `no leader known for ${topic}[${partition}]`, { retriable: true });
        }
        const broker = await this.cluster.findBroker({ nodeId });
        const { responses } = await broker.fetch({
          isolationLevel: READ_COMMITTED,
          maxWaitTime: this.options.maxWaitMs,
          minBytes: 1,
          maxBytes,
          topics: [{ topic, partitions: [{ partition, fetchOffset, maxBytes }] }],
        });
        const partitionData = responses[0]?.partitions[0];
        if (partitionData === undefined) {
          throw new RuntimeError('FETCH_EMPTY', `fetch of ${topic}[${partition}] returned no partition`, { retriable: true });
        }
        return partitionData;
      } catch (error) {
        // Five attempts cover a leader change on a healthy cluster; beyond that the
        // caller's retry (task restore) takes over with its own backoff.
        if (attempt >= 4) {
          throw error;
        }
        await this.cluster.refreshMetadata();
        await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
      }
    }
  }
}
