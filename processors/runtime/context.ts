/**
 * The context objects a processor's handlers receive, and the per-transaction
 * buffer of records they emit.
 */
import type { IHeaders, Message } from 'kafkajs';
import type { Logger } from 'pino';

import type { Clock, TaskTimers } from './timers.ts';
import type {
  AnyProcessorDefinition,
  KeyValueStore,
  OutputRecord,
  ProcessorContext,
  StoreMap,
  OutputMap,
  TaskContext,
  Timer,
  TimerKind,
  TimerRequest,
} from './processor.ts';
import { TIMER_STORE_NAME } from './processor.ts';
import type { TaskStores } from './store.ts';
import { RuntimeError } from './errors.ts';

/**
 * Records written by one transaction, grouped by topic in the order they were
 * added. `mark` and `truncate` drop what a failed record emitted.
 */
export class PendingWrites {
  private readonly entries: { topic: string; message: Message }[] = [];

  get size(): number {
    return this.entries.length;
  }

  add(topic: string, message: Message): void {
    this.entries.push({ topic, message });
  }

  mark(): number {
    return this.entries.length;
  }

  truncate(mark: number): void {
    this.entries.length = mark;
  }

  /** Records per topic, keeping each topic's order. */
  byTopic(): { topic: string; messages: Message[] }[] {
    const grouped = new Map<string, Message[]>();
    for (const { topic, message } of this.entries) {
      let messages = grouped.get(topic);
      if (messages === undefined) {
        messages = [];
        grouped.set(topic, messages);
      }
      messages.push(message);
    }
    return [...grouped].map(([topic, messages]) => ({ topic, messages }));
  }

  countByTopic(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { topic } of this.entries) {
      counts.set(topic, (counts.get(topic) ?? 0) + 1);
    }
    return counts;
  }
}

function readOnly<V>(store: KeyValueStore<V>, phase: string): KeyValueStore<V> {
  const reject = (): never => {
    throw new RuntimeError(
      'STORE_READ_ONLY',
      `store "${store.name}" is read-only in ${phase}; write to stores from process or onTimer, ` +
        'whose writes commit with the batch',
    );
  };
  return {
    name: store.name,
    get: (key) => store.get(key),
    has: (key) => store.has(key),
    put: reject,
    delete: reject,
    entries: () => store.entries(),
    get size() {
      return store.size;
    },
  };
}

export interface ContextDependencies {
  readonly applicationId: string;
  readonly task: number;
  readonly taskCount: number;
  /** Partition count per output topic; handler contexts only. */
  readonly outputPartitions?: ReadonlyMap<string, number>;
  readonly definition: AnyProcessorDefinition;
  readonly stores: TaskStores;
  readonly timers: TaskTimers | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  /** CIO_CDC_TIMER_LATENESS_BOUND_MS; handler contexts only. */
  readonly timerLatenessBoundMs?: number;
  /** The task's caught-up lookup (Task.inputCaughtUp); handler contexts only. */
  readonly inputCaughtUp?: (input: string) => Promise<boolean>;
}

function userStore(dependencies: ContextDependencies, name: string): KeyValueStore<unknown> {
  if (name === TIMER_STORE_NAME || !Object.hasOwn(dependencies.definition.stores ?? {}, name)) {
    const declared = Object.keys(dependencies.definition.stores ?? {});
    throw new RuntimeError(
      'STORE_UNKNOWN',
      `store "${name}" is not declared by processor "${dependencies.definition.name}"; ` +
        `declared stores: ${declared.join(', ') || '(none)'}`,
    );
  }
  return dependencies.stores.store(name);
}

/** Context for init and close: stores are readable, nothing can be emitted. */
export function createTaskContext(dependencies: ContextDependencies, phase: 'init' | 'close'): TaskContext<StoreMap> {
  return {
    applicationId: dependencies.applicationId,
    task: dependencies.task,
    taskCount: dependencies.taskCount,
    log: dependencies.log,
    store: (name: string) => readOnly(userStore(dependencies, name), phase),
  } as TaskContext<StoreMap>;
}

/**
 * The context of process and onTimer, one instance per task. `begin` points it at
 * the record (or timer) being handled and at the transaction's pending writes.
 * `end` detaches it, so a handler that keeps the context cannot write later.
 */
export class HandlerContext implements ProcessorContext<StoreMap, OutputMap> {
  readonly applicationId: string;
  readonly task: number;
  readonly taskCount: number;
  readonly log: Logger;
  private readonly dependencies: ContextDependencies;
  private writes: PendingWrites | undefined;
  private currentEventTimeMs = 0;

  constructor(dependencies: ContextDependencies) {
    this.dependencies = dependencies;
    this.applicationId = dependencies.applicationId;
    this.task = dependencies.task;
    this.taskCount = dependencies.taskCount;
    this.log = dependencies.log;
  }

  begin(eventTimeMs: number, writes: PendingWrites): void {
    this.currentEventTimeMs = eventTimeMs;
    this.writes = writes;
  }

  end(): void {
    this.writes = undefined;
  }

  get eventTimeMs(): number {
    return this.currentEventTimeMs;
  }

  get streamTimeMs(): number | null {
    return this.dependencies.timers?.streamTimeMs ?? null;
  }

  now(): number {
    return this.dependencies.clock.now();
  }

  get timerLatenessBoundMs(): number {
    return this.dependencies.timerLatenessBoundMs ?? 0;
  }

  inputCaughtUp(input: string): Promise<boolean> {
    this.active('inputCaughtUp');
    const inputs = this.dependencies.definition.inputs;
    const lookup = this.dependencies.inputCaughtUp;
    if (!Object.hasOwn(inputs, input) || lookup === undefined) {
      return Promise.reject(
        new RuntimeError(
          'INPUT_UNKNOWN',
          `input "${input}" is not declared by processor "${this.dependencies.definition.name}"; ` +
            `declared inputs: ${Object.keys(inputs).join(', ')}`,
        ),
      );
    }
    return lookup(input);
  }

  store(name: string): KeyValueStore<never> {
    this.active('store');
    return userStore(this.dependencies, name) as KeyValueStore<never>;
  }

  emit(outputName: string, record: OutputRecord<unknown>): void {
    const writes = this.active('emit');
    const output = this.output(outputName);
    if (record.partition !== undefined) {
      const count = this.outputPartitions(outputName);
      if (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= count) {
        throw new RuntimeError(
          'OUTPUT_PARTITION_INVALID',
          `partition ${record.partition} of output "${outputName}" (topic ${output.topic}) does not exist; the topic has ${count} partitions`,
        );
      }
    }
    const timestampMs = record.timestampMs ?? this.currentEventTimeMs;
    writes.add(output.topic, {
      ...(record.partition === undefined ? {} : { partition: record.partition }),
      key: record.key,
      value: record.value === null ? null : output.serialize(record.value),
      timestamp: String(Math.trunc(timestampMs)),
      ...(record.headers === undefined ? {} : { headers: { ...record.headers } as IHeaders }),
    });
  }

  outputPartitions(outputName: string): number {
    const output = this.output(outputName);
    const count = this.dependencies.outputPartitions?.get(output.topic);
    if (count === undefined) {
      throw new RuntimeError('OUTPUT_PARTITIONS_UNKNOWN', `the partition count of topic ${output.topic} is not known to task ${this.task}`);
    }
    return count;
  }

  private output(outputName: string) {
    const outputs = this.dependencies.definition.outputs ?? {};
    const output = Object.hasOwn(outputs, outputName) ? outputs[outputName] : undefined;
    if (output === undefined) {
      throw new RuntimeError(
        'OUTPUT_UNKNOWN',
        `output "${outputName}" is not declared by processor "${this.dependencies.definition.name}"; ` +
          `declared outputs: ${Object.keys(outputs).join(', ') || '(none)'}`,
      );
    }
    return output;
  }

  schedule(timer: TimerRequest): void {
    this.active('schedule');
    this.timers().schedule(timer);
  }

  cancel(kind: TimerKind, key: string): boolean {
    this.active('cancel');
    return this.timers().cancel(kind, key);
  }

  timer(kind: TimerKind, key: string): Timer | undefined {
    return this.timers().get(kind, key);
  }

  private timers(): TaskTimers {
    const timers = this.dependencies.timers;
    if (timers === undefined) {
      throw new RuntimeError('TIMERS_UNAVAILABLE', `task ${this.task} has no timers because it only re-keys records`);
    }
    return timers;
  }

  private active(operation: string): PendingWrites {
    if (this.writes === undefined) {
      throw new RuntimeError(
        'CONTEXT_DETACHED',
        `ctx.${operation}() was called after process/onTimer returned; await all work inside the handler`,
      );
    }
    return this.writes;
  }
}
