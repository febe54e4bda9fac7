/**
 * Replay: plans and applies a reset of one processor's consumer group offsets on its input
 * topics, with kafkajs's admin client.
 *
 * What is reset, and why only that:
 * - Input topics (Debezium topics, cio.order-events, cio.cart-events, cio.outbox for the sink).
 * - Not repartition topics. A stream processor forwards each re-keyed input record to
 *   `<applicationId>-<input>-repartition` and commits the input offset in the same transaction.
 *   Records read again after the reset are forwarded again, appended after the group's committed
 *   repartition offset, so they are processed once more in order. Resetting the repartition
 *   offsets as well would process every record twice: the old forwarded copy and the new one.
 * - Not changelog topics. The group commits no offsets on them: a task restores its stores by
 *   reading each changelog partition from its start to the last stable offset. The stores keep
 *   what the processor has already applied, so records read again meet state that contains them.
 *   Each processor drops changes it already applied (binlog positions, event ids); README.md
 *   ("Replay") lists how far back that memory reaches.
 */
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';

import { installReadCommittedFix } from '../runtime/read-committed.ts';
import type { ReplayPosition, ReplayTarget } from './replay-config.ts';
import { GroupActiveError, ReplayTopicMissingError, ReplayVerifyError } from './replay-errors.ts';

const { KafkaJSNonRetriableError } = kafkajs;

export interface GroupMember {
  readonly memberId: string;
  readonly clientId: string;
  readonly clientHost: string;
}

export interface GroupStatus {
  /** Broker's group state: Empty, Stable, PreparingRebalance, CompletingRebalance or Dead (no such group). */
  readonly state: string;
  readonly members: readonly GroupMember[];
}

/** The reset of one partition. Offsets are decimal strings, as Kafka's are 64-bit. */
export interface PartitionPlan {
  readonly topic: string;
  readonly partition: number;
  /** Offset the group has committed, or null for none. Without one the processor starts at the earliest offset. */
  readonly committedOffset: string | null;
  readonly newOffset: string;
  /** Log start offset: the earliest record still kept. */
  readonly earliestOffset: string;
  /** Offset the next record written will get (the high watermark). */
  readonly endOffset: string;
  /**
   * Committed offset minus new offset: records read again, or skipped when negative; null without
   * a committed offset. In topics written with transactions, commit markers take offsets too, so
   * this counts a few more than the records.
   */
  readonly recordsToReprocess: number | null;
}

export interface ReplayPlan {
  readonly target: ReplayTarget;
  readonly position: ReplayPosition;
  readonly group: GroupStatus;
  /** Ordered by topic, then partition. */
  readonly partitions: readonly PartitionPlan[];
}

/** Reads the group's state and members. A group that never existed is reported as Dead without members. */
export async function describeGroup(admin: Admin, groupId: string): Promise<GroupStatus> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups.find((entry) => entry.groupId === groupId);
  if (group === undefined) return { state: 'Dead', members: [] };
  return {
    state: group.state,
    members: group.members.map((member) => ({ memberId: member.memberId, clientId: member.clientId, clientHost: member.clientHost })),
  };
}

/** Explains why the reset cannot run now and how to stop the processor's instances. */
export function activeGroupMessage(target: ReplayTarget, group: GroupStatus, topicsReset: readonly string[] = []): string {
  const members = group.members.map((member) => `${member.clientId} (${member.clientHost.replace(/^\//, '')})`).join(', ');
  const lines = [
    `consumer group ${target.groupId} has ${group.members.length} active member(s) (state ${group.state}): ${members}.`,
    `Offsets can be reset only while no instance of ${target.processor} runs. Scale its Deployment to zero,`,
    'wait until the pods are gone, then run the replay again:',
    `  kubectl scale deployment/${target.deployment} --replicas=0`,
    'A member of an instance that was killed stays in the group until its session timeout passes',
    `(${target.processor === 'sink' ? 'SINK_SESSION_TIMEOUT_MS' : 'KAFKA_SESSION_TIMEOUT_MS'}, 30 s by default).`,
  ];
  if (topicsReset.length > 0) {
    lines.push(
      `The offsets of ${topicsReset.join(', ')} were reset before the member joined; the other topics were not.`,
      'Check with --dry-run before running again: a second --shift would move those topics twice.',
    );
  }
  return lines.join('\n');
}

/** Computes the new offset of every partition of the target's input topics. Changes nothing. */
export async function planReplay(admin: Admin, target: ReplayTarget, position: ReplayPosition): Promise<ReplayPlan> {
  const existing = new Set(await admin.listTopics());
  for (const topic of target.inputTopics) {
    if (!existing.has(topic)) throw new ReplayTopicMissingError(topic, target.processor);
  }

  const group = await describeGroup(admin, target.groupId);
  const committed = await committedOffsets(admin, target.groupId, target.inputTopics);
  const partitions: PartitionPlan[] = [];
  for (const topic of [...target.inputTopics].sort()) {
    const ranges = await admin.fetchTopicOffsets(topic);
    const byTimestamp =
      position.kind === 'timestamp'
        ? new Map((await admin.fetchTopicOffsetsByTimestamp(topic, position.timestampMs)).map((entry) => [entry.partition, BigInt(entry.offset)]))
        : undefined;
    for (const range of [...ranges].sort((a, b) => a.partition - b.partition)) {
      const low = BigInt(range.low);
      const high = BigInt(range.high);
      const current = committed.get(topic)?.get(range.partition) ?? null;
      let next: bigint;
      switch (position.kind) {
        case 'earliest':
          next = low;
          break;
        case 'latest':
          next = high;
          break;
        case 'timestamp':
          // kafkajs returns the end offset for a partition without a record at or after the time.
          next = byTimestamp?.get(range.partition) ?? high;
          break;
        case 'shift':
          next = clamp((current ?? low) + position.by, low, high);
          break;
      }
      partitions.push({
        topic,
        partition: range.partition,
        committedOffset: current === null ? null : current.toString(),
        newOffset: next.toString(),
        earliestOffset: range.low,
        endOffset: range.high,
        recordsToReprocess: current === null ? null : Number(current - next),
      });
    }
  }
  return { target, position, group, partitions };
}

/**
 * Commits the plan's new offsets for the group, topic by topic, and reads them back. Throws
 * GroupActiveError while the group has members, ReplayVerifyError when an offset read back
 * differs from the plan.
 */
export async function applyReplay(admin: Admin, plan: ReplayPlan): Promise<void> {
  const { target } = plan;
  const group = await describeGroup(admin, target.groupId);
  if (group.members.length > 0) {
    throw new GroupActiveError(activeGroupMessage(target, group), target.groupId, []);
  }

  // kafkajs's setOffsets joins the group with a read_committed consumer of its own to commit.
  installReadCommittedFix();
  const topics = [...new Set(plan.partitions.map((entry) => entry.topic))];
  const reset: string[] = [];
  for (const topic of topics) {
    const partitions = plan.partitions.filter((entry) => entry.topic === topic).map((entry) => ({ partition: entry.partition, offset: entry.newOffset }));
    try {
      await admin.setOffsets({ groupId: target.groupId, topic, partitions });
    } catch (error) {
      // setOffsets checks the group state itself and rejects the reset when an instance joined meanwhile.
      if (error instanceof KafkaJSNonRetriableError && /no running instances/.test(error.message)) {
        const now = await describeGroup(admin, target.groupId);
        throw new GroupActiveError(activeGroupMessage(target, now, reset), target.groupId, reset, error);
      }
      throw error;
    }
    reset.push(topic);
  }

  const after = await committedOffsets(admin, target.groupId, topics);
  for (const entry of plan.partitions) {
    const actual = after.get(entry.topic)?.get(entry.partition) ?? null;
    if (actual?.toString() !== entry.newOffset) {
      throw new ReplayVerifyError(
        `group ${target.groupId} has offset ${actual ?? 'none'} on ${entry.topic} partition ${entry.partition} after the reset, expected ${entry.newOffset}`,
      );
    }
  }
}

/** Committed offsets by topic and partition. Partitions without one are absent. */
async function committedOffsets(admin: Admin, groupId: string, topics: readonly string[]): Promise<Map<string, Map<number, bigint>>> {
  const response = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const result = new Map<string, Map<number, bigint>>();
  for (const entry of response) {
    const partitions = new Map<number, bigint>();
    for (const item of entry.partitions) {
      const offset = BigInt(item.offset);
      if (offset >= 0n) partitions.set(item.partition, offset);
    }
    result.set(entry.topic, partitions);
  }
  return result;
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  if (value < low) return low;
  return value > high ? high : value;
}
