// Pieces the benchmarks share: batch duration percentiles, topic creation, the wait for a consumer
// group's committed offsets to reach the end of its inputs, and the machine description.
import { cpus, totalmem } from 'node:os';

import type { Admin, ITopicConfig } from 'kafkajs';

import type { AnyProcessorDefinition, SomeProcessorDefinition } from '../processors/runtime/processor.ts';

export interface Result {
  readonly name: string;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly batches: number;
  readonly p50BatchMs: number;
  readonly p99BatchMs: number;
}

/** Nearest-rank percentile of an ascending list; NaN for an empty one. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

export function summarize(name: string, records: number, seconds: number, batchMs: readonly number[]): Result {
  const sorted = [...batchMs].sort((a, b) => a - b);
  return {
    name,
    records,
    seconds: Number(seconds.toFixed(2)),
    recordsPerSecond: Math.round(records / seconds),
    batches: sorted.length,
    p50BatchMs: Number(percentile(sorted, 0.5).toFixed(1)),
    p99BatchMs: Number(percentile(sorted, 0.99).toFixed(1)),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Creates topics and waits until every partition has a leader. A KRaft broker can reject the
 * metadata request of createTopics' waitForLeaders for a topic it created a moment ago with
 * UNKNOWN_TOPIC_OR_PARTITION, and then the leaders are polled for up to 30 s.
 */
export async function createTopics(admin: Admin, topics: readonly ITopicConfig[]): Promise<void> {
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [...topics] });
    return;
  } catch (error) {
    if ((error as { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
  }
  const names = topics.map((spec) => spec.topic);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: names });
      if (metadata.topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0))) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`partitions of ${names.join(', ')} had no leader 30 s after their creation`);
    await sleep(200);
  }
}

export function inputTopicsOf(definition: SomeProcessorDefinition): string[] {
  return Object.values((definition as AnyProcessorDefinition).inputs).map((input) => input.topic);
}

/** End offset of every partition of each input topic: topic → partition → offset. */
export type EndOffsets = ReadonlyMap<string, ReadonlyMap<number, string>>;

export async function endOffsets(admin: Admin, topics: readonly string[]): Promise<EndOffsets> {
  const ends = new Map<string, Map<number, string>>();
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends.set(topic, new Map(offsets.map((entry) => [entry.partition, entry.high])));
  }
  return ends;
}

/**
 * Tells whether the group's committed offset equals the end offset on every partition. An empty
 * partition has no commit to wait for. The inputs are written without transactions, so the end
 * offset is the offset after the last record.
 */
export async function committedToEnd(admin: Admin, groupId: string, ends: EndOffsets): Promise<boolean> {
  const committed = await admin.fetchOffsets({ groupId, topics: [...ends.keys()] });
  for (const [topic, partitions] of ends) {
    const offsets = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
    for (const [partition, end] of partitions) {
      if (end !== '0' && offsets.find((entry) => entry.partition === partition)?.offset !== end) {
        return false;
      }
    }
  }
  return true;
}

export interface WaitOptions {
  /** Gives up with an error after this long; no limit when absent. */
  readonly timeoutMs?: number;
  /** Checked with the offsets; the wait ends once both hold. */
  readonly alsoDone?: () => boolean;
  /** Named in the timeout error. */
  readonly what?: string;
}

/** Polls every 100 ms until the group's committed offsets reach `ends` (and `alsoDone` holds). */
export async function waitUntilCommittedToEnd(admin: Admin, groupId: string, ends: EndOffsets, options: WaitOptions = {}): Promise<void> {
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  while (!((options.alsoDone?.() ?? true) && (await committedToEnd(admin, groupId, ends)))) {
    if (Date.now() > deadline) {
      const topics = [...ends.keys()].join(', ');
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what ?? `group ${groupId}`} to commit to the end of ${topics}`);
    }
    await sleep(100);
  }
}

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string | undefined;
  readonly memoryGiB: number;
  readonly node: string;
}

export function machine(): Machine {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}
