/**
 * Settings of the Customer.io sink, parsed once from the environment into a frozen object.
 * The Track API client's own settings (site id, key, rate, retries) come from ../config.ts and sit
 * under `track`.
 *
 * Start position: a consumer group without committed offsets starts at the EARLIEST offset of
 * each partition (`fromBeginning: true`), so a fresh deployment whose first delivery fails never
 * skips the records already in the outbox.
 */

import { KAFKA_SECURITY_CONFIG_KEYS, parseKafkaSecurity, type KafkaSecurityConfig } from '../../runtime/index.ts';
import { parseTrackClientConfig, type Environment, type TrackClientConfig } from '../config.ts';
import { OUTBOX_TOPIC } from '../records.ts';
import { BACKFILL_CONFIG_KEYS, parseBackfillGuard, type BackfillGuardConfig } from './backfill.ts';
import { SinkConfigError } from './errors.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type SinkLogLevel = (typeof LOG_LEVELS)[number];

export interface SinkConfig {
  readonly kafkaBrokers: readonly string[];
  readonly kafkaClientId: string;
  /** TLS and SASL of the Kafka connection (KAFKA_SSL*, KAFKA_SASL_*), as the processors read them. */
  readonly kafkaSecurity: KafkaSecurityConfig;
  readonly groupId: string;
  readonly outboxTopic: string;
  readonly deadLetterTopic: string;
  readonly deliveryLogTopic: string;
  /** Always true: a new group reads from the earliest offset. Kept here so the choice is visible. */
  readonly fromBeginning: true;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  /** Maximum wait for a retry spent inside one batch. Longer waits pause the partition instead. */
  readonly inlineWaitMaxMs: number;
  /** Wait before sending again when a result names none (for example a record held behind another). */
  readonly retryBackoffMs: number;
  /** Records handed to one TrackClient.send call. */
  readonly maxRecordsPerSend: number;
  readonly partitionsConsumedConcurrently: number;
  /** Time SIGTERM allows for abandoning the batch and disconnecting. */
  readonly shutdownTimeoutMs: number;
  /** Port of /healthz, /readyz and /metrics on 127.0.0.1. 0 picks a free port. */
  readonly httpPort: number;
  readonly logLevel: SinkLogLevel;
  /** Handling of events older than Customer.io's campaign-trigger window (backfill.ts). */
  readonly backfillGuard: BackfillGuardConfig;
  readonly track: TrackClientConfig;
}

/** Environment variables of the sink, their defaults and units, for docs and --help. */
export const SINK_CONFIG_KEYS = Object.freeze([
  { variable: 'KAFKA_BROKERS', default: '127.0.0.1:9092', unit: 'host:port list' },
  { variable: 'KAFKA_CLIENT_ID', default: 'cio-cdc-sink', unit: 'text' },
  ...KAFKA_SECURITY_CONFIG_KEYS,
  { variable: 'SINK_GROUP_ID', default: 'cio-cdc-sink', unit: 'text' },
  { variable: 'SINK_OUTBOX_TOPIC', default: OUTBOX_TOPIC, unit: 'topic' },
  { variable: 'SINK_DLQ_TOPIC', default: `${OUTBOX_TOPIC}.dlq`, unit: 'topic' },
  { variable: 'SINK_DELIVERY_LOG_TOPIC', default: 'cio.delivery-log', unit: 'topic' },
  { variable: 'SINK_SESSION_TIMEOUT_MS', default: '30000', unit: 'ms' },
  { variable: 'SINK_HEARTBEAT_INTERVAL_MS', default: '3000', unit: 'ms' },
  { variable: 'SINK_REBALANCE_TIMEOUT_MS', default: '60000', unit: 'ms' },
  { variable: 'SINK_INLINE_WAIT_MAX_MS', default: '10000', unit: 'ms' },
  { variable: 'SINK_RETRY_BACKOFF_MS', default: '1000', unit: 'ms' },
  { variable: 'SINK_MAX_RECORDS_PER_SEND', default: '500', unit: 'records' },
  { variable: 'SINK_PARTITIONS_CONSUMED_CONCURRENTLY', default: '4', unit: 'partitions' },
  { variable: 'SINK_SHUTDOWN_TIMEOUT_MS', default: '10000', unit: 'ms' },
  { variable: 'SINK_HTTP_PORT', default: '9464', unit: 'port' },
  { variable: 'LOG_LEVEL', default: 'info', unit: LOG_LEVELS.join('|') },
  ...BACKFILL_CONFIG_KEYS,
] as const);

/** Parses the sink settings and the Track client settings from `env`. Throws naming the variable. */
export function parseSinkConfig(env: Environment): SinkConfig {
  const kafkaBrokers = text(env, 'KAFKA_BROKERS', '127.0.0.1:9092')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  if (kafkaBrokers.length === 0) throw new SinkConfigError('KAFKA_BROKERS is empty. Set it to host:port[,host:port]', 'KAFKA_BROKERS');

  const sessionTimeoutMs = integer(env, 'SINK_SESSION_TIMEOUT_MS', 30_000, 1000);
  const heartbeatIntervalMs = integer(env, 'SINK_HEARTBEAT_INTERVAL_MS', 3000, 100);
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    throw new SinkConfigError(
      `SINK_HEARTBEAT_INTERVAL_MS (${heartbeatIntervalMs}) must be at most a third of SINK_SESSION_TIMEOUT_MS (${sessionTimeoutMs})`,
      'SINK_HEARTBEAT_INTERVAL_MS',
    );
  }
  const inlineWaitMaxMs = integer(env, 'SINK_INLINE_WAIT_MAX_MS', 10_000, 0);
  // A wait inside a batch heartbeats, but it must still end well inside the session.
  if (inlineWaitMaxMs * 2 > sessionTimeoutMs) {
    throw new SinkConfigError(
      `SINK_INLINE_WAIT_MAX_MS (${inlineWaitMaxMs}) must be at most half of SINK_SESSION_TIMEOUT_MS (${sessionTimeoutMs}); longer waits pause the partition`,
      'SINK_INLINE_WAIT_MAX_MS',
    );
  }

  const logLevel = text(env, 'LOG_LEVEL', 'info') as SinkLogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new SinkConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`, 'LOG_LEVEL');

  const { outboxTopic, deadLetterTopic, deliveryLogTopic } = parseSinkTopics(env);

  const config: SinkConfig = {
    kafkaBrokers: Object.freeze(kafkaBrokers),
    kafkaClientId: text(env, 'KAFKA_CLIENT_ID', 'cio-cdc-sink'),
    kafkaSecurity: parseKafkaSecurity(env, invalid),
    groupId: text(env, 'SINK_GROUP_ID', 'cio-cdc-sink'),
    outboxTopic,
    deadLetterTopic,
    deliveryLogTopic,
    fromBeginning: true,
    sessionTimeoutMs,
    heartbeatIntervalMs,
    rebalanceTimeoutMs: integer(env, 'SINK_REBALANCE_TIMEOUT_MS', 60_000, 1000),
    inlineWaitMaxMs,
    retryBackoffMs: integer(env, 'SINK_RETRY_BACKOFF_MS', 1000, 0),
    maxRecordsPerSend: integer(env, 'SINK_MAX_RECORDS_PER_SEND', 500, 1),
    partitionsConsumedConcurrently: integer(env, 'SINK_PARTITIONS_CONSUMED_CONCURRENTLY', 4, 1),
    shutdownTimeoutMs: integer(env, 'SINK_SHUTDOWN_TIMEOUT_MS', 10_000, 0),
    httpPort: integer(env, 'SINK_HTTP_PORT', 9464, 0),
    logLevel,
    backfillGuard: parseBackfillGuard(env, invalid),
    track: parseTrackClientConfig(env),
  };
  if (config.httpPort > 65_535) throw new SinkConfigError(`SINK_HTTP_PORT must be at most 65535, got ${config.httpPort}`, 'SINK_HTTP_PORT');
  return Object.freeze(config);
}

/** Parses the sink's topic names alone, which need no Customer.io credentials. Throws naming the variable. */
export function parseSinkTopics(env: Environment): Pick<SinkConfig, 'outboxTopic' | 'deadLetterTopic' | 'deliveryLogTopic'> {
  const outboxTopic = text(env, 'SINK_OUTBOX_TOPIC', OUTBOX_TOPIC);
  const deadLetterTopic = text(env, 'SINK_DLQ_TOPIC', `${outboxTopic}.dlq`);
  const deliveryLogTopic = text(env, 'SINK_DELIVERY_LOG_TOPIC', 'cio.delivery-log');
  if (deadLetterTopic === outboxTopic || deliveryLogTopic === outboxTopic) {
    throw new SinkConfigError(`SINK_DLQ_TOPIC and SINK_DELIVERY_LOG_TOPIC must differ from SINK_OUTBOX_TOPIC (${outboxTopic})`, 'SINK_DLQ_TOPIC');
  }
  return { outboxTopic, deadLetterTopic, deliveryLogTopic };
}

function invalid(variable: string, message: string): SinkConfigError {
  return new SinkConfigError(`${variable} ${message}`, variable);
}

function text(env: Environment, variable: string, fallback: string): string {
  const value = env[variable];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

function integer(env: Environment, variable: string, fallback: number, minimum: number): number {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new SinkConfigError(`${variable} must be an integer of at least ${minimum}, got ${JSON.stringify(raw)}`, variable);
  }
  return value;
}
