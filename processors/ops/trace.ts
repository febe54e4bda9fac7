/**
 * `cio-cdc trace CUSTOMER_ID`: everything the pipeline recorded about one customer, as one
 * timeline, and how far each of the customer's events got.
 *
 *   customers source (Debezium, key {"id":…}) ─┐
 *   order events, cart events  (key customer) ─┤  one partition each,     ┌─▶ timeline (trace-timeline.ts)
 *   suppression decisions      (key customer) ─┤  earliest → end offset ──┤
 *   customer events, outbox    (key customer) ─┼─ read_committed          └─▶ outcome per event
 *   delivery log, DLQ          (key customer) ─┘
 *
 * The orders and carts source topics are keyed by order and cart id, so a customer's rows of
 * those tables could be in any partition. They are not read: the derived order and cart events
 * carry the source table and binlog position of the change they came from (`source`), and the
 * timeline names it.
 */
import kafkajs from 'kafkajs';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

import { kafkaClientSecurity } from '../runtime/index.ts';
import { kafkaJsLogCreator, kafkaJsLogLevel } from '../runtime/telemetry.ts';
import type { TraceConfig } from './trace-config.ts';
import { readTargets, traceTargets } from './trace-read.ts';
import type { TopicRead } from './trace-read.ts';
import { TraceDecoder } from './trace-records.ts';
import { buildOutcomes } from './trace-outcomes.ts';
import type { Outcome } from './trace-outcomes.ts';
import { buildTimeline } from './trace-timeline.ts';
import type { TimelineEntry } from './trace-timeline.ts';

const { Kafka: KafkaClient } = kafkajs;

export interface TraceResult {
  readonly customerId: string;
  /** When the trace took the end offsets, ISO 8601. */
  readonly startedAt: string;
  /** One entry per traced topic: the partition read and how many records matched. */
  readonly reads: readonly TopicRead[];
  readonly entries: readonly TimelineEntry[];
  readonly outcomes: readonly Outcome[];
}

export interface TraceOptions {
  readonly logger: Logger;
  /** Kafka client to read with; by default one is built from the runtime settings. */
  readonly kafka?: Kafka;
  /** Epoch milliseconds, for `startedAt`. */
  readonly now?: () => number;
}

/** Reads the customer's records from every traced topic and explains them. */
export async function traceCustomer(config: TraceConfig, customerId: string, options: TraceOptions): Promise<TraceResult> {
  if (customerId.trim() === '' || customerId !== customerId.trim()) {
    throw new TypeError(`customer id must be non-empty without surrounding spaces, got ${JSON.stringify(customerId)}`);
  }
  const runtime = config.runtime;
  const kafka =
    options.kafka ??
    new KafkaClient({
      clientId: runtime.kafkaClientId,
      brokers: [...runtime.kafkaBrokers],
      connectionTimeout: runtime.connectionTimeoutMs,
      requestTimeout: runtime.requestTimeoutMs,
      ...kafkaClientSecurity(runtime.kafkaSecurity),
      logLevel: kafkaJsLogLevel(runtime.kafkaLogLevel),
      logCreator: kafkaJsLogCreator(options.logger),
    });

  const startedAt = new Date((options.now ?? Date.now)()).toISOString();
  const { reads, records } = await readTargets(kafka, traceTargets(config, customerId), {
    maxWaitMs: runtime.fetchMaxWaitMs,
    maxBytes: runtime.fetchMaxBytesPerPartition,
  });
  const decoder = new TraceDecoder(config.mapping, config.sourceFormat);
  const decoded = [];
  for (const record of records) decoded.push(await decoder.decode(record));
  const entries = buildTimeline(decoded);
  return { customerId, startedAt, reads, entries, outcomes: buildOutcomes(entries) };
}
