/**
 * Runtime configuration, parsed once from the environment into a frozen object.
 *
 * Nothing else in the runtime reads `process.env`. Every key has a default and,
 * where it is a quantity, a unit in its name. README.md lists the same keys.
 */
import { hostname } from 'node:os';

import { ConfigError } from './errors.ts';
import { KAFKA_SECURITY_CONFIG_KEYS, parseKafkaSecurity } from './kafka-security.ts';
import type { KafkaSecurityConfig } from './kafka-security.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export interface RuntimeConfig {
  /** Bootstrap brokers, host:port. */
  readonly kafkaBrokers: readonly string[];
  /** Kafka client id prefix; producers and the consumer append their role. */
  readonly kafkaClientId: string;
  /** TLS and SASL of every Kafka connection (KAFKA_SSL*, KAFKA_SASL_*). */
  readonly kafkaSecurity: KafkaSecurityConfig;
  /** Consumer group id, transactional id prefix and internal topic prefix. */
  readonly applicationId: string;
  /** Name of this instance in logs and metrics. */
  readonly instanceId: string;
  readonly httpHost: string;
  /** 0 picks a free port. */
  readonly httpPort: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly transactionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly fetchMaxWaitMs: number;
  readonly fetchMaxBytesPerPartition: number;
  readonly partitionsConsumedConcurrently: number;
  /** Records of one input partition committed together, at most. */
  readonly transactionMaxRecords: number;
  /** Replication factor of topics the runtime creates; capped at the broker count. */
  readonly topicReplicationFactor: number;
  /** Partition count of repartition topics when no input fixes it; 0 = largest source. */
  readonly repartitionPartitions: number;
  /** How far the wall clock must pass a wall-clock timer's deadline before it fires. */
  readonly timerLatenessBoundMs: number;
  /** How often idle tasks are checked for due wall-clock timers. */
  readonly timerCheckIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly restoreLogIntervalMs: number;
  /** Readiness fails when the consumer has not fetched for this long. */
  readonly readyFetchStaleMs: number;
  readonly logLevel: LogLevel;
  readonly kafkaLogLevel: KafkaLogLevel;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export interface ConfigDefaults {
  /** Used when CIO_CDC_APPLICATION_ID is unset: the processor's name. */
  readonly applicationId: string;
}

/**
 * Environment variables, their defaults and units, in the order README.md lists them.
 * `default` is the text a reader would type into the variable.
 */
export const CONFIG_KEYS = Object.freeze([
  { variable: 'KAFKA_BROKERS', default: '127.0.0.1:9092', unit: 'comma-separated host:port' },
  { variable: 'KAFKA_CLIENT_ID', default: '<application id>-<instance id>', unit: 'text' },
  ...KAFKA_SECURITY_CONFIG_KEYS,
  { variable: 'KAFKA_SESSION_TIMEOUT_MS', default: '30000', unit: 'ms' },
  { variable: 'KAFKA_HEARTBEAT_INTERVAL_MS', default: '3000', unit: 'ms' },
  { variable: 'KAFKA_REBALANCE_TIMEOUT_MS', default: '60000', unit: 'ms' },
  { variable: 'KAFKA_TRANSACTION_TIMEOUT_MS', default: '60000', unit: 'ms' },
  { variable: 'KAFKA_REQUEST_TIMEOUT_MS', default: '30000', unit: 'ms' },
  { variable: 'KAFKA_CONNECTION_TIMEOUT_MS', default: '3000', unit: 'ms' },
  { variable: 'KAFKA_FETCH_MAX_WAIT_MS', default: '500', unit: 'ms' },
  { variable: 'KAFKA_FETCH_MAX_BYTES_PER_PARTITION', default: '1048576', unit: 'bytes' },
  { variable: 'KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY', default: '2', unit: 'partitions' },
  { variable: 'KAFKA_TOPIC_REPLICATION_FACTOR', default: '3', unit: 'replicas' },
  { variable: 'KAFKA_LOG_LEVEL', default: 'warn', unit: 'nothing|error|warn|info|debug' },
  { variable: 'CIO_CDC_APPLICATION_ID', default: '<processor name>', unit: 'text' },
  { variable: 'CIO_CDC_INSTANCE_ID', default: '<hostname>-<pid>', unit: 'text' },
  { variable: 'CIO_CDC_HTTP_HOST', default: '127.0.0.1', unit: 'address' },
  { variable: 'CIO_CDC_HTTP_PORT', default: '9464', unit: 'port (0 = any free port)' },
  { variable: 'CIO_CDC_TRANSACTION_MAX_RECORDS', default: '1000', unit: 'records' },
  { variable: 'CIO_CDC_REPARTITION_PARTITIONS', default: '0', unit: 'partitions (0 = derive)' },
  { variable: 'CIO_CDC_TIMER_LATENESS_BOUND_MS', default: '300000', unit: 'ms' },
  { variable: 'CIO_CDC_TIMER_CHECK_INTERVAL_MS', default: '1000', unit: 'ms' },
  { variable: 'CIO_CDC_SHUTDOWN_TIMEOUT_MS', default: '30000', unit: 'ms' },
  { variable: 'CIO_CDC_RETRY_INITIAL_DELAY_MS', default: '200', unit: 'ms' },
  { variable: 'CIO_CDC_RETRY_MAX_DELAY_MS', default: '30000', unit: 'ms' },
  { variable: 'CIO_CDC_RESTORE_LOG_INTERVAL_MS', default: '5000', unit: 'ms' },
  { variable: 'CIO_CDC_READY_FETCH_STALE_MS', default: '60000', unit: 'ms' },
  { variable: 'LOG_LEVEL', default: 'info', unit: 'fatal|error|warn|info|debug|trace|silent' },
] as const);

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const KAFKA_LOG_LEVELS: readonly KafkaLogLevel[] = ['nothing', 'error', 'warn', 'info', 'debug'];

/** Kafka topic names: letters, digits, '.', '_' and '-', at most 249 characters. */
const KAFKA_NAME = /^[A-Za-z0-9._-]{1,249}$/;

function text(env: Environment, variable: string, fallback: string): string {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') {
    return fallback;
  }
  return raw.trim();
}

function integer(env: Environment, variable: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') {
    return fallback;
  }
  const trimmed = raw.trim();
  if (!/^-?\d+$/.test(trimmed)) {
    throw new ConfigError(variable, `expected an integer, got "${raw}"`);
  }
  const value = Number(trimmed);
  if (value < min || value > max) {
    throw new ConfigError(variable, `expected an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

function oneOf<T extends string>(env: Environment, variable: string, fallback: T, allowed: readonly T[]): T {
  const value = text(env, variable, fallback);
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(variable, `expected one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

function brokers(env: Environment): string[] {
  const list = text(env, 'KAFKA_BROKERS', '127.0.0.1:9092')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(entry)) {
      throw new ConfigError('KAFKA_BROKERS', `expected host:port entries separated by commas, got "${entry}"`);
    }
  }
  if (list.length === 0) {
    throw new ConfigError('KAFKA_BROKERS', 'expected at least one host:port');
  }
  return list;
}

/**
 * Parses the runtime configuration from `env`. Throws ConfigError naming the
 * variable when a value is invalid or two values contradict each other.
 */
export function parseRuntimeConfig(env: Environment, defaults: ConfigDefaults): RuntimeConfig {
  const applicationId = text(env, 'CIO_CDC_APPLICATION_ID', defaults.applicationId);
  if (!KAFKA_NAME.test(applicationId)) {
    throw new ConfigError(
      'CIO_CDC_APPLICATION_ID',
      `"${applicationId}" is used in topic names, so it may contain only letters, digits, '.', '_' and '-'`,
    );
  }
  const instanceId = text(env, 'CIO_CDC_INSTANCE_ID', `${hostname()}-${process.pid}`);

  const config: RuntimeConfig = {
    kafkaBrokers: Object.freeze(brokers(env)),
    kafkaClientId: text(env, 'KAFKA_CLIENT_ID', `${applicationId}-${instanceId}`),
    kafkaSecurity: parseKafkaSecurity(env, (variable, message) => new ConfigError(variable, message)),
    applicationId,
    instanceId,
    httpHost: text(env, 'CIO_CDC_HTTP_HOST', '127.0.0.1'),
    httpPort: integer(env, 'CIO_CDC_HTTP_PORT', 9464, 0, 65535),
    sessionTimeoutMs: integer(env, 'KAFKA_SESSION_TIMEOUT_MS', 30_000, 1),
    heartbeatIntervalMs: integer(env, 'KAFKA_HEARTBEAT_INTERVAL_MS', 3_000, 1),
    rebalanceTimeoutMs: integer(env, 'KAFKA_REBALANCE_TIMEOUT_MS', 60_000, 1),
    transactionTimeoutMs: integer(env, 'KAFKA_TRANSACTION_TIMEOUT_MS', 60_000, 1),
    requestTimeoutMs: integer(env, 'KAFKA_REQUEST_TIMEOUT_MS', 30_000, 1),
    connectionTimeoutMs: integer(env, 'KAFKA_CONNECTION_TIMEOUT_MS', 3_000, 1),
    fetchMaxWaitMs: integer(env, 'KAFKA_FETCH_MAX_WAIT_MS', 500, 0),
    fetchMaxBytesPerPartition: integer(env, 'KAFKA_FETCH_MAX_BYTES_PER_PARTITION', 1_048_576, 1),
    partitionsConsumedConcurrently: integer(env, 'KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY', 2, 1, 1024),
    transactionMaxRecords: integer(env, 'CIO_CDC_TRANSACTION_MAX_RECORDS', 1_000, 1),
    topicReplicationFactor: integer(env, 'KAFKA_TOPIC_REPLICATION_FACTOR', 3, 1, 32),
    repartitionPartitions: integer(env, 'CIO_CDC_REPARTITION_PARTITIONS', 0, 0, 100_000),
    timerLatenessBoundMs: integer(env, 'CIO_CDC_TIMER_LATENESS_BOUND_MS', 300_000, 0),
    timerCheckIntervalMs: integer(env, 'CIO_CDC_TIMER_CHECK_INTERVAL_MS', 1_000, 1),
    shutdownTimeoutMs: integer(env, 'CIO_CDC_SHUTDOWN_TIMEOUT_MS', 30_000, 1),
    retryInitialDelayMs: integer(env, 'CIO_CDC_RETRY_INITIAL_DELAY_MS', 200, 1),
    retryMaxDelayMs: integer(env, 'CIO_CDC_RETRY_MAX_DELAY_MS', 30_000, 1),
    restoreLogIntervalMs: integer(env, 'CIO_CDC_RESTORE_LOG_INTERVAL_MS', 5_000, 1),
    readyFetchStaleMs: integer(env, 'CIO_CDC_READY_FETCH_STALE_MS', 60_000, 1),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    kafkaLogLevel: oneOf(env, 'KAFKA_LOG_LEVEL', 'warn', KAFKA_LOG_LEVELS),
  };

  checkCrossFieldRules(config);
  return Object.freeze(config);
}

function checkCrossFieldRules(config: RuntimeConfig): void {
  if (config.heartbeatIntervalMs >= config.sessionTimeoutMs) {
    throw new ConfigError(
      'KAFKA_HEARTBEAT_INTERVAL_MS',
      `must be lower than KAFKA_SESSION_TIMEOUT_MS (${config.heartbeatIntervalMs} >= ${config.sessionTimeoutMs}); ` +
        'about a third of the session timeout is usual',
    );
  }
  if (config.rebalanceTimeoutMs < config.sessionTimeoutMs) {
    throw new ConfigError(
      'KAFKA_REBALANCE_TIMEOUT_MS',
      `must be at least KAFKA_SESSION_TIMEOUT_MS (${config.rebalanceTimeoutMs} < ${config.sessionTimeoutMs})`,
    );
  }
  if (config.retryInitialDelayMs > config.retryMaxDelayMs) {
    throw new ConfigError(
      'CIO_CDC_RETRY_INITIAL_DELAY_MS',
      `must not exceed CIO_CDC_RETRY_MAX_DELAY_MS (${config.retryInitialDelayMs} > ${config.retryMaxDelayMs})`,
    );
  }
  if (config.shutdownTimeoutMs <= config.fetchMaxWaitMs) {
    throw new ConfigError(
      'CIO_CDC_SHUTDOWN_TIMEOUT_MS',
      `must exceed KAFKA_FETCH_MAX_WAIT_MS (${config.shutdownTimeoutMs} <= ${config.fetchMaxWaitMs}), ` +
        'because shutdown waits for the fetch in flight',
    );
  }
}

/** Parses the configuration from this process's environment. */
export function loadRuntimeConfig(defaults: ConfigDefaults): RuntimeConfig {
  return parseRuntimeConfig(process.env, defaults);
}
