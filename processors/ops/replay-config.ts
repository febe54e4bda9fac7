/**
 * Options of `cio-cdc replay`, parsed once from the flags and the environment into a frozen
 * object.
 *
 * The consumer group and the input topics come from the processor's own configuration, read from
 * the same variables and mapping file the processor reads, so the replay resets exactly the
 * offsets the running processor commits:
 *
 *   orders, transactions, carts,         the topology's inputs; group = CIO_CDC_APPLICATION_ID,
 *   people, suppression                  else the topology's name (the runtime's rule)
 *   sink                                 SINK_OUTBOX_TOPIC; group = SINK_GROUP_ID
 *
 * Kafka connection settings (KAFKA_BROKERS, KAFKA_SSL*, KAFKA_SASL_*, KAFKA_CONNECTION_TIMEOUT_MS,
 * KAFKA_REQUEST_TIMEOUT_MS, KAFKA_LOG_LEVEL) and LOG_LEVEL are the runtime's
 * (processors/runtime/config.ts).
 */
import { parseArgs } from 'node:util';

import { CartsConfigError } from '../carts/errors.ts';
import { parseCartsConfig } from '../carts/config.ts';
import { cartsTopology } from '../carts/topology.ts';
import { SINK_CONFIG_KEYS, parseSinkTopics } from '../customerio/sink/config.ts';
import { SinkConfigError } from '../customerio/sink/errors.ts';
import { MappingError, loadMapping } from '../mapping/mapping.ts';
import { OrdersConfigError } from '../orders/errors.ts';
import { loadOrdersConfig } from '../orders/config.ts';
import { ordersTopology } from '../orders/topology.ts';
import { PeopleConfigError } from '../people/errors.ts';
import { parsePeopleConfig } from '../people/config.ts';
import { peopleTopology } from '../people/topology.ts';
import { parseRuntimeConfig } from '../runtime/config.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { readText } from '../runtime/env.ts';
import type { Environment } from '../runtime/env.ts';
import { ConfigError } from '../runtime/errors.ts';
import type { InputMap, SomeProcessorDefinition } from '../runtime/processor.ts';
import { SuppressionConfigError } from '../suppression/errors.ts';
import { parseSuppressionConfig } from '../suppression/config.ts';
import { suppressionTopology } from '../suppression/topology.ts';
import { loadTransactionsConfig } from '../transactions/config.ts';
import { TransactionsConfigError } from '../transactions/errors.ts';
import { transactionsTopology } from '../transactions/topology.ts';
import { ReplayConfigError, ReplayUsageError } from './replay-errors.ts';

export const REPLAY_PROCESSORS = ['orders', 'transactions', 'carts', 'people', 'suppression', 'sink'] as const;
export type ReplayProcessor = (typeof REPLAY_PROCESSORS)[number];

/** Name of each processor's Deployment in deploy/k8s/base. */
export const REPLAY_DEPLOYMENTS: Readonly<Record<ReplayProcessor, string>> = Object.freeze({
  orders: 'cio-cdc-orders',
  transactions: 'cio-cdc-transactions',
  carts: 'cio-cdc-carts',
  people: 'cio-cdc-people',
  suppression: 'cio-cdc-suppression',
  sink: 'cio-cdc-sink',
});

/** New position of the group's offsets. */
export type ReplayPosition =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  /** The first offset whose record timestamp is at or after `timestampMs`, else the end offset. */
  | { readonly kind: 'timestamp'; readonly timestampMs: number; readonly text: string }
  /** The committed offset (the earliest offset when none is committed) plus `by`, kept within the partition's offsets. */
  | { readonly kind: 'shift'; readonly by: bigint };

/** The consumer group of one processor and the topics it reads from outside the processor. */
export interface ReplayTarget {
  readonly processor: ReplayProcessor;
  readonly groupId: string;
  /** Input topics whose offsets the replay resets. Repartition and changelog topics are not among them. */
  readonly inputTopics: readonly string[];
  /** Kubernetes Deployment that runs the processor. */
  readonly deployment: string;
}

export interface ReplayKafkaSettings {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** TLS and SASL, from the runtime's KAFKA_SSL* and KAFKA_SASL_* variables. */
  readonly security: RuntimeConfig['kafkaSecurity'];
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly kafkaLogLevel: RuntimeConfig['kafkaLogLevel'];
  readonly logLevel: RuntimeConfig['logLevel'];
}

export interface ReplayConfig {
  readonly target: ReplayTarget;
  readonly position: ReplayPosition;
  /** Print the plan and change nothing. */
  readonly dryRun: boolean;
  /** Print the result as one JSON object instead of a table. */
  readonly json: boolean;
  readonly kafka: ReplayKafkaSettings;
}

export function replayUsage(): string {
  return [
    'usage: cio-cdc replay <processor> (--to earliest|latest|TIMESTAMP | --shift N) [--dry-run] [--json]',
    '',
    `Resets the consumer group offsets of one processor (${REPLAY_PROCESSORS.join(', ')}) on its input`,
    'topics, so that it reads them again from the new position. The group must have no active members:',
    'scale the Deployment to zero first (kubectl scale deployment/<name> --replicas=0).',
    '',
    'options:',
    '  --to earliest        the earliest offset still in each partition',
    '  --to latest          the end of each partition: records not yet read are skipped',
    '  --to TIMESTAMP       the first record whose Kafka timestamp is at or after TIMESTAMP, an ISO 8601',
    '                       time with a zone (2024-07-15T13:30:00Z, 2024-07-15T09:30:00-04:00);',
    '                       partitions with no such record move to their end',
    '  --shift N            move each committed offset by N records (negative: back), within the',
    '                       partition; a partition without a committed offset counts from its earliest offset',
    '  --dry-run            print the plan per partition and change nothing',
    '  --json               print the plan or result as one JSON object',
    '  -h, --help           show this help',
    '',
    "The group and topics come from the processor's own settings (CIO_CDC_APPLICATION_ID, topic",
    'variables, CIO_CDC_MAPPING_FILE; SINK_GROUP_ID and SINK_OUTBOX_TOPIC for the sink), and Kafka',
    'from KAFKA_BROKERS. Repartition and changelog topics keep their offsets; see "Replay" in README.md.',
    '',
    'Exit codes: 0 done, 1 Kafka error, 2 invalid usage or configuration, 3 the group has active members.',
    '',
  ].join('\n');
}

/** ISO 8601 date and time with seconds optional, fraction optional, and a required zone. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses the value of --to. */
export function parseToPosition(text: string): ReplayPosition {
  if (text === 'earliest' || text === 'latest') return { kind: text };
  const timestampMs = Date.parse(text);
  if (!ISO_TIMESTAMP.test(text) || !Number.isFinite(timestampMs)) {
    throw new ReplayUsageError(
      `--to must be earliest, latest or an ISO 8601 time with a zone such as 2024-07-15T13:30:00Z, got ${JSON.stringify(text)}`,
    );
  }
  return { kind: 'timestamp', timestampMs, text };
}

/** Parses the value of --shift: a whole number of records, negative to go back. */
export function parseShift(text: string): ReplayPosition {
  if (!/^[+-]?\d{1,18}$/.test(text)) {
    throw new ReplayUsageError(`--shift must be a whole number of records such as -1000 or 500, got ${JSON.stringify(text)}`);
  }
  return { kind: 'shift', by: BigInt(text) };
}

/**
 * Parses flags and environment, and returns null for --help. Throws ReplayUsageError for a bad
 * flag and ReplayConfigError when the processor's own settings are invalid.
 */
export function parseReplayConfig(argv: readonly string[], env: Environment): ReplayConfig | null {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(joinNegativeShift(argv));
  } catch (error) {
    throw new ReplayUsageError(`${(error as Error).message}; run 'cio-cdc replay --help' for the options`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return null;

  const [processor, ...extra] = positionals;
  if (processor === undefined || !(REPLAY_PROCESSORS as readonly string[]).includes(processor)) {
    throw new ReplayUsageError(`the first argument must be one of ${REPLAY_PROCESSORS.join(', ')}, got ${JSON.stringify(processor ?? '')}`);
  }
  if (extra.length > 0) throw new ReplayUsageError(`unexpected argument(s) ${extra.map((arg) => JSON.stringify(arg)).join(' ')}`);

  if (values.to !== undefined && values.shift !== undefined) throw new ReplayUsageError('--to and --shift exclude each other; give one');
  if (values.to === undefined && values.shift === undefined) throw new ReplayUsageError('give the new position with --to earliest|latest|TIMESTAMP or --shift N');
  const position = values.to !== undefined ? parseToPosition(values.to) : parseShift(values.shift!);

  const { target, runtime } = resolveReplayTarget(processor as ReplayProcessor, env);
  const kafka: ReplayKafkaSettings = Object.freeze({
    brokers: runtime.kafkaBrokers,
    clientId: `cio-cdc-replay-${processor}`,
    security: runtime.kafkaSecurity,
    connectionTimeoutMs: runtime.connectionTimeoutMs,
    requestTimeoutMs: runtime.requestTimeoutMs,
    kafkaLogLevel: runtime.kafkaLogLevel,
    logLevel: runtime.logLevel,
  });
  return Object.freeze({ target, position, dryRun: values['dry-run'] === true, json: values.json === true, kafka });
}

/**
 * Builds the processor's topology from its configuration, as its main.ts does, and reads the
 * group and the input topics from it. Also returns the runtime configuration, for Kafka settings.
 */
export function resolveReplayTarget(processor: ReplayProcessor, env: Environment): { target: ReplayTarget; runtime: RuntimeConfig } {
  try {
    if (processor === 'sink') {
      const groupDefault = SINK_CONFIG_KEYS.find((key) => key.variable === 'SINK_GROUP_ID')!.default;
      const groupId = readText(env, 'SINK_GROUP_ID', groupDefault);
      const runtime = parseRuntimeConfig(env, { applicationId: groupId });
      return { target: freezeTarget(processor, groupId, [parseSinkTopics(env).outboxTopic]), runtime };
    }
    const definition = processorDefinition(processor, env);
    const runtime = parseRuntimeConfig(env, { applicationId: definition.name });
    const inputs: InputMap = definition.inputs;
    const topics = Object.values(inputs).map((input) => input.topic);
    return { target: freezeTarget(processor, runtime.applicationId, topics), runtime };
  } catch (error) {
    if (!isConfigError(error)) throw error;
    throw new ReplayConfigError(`invalid configuration of ${processor}: ${error.message}`, error);
  }
}

function processorDefinition(processor: Exclude<ReplayProcessor, 'sink'>, env: Environment): SomeProcessorDefinition {
  switch (processor) {
    case 'orders': {
      const config = loadOrdersConfig(env);
      return ordersTopology({ config, mapping: loadMapping(config.mappingFile) });
    }
    case 'transactions': {
      const config = loadTransactionsConfig(env);
      return transactionsTopology({ config, mapping: loadMapping(config.mappingFile) });
    }
    case 'carts': {
      const config = parseCartsConfig(env);
      return cartsTopology(config, loadMapping(config.mappingFile));
    }
    case 'people': {
      const config = parsePeopleConfig(env);
      return peopleTopology(config, loadMapping(config.mappingFile));
    }
    case 'suppression':
      return suppressionTopology(parseSuppressionConfig(env));
  }
}

function freezeTarget(processor: ReplayProcessor, groupId: string, topics: readonly string[]): ReplayTarget {
  return Object.freeze({
    processor,
    groupId,
    inputTopics: Object.freeze([...new Set(topics)]),
    deployment: REPLAY_DEPLOYMENTS[processor],
  });
}

const CONFIG_ERRORS = [ConfigError, MappingError, OrdersConfigError, CartsConfigError, PeopleConfigError, SuppressionConfigError, TransactionsConfigError, SinkConfigError];

function isConfigError(error: unknown): error is Error {
  return CONFIG_ERRORS.some((type) => error instanceof type);
}

/** Turns `--shift -N` into `--shift=-N`, because parseArgs reads a value that starts with '-' as an option. */
function joinNegativeShift(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index]!;
    const next = argv[index + 1];
    if (arg === '--shift' && next !== undefined && /^-\d/.test(next)) {
      joined.push(`--shift=${next}`);
      index += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      to: { type: 'string' },
      shift: { type: 'string' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
