/**
 * Partition assignment that keeps co-partitioned topics together.
 *
 * A task is a partition number: task p owns partition p of every topic the
 * processor consumes. kafkajs's round-robin assigner spreads each topic's
 * partitions independently, so orders[0] and order_items-repartition[0] could go
 * to different instances and the join would never meet. This assigner gives
 * partition p of every topic to member (p mod member count), members sorted by id.
 */
import kafkajs from 'kafkajs';
import type { PartitionAssigner } from 'kafkajs';

import { TopologyError } from './errors.ts';

const { AssignerProtocol } = kafkajs;

export const ASSIGNER_NAME = 'CioCdcCoPartitioned';
const ASSIGNER_VERSION = 1;

export interface AssignerOptions {
  /** Topics that must have equal partition counts; checked again on every assignment. */
  readonly mainTopics: readonly string[];
}

export function coPartitionedAssigner(options: AssignerOptions): PartitionAssigner {
  return ({ cluster }) => ({
    name: ASSIGNER_NAME,
    version: ASSIGNER_VERSION,

    async assign({ members, topics }) {
      const memberIds = members.map((member) => member.memberId).sort();
      const assignment = new Map<string, Record<string, number[]>>(memberIds.map((id) => [id, {}]));

      const partitionsByTopic = new Map<string, number[]>();
      for (const topic of topics) {
        const partitions = cluster
          .findTopicPartitionMetadata(topic)
          .map((metadata) => metadata.partitionId)
          .sort((a, b) => a - b);
        partitionsByTopic.set(topic, partitions);
      }
      checkMainTopics(options.mainTopics, partitionsByTopic);

      for (const [topic, partitions] of partitionsByTopic) {
        for (const partition of partitions) {
          const memberId = memberIds[partition % memberIds.length]!;
          const topics = assignment.get(memberId)!;
          (topics[topic] ??= []).push(partition);
        }
      }

      return memberIds.map((memberId) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: ASSIGNER_VERSION,
          assignment: assignment.get(memberId)!,
          userData: Buffer.alloc(0),
        }),
      }));
    },

    protocol({ topics }) {
      return {
        name: ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: ASSIGNER_VERSION,
          topics,
          userData: Buffer.alloc(0),
        }),
      };
    },
  });
}

function checkMainTopics(mainTopics: readonly string[], partitionsByTopic: ReadonlyMap<string, number[]>): void {
  const counts = mainTopics
    .filter((topic) => partitionsByTopic.has(topic))
    .map((topic) => ({ topic, partitions: partitionsByTopic.get(topic)!.length }));
  const first = counts[0];
  if (first === undefined) {
    return;
  }
  const mismatch = counts.find((entry) => entry.partitions !== first.partitions);
  if (mismatch !== undefined) {
    const listing = counts.map((entry) => `${entry.topic} has ${entry.partitions}`).join(', ');
    throw new TopologyError(
      `co-partitioned topics changed partition counts (${listing}); ` +
        'stop the processor and give them equal counts again',
      counts.map((entry) => entry.topic),
    );
  }
}
