/**
 * The Customer.io sink: a kafkajs consumer of the outbox topic that delivers each record with
 * TrackClient and commits an offset only once Customer.io accepted the record or the record went
 * to the dead-letter topic. topology.ts draws the flow and lists the commit steps.
 *
 * Why a batch handler with manual commits: kafkajs resolves an offset as soon as a message
 * handler returns, and heartbeats only between messages. Here each partition's batch is walked
 * in offset order, the commit covers only the contiguous prefix of finished records, and a timer
 * heartbeats while a send or a wait is in progress. A wait longer than `inlineWaitMaxMs` pauses
 * the partition instead, so a long Retry-After never keeps the member out of its session.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import kafkajs from 'kafkajs';
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, logCreator, Message, Producer } from 'kafkajs';
import { pino, type Logger } from 'pino';
import promClient from 'prom-client';
import type { Counter, Gauge, Registry } from 'prom-client';

import { TrackClient, type ItemResult } from '../client.ts';
import { OutboxRecordError, TrackAuthError, TrackFatalError, TrackRejectedError, ValidationError } from '../errors.ts';
import { isProgressMessage } from '../../progress/records.ts';
import { parseOutboxRecord, type OutboxRecord } from '../records.ts';
import { describeKafkaSecurity, installReadCommittedFix, kafkaClientSecurity } from '../../runtime/index.ts';
import { BACKFILL_SKIP_REASON, backfillDecision, markBackfill } from './backfill.ts';
import type { SinkConfig } from './config.ts';
import { SinkProduceError } from './errors.ts';

const { Kafka: KafkaClient, logLevel: KafkaLogLevel } = kafkajs;

/** Headers of a dead-letter record, beside the original key, value and headers. */
export const DEAD_LETTER_HEADERS = Object.freeze({
  topic: 'cio-cdc-dlq-source-topic',
  partition: 'cio-cdc-dlq-source-partition',
  offset: 'cio-cdc-dlq-source-offset',
  key: 'cio-cdc-dlq-key',
  errorClass: 'cio-cdc-dlq-error-class',
  errorCode: 'cio-cdc-dlq-error-code',
  reason: 'cio-cdc-dlq-reason',
  field: 'cio-cdc-dlq-field',
  status: 'cio-cdc-dlq-status',
  message: 'cio-cdc-dlq-error-message',
  failedAt: 'cio-cdc-dlq-failed-at',
});

/** Value of one delivery-log record (key: the customer id). */
export interface DeliveryLogEntry {
  eventId: string | null;
  kind: 'identify' | 'event' | null;
  name: string | null;
  customerId: string | null;
  /** `skipped`: not sent on purpose, for example by the backfill guard. `reason` names the cause. */
  status: 'delivered' | 'rejected' | 'skipped';
  reason: string | null;
  attempts: number;
  latencyMs: number;
  source: { topic: string; partition: number; offset: string };
  /** ISO 8601 time the result was known. */
  at: string;
}

export interface SinkOptions {
  config: SinkConfig;
  /** Client to deliver with; by default one is built from `config.track` and closed on stop. */
  client?: TrackClient;
  logger?: Logger;
  /** Kafka client; by default one is built from `config.kafkaBrokers`. */
  kafka?: Kafka;
  /** Epoch milliseconds, for latencies and timestamps. */
  now?: () => number;
}

// Error types kafkajs reports when the member's generation is over. A commit then is dropped.
const REBALANCE_ERROR_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID', 'NOT_COORDINATOR']);

// Error messages in headers are cut, but the log line has the whole text.
const MAX_HEADER_MESSAGE_CHARS = 2000;
const EMAIL_IN_TEXT = /[^\s@"'<>,;:]+@[^\s@"'<>,;:]+\.[A-Za-z]{2,}/g;

/** One outbox message of a batch and what became of it. */
interface Slot {
  readonly message: KafkaMessage;
  readonly offset: string;
  /** Absent for tombstones and undecodable values, which are done at decode time. */
  readonly record: OutboxRecord | undefined;
  done: boolean;
  attempts: number;
  firstSentAtMs: number | undefined;
  deadLetter: Message | undefined;
  logEntry: Message | undefined;
}

type ChunkOutcome = 'done' | 'paused' | 'stopped';

interface BatchContext {
  readonly topic: string;
  readonly partition: number;
  readonly slots: Slot[];
  /** Index of the first slot not committed yet. */
  next: number;
  readonly signal: AbortSignal;
  readonly generation: number;
  readonly payload: EachBatchPayload;
  readonly log: Logger;
}

export class CustomerioSink {
  readonly config: SinkConfig;
  readonly registry: Registry;
  readonly #client: TrackClient;
  readonly #ownsClient: boolean;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #consumer: Consumer;
  readonly #producer: Producer;
  readonly #stop = new AbortController();
  readonly #metrics: SinkMetrics;
  /** `topic:partition` of the current assignment. */
  #assigned = new Set<string>();
  #generation = 0;
  #joined = false;
  #alive = true;
  #stopping = false;
  #authFailure: TrackFatalError | undefined;
  readonly #resumeTimers = new Map<string, NodeJS.Timeout>();
  #server: Server | undefined;
  #httpPort = 0;

  constructor(options: SinkOptions) {
    this.config = options.config;
    this.#log = (options.logger ?? pino({ level: options.config.logLevel })).child({ component: 'customerio-sink' });
    this.#now = options.now ?? Date.now;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? createTrackClient(options.config, this.#log);
    this.registry = new promClient.Registry();
    this.#metrics = new SinkMetrics(this.registry);

    const kafka =
      options.kafka ??
      new KafkaClient({
        clientId: this.config.kafkaClientId,
        brokers: [...this.config.kafkaBrokers],
        ...kafkaClientSecurity(this.config.kafkaSecurity),
        logLevel: KafkaLogLevel.WARN,
        logCreator: kafkaLogCreator(this.#log),
      });
    this.#consumer = kafka.consumer({
      groupId: this.config.groupId,
      sessionTimeout: this.config.sessionTimeoutMs,
      heartbeatInterval: this.config.heartbeatIntervalMs,
      rebalanceTimeout: this.config.rebalanceTimeoutMs,
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    // The Java client's murmur2 partitioner, as every other writer of these topics uses.
    this.#producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: kafkajs.Partitioners.DefaultPartitioner });

    const events = this.#consumer.events;
    this.#consumer.on(events.GROUP_JOIN, (event) => {
      this.#generation += 1;
      this.#assigned = new Set(
        Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => `${topic}:${partition}`)),
      );
      this.#joined = true;
      this.#metrics.groupJoins.inc();
      this.#clearResumeTimers();
      this.#log.info({ groupId: this.config.groupId, assignment: event.payload.memberAssignment }, 'joined consumer group');
    });
    this.#consumer.on(events.REBALANCING, () => {
      this.#generation += 1;
      this.#assigned = new Set();
      this.#log.warn({ groupId: this.config.groupId }, 'consumer group rebalancing');
    });
    this.#consumer.on(events.CRASH, (event) => {
      this.#log.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.#alive = false;
    });
  }

  /** Port of the HTTP server, known after start(). */
  get httpPort(): number {
    return this.#httpPort;
  }

  /** True once Customer.io rejected the credentials. The sink then consumes and commits nothing. */
  get authFailed(): boolean {
    return this.#authFailure !== undefined;
  }

  isReady(): boolean {
    return this.#alive && this.#joined && !this.#stopping && this.#authFailure === undefined;
  }

  /** Starts the HTTP server, connects, subscribes and starts consuming. */
  async start(): Promise<void> {
    // kafkajs 2.2.4 lets aborted records through when transactions of several
    // producers overlap on one partition. Each task of the people processor has its own
    // transactional producer, and several tasks write one outbox partition when the outbox has
    // another partition count than the people processor's inputs.
    installReadCommittedFix();
    await this.#startHttpServer();
    await this.#producer.connect();
    await this.#consumer.connect();
    // Explicit: a group without committed offsets starts at the earliest offset (see config.ts).
    await this.#consumer.subscribe({ topics: [this.config.outboxTopic], fromBeginning: this.config.fromBeginning });
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.config.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.#processBatch(payload),
    });
    this.#log.info(
      {
        groupId: this.config.groupId,
        topic: this.config.outboxTopic,
        deadLetterTopic: this.config.deadLetterTopic,
        deliveryLogTopic: this.config.deliveryLogTopic,
        backfillGuard: this.config.backfillGuard,
        ...describeKafkaSecurity(this.config.kafkaSecurity),
      },
      'sink started',
    );
  }

  /**
   * Stops: aborts sends and waits in progress (their records stay uncommitted), disconnects and
   * closes the HTTP server. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#stop.abort(new Error('sink is stopping'));
    this.#clearResumeTimers();
    try {
      await this.#consumer.disconnect();
    } catch (err) {
      this.#log.warn({ err }, 'consumer disconnect failed');
    }
    try {
      await this.#producer.disconnect();
    } catch (err) {
      this.#log.warn({ err }, 'producer disconnect failed');
    }
    if (this.#ownsClient) await this.#client.close();
    await this.#closeHttpServer();
    this.#log.info({ groupId: this.config.groupId }, 'sink stopped');
  }

  async #processBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    if (this.#authFailure !== undefined || this.#stopping || batch.messages.length === 0) return;

    const log = this.#log.child({ topic, partition });
    const batchAbort = new AbortController();
    let rebalanceError: unknown;
    const heartbeat = (): void => {
      payload.heartbeat().catch((err: unknown) => {
        if (isRebalanceError(err)) {
          rebalanceError ??= err;
          batchAbort.abort(err);
        } else {
          log.warn({ err }, 'heartbeat failed');
        }
      });
    };
    // kafkajs sends at most one heartbeat per heartbeatIntervalMs, so this timer only keeps asking.
    const timer = setInterval(heartbeat, this.config.heartbeatIntervalMs);

    const context: BatchContext = {
      topic,
      partition,
      slots: batch.messages.map((message) => this.#decode(topic, partition, message, log)),
      next: 0,
      signal: AbortSignal.any([this.#stop.signal, batchAbort.signal]),
      generation: this.#generation,
      payload,
      log,
    };

    try {
      // Records already done at decode time (tombstones, poison) may form a prefix to commit.
      let outcome: ChunkOutcome = (await this.#commitPrefix(context)) ? 'done' : 'stopped';
      for (let start = 0; outcome === 'done' && start < context.slots.length; start += this.config.maxRecordsPerSend) {
        outcome = await this.#deliverChunk(context, context.slots.slice(start, start + this.config.maxRecordsPerSend), heartbeat);
      }
    } finally {
      clearInterval(timer);
    }
    // Rethrown so kafkajs rejoins the group at once. Nothing past the last commit was resolved.
    if (rebalanceError !== undefined) throw rebalanceError;
  }

  #decode(topic: string, partition: number, message: KafkaMessage, log: Logger): Slot {
    const slot: Slot = {
      message,
      offset: message.offset,
      record: undefined,
      done: true,
      attempts: 0,
      firstSentAtMs: undefined,
      deadLetter: undefined,
      logEntry: undefined,
    };
    if (message.value === null) {
      log.debug({ offset: message.offset }, 'tombstone skipped');
      this.#metrics.skipped.inc();
      return slot;
    }
    // A processor's progress record (processors/progress/records.ts) carries nothing for Customer.io.
    if (isProgressMessage(message.headers)) {
      log.debug({ offset: message.offset }, 'progress record skipped');
      this.#metrics.skipped.inc();
      return slot;
    }
    let record: OutboxRecord;
    try {
      record = parseOutboxRecord(message.value, message.key);
    } catch (err) {
      if (!(err instanceof OutboxRecordError)) throw err;
      err.withRecord({ topic, partition, offset: message.offset, key: keyText(message.key) ?? undefined });
      log.warn({ offset: message.offset, err: errorFields(err) }, 'undecodable outbox record dead-lettered');
      this.#reject(slot, topic, partition, err, 'invalid_outbox_record', err.field, undefined);
      this.#metrics.rejected.inc({ stage: 'decode' });
      return slot;
    }
    return this.#guardBackfill({ ...slot, record, done: false }, { topic, partition }, log);
  }

  /**
   * Applies the backfill guard (backfill.ts) to a decoded event. It runs when a batch is taken up
   * for delivery, and again when a paused partition is read again. A skipped event is done at
   * once: its delivery-log record commits with the offsets around it.
   */
  #guardBackfill(slot: Slot, source: { topic: string; partition: number }, log: Logger): Slot {
    const record = slot.record;
    if (record === undefined || record.kind !== 'event') return slot;
    const decision = backfillDecision(record, this.#now(), this.config.backfillGuard);
    if (decision.action === 'send') return slot;

    const fields = {
      offset: slot.offset,
      eventId: record.id,
      name: record.name,
      ageHours: Math.floor(decision.ageMs / 3_600_000),
      horizonHours: this.config.backfillGuard.horizonHours,
    };
    if (decision.action === 'mark') {
      this.#metrics.backfill.inc({ action: 'marked', name: record.name });
      log.debug(fields, 'backfilled event marked');
      return { ...slot, record: markBackfill(record) };
    }
    this.#metrics.backfill.inc({ action: 'skipped', name: record.name });
    log.info(fields, 'backfilled event skipped');
    const skipped: Slot = { ...slot, done: true };
    skipped.logEntry = this.#logMessage(skipped, source, 'skipped', BACKFILL_SKIP_REASON);
    return skipped;
  }

  /** Sends the chunk's unfinished records until all are done, the partition pauses, or the batch stops. */
  async #deliverChunk(context: BatchContext, chunk: Slot[], heartbeat: () => void): Promise<ChunkOutcome> {
    const { log } = context;
    for (;;) {
      const pending = chunk.filter((slot) => !slot.done);
      if (pending.length === 0) return 'done';
      if (context.signal.aborted || !context.payload.isRunning() || context.payload.isStale()) return 'stopped';

      const sentAtMs = this.#now();
      for (const slot of pending) slot.firstSentAtMs ??= sentAtMs;
      let results: ItemResult[];
      try {
        const report = await this.#client.send(
          pending.map((slot) => slot.record as OutboxRecord),
          {
            signal: context.signal,
            retry: this.#inlineRetry(),
            onRetry: (event) => {
              this.#metrics.retries.inc();
              log.debug({ attempt: event.attempt, delayMs: event.delayMs, statusCode: event.statusCode, code: event.code }, 'retrying track request');
              heartbeat();
            },
          },
        );
        results = report.results;
      } catch (err) {
        if (err instanceof TrackFatalError) {
          this.#failOnCredentials(err);
          return 'stopped';
        }
        throw err;
      }

      let waitMs = 0;
      results.forEach((result, index) => {
        const slot = pending[index] as Slot;
        slot.attempts += result.attempts;
        if (result.status === 'delivered') {
          slot.done = true;
          slot.logEntry = this.#logMessage(slot, context, 'delivered', null);
          const delivered = slot.record;
          this.#metrics.delivered.inc({ kind: delivered?.kind ?? 'unknown', name: delivered?.kind === 'event' ? delivered.name : '' });
          log.debug({ offset: slot.offset, attempts: slot.attempts }, 'record delivered');
        } else if (result.status === 'rejected') {
          const error = result.error;
          const reason = rejectionReason(error);
          error.withRecord({ topic: context.topic, partition: context.partition, offset: slot.offset });
          log.warn({ offset: slot.offset, err: errorFields(error) }, 'record rejected and dead-lettered');
          this.#reject(slot, context.topic, context.partition, error, reason, error.field, error instanceof TrackRejectedError ? error.statusCode : undefined);
          this.#metrics.rejected.inc({ stage: error instanceof ValidationError ? 'validate' : 'api' });
        } else {
          waitMs = Math.max(waitMs, result.error.retryAfterMs ?? this.config.retryBackoffMs);
          log.debug({ offset: slot.offset, code: result.error.code, retryAfterMs: result.error.retryAfterMs }, 'record not delivered yet');
        }
      });

      if (!(await this.#commitPrefix(context))) return 'stopped';
      if (chunk.every((slot) => slot.done)) return 'done';

      if (waitMs > this.config.inlineWaitMaxMs) {
        this.#pauseUntil(context, waitMs);
        return 'paused';
      }
      if (!(await sleep(waitMs, context.signal))) return 'stopped';
    }
  }

  /** Retry settings for one send, so that no single wait inside the client exceeds the inline bound. */
  #inlineRetry(): { maxRetryAfterMs: number; maxDelayMs: number; initialDelayMs: number } {
    const bound = this.config.inlineWaitMaxMs;
    const maxDelayMs = Math.min(this.config.track.retry.maxDelayMs, bound);
    return { maxRetryAfterMs: bound, maxDelayMs, initialDelayMs: Math.min(this.config.track.retry.initialDelayMs, maxDelayMs) };
  }

  #reject(slot: Slot, topic: string, partition: number, error: Error & { code?: string }, reason: string, field: string | undefined, statusCode: number | undefined): void {
    slot.done = true;
    const key = keyText(slot.message.key);
    const message = redact(error.message);
    const headers: IHeaders = {
      ...slot.message.headers,
      [DEAD_LETTER_HEADERS.topic]: topic,
      [DEAD_LETTER_HEADERS.partition]: String(partition),
      [DEAD_LETTER_HEADERS.offset]: slot.offset,
      [DEAD_LETTER_HEADERS.key]: key ?? '',
      [DEAD_LETTER_HEADERS.errorClass]: error.name,
      [DEAD_LETTER_HEADERS.errorCode]: error.code ?? '',
      [DEAD_LETTER_HEADERS.reason]: reason,
      [DEAD_LETTER_HEADERS.field]: field ?? '',
      [DEAD_LETTER_HEADERS.status]: statusCode === undefined ? 'not_sent' : String(statusCode),
      [DEAD_LETTER_HEADERS.message]: message.length > MAX_HEADER_MESSAGE_CHARS ? message.slice(0, MAX_HEADER_MESSAGE_CHARS) : message,
      [DEAD_LETTER_HEADERS.failedAt]: new Date(this.#now()).toISOString(),
    };
    slot.deadLetter = { key: slot.message.key, value: slot.message.value, headers };
    slot.logEntry = this.#logMessage(slot, { topic, partition }, 'rejected', reason);
  }

  #logMessage(slot: Slot, source: { topic: string; partition: number }, status: DeliveryLogEntry['status'], reason: string | null): Message {
    const record = slot.record;
    const nowMs = this.#now();
    const customerId = record?.customerId ?? keyText(slot.message.key);
    const entry: DeliveryLogEntry = {
      eventId: record?.kind === 'event' ? record.id : null,
      kind: record?.kind ?? null,
      name: record?.kind === 'event' ? record.name : null,
      customerId,
      status,
      reason,
      attempts: slot.attempts,
      latencyMs: slot.firstSentAtMs === undefined ? 0 : nowMs - slot.firstSentAtMs,
      source: { topic: source.topic, partition: source.partition, offset: slot.offset },
      at: new Date(nowMs).toISOString(),
    };
    return { key: customerId, value: JSON.stringify(entry) };
  }

  /**
   * Commits the contiguous prefix of done records from `context.next`. Returns false when the
   * batch must stop: the partition is no longer ours, the sink stops, or credentials failed.
   */
  async #commitPrefix(context: BatchContext): Promise<boolean> {
    // Step 1: the contiguous prefix of done records.
    let end = context.next;
    while (end < context.slots.length && (context.slots[end] as Slot).done) end += 1;
    if (end === context.next) return this.#stillOwned(context);
    const prefix = context.slots.slice(context.next, end);
    // A batch that lost its partition or its credentials writes nothing more.
    if (!this.#stillOwned(context)) return false;

    // Step 2: dead letters and delivery-log records, acknowledged by all in-sync replicas.
    const deadLetters = prefix.flatMap((slot) => (slot.deadLetter === undefined ? [] : [slot.deadLetter]));
    const logEntries = prefix.flatMap((slot) => (slot.logEntry === undefined ? [] : [slot.logEntry]));
    const topicMessages = [
      { topic: this.config.deadLetterTopic, messages: deadLetters },
      { topic: this.config.deliveryLogTopic, messages: logEntries },
    ].filter((entry) => entry.messages.length > 0);
    if (topicMessages.length > 0) {
      try {
        await this.#producer.sendBatch({ topicMessages, acks: -1 });
      } catch (err) {
        const last = prefix[prefix.length - 1] as Slot;
        throw new SinkProduceError(
          `could not write ${deadLetters.length} dead letters and ${logEntries.length} delivery-log records; offsets up to ${last.offset} stay uncommitted and are read again`,
          { topic: context.topic, partition: context.partition, offset: last.offset, cause: err },
        );
      }
      this.#metrics.deadLetters.inc(deadLetters.length);
    }

    // Step 3: only the owner of the partition, in the generation that read the batch, commits.
    if (!this.#stillOwned(context)) return false;

    // Step 4: commit last done offset + 1.
    const last = prefix[prefix.length - 1] as Slot;
    const nextOffset = (BigInt(last.offset) + 1n).toString();
    try {
      await this.#consumer.commitOffsets([{ topic: context.topic, partition: context.partition, offset: nextOffset }]);
    } catch (err) {
      if (isRebalanceError(err)) {
        this.#metrics.commitsDropped.inc();
        context.log.warn({ offset: nextOffset, err }, 'commit dropped after a rebalance');
        return false;
      }
      throw err;
    }
    context.payload.resolveOffset(last.offset);
    context.next = end;
    context.log.debug({ offset: nextOffset }, 'offsets committed');
    return true;
  }

  /**
   * Checked before each commit. kafkajs rejoins only after the batch handler returns, so within a
   * batch the generation and the assignment seen here do not change: a member whose session
   * expired meanwhile still passes this check. Its commit then carries the old member id and
   * generation, the broker rejects it, and #commitPrefix drops it (test/sink/rebalance.test.ts
   * freezes a member to run that path).
   */
  #stillOwned(context: BatchContext): boolean {
    const owned =
      this.#authFailure === undefined &&
      context.generation === this.#generation &&
      this.#assigned.has(`${context.topic}:${context.partition}`) &&
      context.payload.isRunning() &&
      !context.payload.isStale();
    if (!owned && this.#authFailure === undefined && !this.#stopping) {
      this.#metrics.commitsDropped.inc();
      context.log.warn({ offset: (context.slots[context.next] as Slot | undefined)?.offset }, 'partition no longer owned; commit dropped');
    }
    return owned;
  }

  /** Pauses the partition for `waitMs`, then rewinds it to the first undone record and resumes. */
  #pauseUntil(context: BatchContext, waitMs: number): void {
    const { topic, partition } = context;
    const id = `${topic}:${partition}`;
    const firstUndone = (context.slots[context.next] as Slot).offset;
    this.#consumer.pause([{ topic, partitions: [partition] }]);
    this.#metrics.pauses.inc();
    this.#metrics.paused.inc();
    context.log.info({ offset: firstUndone, waitMs }, 'partition paused until retry');

    const previous = this.#resumeTimers.get(id);
    if (previous !== undefined) clearTimeout(previous);
    const generation = this.#generation;
    const timer = setTimeout(() => {
      this.#resumeTimers.delete(id);
      this.#metrics.paused.dec();
      if (this.#stopping || this.#authFailure !== undefined) return;
      if (generation === this.#generation && this.#assigned.has(id)) {
        this.#consumer.seek({ topic, partition, offset: firstUndone });
      }
      this.#consumer.resume([{ topic, partitions: [partition] }]);
      context.log.info({ offset: firstUndone }, 'partition resumed');
    }, waitMs);
    this.#resumeTimers.set(id, timer);
  }

  #clearResumeTimers(): void {
    for (const [id, timer] of this.#resumeTimers) {
      clearTimeout(timer);
      this.#metrics.paused.dec();
      const separator = id.lastIndexOf(':');
      // A rebalance hands out fresh positions, and a partition paused here may be ours again and must run.
      if (!this.#stopping && this.#authFailure === undefined) {
        this.#consumer.resume([{ topic: id.slice(0, separator), partitions: [Number(id.slice(separator + 1))] }]);
      }
    }
    this.#resumeTimers.clear();
  }

  /** 401, 403 or a region redirect: no record can pass, so stop consuming and alert. */
  #failOnCredentials(err: TrackFatalError): void {
    if (this.#authFailure !== undefined) return;
    this.#authFailure = err;
    this.#metrics.authAlert.set(1);
    this.#consumer.pause([{ topic: this.config.outboxTopic }]);
    // The error's own key field is the customer id, so only the failure itself is logged.
    this.#log.error(
      { err: { name: err.name, code: err.code, statusCode: err.statusCode, message: err.message }, auth: err instanceof TrackAuthError },
      'Customer.io rejected the credentials or region, so consumption stopped. Fix the site id, API key or region and restart',
    );
  }

  async #startHttpServer(): Promise<void> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const reply = (status: number, contentType: string, body: string): void => {
        response.writeHead(status, { 'content-type': contentType });
        response.end(body);
      };
      const health = (ok: boolean, details: Record<string, unknown>): void =>
        reply(ok ? 200 : 503, 'application/json', JSON.stringify({ ok, ...details }));

      if (request.method !== 'GET') return reply(405, 'text/plain', 'method not allowed\n');
      if (path === '/healthz') return health(this.#alive, {});
      if (path === '/readyz') {
        return health(this.isReady(), { joined: this.#joined, stopping: this.#stopping, authFailed: this.#authFailure !== undefined });
      }
      if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => reply(200, this.registry.contentType, text),
          (err: unknown) => {
            this.#log.error({ err }, 'metrics collection failed');
            reply(500, 'text/plain', 'metrics collection failed\n');
          },
        );
        return;
      }
      reply(404, 'text/plain', 'not found; try /healthz, /readyz or /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.httpPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#httpPort = (server.address() as AddressInfo).port;
    this.#log.info({ host: '127.0.0.1', port: this.#httpPort }, 'http server listening');
  }

  async #closeHttpServer(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

class SinkMetrics {
  readonly delivered: Counter<'kind' | 'name'>;
  readonly rejected: Counter<'stage'>;
  readonly skipped: Counter;
  readonly backfill: Counter<'action' | 'name'>;
  readonly retries: Counter;
  readonly deadLetters: Counter;
  readonly pauses: Counter;
  readonly commitsDropped: Counter;
  readonly groupJoins: Counter;
  readonly paused: Gauge;
  readonly authAlert: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.delivered = new promClient.Counter({
      name: 'cio_sink_delivered_total',
      help: 'Outbox records Customer.io accepted, by kind (identify, event) and event name',
      labelNames: ['kind', 'name'],
      registers,
    });
    this.rejected = new promClient.Counter({
      name: 'cio_sink_rejected_total',
      help: 'Outbox records rejected for good, by stage (decode, validate, api)',
      labelNames: ['stage'],
      registers,
    });
    this.skipped = new promClient.Counter({ name: 'cio_sink_tombstones_skipped_total', help: 'Tombstones skipped on the outbox', registers });
    this.backfill = new promClient.Counter({
      name: 'cio_sink_backfill_events_total',
      help: 'Events older than the backfill horizon, by action (marked, skipped) and event name',
      labelNames: ['action', 'name'],
      registers,
    });
    this.retries = new promClient.Counter({ name: 'cio_sink_retries_total', help: 'Track API request retries', registers });
    this.deadLetters = new promClient.Counter({ name: 'cio_sink_dead_letters_total', help: 'Records written to the dead-letter topic', registers });
    this.pauses = new promClient.Counter({ name: 'cio_sink_partition_pauses_total', help: 'Times a partition was paused to wait for a retry', registers });
    this.commitsDropped = new promClient.Counter({ name: 'cio_sink_commits_dropped_total', help: 'Commits dropped because the partition was no longer owned', registers });
    this.groupJoins = new promClient.Counter({ name: 'cio_sink_group_joins_total', help: 'Times this member joined the consumer group', registers });
    this.paused = new promClient.Gauge({ name: 'cio_sink_paused_partitions', help: 'Partitions paused while waiting for a retry', registers });
    this.authAlert = new promClient.Gauge({ name: 'cio_sink_auth_alert', help: '1 when Customer.io rejected the credentials and the sink stopped', registers });
    this.authAlert.set(0);
    this.paused.set(0);
  }
}

/** Builds the Track client from the parsed settings. */
export function createTrackClient(config: SinkConfig, logger: Logger): TrackClient {
  const track = config.track;
  return new TrackClient({
    siteId: track.siteId,
    apiKey: track.apiKey,
    region: track.region,
    baseUrl: track.baseUrl,
    apiVersion: track.apiVersion,
    requestsPerSecond: track.requestsPerSecond,
    burstRequests: track.burstRequests,
    maxConcurrentRequests: track.maxConcurrentRequests,
    requestTimeoutMs: track.requestTimeoutMs,
    connectTimeoutMs: track.connectTimeoutMs,
    batch: track.batch,
    retry: track.retry,
    logger: logger.child({ component: 'track-client' }),
  });
}

function rejectionReason(error: ValidationError | TrackRejectedError): string {
  if (error instanceof ValidationError) return error.reason;
  if (error.reason !== undefined) return error.reason;
  return error.statusCode === undefined ? 'rejected' : `http_${error.statusCode}`;
}

/**
 * Whether `err`, or an error it wraps, reports the end of the member's generation. kafkajs 2.2.4
 * wraps a protocol error that its retrier gives up on (such as the broker's rejection of a stale
 * commit) in KafkaJSNonRetriableError and keeps it as `cause`.
 */
function isRebalanceError(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth += 1) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string' && REBALANCE_ERROR_TYPES.has(type)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function keyText(key: Buffer | string | null | undefined): string | null {
  if (key === null || key === undefined) return null;
  return typeof key === 'string' ? key : key.toString('utf8');
}

function redact(text: string): string {
  return text.replace(EMAIL_IN_TEXT, '<email>');
}

function errorFields(err: Error & { code?: string; field?: string }): Record<string, unknown> {
  return { name: err.name, code: err.code, field: err.field, message: redact(err.message) };
}

/** Waits `ms` and resolves true, or resolves false when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Routes kafkajs's log lines into pino. */
function kafkaLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () => (entry) => {
    const { message, ...fields } = entry.log;
    const payload = { namespace: entry.namespace, ...fields };
    if (entry.level === KafkaLogLevel.ERROR) child.error(payload, message);
    else if (entry.level === KafkaLogLevel.WARN) child.warn(payload, message);
    else if (entry.level === KafkaLogLevel.INFO) child.info(payload, message);
    else child.debug(payload, message);
  };
}
