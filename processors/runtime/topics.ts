/**
 * Topic metadata and creation of the topics the runtime owns: repartition topics,
 * changelogs, the dead-letter topic and missing output topics.
 */
import type { Admin, ITopicMetadata } from 'kafkajs';
import type { Logger } from 'pino';

import type { TopicSpec } from './repartition.ts';

/** Partition counts of those of `topics` that exist. */
export async function partitionCounts(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const existing = new Set(await admin.listTopics());
  const present = [...new Set(topics)].filter((topic) => existing.has(topic));
  const counts = new Map<string, number>();
  if (present.length === 0) {
    return counts;
  }
  // A topic that another processor created a moment ago can be listed before its metadata is served.
  const metadata = await fetchLedMetadata(admin, present, TOPIC_READY_TIMEOUT_MS);
  for (const topic of metadata.topics) {
    counts.set(topic.name, topic.partitions.length);
  }
  return counts;
}

/**
 * Creates the topics of `specs` that do not exist. The replication factor is
 * capped at the number of brokers, with a warning, so a one-broker development
 * cluster works with the production default.
 */
export async function ensureTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  replicationFactor: number,
  log: Logger,
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec, index) => !existing.has(spec.topic) && specs.findIndex((other) => other.topic === spec.topic) === index);
  if (missing.length === 0) {
    return [];
  }
  const brokers = (await admin.describeCluster()).brokers.length;
  const used = Math.max(1, Math.min(replicationFactor, brokers));
  if (used < replicationFactor) {
    log.warn({ configured: replicationFactor, brokers, used }, 'topic replication factor capped at the broker count');
  }
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((spec) => ({
      topic: spec.topic,
      numPartitions: spec.partitions,
      replicationFactor: used,
      configEntries: spec.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
    })),
  });
  const created = missing.map((spec) => spec.topic);
  await fetchLedMetadata(admin, created, TOPIC_READY_TIMEOUT_MS);
  log.info({ topics: created, replicationFactor: used }, 'topics created');
  return created;
}

/** Bound on waiting for a new topic's partitions to have leaders in the metadata. */
const TOPIC_READY_TIMEOUT_MS = 30_000;

/**
 * Fetches the topics' metadata once every partition has a leader, retrying failed requests until
 * timeoutMs. A KRaft broker can answer a metadata request for a topic created a moment ago with
 * UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition"), even after
 * createTopics returned with waitForLeaders.
 */
export async function fetchLedMetadata(admin: Admin, topics: readonly string[], timeoutMs: number): Promise<{ topics: ITopicMetadata[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
      if (metadata.topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0))) {
        return metadata;
      }
    } catch (error) {
      if (Date.now() >= deadline) {
        throw error;
      }
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for partition leaders of ${topics.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
