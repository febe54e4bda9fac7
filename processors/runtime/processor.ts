/**
 * Processor definitions: named inputs, state stores and outputs, and the handler
 * that runs for each input record and each fired timer.
 *
 * A processor's topology.ts builds one definition with `defineProcessor` and hands
 * it to `runMain` (see main.ts). The runtime owns Kafka: it consumes the inputs,
 * restores the stores, and commits outputs, store changes, dead letters and input
 * offsets of each batch in one Kafka transaction.
 */
import type { IHeaders } from 'kafkajs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

import { DefinitionError } from './errors.ts';
import type { SourceRole } from './repartition.ts';

/** A Kafka record as the runtime hands it to a decoder. */
export interface SourceMessage {
  readonly topic: string;
  readonly partition: number;
  /** Offset as a decimal string; offsets never pass through JS numbers. */
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
  /** Kafka record timestamp, ms since the epoch, as a decimal string. */
  readonly timestamp: string;
}

/** Context the runtime passes to a decoder beside the record. */
export interface DecodeContext {
  /** The task's logger. */
  readonly log: Logger;
  /** The runtime's Prometheus registry, served at /metrics. A decoder may register its own metrics in it. */
  readonly registry: Registry;
  /**
   * Role of the topic the record was read from. A re-keyed input is decoded twice: once from its
   * source topic (`repartition-source`) and once from its repartition topic (`repartition`).
   */
  readonly role: SourceRole;
}

/**
 * Turns raw bytes into a typed value. Returning null skips the record and still
 * commits its offset (a tombstone, for example). An error with `retriable: true`
 * is retried with backoff; any other error dead-letters the record.
 */
export type Decoder<T> = (message: SourceMessage, context: DecodeContext) => Promise<T | null>;

/** A join key value; numbers and bigints are turned into their decimal text. */
export type JoinKey = string | number | bigint;

/**
 * Re-keys an input by a field of its value before the handler receives it. The
 * runtime forwards the record's original bytes through the internal topic
 * `<applicationId>-<input name>-repartition`, keyed by `key(value)`.
 */
export interface Repartition<T> {
  /** Name of the field the new key is, compared with the processor's joinKey. */
  readonly by: string;
  /** The new key; null or undefined dead-letters the record. */
  readonly key: (value: T) => JoinKey | null | undefined;
}

export interface InputDefinition<T> {
  readonly topic: string;
  readonly decode: Decoder<T>;
  /**
   * The field the record key of this topic carries, or null when records have no
   * key. The start-up co-partitioning check compares it with the processor's
   * joinKey. The runtime partitions what it writes by the murmur2 hash of the key
   * text, as the Java client does. A topic is only co-partitioned with those
   * records when its key bytes are that same text: a Debezium topic's key is a
   * struct (`{"id":1001}`), so declare such a key by another name (for example
   * 'orders.id struct') and re-key the input.
   */
  readonly keyedBy: string | null;
  readonly repartition?: Repartition<T>;
  /**
   * Event time of a record in ms since the epoch, for example the MySQL commit
   * time Debezium carries. Defaults to the Kafka record timestamp.
   */
  readonly eventTime?: (value: T, message: SourceMessage) => number | null | undefined;
}

export interface Serde<V> {
  serialize(value: V): Buffer;
  deserialize(bytes: Buffer): V;
}

export interface StoreDefinition<V> {
  readonly serde: Serde<V>;
  /** Type marker only; never set. */
  readonly valueType?: V;
}

export interface OutputDefinition<V> {
  readonly topic: string;
  /** Bytes of a value; defaults to JSON text. A null value is written as a tombstone. */
  readonly serialize: (value: V) => Buffer | string;
  /** Partition count used when the runtime creates the topic; defaults to the task count. */
  readonly partitions?: number;
}

// The maps below use `any` on purpose: they are the constraints that concrete
// definitions are checked against, and `any` lets each entry keep its own type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type InputMap = Record<string, InputDefinition<any>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type StoreMap = Record<string, StoreDefinition<any>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OutputMap = Record<string, OutputDefinition<any>>;

export type DecodedValue<D> = D extends InputDefinition<infer T> ? T : never;
export type StoreValue<D> = D extends StoreDefinition<infer V> ? V : never;
export type OutputValue<D> = D extends OutputDefinition<infer V> ? V : never;

/** One decoded input record, tagged with the name of its input. */
export interface InputRecord<Name extends string, T> {
  readonly input: Name;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The record key: for a re-keyed input, the UTF-8 join key. */
  readonly key: Buffer | null;
  readonly value: T;
  readonly headers: IHeaders;
  readonly timestampMs: number;
  readonly eventTimeMs: number;
}

export type InputRecordOf<I extends InputMap> = {
  [K in keyof I & string]: InputRecord<K, DecodedValue<I[K]>>;
}[keyof I & string];

/** Key-value state of one task, backed by a compacted changelog topic. */
export interface KeyValueStore<V> {
  readonly name: string;
  get(key: string): V | undefined;
  has(key: string): boolean;
  /**
   * Stores a copy of `value` made through the store's serde, frozen, so later
   * changes to `value` do not reach the store. Put a new value to change one.
   */
  put(key: string, value: V): void;
  /** Removes the key and writes a tombstone to the changelog. Returns whether it existed. */
  delete(key: string): boolean;
  entries(): IterableIterator<[string, V]>;
  readonly size: number;
}

export type TimerKind = 'event-time' | 'wall-clock';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface TimerRequest {
  readonly kind: TimerKind;
  /** Identifies the timer within its kind; scheduling an existing key replaces it. */
  readonly key: string;
  /**
   * Epoch ms. An event-time timer fires once the task's stream time reaches it.
   * A wall-clock timer fires once the clock passes it by the lateness bound.
   */
  readonly deadlineMs: number;
  readonly payload?: JsonValue;
}

export interface Timer {
  readonly kind: TimerKind;
  readonly key: string;
  readonly deadlineMs: number;
  readonly payload: JsonValue;
}

export interface FiredTimer extends Timer {
  /** Stream time (event-time timers) or clock time (wall-clock timers) when it fired. */
  readonly firedAtMs: number;
}

export interface OutputRecord<V> {
  readonly key: string | Buffer | null;
  readonly value: V | null;
  /** Partition to write to; by default the key decides. Must be below outputPartitions(output). */
  readonly partition?: number;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  /** Kafka timestamp of the output; defaults to the context's eventTimeMs. */
  readonly timestampMs?: number;
}

/** Context of init and close: the task's stores, read-only, and no emitting. */
export interface TaskContext<S extends StoreMap> {
  readonly applicationId: string;
  /** Partition number this task owns across all co-partitioned inputs. */
  readonly task: number;
  /** Number of tasks of the processor: the partition count of its co-partitioned inputs. */
  readonly taskCount: number;
  readonly log: Logger;
  store<K extends keyof S & string>(name: K): KeyValueStore<StoreValue<S[K]>>;
}

/** Context of `process` and `onTimer`. Everything done through it commits with the batch. */
export interface ProcessorContext<S extends StoreMap, O extends OutputMap> extends TaskContext<S> {
  /** Event time of the record being processed; for a fired timer, its deadline. */
  readonly eventTimeMs: number;
  /** Largest event time this task has seen, or null before its first record. */
  readonly streamTimeMs: number | null;
  /** The injected clock's time, in ms since the epoch. */
  now(): number;
  /**
   * How far now() must pass a wall-clock timer's deadline before it fires
   * (CIO_CDC_TIMER_LATENESS_BOUND_MS). A timer meant to fire d ms from now has
   * deadline now() + d - timerLatenessBoundMs.
   */
  readonly timerLatenessBoundMs: number;
  /**
   * Returns whether this task has processed every record of `input` that was in
   * Kafka when the lookup ran. That covers its partition of the topic it consumes,
   * up to the end offset. For a re-keyed input it also covers every partition of
   * the source topic, through the re-keying stage of all instances. Records
   * appended after the lookup are not covered. A result is reused for 500 ms, and a
   * failed lookup is logged and returns false. Await it inside the handler.
   */
  inputCaughtUp(input: string): Promise<boolean>;
  emit<K extends keyof O & string>(output: K, record: OutputRecord<OutputValue<O[K]>>): void;
  /** Partition count of an output's topic, as the runtime found or created it at start. */
  outputPartitions<K extends keyof O & string>(output: K): number;
  schedule(timer: TimerRequest): void;
  /** Returns whether the timer existed. */
  cancel(kind: TimerKind, key: string): boolean;
  timer(kind: TimerKind, key: string): Timer | undefined;
}

export interface ProcessorDefinition<I extends InputMap, S extends StoreMap, O extends OutputMap> {
  /** Default application id: consumer group, transactional id and topic prefix. */
  readonly name: string;
  /** The key all inputs are co-partitioned by. Required with more than one input. */
  readonly joinKey?: string;
  readonly inputs: I;
  readonly stores?: S;
  readonly outputs?: O;
  /** Runs per task after its stores are restored and before its first record. */
  init?(ctx: TaskContext<S>): void | Promise<void>;
  process(record: InputRecordOf<I>, ctx: ProcessorContext<S, O>): void | Promise<void>;
  onTimer?(timer: FiredTimer, ctx: ProcessorContext<S, O>): void | Promise<void>;
  /**
   * Runs per running task every `intervalMs` of wall clock, whether or not the task has
   * records, in a transaction of its own like a wall-clock timer. For work that an idle
   * task must do too, such as reporting its progress downstream.
   */
  readonly punctuate?: {
    readonly intervalMs: number;
    run(ctx: ProcessorContext<S, O>): void | Promise<void>;
  };
  /** Runs per task when it is revoked or the runtime stops. */
  close?(ctx: TaskContext<S>): void | Promise<void>;
}

/** Definition type the runtime works with: handlers typed against the base maps. */
export type AnyProcessorDefinition = ProcessorDefinition<InputMap, StoreMap, OutputMap>;

/**
 * A definition with concrete input, store and output types, as entry points
 * accept it. `any` is needed because handler parameters make the type invariant.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type SomeProcessorDefinition = ProcessorDefinition<any, any, any>;

/** Store name the runtime uses for timers and stream time. */
export const TIMER_STORE_NAME = 'timers';

/** Names of stores, inputs and outputs become parts of topic names. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,99}$/;

/** Types an input so `repartition.key` and `eventTime` see the decoded value. */
export function input<T>(definition: InputDefinition<T>): InputDefinition<T> {
  return definition;
}

export const jsonSerde: Serde<never> = {
  serialize: (value) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes) => JSON.parse(bytes.toString('utf8')) as never,
};

/** Declares a key-value store; values go through `serde` (JSON by default) on every put. */
export function keyValueStore<V>(serde: Serde<V> = jsonSerde as Serde<V>): StoreDefinition<V> {
  return { serde };
}

export interface OutputOptions<V> {
  readonly serialize?: (value: V) => Buffer | string;
  readonly partitions?: number;
}

export function output<V>(topic: string, options: OutputOptions<V> = {}): OutputDefinition<V> {
  return {
    topic,
    serialize: options.serialize ?? ((value: V) => Buffer.from(JSON.stringify(value))),
    ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
  };
}

/**
 * Checks a definition and returns it frozen. Throws DefinitionError naming the
 * bad entry. Key and partition checks that need the cluster run at start-up.
 */
export function defineProcessor<I extends InputMap, S extends StoreMap = Record<never, never>, O extends OutputMap = Record<never, never>>(
  definition: ProcessorDefinition<I, S, O>,
): ProcessorDefinition<I, S, O> {
  validateDefinition(definition as unknown as AnyProcessorDefinition);
  return Object.freeze(definition);
}

function validateDefinition(definition: AnyProcessorDefinition): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(definition.name)) {
    throw new DefinitionError(`processor name "${definition.name}" may contain only letters, digits, '.', '_' and '-'`);
  }
  if (typeof definition.process !== 'function') {
    throw new DefinitionError(`processor "${definition.name}" has no process(record, ctx) handler`);
  }

  const inputNames = Object.keys(definition.inputs);
  if (inputNames.length === 0) {
    throw new DefinitionError(`processor "${definition.name}" declares no inputs`);
  }
  const topics = new Map<string, string>();
  for (const name of inputNames) {
    checkName('input', name, definition.name);
    const entry = definition.inputs[name]!;
    if (typeof entry.topic !== 'string' || entry.topic === '') {
      throw new DefinitionError(`input "${name}" of processor "${definition.name}" has no topic`);
    }
    if (typeof entry.decode !== 'function') {
      throw new DefinitionError(`input "${name}" (topic ${entry.topic}) has no decode function`);
    }
    if (entry.keyedBy === undefined) {
      throw new DefinitionError(
        `input "${name}" (topic ${entry.topic}) must declare keyedBy: the field its record key carries, or null`,
      );
    }
    const other = topics.get(entry.topic);
    if (other !== undefined) {
      throw new DefinitionError(`inputs "${other}" and "${name}" both read topic ${entry.topic}; read it once`);
    }
    topics.set(entry.topic, name);
    if (entry.repartition !== undefined && typeof entry.repartition.key !== 'function') {
      throw new DefinitionError(`input "${name}" (topic ${entry.topic}) has repartition without a key function`);
    }
  }

  for (const name of Object.keys(definition.stores ?? {})) {
    checkName('store', name, definition.name);
    if (name === TIMER_STORE_NAME) {
      throw new DefinitionError(`store name "${TIMER_STORE_NAME}" is reserved for the runtime's timers; rename the store`);
    }
  }
  for (const [name, entry] of Object.entries(definition.outputs ?? {})) {
    checkName('output', name, definition.name);
    if (topics.has(entry.topic)) {
      throw new DefinitionError(`output "${name}" writes topic ${entry.topic}, which is also an input; this would loop`);
    }
  }
}

function checkName(kind: string, name: string, processor: string): void {
  if (!NAME.test(name)) {
    throw new DefinitionError(
      `${kind} name "${name}" of processor "${processor}" must be lower case letters, digits, '_' or '-' ` +
        '(it becomes part of a topic name)',
    );
  }
}
