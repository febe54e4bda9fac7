/**
 * Settings of `cio-cdc trace`, parsed once into a frozen object. Topic names come from the
 * configuration of the processors that write each topic, so the trace reads what they write:
 *
 *   customers source   the mapping file (CIO_CDC_MAPPING_FILE), as the people processor reads it
 *   order events       suppression config, CIO_CDC_ORDER_EVENTS_TOPIC
 *   cart events        suppression config, CIO_CDC_CART_EVENTS_TOPIC
 *   decisions          suppression config, CIO_CDC_SUPPRESSION_DECISIONS_TOPIC
 *   customer events    suppression config, CIO_CDC_CUSTOMER_EVENTS_TOPIC (what suppression let
 *                      through, which the people processor forwards to the outbox)
 *   outbox             sink config, SINK_OUTBOX_TOPIC
 *   delivery log       sink config, SINK_DELIVERY_LOG_TOPIC
 *   dead letters       sink config, SINK_DLQ_TOPIC
 *
 * A command-line flag overrides the variable. Kafka settings (KAFKA_BROKERS, TLS, SASL, timeouts,
 * fetch sizes, log levels) are the runtime's (processors/runtime/config.ts), and the customers
 * topic's value format (SOURCE_VALUE_FORMAT, SCHEMA_REGISTRY_*) is the people processor's.
 */
import { parseSinkTopics } from '../customerio/sink/config.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { loadMapping, topicOf } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { parsePeopleConfig } from '../people/config.ts';
import { parseRuntimeConfig } from '../runtime/config.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import type { Environment } from '../runtime/env.ts';
import { parseSuppressionConfig } from '../suppression/config.ts';

/** The topics the trace reads, one role each. */
export const TRACE_SOURCES = ['customers', 'orderEvents', 'cartEvents', 'decisions', 'customerEvents', 'outbox', 'deliveryLog', 'deadLetter'] as const;
export type TraceSource = (typeof TRACE_SOURCES)[number];

export type TraceTopics = Readonly<Record<TraceSource, string>>;

/** Command-line flag of each topic role. */
export const TOPIC_FLAGS: Readonly<Record<TraceSource, string>> = Object.freeze({
  customers: '--customers-topic',
  orderEvents: '--order-events-topic',
  cartEvents: '--cart-events-topic',
  decisions: '--decisions-topic',
  customerEvents: '--customer-events-topic',
  outbox: '--outbox-topic',
  deliveryLog: '--delivery-log-topic',
  deadLetter: '--dlq-topic',
});

export interface TraceConfig {
  readonly topics: TraceTopics;
  /** The mapping names the customers table, its id column and the id's declared type. */
  readonly mapping: Mapping;
  /** Value format of the customers topic. */
  readonly sourceFormat: SourceFormatConfig;
  readonly runtime: RuntimeConfig;
}

/** Parses the trace settings from the environment and topic overrides (by role). */
export function parseTraceConfig(env: Environment, overrides: Partial<Record<TraceSource, string>> = {}): TraceConfig {
  const people = parsePeopleConfig(env);
  const mapping = loadMapping(people.mappingFile);
  const suppression = parseSuppressionConfig(env);
  const sink = parseSinkTopics(env);
  const topics: TraceTopics = {
    customers: overrides.customers ?? topicOf(mapping, 'customers'),
    orderEvents: overrides.orderEvents ?? suppression.orderEventsTopic,
    cartEvents: overrides.cartEvents ?? suppression.cartEventsTopic,
    decisions: overrides.decisions ?? suppression.decisionsTopic,
    customerEvents: overrides.customerEvents ?? suppression.customerEventsTopic,
    outbox: overrides.outbox ?? sink.outboxTopic,
    deliveryLog: overrides.deliveryLog ?? sink.deliveryLogTopic,
    deadLetter: overrides.deadLetter ?? sink.deadLetterTopic,
  };
  return Object.freeze({
    topics: Object.freeze(topics),
    mapping,
    sourceFormat: people.source,
    runtime: parseRuntimeConfig(env, { applicationId: 'cio-cdc-trace' }),
  });
}
