/**
 * Co-partitioning: the start-up check that every input of a processor is keyed by
 * its join key with one partition count, and the re-keying stage that makes an
 * input so by forwarding it through `<applicationId>-<input>-repartition`.
 *
 * Equal partition counts alone do not make two topics co-partitioned: Debezium
 * keys each table's topic by that table's own primary key, so order items keyed
 * by item id land on other partitions than their order. The check therefore also
 * compares the declared key of each input with the processor's join key.
 */
import type { Message } from 'kafkajs';

import { RecordRejectedError, TopologyError } from './errors.ts';
import type { AnyProcessorDefinition, InputDefinition, SomeProcessorDefinition, SourceMessage, StoreDefinition } from './processor.ts';
import { TIMER_STORE_NAME, jsonSerde } from './processor.ts';
import type { StoreSpec } from './store.ts';
import { changelogTopicName } from './store.ts';

/** Headers the re-keying stage adds, naming where a forwarded record came from. */
export const ORIGIN_HEADERS = Object.freeze({
  topic: 'cio-cdc-origin-topic',
  partition: 'cio-cdc-origin-partition',
  offset: 'cio-cdc-origin-offset',
});

/**
 * Role of a consumed topic:
 * - input: an input consumed as it is;
 * - repartition-source: an input that is re-keyed and forwarded;
 * - repartition: the internal topic a re-keyed input is consumed from.
 */
export type SourceRole = 'input' | 'repartition-source' | 'repartition';

export interface SourcePlan {
  readonly topic: string;
  readonly role: SourceRole;
  readonly inputName: string;
  readonly input: InputDefinition<unknown>;
  /** For a repartition-source: where its records are forwarded. */
  readonly repartitionTopic?: string;
}

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  readonly compacted: boolean;
}

export interface TopologyPlan {
  readonly applicationId: string;
  /** Partition count of every topic the handler consumes; tasks are numbered 0..taskCount-1. */
  readonly taskCount: number;
  readonly sources: ReadonlyMap<string, SourcePlan>;
  /** Topics whose partition p belongs to task p: direct inputs and repartition topics. */
  readonly mainTopics: readonly string[];
  readonly internalTopics: readonly TopicSpec[];
  readonly outputTopics: readonly TopicSpec[];
  readonly dlqTopic: string;
  readonly stores: readonly StoreSpec[];
}

export function repartitionTopicName(applicationId: string, inputName: string): string {
  return `${applicationId}-${inputName}-repartition`;
}

export function dlqTopicName(applicationId: string): string {
  return `${applicationId}-dlq`;
}

export interface PlanOptions {
  /** Repartition partition count when no direct input fixes it; 0 = largest source. */
  readonly repartitionPartitions: number;
}

/**
 * Checks the definition against the cluster's partition counts and returns the
 * plan of topics, tasks and stores. Throws TopologyError naming the topic at
 * fault. `partitionCounts` contains every existing topic the processor uses.
 */
export function planTopology(
  someDefinition: SomeProcessorDefinition,
  applicationId: string,
  partitionCounts: ReadonlyMap<string, number>,
  options: PlanOptions,
): TopologyPlan {
  const definition = someDefinition as AnyProcessorDefinition;
  const inputs = Object.entries(definition.inputs);
  checkKeys(definition, inputs);

  for (const [, entry] of inputs) {
    if (!partitionCounts.has(entry.topic)) {
      throw new TopologyError(
        `input topic ${entry.topic} of processor "${definition.name}" does not exist; ` +
          'create it (or start its producer, such as the Debezium connector) before starting the processor',
        [entry.topic],
      );
    }
  }

  const direct = inputs.filter(([, entry]) => entry.repartition === undefined);
  const rekeyed = inputs.filter(([, entry]) => entry.repartition !== undefined);
  const taskCount = deriveTaskCount(definition, direct, rekeyed, partitionCounts, options);

  const sources = new Map<string, SourcePlan>();
  const mainTopics: string[] = [];
  const internalTopics: TopicSpec[] = [];

  for (const [name, entry] of direct) {
    sources.set(entry.topic, { topic: entry.topic, role: 'input', inputName: name, input: entry });
    mainTopics.push(entry.topic);
  }
  for (const [name, entry] of rekeyed) {
    const repartitionTopic = repartitionTopicName(applicationId, name);
    sources.set(entry.topic, { topic: entry.topic, role: 'repartition-source', inputName: name, input: entry, repartitionTopic });
    sources.set(repartitionTopic, { topic: repartitionTopic, role: 'repartition', inputName: name, input: entry });
    mainTopics.push(repartitionTopic);
    internalTopics.push({ topic: repartitionTopic, partitions: taskCount, compacted: false });
  }

  const storeEntries: [string, StoreDefinition<unknown>][] = [
    ...Object.entries(definition.stores ?? {}),
    [TIMER_STORE_NAME, { serde: jsonSerde }],
  ];
  const stores = storeEntries.map(([name, entry]) => ({
    name,
    changelogTopic: changelogTopicName(applicationId, name),
    serde: entry.serde,
  }));
  for (const store of stores) {
    internalTopics.push({ topic: store.changelogTopic, partitions: taskCount, compacted: true });
  }

  const dlqTopic = dlqTopicName(applicationId);
  internalTopics.push({ topic: dlqTopic, partitions: taskCount, compacted: false });

  for (const spec of internalTopics) {
    checkExistingPartitions(spec.topic, spec.partitions, partitionCounts, spec.topic === dlqTopic);
  }

  // An output topic that exists keeps its partition count; a missing one is created with the declared count.
  const outputTopics = Object.values(definition.outputs ?? {}).map((entry) => ({
    topic: entry.topic,
    partitions: partitionCounts.get(entry.topic) ?? entry.partitions ?? taskCount,
    compacted: false,
  }));

  return { applicationId, taskCount, sources, mainTopics, internalTopics, outputTopics, dlqTopic, stores };
}

type InputEntry = [string, InputDefinition<unknown>];

function checkKeys(definition: AnyProcessorDefinition, inputs: InputEntry[]): void {
  const joinKey = definition.joinKey;
  if (joinKey === undefined) {
    if (inputs.length > 1) {
      const topics = inputs.map(([, entry]) => entry.topic);
      throw new TopologyError(
        `processor "${definition.name}" reads ${inputs.length} topics (${topics.join(', ')}) but declares no joinKey; ` +
          'declare the key they are co-partitioned by',
        topics,
      );
    }
    return;
  }

  for (const [name, entry] of inputs) {
    if (entry.repartition !== undefined) {
      if (entry.repartition.by !== joinKey) {
        throw new TopologyError(
          `input "${name}" (topic ${entry.topic}) is re-keyed by '${entry.repartition.by}', ` +
            `but processor "${definition.name}" joins on '${joinKey}'; re-key it by '${joinKey}'`,
          [entry.topic],
        );
      }
      continue;
    }
    if (entry.keyedBy === null) {
      throw new TopologyError(
        `input "${name}" (topic ${entry.topic}) has no record key (keyedBy: null), so its records are not ` +
          `co-partitioned by '${joinKey}'; add repartition: { by: '${joinKey}', key: (value) => ... }`,
        [entry.topic],
      );
    }
    if (entry.keyedBy !== joinKey) {
      throw new TopologyError(
        `input "${name}" (topic ${entry.topic}) is keyed by '${entry.keyedBy}', but processor "${definition.name}" ` +
          `joins on '${joinKey}'; add repartition: { by: '${joinKey}', key: (value) => ... } to re-key it`,
        [entry.topic],
      );
    }
  }
}

function deriveTaskCount(
  definition: AnyProcessorDefinition,
  direct: InputEntry[],
  rekeyed: InputEntry[],
  partitionCounts: ReadonlyMap<string, number>,
  options: PlanOptions,
): number {
  if (direct.length > 0) {
    const counts = direct.map(([, entry]) => ({ topic: entry.topic, partitions: partitionCounts.get(entry.topic)! }));
    const first = counts[0]!;
    const mismatch = counts.find((entry) => entry.partitions !== first.partitions);
    if (mismatch !== undefined) {
      const listing = counts.map((entry) => `${entry.topic} has ${entry.partitions}`).join(', ');
      throw new TopologyError(
        `inputs of processor "${definition.name}" are not co-partitioned: ${listing} partitions; ` +
          `give ${mismatch.topic} the same partition count or re-key it with repartition`,
        counts.map((entry) => entry.topic),
      );
    }
    return first.partitions;
  }
  if (options.repartitionPartitions > 0) {
    return options.repartitionPartitions;
  }
  return Math.max(...rekeyed.map(([, entry]) => partitionCounts.get(entry.topic)!));
}

function checkExistingPartitions(
  topic: string,
  expected: number,
  partitionCounts: ReadonlyMap<string, number>,
  anyCountAllowed: boolean,
): void {
  const existing = partitionCounts.get(topic);
  if (existing === undefined || existing === expected || anyCountAllowed) {
    return;
  }
  throw new TopologyError(
    `internal topic ${topic} has ${existing} partitions, but the processor's inputs have ${expected}; ` +
      `delete ${topic} (its content is rebuilt from the inputs or the changelog must be migrated) ` +
      'or give the inputs the same partition count',
    [topic],
  );
}

/** Turns a join key into the text the repartition topic is keyed by. */
export function joinKeyText(key: unknown): string | null {
  if (typeof key === 'string') {
    return key === '' ? null : key;
  }
  if (typeof key === 'number' && Number.isFinite(key)) {
    return String(key);
  }
  if (typeof key === 'bigint') {
    return key.toString();
  }
  return null;
}

/**
 * Builds the record the re-keying stage writes for one decoded input record: the
 * original value bytes and headers, keyed by the join key, with headers naming
 * the source record. Throws RecordRejectedError when the value has no join key.
 */
export function rekeyMessage(source: SourcePlan, message: SourceMessage, value: unknown): Message {
  const repartition = source.input.repartition!;
  const key = joinKeyText(repartition.key(value));
  if (key === null) {
    throw new RecordRejectedError(
      `record of topic ${message.topic} has no '${repartition.by}' to re-key by ` +
        `(input "${source.inputName}"); it cannot be co-partitioned, so it goes to the dead-letter topic`,
      { topic: message.topic, partition: message.partition, offset: message.offset },
    );
  }
  return {
    key,
    value: message.value,
    timestamp: message.timestamp,
    headers: {
      ...message.headers,
      [ORIGIN_HEADERS.topic]: message.topic,
      [ORIGIN_HEADERS.partition]: String(message.partition),
      [ORIGIN_HEADERS.offset]: message.offset,
    },
  };
}
