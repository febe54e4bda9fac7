/**
 * One transactional producer per task, and the commit of one batch.
 *
 * Why a producer per task and not one per instance: fencing. kafkajs 2.2.4 sends
 * TxnOffsetCommit v0/v1, which carry no consumer group generation or member id,
 * so the broker cannot reject offsets from an instance that lost the partition in
 * a rebalance. The transactional id `<applicationId>-task-<p>` is the same on every
 * instance. Whichever instance takes task p initializes that id. That bumps the
 * producer epoch and aborts the old owner's open transaction, and every later
 * request of the old owner fails with INVALID_PRODUCER_EPOCH. A producer per task
 * also keeps transactions of different tasks from queueing behind each other;
 * transactions of one task are serialized by the task.
 *
 * Commit of one batch, in order:
 *  1. Begin a transaction (the first one on a producer initializes its id).
 *  2. Send outputs, repartition records, dead letters and changelog records.
 *  3. Send the input offsets (last processed + 1) for the consumer group.
 *  4. Commit.
 * A failure in 1-3 aborts, and the batch is certainly not committed. A failure in
 * 4 leaves the outcome unknown until the id is initialized again, so the task then
 * re-reads its committed offsets and restores its state before going on.
 */
import kafkajs from 'kafkajs';
import type { Kafka, Message, Producer, Transaction } from 'kafkajs';
import type { Logger } from 'pino';

import { TaskFencedError, TransactionFailedError, errorMessage } from './errors.ts';
import type { RuntimeMetrics } from './telemetry.ts';

const { Partitioners } = kafkajs;

/** Protocol errors that mean another producer took over this transactional id. */
const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);
/** INVALID_PRODUCER_EPOCH = 47, PRODUCER_FENCED = 90 (newer brokers). */
const FENCED_CODES = new Set([47, 90]);

/**
 * Protocol errors worth retrying inside a transaction step. kafkajs does not retry
 * AddOffsetsToTxn, and a broker returns CONCURRENT_TRANSACTIONS (code 51) while
 * the markers of the previous transaction on the same id are still being written.
 */
const RETRIABLE_STEP_TYPES = new Set([
  'CONCURRENT_TRANSACTIONS',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'REQUEST_TIMED_OUT',
  'NOT_ENOUGH_REPLICAS',
  'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
]);
const RETRIABLE_STEP_CODES = new Set([51]);

/** kafkajs wraps protocol errors in retry errors; walk `cause` to find the first type and code. */
export function protocolError(error: unknown): { type?: string; code?: number } {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth += 1) {
    const candidate = current as { type?: unknown; code?: unknown; cause?: unknown; originalError?: unknown };
    if (typeof candidate.type === 'string') {
      return { type: candidate.type, ...(typeof candidate.code === 'number' ? { code: candidate.code } : {}) };
    }
    current = candidate.cause ?? candidate.originalError;
  }
  return {};
}

export function isFencedError(error: unknown): boolean {
  const { type, code } = protocolError(error);
  return (type !== undefined && FENCED_TYPES.has(type)) || (code !== undefined && FENCED_CODES.has(code));
}

/** True for errors a transaction step may retry, CONCURRENT_TRANSACTIONS above all. */
export function isRetriableStepError(error: unknown): boolean {
  const { type, code } = protocolError(error);
  if (type !== undefined && RETRIABLE_STEP_TYPES.has(type)) {
    return true;
  }
  if (code !== undefined && RETRIABLE_STEP_CODES.has(code)) {
    return true;
  }
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'KafkaJSConnectionError' || name === 'KafkaJSRequestTimeoutError';
}

export interface RetryPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Attempts of one step before the transaction is aborted. */
  readonly attempts: number;
}

/** Capped exponential backoff with full jitter between half and the whole delay. */
export function backoffDelayMs(attempt: number, policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/**
 * Runs `step`, retrying errors that isRetriableStepError accepts with backoff.
 * `onRetry` is called before each retry; the last error is rethrown when attempts run out.
 */
export async function retryStep<T>(
  step: () => Promise<T>,
  policy: RetryPolicy,
  onRetry: (error: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= policy.attempts || !isRetriableStepError(error) || isFencedError(error)) {
        throw error;
      }
      const delayMs = backoffDelayMs(attempt - 1, policy);
      onRetry(error, attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

export interface TopicMessages {
  readonly topic: string;
  readonly messages: Message[];
}

export interface OffsetCommit {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to read: last processed + 1, as a decimal string. */
  readonly offset: string;
}

export interface TransactionContent {
  readonly topicMessages: readonly TopicMessages[];
  readonly offsets: readonly OffsetCommit[];
}

export interface CommitHooks {
  /**
   * Runs after every record and offset of a transaction was sent and before it
   * commits. Throwing aborts the transaction. Meant for fault-injection tests.
   */
  readonly beforeCommit?: (info: { task: number; transaction: number }) => void | Promise<void>;
}

export interface TaskProducerOptions {
  readonly kafka: Kafka;
  readonly task: number;
  readonly transactionalId: string;
  readonly consumerGroupId: string;
  readonly transactionTimeoutMs: number;
  readonly retry: RetryPolicy;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly hooks: CommitHooks;
}

/**
 * Largest payload handed to one sendBatch call. Brokers reject a record batch over
 * message.max.bytes (1 MiB by default), and kafkajs puts everything for one
 * partition of one call into one record batch, so calls stay well below that.
 */
const SEND_CHUNK_BYTES = 512 * 1024;
/** Rough per-record overhead in a record batch, used only to size send chunks. */
const RECORD_OVERHEAD_BYTES = 70;

function messageSize(message: Message): number {
  const size = (part: Buffer | string | null | undefined): number => {
    if (part === null || part === undefined) {
      return 0;
    }
    return typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  };
  let headers = 0;
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    headers += name.length + (Array.isArray(value) ? value.reduce((sum, item) => sum + size(item), 0) : size(value));
  }
  return RECORD_OVERHEAD_BYTES + size(message.key) + size(message.value) + headers;
}

/** Splits topic messages into sendBatch calls of at most SEND_CHUNK_BYTES each. */
export function chunkMessages(topicMessages: readonly TopicMessages[]): TopicMessages[][] {
  const chunks: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let currentBytes = 0;
  for (const { topic, messages } of topicMessages) {
    let pending: Message[] = [];
    for (const message of messages) {
      const bytes = messageSize(message);
      if (currentBytes + bytes > SEND_CHUNK_BYTES && currentBytes > 0) {
        if (pending.length > 0) {
          current.push({ topic, messages: pending });
          pending = [];
        }
        chunks.push(current);
        current = [];
        currentBytes = 0;
      }
      pending.push(message);
      currentBytes += bytes;
    }
    if (pending.length > 0) {
      current.push({ topic, messages: pending });
    }
  }
  if (current.length > 0) {
    chunks.push(current);
  }
  return chunks;
}

export class TaskProducer {
  private readonly options: TaskProducerOptions;
  private readonly log: Logger;
  private producer: Producer | undefined;
  private transactionCount = 0;

  constructor(options: TaskProducerOptions) {
    this.options = options;
    this.log = options.log.child({ transactionalId: options.transactionalId });
  }

  /**
   * Connects and initializes the transactional id, which fences any older
   * producer with the same id and aborts its open transaction.
   */
  async init(): Promise<void> {
    await this.close();
    const producer = this.options.kafka.producer({
      transactionalId: this.options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.options.transactionTimeoutMs,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    await producer.connect();
    this.producer = producer;
    try {
      // kafkajs initializes the producer id lazily in transaction(); an empty
      // transaction that is aborted at once sends no EndTxn but runs the init.
      const transaction = await retryStep(() => producer.transaction(), this.options.retry, (error, attempt, delayMs) =>
        this.onRetry('init', error, attempt, delayMs),
      );
      await transaction.abort();
    } catch (error) {
      await this.close();
      throw error;
    }
    this.log.info('transactional producer initialized');
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer !== undefined) {
      await producer.disconnect().catch((error: unknown) => {
        this.log.warn({ err: error }, 'producer disconnect failed');
      });
    }
  }

  /** Commits `content` in one transaction; see the numbered steps at the top of this file. */
  async commit(content: TransactionContent): Promise<void> {
    const producer = this.producer;
    const task = this.options.task;
    if (producer === undefined) {
      throw new TransactionFailedError(task, 'begin', false, new Error('the task producer is not initialized'));
    }
    this.transactionCount += 1;
    const transactionNumber = this.transactionCount;
    const started = performance.now();
    let step = 'begin';
    let transaction: Transaction | undefined;

    try {
      // Step 1: begin.
      transaction = await retryStep(() => producer.transaction(), this.options.retry, (error, attempt, delayMs) =>
        this.onRetry('begin', error, attempt, delayMs),
      );

      // Step 2: outputs, repartition records, dead letters and changelog records.
      step = 'send';
      // No retry here beyond kafkajs's own: it tracks which partitions a call
      // already wrote, and calling sendBatch again would write those a second time.
      for (const chunk of chunkMessages(content.topicMessages)) {
        await transaction.sendBatch({ topicMessages: chunk, acks: -1 });
      }

      // Step 3: input offsets, last processed + 1, in the same transaction.
      step = 'send-offsets';
      if (content.offsets.length > 0) {
        const active = transaction;
        const topics = groupOffsets(content.offsets);
        await retryStep(
          () => active.sendOffsets({ consumerGroupId: this.options.consumerGroupId, topics }),
          this.options.retry,
          (error, attempt, delayMs) => this.onRetry('send-offsets', error, attempt, delayMs),
        );
      }

      step = 'before-commit';
      await this.options.hooks.beforeCommit?.({ task, transaction: transactionNumber });
    } catch (error) {
      await this.abortAfter(step, transaction, error);
    }

    // Step 4: commit. From here a failure leaves the outcome unknown.
    try {
      await transaction!.commit();
    } catch (error) {
      if (isFencedError(error)) {
        this.options.metrics.transactions.inc({ result: 'fenced' });
        throw new TaskFencedError(task, error);
      }
      this.options.metrics.transactions.inc({ result: 'unknown' });
      this.log.error({ err: error, step: 'commit' }, 'transaction commit failed; outcome unknown');
      await this.close();
      throw new TransactionFailedError(task, 'commit', true, error);
    }
    this.options.metrics.transactions.inc({ result: 'committed' });
    this.options.metrics.commitDuration.observe((performance.now() - started) / 1000);
  }

  private async abortAfter(step: string, transaction: Transaction | undefined, error: unknown): Promise<never> {
    const task = this.options.task;
    if (isFencedError(error)) {
      this.options.metrics.transactions.inc({ result: 'fenced' });
      throw new TaskFencedError(task, error);
    }
    this.log.warn({ err: error, step }, 'transaction failed; aborting');
    try {
      if (transaction?.isActive() === true) {
        await transaction.abort();
      } else {
        await this.close();
      }
    } catch (abortError) {
      if (isFencedError(abortError)) {
        this.options.metrics.transactions.inc({ result: 'fenced' });
        throw new TaskFencedError(task, abortError);
      }
      // The transaction may still be open on the broker. Commit was never asked
      // for, so it cannot commit; initializing the id again aborts it for sure.
      this.log.warn({ err: abortError }, 'transaction abort failed; the producer will be initialized again');
      await this.close();
    }
    this.options.metrics.transactions.inc({ result: 'aborted' });
    throw new TransactionFailedError(task, step, false, error);
  }

  /** True when the producer must be initialized again before the next commit. */
  get needsInit(): boolean {
    return this.producer === undefined;
  }

  private onRetry(step: string, error: unknown, attempt: number, delayMs: number): void {
    this.options.metrics.retries.inc({ reason: `transaction-${step}` });
    this.log.debug(
      { step, attempt, delayMs, error: errorMessage(error), errorType: protocolError(error).type },
      'transaction step failed; retrying',
    );
  }
}

function groupOffsets(offsets: readonly OffsetCommit[]): { topic: string; partitions: { partition: number; offset: string }[] }[] {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const entry of offsets) {
    let partitions = byTopic.get(entry.topic);
    if (partitions === undefined) {
      partitions = [];
      byTopic.set(entry.topic, partitions);
    }
    partitions.push({ partition: entry.partition, offset: entry.offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}
