/**
 * `cio-cdc replay <processor> (--to … | --shift N) [--dry-run] [--json]`: resets one processor's
 * consumer group offsets on its input topics (see replay.ts) and prints the plan per partition.
 * The table or JSON goes to stdout, and log lines and errors go to stderr.
 */
import kafkajs from 'kafkajs';
import { pino } from 'pino';

import { kafkaClientSecurity } from '../runtime/kafka-security.ts';
import { kafkaJsLogCreator, kafkaJsLogLevel } from '../runtime/telemetry.ts';
import type { Environment } from '../runtime/env.ts';
import { parseReplayConfig, replayUsage } from './replay-config.ts';
import type { ReplayConfig, ReplayPosition } from './replay-config.ts';
import { ReplayError } from './replay-errors.ts';
import { activeGroupMessage, applyReplay, planReplay } from './replay.ts';
import type { PartitionPlan, ReplayPlan } from './replay.ts';

const { Kafka, KafkaJSError } = kafkajs;

export interface ReplayCommandIo {
  readonly env?: Environment;
  readonly stdout?: { write(text: string): unknown };
  readonly stderr?: { write(text: string): unknown };
}

/**
 * Runs the replay command with `argv` (after `replay`). Resolves with the exit code: 0 done,
 * 1 Kafka error, 2 invalid usage or configuration, 3 the group has active members.
 */
export async function runReplayCommand(argv: readonly string[], io: ReplayCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let config: ReplayConfig | null;
  try {
    config = parseReplayConfig(argv, io.env ?? process.env);
  } catch (error) {
    if (!(error instanceof ReplayError)) throw error;
    stderr.write(`replay: ${error.message}\n`);
    return error.exitCode;
  }
  if (config === null) {
    stdout.write(replayUsage());
    return 0;
  }

  const { target } = config;
  const logger = pino(
    { name: 'replay', level: config.kafka.logLevel, base: { processor: target.processor, groupId: target.groupId } },
    { write: (line: string) => stderr.write(line) },
  );
  const kafka = new Kafka({
    clientId: config.kafka.clientId,
    brokers: [...config.kafka.brokers],
    ...kafkaClientSecurity(config.kafka.security),
    connectionTimeout: config.kafka.connectionTimeoutMs,
    requestTimeout: config.kafka.requestTimeoutMs,
    logLevel: kafkaJsLogLevel(config.kafka.kafkaLogLevel),
    logCreator: kafkaJsLogCreator(logger),
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const plan = await planReplay(admin, target, config.position);
    if (config.dryRun) {
      stdout.write(config.json ? `${JSON.stringify(planJson(plan, false))}\n` : formatPlan(plan, false));
      return 0;
    }
    if (plan.group.members.length > 0) {
      stderr.write(`replay: ${activeGroupMessage(target, plan.group)}\n`);
      return 3;
    }
    logger.info({ position: positionJson(config.position), topics: target.inputTopics }, 'replay reset started');
    await applyReplay(admin, plan);
    logger.info({ partitions: plan.partitions.length, ...totalsOf(plan.partitions) }, 'replay reset applied');
    stdout.write(config.json ? `${JSON.stringify(planJson(plan, true))}\n` : formatPlan(plan, true));
    return 0;
  } catch (error) {
    if (error instanceof ReplayError) {
      stderr.write(`replay: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof KafkaJSError) {
      stderr.write(`replay: Kafka request failed for group ${target.groupId} (brokers ${config.kafka.brokers.join(',')}): ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

interface Totals {
  recordsToReprocess: number;
  recordsSkipped: number;
  partitionsWithoutCommittedOffset: number;
}

function totalsOf(partitions: readonly PartitionPlan[]): Totals {
  const totals: Totals = { recordsToReprocess: 0, recordsSkipped: 0, partitionsWithoutCommittedOffset: 0 };
  for (const entry of partitions) {
    if (entry.recordsToReprocess === null) totals.partitionsWithoutCommittedOffset += 1;
    else if (entry.recordsToReprocess >= 0) totals.recordsToReprocess += entry.recordsToReprocess;
    else totals.recordsSkipped -= entry.recordsToReprocess;
  }
  return totals;
}

function positionJson(position: ReplayPosition): Record<string, string | number> {
  switch (position.kind) {
    case 'earliest':
    case 'latest':
      return { kind: position.kind };
    case 'timestamp':
      return { kind: 'timestamp', timestamp: position.text, timestampMs: position.timestampMs };
    case 'shift':
      return { kind: 'shift', by: position.by.toString() };
  }
}

function describePosition(position: ReplayPosition): string {
  switch (position.kind) {
    case 'earliest':
    case 'latest':
      return `--to ${position.kind}`;
    case 'timestamp':
      return `--to ${position.text}`;
    case 'shift':
      return `--shift ${position.by}`;
  }
}

/** Builds the JSON object of the plan (dry run) or the result (applied). Offsets are strings. */
export function planJson(plan: ReplayPlan, applied: boolean) {
  return {
    processor: plan.target.processor,
    groupId: plan.target.groupId,
    deployment: plan.target.deployment,
    position: positionJson(plan.position),
    dryRun: !applied,
    applied,
    group: { state: plan.group.state, members: plan.group.members },
    partitions: plan.partitions,
    totals: { partitions: plan.partitions.length, ...totalsOf(plan.partitions) },
  };
}

/** Formats the plan or result as a table with a short summary below it. */
export function formatPlan(plan: ReplayPlan, applied: boolean): string {
  const { target } = plan;
  const header = ['topic', 'partition', 'committed', 'new', 'end', 'reprocess'];
  const rows = plan.partitions.map((entry) => [
    entry.topic,
    String(entry.partition),
    entry.committedOffset ?? 'none',
    entry.newOffset,
    entry.endOffset,
    entry.recordsToReprocess === null ? '-' : String(entry.recordsToReprocess),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();

  const totals = totalsOf(plan.partitions);
  const lines = [
    `replay ${target.processor}: group ${target.groupId}, ${describePosition(plan.position)}, ${applied ? 'applied' : 'dry run, nothing changed'}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `${totals.recordsToReprocess} records to reprocess on ${plan.partitions.length} partitions` +
      (totals.recordsSkipped > 0 ? `; ${totals.recordsSkipped} records skipped (negative reprocess)` : ''),
  ];
  if (totals.partitionsWithoutCommittedOffset > 0) {
    lines.push(
      `${totals.partitionsWithoutCommittedOffset} partition(s) without a committed offset (committed none): without a reset the processor starts there at the earliest offset.`,
    );
  }
  if (applied) {
    lines.push(`The group now starts at "new". Scale the processor back up: kubectl scale deployment/${target.deployment} --replicas=<previous count>`);
  } else if (plan.group.members.length > 0) {
    lines.push(`The group has ${plan.group.members.length} active member(s) (state ${plan.group.state}): the committed offsets can still move, and the reset is rejected until kubectl scale deployment/${target.deployment} --replicas=0 has stopped them.`);
  } else {
    lines.push(`The group has no active members (state ${plan.group.state}). Run again without --dry-run to apply.`);
  }
  return `${lines.join('\n')}\n`;
}
