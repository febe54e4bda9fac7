/**
 * A task: partition p of every topic the processor consumes, its stores and
 * timers, and the transactional producer that commits its work.
 *
 * Lifecycle (transitions the task allows):
 *
 *   created ──▶ initializing ──▶ running ──▶ closing ──▶ closed
 *                  ▲   │  ▲          │          ▲
 *                  └───┘  └──────────┤          │
 *                                    ▼          │
 *                                  fenced ──────┘
 *
 * - initializing: fence older owners by initializing the transactional id, read
 *   the committed offsets, restore the stores; retried with backoff on failure.
 * - running → initializing: a commit's outcome is unknown, so the task re-reads
 *   what was committed instead of guessing.
 * - running → fenced: another instance initialized the same transactional id.
 *
 * Work on one task is serialized by a mutex: one batch or timer round at a time,
 * each in its own transaction.
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';

import { CaughtUpLookup } from './caught-up.ts';
import type { InputTopics } from './caught-up.ts';
import type { RuntimeConfig } from './config.ts';
import { HandlerContext, PendingWrites, createTaskContext } from './context.ts';
import { deadLetterMessage } from './dlq.ts';
import type { DeadLetterSource, FailureStage } from './dlq.ts';
import {
  ProcessingInterruptedError,
  RecordRejectedError,
  RuntimeError,
  TaskFencedError,
  TransactionFailedError,
  errorClassName,
  errorCode,
  errorMessage,
  isRetriable,
} from './errors.ts';
import type { PartitionReader } from './partition-reader.ts';
import type { AnyProcessorDefinition, DecodeContext, InputRecord, SourceMessage, Timer } from './processor.ts';
import { TIMER_STORE_NAME } from './processor.ts';
import { rekeyMessage } from './repartition.ts';
import type { SourcePlan, TopologyPlan } from './repartition.ts';
import { TaskStores, restoreTaskStores } from './store.ts';
import type { ChangelogStore } from './store.ts';
import { recordFields, redactEmails } from './telemetry.ts';
import type { RuntimeMetrics } from './telemetry.ts';
import { TaskTimers } from './timers.ts';
import type { Clock, TimerStoreValue } from './timers.ts';
import { TaskProducer, backoffDelayMs } from './transaction.ts';
import type { CommitHooks, OffsetCommit } from './transaction.ts';

export type TaskState = 'created' | 'initializing' | 'running' | 'fenced' | 'closing' | 'closed';

const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  created: ['initializing', 'closing'],
  initializing: ['initializing', 'running', 'fenced', 'closing'],
  running: ['initializing', 'fenced', 'closing'],
  fenced: ['closing'],
  closing: ['closed'],
  closed: [],
};

/**
 * Timers fired in one round at most. A timer callback that keeps scheduling due
 * timers would otherwise never return; the rest fire in the next round.
 */
const MAX_TIMERS_PER_ROUND = 100_000;

/** Controls kafkajs's eachBatch passes for the batch in flight. */
export interface BatchControl {
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  resolveOffset(offset: string): void;
}

export interface CommittedEvent {
  readonly task: number;
  readonly offsets: readonly OffsetCommit[];
  /** Input records the transaction covered (0 for a timer round). */
  readonly records: number;
  /** From the first record processed to the commit, in ms. */
  readonly durationMs: number;
}

export interface TaskDependencies {
  readonly id: number;
  /** Topics whose partition `id` is assigned to this instance. */
  readonly topics: readonly string[];
  readonly plan: TopologyPlan;
  readonly definition: AnyProcessorDefinition;
  readonly config: RuntimeConfig;
  readonly kafka: Kafka;
  /** The group's committed offsets of `topics`: topic → partition → offset. */
  readonly fetchCommittedOffsets: (topics: readonly string[]) => Promise<Map<string, Map<number, string>>>;
  readonly consumer: Consumer;
  readonly reader: PartitionReader;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly hooks: CommitHooks;
  readonly isStopping: () => boolean;
  readonly onRunning: (task: Task) => void;
  readonly onFenced: (task: Task) => void;
  readonly onCommitted: (event: CommittedEvent) => void;
}

/** A heartbeat failed (usually a rebalance); kafkajs must see the original error. */
class HeartbeatFailure extends Error {
  readonly original: unknown;

  constructor(original: unknown) {
    super('heartbeat failed');
    this.original = original;
  }
}

/** Serializes async work: each run starts after the previous one settled. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

interface Tally {
  skipped: number;
  readonly deadLetters: { topic: string; stage: FailureStage }[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Error fields for a log line, with emails redacted from the message. */
function loggedError(error: unknown): { type: string; message: string; code?: string } {
  const code = errorCode(error);
  return {
    type: errorClassName(error),
    message: redactEmails(errorMessage(error)),
    ...(code === undefined ? {} : { code }),
  };
}

export class Task {
  readonly id: number;
  readonly topics: readonly string[];
  private readonly deps: TaskDependencies;
  private readonly log: Logger;
  private stateValue: TaskState = 'created';
  private readonly stores: TaskStores;
  private readonly timers: TaskTimers | undefined;
  private readonly producer: TaskProducer;
  private readonly context: HandlerContext;
  private readonly positions = new Map<string, bigint>();
  private readonly inputTopics = new Map<string, InputTopics>();
  private readonly caughtUp: CaughtUpLookup;
  private readonly mutex = new Mutex();
  private stateWaiters: (() => void)[] = [];
  private closeRequested = false;
  private closePromise: Promise<void> | undefined;
  private initializedOnce = false;
  private consecutiveFailures = 0;
  /** Clock time at which the definition's punctuate runs next; 0 runs it on the first tick. */
  private nextPunctuateMs = 0;
  private lastHeartbeatAt = 0;

  constructor(deps: TaskDependencies) {
    this.deps = deps;
    this.id = deps.id;
    this.topics = deps.topics;
    this.log = deps.log.child({ task: deps.id });

    const isMain = deps.id < deps.plan.taskCount;
    this.stores = new TaskStores(deps.id, isMain ? deps.plan.stores : []);
    this.timers = isMain
      ? new TaskTimers(this.stores.store<TimerStoreValue>(TIMER_STORE_NAME) as ChangelogStore<TimerStoreValue>, deps.config.timerLatenessBoundMs)
      : undefined;
    this.producer = new TaskProducer({
      kafka: deps.kafka,
      task: deps.id,
      transactionalId: `${deps.plan.applicationId}-task-${deps.id}`,
      consumerGroupId: deps.plan.applicationId,
      transactionTimeoutMs: deps.config.transactionTimeoutMs,
      retry: { initialDelayMs: deps.config.retryInitialDelayMs, maxDelayMs: deps.config.retryMaxDelayMs, attempts: 8 },
      log: this.log,
      metrics: deps.metrics,
      hooks: deps.hooks,
    });
    for (const source of deps.plan.sources.values()) {
      if (source.role === 'input') {
        this.inputTopics.set(source.inputName, { consumed: source.topic });
      } else if (source.role === 'repartition-source') {
        this.inputTopics.set(source.inputName, { consumed: source.repartitionTopic!, source: source.topic });
      }
    }
    this.caughtUp = new CaughtUpLookup({
      reader: deps.reader,
      fetchCommittedOffsets: deps.fetchCommittedOffsets,
      partition: deps.id,
      timeoutMs: deps.config.requestTimeoutMs,
      log: this.log,
    });
    this.context = new HandlerContext({
      applicationId: deps.plan.applicationId,
      task: deps.id,
      taskCount: deps.plan.taskCount,
      outputPartitions: new Map(deps.plan.outputTopics.map((spec) => [spec.topic, spec.partitions])),
      definition: deps.definition,
      stores: this.stores,
      timers: this.timers,
      clock: deps.clock,
      log: this.log,
      timerLatenessBoundMs: deps.config.timerLatenessBoundMs,
      inputCaughtUp: (input) => this.inputCaughtUp(input),
    });
  }

  get state(): TaskState {
    return this.stateValue;
  }

  /** Next offset to process for `topic`, or undefined before initialization. */
  position(topic: string): bigint | undefined {
    return this.positions.get(topic);
  }

  /**
   * Whether this task has processed everything of `input` that was in its topics
   * when the lookup ran: its partition of the consumed topic, and for a re-keyed
   * input every partition of the source topic through the group (see caught-up.ts).
   * A result is reused for CAUGHT_UP_CACHE_MS, and a failed lookup returns false.
   */
  inputCaughtUp(input: string): Promise<boolean> {
    const topics = this.inputTopics.get(input);
    if (topics === undefined) {
      return Promise.reject(
        new RuntimeError('INPUT_UNKNOWN', `input "${input}" is not declared by processor "${this.deps.definition.name}"`),
      );
    }
    return this.caughtUp.caughtUp(input, topics, () => this.positions.get(topics.consumed));
  }

  pendingTimers(kind: 'event-time' | 'wall-clock'): number {
    return this.timers?.pending(kind) ?? 0;
  }

  /** Returns a copy of one store's entries, for inspection and tests. */
  snapshot(store: string): Map<string, unknown> {
    return new Map(this.stores.store(store).entries());
  }

  /** Starts initialization once `after` (the previous owner's close on this instance) settled. */
  start(after?: Promise<void>): void {
    void this.runInitLoop(after);
  }

  private transition(next: TaskState): void {
    if (!TRANSITIONS[this.stateValue].includes(next)) {
      throw new RuntimeError('TASK_STATE_INVALID', `task ${this.id} cannot go from ${this.stateValue} to ${next}`);
    }
    this.log.debug({ from: this.stateValue, to: next }, 'task state changed');
    this.stateValue = next;
    const waiters = this.stateWaiters;
    this.stateWaiters = [];
    for (const wake of waiters) {
      wake();
    }
  }

  private waitForStateChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.stateWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async runInitLoop(after: Promise<void> | undefined): Promise<void> {
    await after?.catch(() => undefined);
    for (let attempt = 0; !this.closeRequested; attempt += 1) {
      try {
        await this.mutex.run(() => this.initialize());
        this.consecutiveFailures = 0;
        return;
      } catch (error) {
        if (this.closeRequested || error instanceof ProcessingInterruptedError) {
          return;
        }
        const delayMs = backoffDelayMs(attempt, {
          initialDelayMs: this.deps.config.retryInitialDelayMs,
          maxDelayMs: this.deps.config.retryMaxDelayMs,
        });
        this.deps.metrics.retries.inc({ reason: 'task-init' });
        this.log.error({ err: error, attempt: attempt + 1, delayMs }, 'task initialization failed; retrying');
        await sleep(delayMs);
      }
    }
  }

  /**
   * Initialization, in order:
   *  1. Initialize the transactional id: older owners are fenced and their open
   *     transaction is aborted or completed.
   *  2. Read the committed offsets, which no older owner can move any more, and
   *     seek the consumer there (the earliest offset for a group with none).
   *  3. Restore the stores from their changelogs, read_committed, to the end.
   *  4. Run the processor's init, once per task.
   */
  private async initialize(): Promise<void> {
    if (this.closeRequested) {
      throw new ProcessingInterruptedError(`task ${this.id} is closing`);
    }
    this.transition('initializing');
    const started = performance.now();

    // Step 1: fence.
    await this.producer.init();

    // Step 2: committed offsets.
    await this.loadPositions();

    // Step 3: restore.
    if (this.timers !== undefined) {
      await this.restore();
      this.timers.rebuild();
    }

    // Step 4: the processor's init.
    if (!this.initializedOnce && this.timers !== undefined && this.deps.definition.init !== undefined) {
      await this.deps.definition.init(this.taskContext('init'));
    }
    if (this.closeRequested) {
      throw new ProcessingInterruptedError(`task ${this.id} is closing`);
    }
    this.initializedOnce = true;
    this.transition('running');
    this.log.info(
      { durationMs: Math.round(performance.now() - started), positions: Object.fromEntries([...this.positions].map(([topic, offset]) => [topic, offset.toString()])) },
      'task running',
    );
    this.deps.onRunning(this);
  }

  private async loadPositions(): Promise<void> {
    const committed = await this.deps.fetchCommittedOffsets(this.topics);
    for (const topic of this.topics) {
      let offset = committed.get(topic)?.get(this.id);
      if (offset === undefined || BigInt(offset) < 0n) {
        // A group without a committed offset starts at the earliest offset, on purpose:
        // starting at the latest would skip everything already in the topic.
        const ranges = await this.deps.reader.offsetRanges(topic, [this.id]);
        offset = ranges.get(this.id)?.earliest ?? '0';
        this.log.info({ topic, partition: this.id, offset }, 'no committed offset; starting from the earliest offset');
      }
      this.positions.set(topic, BigInt(offset));
      this.seek(topic, offset);
    }
  }

  private seek(topic: string, offset: string): void {
    try {
      this.deps.consumer.seek({ topic, partition: this.id, offset });
    } catch (error) {
      // The consumer is stopping; it will not fetch again, so there is nothing to rewind.
      this.log.debug({ err: error, topic, partition: this.id, offset }, 'seek skipped');
    }
  }

  private async restore(): Promise<void> {
    for (const store of this.stores.all()) {
      this.deps.metrics.restoreRemaining.remove({ store: store.name, partition: String(this.id) });
    }
    await restoreTaskStores(this.stores, {
      reader: this.deps.reader,
      log: this.log,
      logIntervalMs: this.deps.config.restoreLogIntervalMs,
      isCancelled: () => this.closeRequested,
      onStoreRestored: (store, records, seconds) => {
        this.deps.metrics.restoreDuration.observe({ store }, seconds);
        this.deps.metrics.restoredRecords.inc({ store }, records);
      },
      onProgress: (progress) => {
        const remaining = BigInt(progress.endOffset) - BigInt(progress.position);
        this.deps.metrics.restoreRemaining.set(
          { store: progress.store, partition: String(progress.partition) },
          Number(remaining > 0n ? remaining : 0n),
        );
      },
    });
    if (this.closeRequested) {
      throw new ProcessingInterruptedError(`task ${this.id} closed during restore`);
    }
  }

  private taskContext(phase: 'init' | 'close') {
    return createTaskContext(
      {
        applicationId: this.deps.plan.applicationId,
        task: this.id,
        taskCount: this.deps.plan.taskCount,
        definition: this.deps.definition,
        stores: this.stores,
        timers: this.timers,
        clock: this.deps.clock,
        log: this.log,
      },
      phase,
    );
  }

  /**
   * Waits until the task runs, heartbeating meanwhile. Returns false when the
   * task or the consumer stops first.
   */
  async whenRunning(control: Pick<BatchControl, 'heartbeat' | 'isRunning'>): Promise<boolean> {
    while (this.stateValue !== 'running') {
      if (this.closeRequested || this.stateValue === 'fenced' || !control.isRunning() || this.deps.isStopping()) {
        return false;
      }
      await this.waitForStateChange(this.deps.config.heartbeatIntervalMs);
      await control.heartbeat();
    }
    return true;
  }

  /** Processes one fetched batch of `source` in transactions of at most transactionMaxRecords records. */
  async processBatch(source: SourcePlan, messages: readonly KafkaMessage[], control: BatchControl): Promise<void> {
    await this.mutex.run(async () => {
      const position = this.positions.get(source.topic);
      if (this.stateValue !== 'running' || position === undefined) {
        return;
      }
      // A batch fetched before a seek may start below the position; those records are done.
      const pending = messages.filter((message) => BigInt(message.offset) >= position);
      if (pending.length === 0 && messages.length > 0) {
        // The consumer is behind the committed position; move it instead of
        // fetching the same records again.
        this.seek(source.topic, position.toString());
        return;
      }
      const limit = this.deps.config.transactionMaxRecords;
      for (let start = 0; start < pending.length; start += limit) {
        // Between chunks, stop early when asked to; a chunk already started is
        // finished and committed, which is what a graceful shutdown wants.
        if (start > 0 && (this.closeRequested || this.deps.isStopping() || !control.isRunning())) {
          return;
        }
        const committed = await this.processChunk(source, pending.slice(start, start + limit), control);
        if (!committed) {
          return;
        }
      }
    });
  }

  private async processChunk(source: SourcePlan, chunk: readonly KafkaMessage[], control: BatchControl): Promise<boolean> {
    const started = performance.now();
    const writes = new PendingWrites();
    const tally: Tally = { skipped: 0, deadLetters: [] };
    try {
      for (const message of chunk) {
        await this.heartbeat(control);
        await this.processMessage(source, message, writes, tally, control);
      }
      if (this.timers !== undefined) {
        await this.fireWallClockTimers(writes, tally, control);
      }

      const last = chunk[chunk.length - 1]!.offset;
      const next = (BigInt(last) + 1n).toString();
      const offsets = [{ topic: source.topic, partition: this.id, offset: next }];
      await this.commit(writes, offsets, tally);
      this.positions.set(source.topic, BigInt(next));
      control.resolveOffset(last);

      const durationMs = performance.now() - started;
      this.deps.metrics.recordsIn.inc({ topic: source.topic }, chunk.length);
      this.deps.metrics.batchDuration.observe({ role: source.role }, durationMs / 1000);
      this.consecutiveFailures = 0;
      this.deps.onCommitted({ task: this.id, offsets, records: chunk.length, durationMs });
      return true;
    } catch (error) {
      await this.recover(error, [source.topic], control);
      return false;
    }
  }

  /**
   * Fires due wall-clock timers, and the definition's punctuate when its interval
   * has passed, in a transaction of their own. Called by the runtime on an interval
   * so an idle partition still releases what it holds.
   */
  async tick(): Promise<void> {
    if (this.timers === undefined || this.stateValue !== 'running') {
      return;
    }
    await this.mutex.run(async () => {
      if (this.stateValue !== 'running') {
        return;
      }
      const control: BatchControl = {
        heartbeat: async () => undefined,
        isRunning: () => !this.deps.isStopping(),
        resolveOffset: () => undefined,
      };
      const started = performance.now();
      const writes = new PendingWrites();
      const tally: Tally = { skipped: 0, deadLetters: [] };
      try {
        await this.fireWallClockTimers(writes, tally, control);
        await this.punctuate(writes, control);
        if (writes.size > 0 || this.stores.hasPendingChanges()) {
          await this.commit(writes, [], tally);
          this.deps.onCommitted({ task: this.id, offsets: [], records: 0, durationMs: performance.now() - started });
        }
      } catch (error) {
        await this.recover(error, [], control);
      }
    });
  }

  private async punctuate(writes: PendingWrites, control: BatchControl): Promise<void> {
    const punctuate = this.deps.definition.punctuate;
    const nowMs = this.deps.clock.now();
    if (punctuate === undefined || nowMs < this.nextPunctuateMs) {
      return;
    }
    this.nextPunctuateMs = nowMs + punctuate.intervalMs;
    await this.runHandler(
      'timer',
      nowMs,
      writes,
      control,
      () => punctuate.run(this.context),
      (error) => this.log.error({ err: error }, 'punctuate failed; it runs again after its interval'),
      { punctuate: true },
    );
  }

  /** Commits what a chunk or timer round wrote, with the store changes and input offsets. */
  private async commit(writes: PendingWrites, offsets: readonly OffsetCommit[], tally: Tally): Promise<void> {
    const changelog = this.stores.changelogMessages();
    const topicMessages = [...writes.byTopic(), ...changelog];
    if (topicMessages.length > 0 || offsets.length > 0) {
      await this.producer.commit({ topicMessages, offsets });
    }
    this.stores.markCommitted();
    this.timers?.compact();

    for (const { topic, messages } of topicMessages) {
      this.deps.metrics.recordsOut.inc({ topic }, messages.length);
    }
    for (const { topic, stage } of tally.deadLetters) {
      this.deps.metrics.deadLetters.inc({ topic, stage });
    }
    const inputTopic = offsets[0]?.topic;
    if (inputTopic !== undefined && tally.skipped > 0) {
      this.deps.metrics.recordsSkipped.inc({ topic: inputTopic }, tally.skipped);
    }
  }

  /**
   * Undoes an uncommitted chunk: state rolls back to the last commit and the
   * consumer rewinds to the last committed offset, so the records are read again.
   */
  private async recover(error: unknown, topics: readonly string[], control: BatchControl): Promise<void> {
    this.stores.abort();
    this.timers?.rebuild();
    for (const topic of topics) {
      const position = this.positions.get(topic);
      if (position !== undefined) {
        this.seek(topic, position.toString());
      }
    }

    if (error instanceof HeartbeatFailure) {
      this.log.warn({ err: error.original }, 'heartbeat failed; batch rolled back for the rebalance');
      throw error.original;
    }
    if (error instanceof ProcessingInterruptedError) {
      this.log.info({ reason: error.message }, 'batch rolled back: processing interrupted');
      return;
    }
    if (error instanceof TaskFencedError) {
      this.log.warn({ err: error }, 'task fenced by another instance; dropping its state');
      this.transition('fenced');
      this.deps.onFenced(this);
      return;
    }
    if (error instanceof TransactionFailedError && error.outcomeUnknown) {
      this.log.error({ err: error }, 'commit outcome unknown; re-reading committed offsets and state');
      this.transition('initializing');
      this.start();
      return;
    }

    this.consecutiveFailures += 1;
    this.log.error({ err: error, failures: this.consecutiveFailures }, 'batch failed; rewound to the last committed offset');
    if (this.producer.needsInit) {
      try {
        await this.producer.init();
      } catch (initError) {
        this.log.error({ err: initError }, 'producer initialization failed; initializing the task again');
        this.transition('initializing');
        this.start();
        return;
      }
    }
    await this.backoff(this.consecutiveFailures, control).catch((backoffError: unknown) => {
      if (backoffError instanceof HeartbeatFailure) {
        throw backoffError.original;
      }
    });
  }

  private async processMessage(
    source: SourcePlan,
    message: KafkaMessage,
    writes: PendingWrites,
    tally: Tally,
    control: BatchControl,
  ): Promise<void> {
    const sourceMessage: SourceMessage = {
      topic: source.topic,
      partition: this.id,
      offset: message.offset,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: message.headers ?? {},
      timestamp: message.timestamp,
    };

    // Step 1: decode; retriable errors are retried, others dead-letter the record.
    let value: unknown;
    try {
      const context: DecodeContext = { log: this.log, registry: this.deps.metrics.registry, role: source.role };
      value = await this.retrying('decode', sourceMessage, () => source.input.decode(sourceMessage, context), control);
    } catch (error) {
      this.rethrowControlFlow(error);
      this.deadLetter(writes, tally, sourceMessage, 'decode', error);
      return;
    }
    if (value === null || value === undefined) {
      tally.skipped += 1;
      this.log.debug(recordFields(sourceMessage), 'record skipped by the decoder');
      return;
    }

    // Re-keying stage: forward the original bytes keyed by the join key.
    if (source.role === 'repartition-source') {
      try {
        writes.add(source.repartitionTopic!, rekeyMessage(source, sourceMessage, value));
      } catch (error) {
        this.deadLetter(writes, tally, sourceMessage, 'repartition', error);
      }
      return;
    }

    // Step 2: a joined input must carry its key, because a null key does not place it by the join key.
    const joinKey = this.deps.definition.joinKey;
    if (joinKey !== undefined && source.role === 'input' && sourceMessage.key === null) {
      const rejection = new RecordRejectedError(
        `record of topic ${source.topic} has a null key, but input "${source.inputName}" declares ` +
          `keyedBy '${String(source.input.keyedBy)}' and is not re-keyed, so its partition does not follow ` +
          `its '${joinKey}'; re-key the input with repartition`,
        { topic: source.topic, partition: this.id, offset: message.offset },
      );
      this.deadLetter(writes, tally, sourceMessage, 'process', rejection);
      return;
    }

    let eventTimeMs: number;
    try {
      eventTimeMs = this.eventTimeOf(source, value, sourceMessage);
    } catch (error) {
      this.deadLetter(writes, tally, sourceMessage, 'process', error);
      return;
    }

    // Step 3: stream time, and the event-time timers it made due, before the record.
    if (this.timers!.advanceStreamTime(eventTimeMs)) {
      await this.fireEventTimers(writes, tally, control);
    }

    // Step 4: the handler.
    const record: InputRecord<string, unknown> = {
      input: source.inputName,
      topic: source.topic,
      partition: this.id,
      offset: message.offset,
      key: sourceMessage.key,
      value,
      headers: sourceMessage.headers,
      timestampMs: Number(message.timestamp),
      eventTimeMs,
    };
    await this.runHandler(
      'process',
      eventTimeMs,
      writes,
      control,
      () => this.deps.definition.process(record as never, this.context),
      (error) => this.deadLetter(writes, tally, sourceMessage, 'process', error),
      recordFields(sourceMessage),
    );
  }

  private eventTimeOf(source: SourcePlan, value: unknown, message: SourceMessage): number {
    const extracted = source.input.eventTime?.(value, message);
    const eventTimeMs = extracted ?? Number(message.timestamp);
    if (!Number.isFinite(eventTimeMs)) {
      throw new RecordRejectedError(
        `record of topic ${message.topic} has no usable event time (got ${String(extracted ?? message.timestamp)}); ` +
          `fix the eventTime function of input "${source.inputName}"`,
        { topic: message.topic, partition: message.partition, offset: message.offset },
      );
    }
    return eventTimeMs;
  }

  private async fireEventTimers(writes: PendingWrites, tally: Tally, control: BatchControl): Promise<void> {
    for (let fired = 0; ; fired += 1) {
      if (fired >= MAX_TIMERS_PER_ROUND) {
        this.log.error({ fired, kind: 'event-time' }, 'too many timers due in one round; the rest fire next round');
        return;
      }
      const timer = this.timers!.takeDueEventTimer();
      if (timer === undefined) {
        return;
      }
      await this.fireTimer(timer, this.timers!.streamTimeMs ?? timer.deadlineMs, writes, tally, control);
    }
  }

  private async fireWallClockTimers(writes: PendingWrites, tally: Tally, control: BatchControl): Promise<void> {
    const nowMs = this.deps.clock.now();
    for (let fired = 0; ; fired += 1) {
      if (fired >= MAX_TIMERS_PER_ROUND) {
        this.log.error({ fired, kind: 'wall-clock' }, 'too many timers due in one round; the rest fire next round');
        return;
      }
      const timer = this.timers!.takeDueWallClockTimer(nowMs);
      if (timer === undefined) {
        return;
      }
      await this.fireTimer(timer, nowMs, writes, tally, control);
    }
  }

  private async fireTimer(timer: Timer, firedAtMs: number, writes: PendingWrites, tally: Tally, control: BatchControl): Promise<void> {
    this.deps.metrics.timersFired.inc({ kind: timer.kind });
    const onTimer = this.deps.definition.onTimer;
    if (onTimer === undefined) {
      this.log.warn({ kind: timer.kind, timerKey: timer.key }, 'timer fired but the processor has no onTimer; dropped');
      return;
    }
    const fields = { kind: timer.kind, timerKey: timer.key, deadlineMs: timer.deadlineMs };
    await this.runHandler(
      'timer',
      timer.deadlineMs,
      writes,
      control,
      () => onTimer({ ...timer, firedAtMs }, this.context),
      (error) => {
        const source: DeadLetterSource = {
          topic: this.deps.plan.stores.find((store) => store.name === TIMER_STORE_NAME)!.changelogTopic,
          partition: this.id,
          offset: '-1',
          key: timer.key,
          value: JSON.stringify(timer),
          timer: { kind: timer.kind, key: timer.key },
        };
        this.deadLetter(writes, tally, source, 'timer', error);
      },
      fields,
    );
  }

  /**
   * Runs a handler inside a savepoint. On failure its store writes and emitted
   * records are undone. A retriable error runs it again after backoff, and any
   * other error goes to `onFailure` (the dead-letter topic).
   */
  private async runHandler(
    stage: 'process' | 'timer',
    eventTimeMs: number,
    writes: PendingWrites,
    control: BatchControl,
    handler: () => void | Promise<void>,
    onFailure: (error: unknown) => void,
    fields: Record<string, unknown>,
  ): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const savepoint = this.stores.savepoint();
      const mark = writes.mark();
      this.context.begin(eventTimeMs, writes);
      try {
        await handler();
        return;
      } catch (error) {
        const changed = this.stores.rollbackTo(savepoint);
        if (changed.has(TIMER_STORE_NAME)) {
          this.timers?.rebuild();
        }
        writes.truncate(mark);
        if (!isRetriable(error)) {
          onFailure(error);
          return;
        }
        this.deps.metrics.retries.inc({ reason: stage });
        this.log.warn({ ...fields, stage, attempt, err: loggedError(error) }, 'handler failed with a retriable error; retrying');
        await this.backoff(attempt, control);
      } finally {
        this.context.end();
      }
    }
  }

  private async retrying<T>(
    stage: 'decode',
    message: SourceMessage,
    work: () => Promise<T>,
    control: BatchControl,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await work();
      } catch (error) {
        if (!isRetriable(error)) {
          throw error;
        }
        this.deps.metrics.retries.inc({ reason: stage });
        this.log.warn({ ...recordFields(message), stage, attempt, err: loggedError(error) }, 'decode failed with a retriable error; retrying');
        await this.backoff(attempt, control);
      }
    }
  }

  private deadLetter(writes: PendingWrites, tally: Tally, source: DeadLetterSource, stage: FailureStage, error: unknown): void {
    writes.add(this.deps.plan.dlqTopic, deadLetterMessage(source, stage, error, this.deps.clock.now()));
    tally.deadLetters.push({ topic: source.topic, stage });
    this.log.warn(
      { ...recordFields(source), stage, err: loggedError(error), dlqTopic: this.deps.plan.dlqTopic },
      'record sent to the dead-letter topic',
    );
  }

  /** Sleeps for the backoff of `attempt`, heartbeating and checking for interruption meanwhile. */
  private async backoff(attempt: number, control: BatchControl): Promise<void> {
    const delayMs = backoffDelayMs(attempt - 1, {
      initialDelayMs: this.deps.config.retryInitialDelayMs,
      maxDelayMs: this.deps.config.retryMaxDelayMs,
    });
    const until = Date.now() + delayMs;
    for (let remaining = delayMs; remaining > 0; remaining = until - Date.now()) {
      this.checkInterrupted(control);
      await sleep(Math.min(remaining, this.deps.config.heartbeatIntervalMs));
      await this.heartbeat(control);
    }
    this.checkInterrupted(control);
  }

  /**
   * Heartbeats when a quarter of the heartbeat interval has passed since the last
   * call. kafkajs only sends a heartbeat once the interval has passed anyway; the
   * gate saves an await per record.
   */
  private async heartbeat(control: BatchControl): Promise<void> {
    const now = Date.now();
    if (now - this.lastHeartbeatAt < this.deps.config.heartbeatIntervalMs / 4) {
      return;
    }
    this.lastHeartbeatAt = now;
    try {
      await control.heartbeat();
    } catch (error) {
      throw new HeartbeatFailure(error);
    }
  }

  private checkInterrupted(control: BatchControl): void {
    if (this.deps.isStopping()) {
      throw new ProcessingInterruptedError('the runtime is stopping');
    }
    if (this.closeRequested) {
      throw new ProcessingInterruptedError(`task ${this.id} is closing`);
    }
    if (!control.isRunning()) {
      throw new ProcessingInterruptedError('the consumer stopped');
    }
  }

  private rethrowControlFlow(error: unknown): void {
    if (error instanceof HeartbeatFailure || error instanceof ProcessingInterruptedError) {
      throw error;
    }
  }

  /**
   * Stops the task: waits for the batch in flight, runs the processor's close,
   * drops the state and disconnects the producer. Safe to call more than once.
   */
  close(reason: string): Promise<void> {
    if (this.closePromise !== undefined) {
      return this.closePromise;
    }
    this.closeRequested = true;
    const waiters = this.stateWaiters;
    this.stateWaiters = [];
    for (const wake of waiters) {
      wake();
    }
    this.closePromise = this.mutex.run(async () => {
      this.transition('closing');
      if (this.initializedOnce && this.timers !== undefined && this.deps.definition.close !== undefined) {
        try {
          await this.deps.definition.close(this.taskContext('close'));
        } catch (error) {
          this.log.error({ err: error }, 'processor close failed');
        }
      }
      this.stores.clear();
      await this.producer.close();
      for (const topic of this.topics) {
        this.deps.metrics.consumerLag.remove({ topic, partition: String(this.id) });
      }
      this.transition('closed');
      this.log.info({ reason }, 'task closed');
    });
    return this.closePromise;
  }
}
