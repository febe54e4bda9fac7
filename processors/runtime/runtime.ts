/**
 * The processor runtime: one consumer in the processor's group, a task per
 * assigned partition number, and the HTTP endpoints.
 *
 * Start-up, in order:
 *  1. Check the topology against the cluster (keys, partition counts) and create
 *     the internal topics: repartition topics, changelogs, the dead-letter topic.
 *  2. Start the HTTP server (/metrics, /healthz, /readyz).
 *  3. Join the group with the co-partitioned assigner, read_committed, without
 *     auto-commit; groups without committed offsets start at the earliest offset.
 *  4. For each assigned partition number, start a task: fence, seek to the
 *     committed offsets, restore the stores, then process.
 *
 * Shutdown (stop) lets the batch in flight finish and commit, leaves the group,
 * closes the tasks and the HTTP server.
 */
import { EventEmitter } from 'node:events';

import kafkajs from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, Kafka as KafkaClient } from 'kafkajs';
import type { Logger } from 'pino';

import { coPartitionedAssigner } from './assigner.ts';
import type { RuntimeConfig } from './config.ts';
import { RuntimeError } from './errors.ts';
import { describeKafkaSecurity, kafkaClientSecurity } from './kafka-security.ts';
import { PartitionReader } from './partition-reader.ts';
import { installReadCommittedFix } from './read-committed.ts';
import type { AnyProcessorDefinition, SomeProcessorDefinition } from './processor.ts';
import { planTopology } from './repartition.ts';
import type { TopologyPlan } from './repartition.ts';
import { Task } from './task.ts';
import type { CommittedEvent } from './task.ts';
import { RuntimeMetrics, createRootLogger, kafkaJsLogCreator, kafkaJsLogLevel, startHttpServer } from './telemetry.ts';
import type { HealthReport, RunningHttpServer } from './telemetry.ts';
import { systemClock } from './timers.ts';
import type { Clock } from './timers.ts';
import { ensureTopics, partitionCounts } from './topics.ts';
import type { CommitHooks } from './transaction.ts';

const { Kafka } = kafkajs;

export interface RuntimeOptions {
  readonly config: RuntimeConfig;
  /** Source of "now" for wall-clock timers and dead-letter timestamps. */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Fault injection for tests; see CommitHooks. */
  readonly hooks?: CommitHooks;
}

export interface RuntimeEvents {
  /** Every assigned task is running (emitted after each assignment that reaches that point). */
  ready: [];
  'task-running': [task: number];
  committed: [event: CommittedEvent];
  /** A task finished one check for due wall-clock timers. */
  'wall-clock-checked': [task: number];
  /** The consumer failed for good; the process should exit. */
  crash: [error: unknown];
  stopped: [];
}

export class ProcessorRuntime extends EventEmitter<RuntimeEvents> {
  readonly definition: AnyProcessorDefinition;
  readonly config: RuntimeConfig;
  readonly metrics: RuntimeMetrics;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly hooks: CommitHooks;
  private kafka: KafkaClient | undefined;
  private admin: Admin | undefined;
  private consumer: Consumer | undefined;
  private reader: PartitionReader | undefined;
  private http: RunningHttpServer | undefined;
  private planValue: TopologyPlan | undefined;
  private readonly tasks = new Map<number, Task>();
  private readonly closingTasks = new Map<number, Promise<void>>();
  private readonly ticks = new Map<number, Promise<void>>();
  private assignment = new Map<number, string[]>();
  private memberId: string | undefined;
  private joined = false;
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private crashed: unknown;
  private tickTimer: NodeJS.Timeout | undefined;
  private lastFetchAt = Date.now();
  private adminQueue: Promise<unknown> = Promise.resolve();

  constructor(definition: SomeProcessorDefinition, options: RuntimeOptions) {
    super();
    installReadCommittedFix();
    // Handlers are typed per processor; the runtime treats them uniformly.
    this.definition = definition as unknown as AnyProcessorDefinition;
    this.config = options.config;
    this.clock = options.clock ?? systemClock;
    this.hooks = options.hooks ?? {};
    const root =
      options.logger ??
      createRootLogger({ level: this.config.logLevel, applicationId: this.config.applicationId, instanceId: this.config.instanceId });
    this.log = root.child({ component: 'runtime', processor: definition.name });
    this.metrics = new RuntimeMetrics(this.config.applicationId);
  }

  get plan(): TopologyPlan {
    if (this.planValue === undefined) {
      throw new RuntimeError('RUNTIME_NOT_STARTED', 'the topology plan exists only after start()');
    }
    return this.planValue;
  }

  /** Port of the HTTP server, once started. */
  get httpPort(): number | undefined {
    return this.http?.port;
  }

  taskIds(): number[] {
    return [...this.tasks.keys()].sort((a, b) => a - b);
  }

  /** Returns a copy of one store of one task, for inspection and tests. */
  storeSnapshot(task: number, store: string): Map<string, unknown> {
    const owner = this.tasks.get(task);
    if (owner === undefined) {
      throw new RuntimeError('TASK_NOT_ASSIGNED', `task ${task} is not assigned to this instance`);
    }
    return owner.snapshot(store);
  }

  async start(): Promise<void> {
    if (this.started) {
      throw new RuntimeError('RUNTIME_STARTED', 'start() was already called on this runtime');
    }
    this.started = true;
    const config = this.config;
    this.log.info(
      { applicationId: config.applicationId, brokers: config.kafkaBrokers, instanceId: config.instanceId, ...describeKafkaSecurity(config.kafkaSecurity) },
      'runtime starting',
    );
    try {
      this.kafka = new Kafka({
        clientId: config.kafkaClientId,
        brokers: [...config.kafkaBrokers],
        ...kafkaClientSecurity(config.kafkaSecurity),
        connectionTimeout: config.connectionTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        logLevel: kafkaJsLogLevel(config.kafkaLogLevel),
        logCreator: kafkaJsLogCreator(this.log),
      });
      this.admin = this.kafka.admin();
      await this.admin.connect();

      // Step 1: topology check and internal topics.
      this.planValue = await this.preparePlan(this.admin);
      this.reader = new PartitionReader(this.kafka, {
        maxWaitMs: config.fetchMaxWaitMs,
        maxBytes: config.fetchMaxBytesPerPartition,
      });
      await this.reader.connect();

      // Step 2: HTTP.
      this.http = await startHttpServer({
        host: config.httpHost,
        port: config.httpPort,
        registry: this.metrics.registry,
        liveness: () => this.liveness(),
        readiness: () => this.readiness(),
        log: this.log,
      });

      // Step 3: the consumer group.
      await this.startConsumer(this.kafka, this.planValue);

      // Step 4 happens on every assignment (onGroupJoin). Wall-clock timers need a beat:
      this.tickTimer = setInterval(() => this.tick(), config.timerCheckIntervalMs);
      this.log.info({ httpPort: this.http.port, tasks: this.planValue.taskCount }, 'runtime started');
    } catch (error) {
      this.log.error({ err: error }, 'runtime start failed');
      await this.stop().catch(() => undefined);
      throw error;
    }
  }

  private async preparePlan(admin: Admin): Promise<TopologyPlan> {
    const options = { repartitionPartitions: this.config.repartitionPartitions };
    const inputTopics = Object.values(this.definition.inputs).map((input) => input.topic);
    const first = planTopology(this.definition, this.config.applicationId, await partitionCounts(admin, inputTopics), options);
    const owned = [...first.internalTopics, ...first.outputTopics];
    await ensureTopics(admin, owned, this.config.topicReplicationFactor, this.log);

    // Check again with every topic now present, so existing internal topics with
    // a wrong partition count are caught.
    const allTopics = [...inputTopics, ...owned.map((spec) => spec.topic)];
    const plan = planTopology(this.definition, this.config.applicationId, await partitionCounts(admin, allTopics), options);
    this.log.info(
      {
        taskCount: plan.taskCount,
        inputs: [...plan.sources.values()].map((source) => ({ topic: source.topic, role: source.role })),
        stores: plan.stores.map((store) => store.changelogTopic),
        dlqTopic: plan.dlqTopic,
      },
      'topology checked',
    );
    return plan;
  }

  private async startConsumer(kafka: KafkaClient, plan: TopologyPlan): Promise<void> {
    const config = this.config;
    const consumer = kafka.consumer({
      groupId: config.applicationId,
      partitionAssigners: [coPartitionedAssigner({ mainTopics: plan.mainTopics })],
      sessionTimeout: config.sessionTimeoutMs,
      rebalanceTimeout: config.rebalanceTimeoutMs,
      heartbeatInterval: config.heartbeatIntervalMs,
      maxWaitTimeInMs: config.fetchMaxWaitMs,
      maxBytesPerPartition: config.fetchMaxBytesPerPartition,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      // A consumer that kafkajs gives up on ends the process (see main.ts), so the
      // orchestrator restarts it. A restart in place could hide a crash loop.
      retry: { restartOnFailure: async () => false },
    });
    this.consumer = consumer;

    consumer.on(consumer.events.GROUP_JOIN, (event) => this.onGroupJoin(event.payload));
    consumer.on(consumer.events.CRASH, (event) => this.onCrash(event.payload.error));
    consumer.on(consumer.events.FETCH, () => {
      this.lastFetchAt = Date.now();
    });
    consumer.on(consumer.events.REBALANCING, (event) => {
      this.log.warn({ memberId: event.payload.memberId }, 'group rebalancing');
    });

    await consumer.connect();
    // fromBeginning: a group without committed offsets starts at the earliest
    // offset. Tasks also seek there explicitly (see Task.loadPositions).
    await consumer.subscribe({ topics: [...plan.sources.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private onGroupJoin(payload: { memberId: string; isLeader: boolean; memberAssignment: Record<string, number[]> }): void {
    const assignment = new Map<number, string[]>();
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const topics = assignment.get(partition) ?? [];
        topics.push(topic);
        assignment.set(partition, topics);
      }
    }
    for (const topics of assignment.values()) {
      topics.sort();
    }
    // A new member id means the group dropped this instance meanwhile; other
    // instances may have moved its tasks on, so every task starts afresh.
    const memberChanged = this.memberId !== undefined && this.memberId !== payload.memberId;
    this.memberId = payload.memberId;
    this.assignment = assignment;

    for (const [id, task] of this.tasks) {
      const topics = assignment.get(id);
      if (topics === undefined) {
        this.dropTask(id, 'revoked');
      } else if (memberChanged || topics.join() !== task.topics.join()) {
        this.dropTask(id, 'reassigned');
      }
    }
    for (const [id, topics] of assignment) {
      if (!this.tasks.has(id)) {
        this.createTask(id, topics);
      }
    }
    this.resume([...assignment.keys()]);

    this.joined = true;
    this.metrics.assignedTasks.set(assignment.size);
    this.log.info(
      { memberId: payload.memberId, isLeader: payload.isLeader, tasks: [...assignment.keys()].sort((a, b) => a - b) },
      'partitions assigned',
    );
    this.emitReadyIfReady();
  }

  private createTask(id: number, topics: readonly string[]): void {
    const task = new Task({
      id,
      topics,
      plan: this.plan,
      definition: this.definition,
      config: this.config,
      kafka: this.kafka!,
      fetchCommittedOffsets: (topics) => this.fetchCommittedOffsets(topics),
      consumer: this.consumer!,
      reader: this.reader!,
      clock: this.clock,
      log: this.log,
      metrics: this.metrics,
      hooks: this.hooks,
      isStopping: () => this.stopping,
      onRunning: (running) => {
        this.emit('task-running', running.id);
        this.emitReadyIfReady();
      },
      onFenced: (fenced) => this.onTaskFenced(fenced),
      onCommitted: (event) => this.emit('committed', event),
    });
    this.tasks.set(id, task);
    task.start(this.closingTasks.get(id));
  }

  /**
   * Committed offsets of the group. Calls run one at a time: kafkajs 2.2.4 opens
   * (and leaks) a socket per request that arrives while a connection is still
   * connecting, which concurrent task initializations would otherwise do.
   */
  private fetchCommittedOffsets(topics: readonly string[]): Promise<Map<string, Map<number, string>>> {
    const result = this.adminQueue.then(async () => {
      const response = await this.admin!.fetchOffsets({ groupId: this.config.applicationId, topics: [...topics] });
      return new Map(
        response.map((entry) => [entry.topic, new Map(entry.partitions.map((item) => [item.partition, item.offset]))]),
      );
    });
    this.adminQueue = result.catch(() => undefined);
    return result;
  }

  private dropTask(id: number, reason: string): Promise<void> {
    const task = this.tasks.get(id);
    if (task === undefined) {
      return this.closingTasks.get(id) ?? Promise.resolve();
    }
    this.tasks.delete(id);
    const closing = task
      .close(reason)
      .catch((error: unknown) => {
        this.log.error({ err: error, task: id }, 'task close failed');
      })
      .finally(() => {
        if (this.closingTasks.get(id) === closing) {
          this.closingTasks.delete(id);
        }
      });
    this.closingTasks.set(id, closing);
    return closing;
  }

  /**
   * Handles a task that another instance fenced. Its partitions pause until the
   * next assignment. If they are still assigned here after a session timeout, the
   * task starts again, which fences the other instance in turn.
   */
  private onTaskFenced(task: Task): void {
    const topics = task.topics;
    void this.dropTask(task.id, 'fenced');
    try {
      this.consumer?.pause(topics.map((topic) => ({ topic, partitions: [task.id] })));
    } catch (error) {
      this.log.debug({ err: error, task: task.id }, 'pause skipped');
    }
    const retry = setTimeout(() => {
      const assigned = this.assignment.get(task.id);
      if (this.stopping || this.tasks.has(task.id) || assigned === undefined) {
        return;
      }
      this.log.warn({ task: task.id }, 'fenced task is still assigned here; starting it again');
      this.createTask(task.id, assigned);
      this.resume([task.id]);
    }, this.config.sessionTimeoutMs);
    retry.unref();
  }

  private resume(taskIds: readonly number[]): void {
    const byTopic = new Map<string, number[]>();
    for (const id of taskIds) {
      for (const topic of this.assignment.get(id) ?? []) {
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), id]);
      }
    }
    try {
      this.consumer?.resume([...byTopic].map(([topic, partitions]) => ({ topic, partitions })));
    } catch (error) {
      this.log.debug({ err: error }, 'resume skipped');
    }
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    this.lastFetchAt = Date.now();
    const { batch } = payload;
    const task = this.tasks.get(batch.partition);
    const source = this.planValue?.sources.get(batch.topic);
    if (task === undefined || source === undefined || !task.topics.includes(batch.topic)) {
      return;
    }
    if (!(await task.whenRunning(payload))) {
      return;
    }
    // A seek after the fetch (task initialization) makes this batch stale; the
    // next fetch starts at the committed offset.
    if (payload.isStale() || !payload.isRunning()) {
      return;
    }
    await task.processBatch(source, batch.messages, {
      heartbeat: payload.heartbeat,
      isRunning: payload.isRunning,
      resolveOffset: payload.resolveOffset,
    });
    const position = task.position(batch.topic);
    if (position !== undefined) {
      const lag = BigInt(batch.highWatermark) - position;
      this.metrics.consumerLag.set({ topic: batch.topic, partition: String(batch.partition) }, Number(lag > 0n ? lag : 0n));
    }
  }

  private tick(): void {
    let eventTimers = 0;
    let wallClockTimers = 0;
    for (const task of this.tasks.values()) {
      eventTimers += task.pendingTimers('event-time');
      wallClockTimers += task.pendingTimers('wall-clock');
      if (this.stopping || task.state !== 'running' || this.ticks.has(task.id)) {
        continue;
      }
      const tick = task
        .tick()
        .catch((error: unknown) => {
          this.log.error({ err: error, task: task.id }, 'wall-clock timer check failed');
        })
        .finally(() => {
          this.ticks.delete(task.id);
          this.emit('wall-clock-checked', task.id);
        });
      this.ticks.set(task.id, tick);
    }
    this.metrics.pendingTimers.set({ kind: 'event-time' }, eventTimers);
    this.metrics.pendingTimers.set({ kind: 'wall-clock' }, wallClockTimers);
  }

  private onCrash(error: unknown): void {
    this.crashed = error;
    this.log.error({ err: error }, 'consumer crashed');
    this.emit('crash', error);
  }

  private isReady(): boolean {
    return (
      this.joined &&
      !this.stopping &&
      this.crashed === undefined &&
      [...this.tasks.values()].every((task) => task.state === 'running') &&
      Date.now() - this.lastFetchAt < this.config.readyFetchStaleMs
    );
  }

  private emitReadyIfReady(): void {
    if (this.isReady()) {
      this.emit('ready');
    }
  }

  private liveness(): HealthReport {
    return { ok: this.crashed === undefined, details: { stopping: this.stopping } };
  }

  private readiness(): HealthReport {
    return {
      ok: this.isReady(),
      details: {
        joined: this.joined,
        stopping: this.stopping,
        crashed: this.crashed !== undefined,
        tasks: Object.fromEntries([...this.tasks].map(([id, task]) => [id, task.state])),
        lastFetchAgoMs: Date.now() - this.lastFetchAt,
      },
    };
  }

  /**
   * Stops processing: the batch in flight finishes and commits, the consumer
   * leaves the group, tasks close. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.log.info('runtime stopping');
    if (this.tickTimer !== undefined) {
      clearInterval(this.tickTimer);
    }
    await Promise.all(this.ticks.values());

    const consumer = this.consumer;
    if (consumer !== undefined) {
      try {
        await consumer.disconnect();
      } catch (error) {
        this.log.warn({ err: error }, 'consumer disconnect failed');
      }
    }
    await Promise.all([...this.tasks.keys()].map((id) => this.dropTask(id, 'shutdown')));
    await Promise.all(this.closingTasks.values());

    await this.reader?.disconnect().catch((error: unknown) => this.log.warn({ err: error }, 'reader disconnect failed'));
    await this.admin?.disconnect().catch((error: unknown) => this.log.warn({ err: error }, 'admin disconnect failed'));
    await this.http?.close();
    this.log.info('runtime stopped');
    this.emit('stopped');
  }
}
