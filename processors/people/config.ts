/**
 * Configuration of the people processor, parsed once from the environment into a frozen object.
 * Runtime settings (brokers, application id, timers) are the runtime's own; see
 * processors/runtime/config.ts.
 */
import { SOURCE_FORMAT_CONFIG_KEYS, parseSourceFormatConfig } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { readInteger, readText } from '../runtime/env.ts';
import type { Environment } from '../runtime/env.ts';
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { PeopleConfigError } from './errors.ts';

const invalid = (variable: string, message: string) => new PeopleConfigError(variable, message);

export interface PeopleConfig {
  /** Mapping file that names the customers table, its columns and the event names. */
  readonly mappingFile: string;
  /**
   * Input: every event for a customer that the suppression processor let through (order, refund
   * and subscription events, released cart events), keyed by customer id.
   */
  readonly customerEventsTopic: string;
  /** Output: identify records and the forwarded events, keyed by customer id. */
  readonly outboxTopic: string;
  /**
   * Stream time an event waits for its customer's first identify before it goes out without one,
   * in ms. Counted from the stream time at which the customer's first event was held.
   */
  readonly identifyWaitMs: number;
  /** Order event ids remembered per customer to count each event once. */
  readonly seenEventIdsPerCustomer: number;
  /** Binlog positions remembered per customer to drop records the connector emits again. */
  readonly dedupePositionsPerCustomer: number;
  /** Value format of the customers topic, and the schema registry for Avro. */
  readonly source: SourceFormatConfig;
}

export const PEOPLE_CONFIG_KEYS = [
  { variable: 'CIO_CDC_MAPPING_FILE', default: DEFAULT_MAPPING_FILE, unit: 'path' },
  { variable: 'CIO_CDC_CUSTOMER_EVENTS_TOPIC', default: 'cio.customer-events', unit: 'topic' },
  { variable: 'CIO_CDC_OUTBOX_TOPIC', default: 'cio.outbox', unit: 'topic' },
  { variable: 'PEOPLE_IDENTIFY_WAIT_MS', default: '60000', unit: 'ms' },
  { variable: 'CIO_CDC_PEOPLE_SEEN_EVENT_IDS', default: '1000', unit: 'count' },
  { variable: 'CIO_CDC_PEOPLE_DEDUPE_POSITIONS', default: '64', unit: 'count' },
  ...SOURCE_FORMAT_CONFIG_KEYS,
] as const;


export function parsePeopleConfig(env: Environment): PeopleConfig {
  const config: PeopleConfig = {
    mappingFile: readText(env, 'CIO_CDC_MAPPING_FILE', DEFAULT_MAPPING_FILE),
    customerEventsTopic: readText(env, 'CIO_CDC_CUSTOMER_EVENTS_TOPIC', 'cio.customer-events'),
    outboxTopic: readText(env, 'CIO_CDC_OUTBOX_TOPIC', 'cio.outbox'),
    identifyWaitMs: readInteger(env, 'PEOPLE_IDENTIFY_WAIT_MS', 60_000, 1, invalid),
    seenEventIdsPerCustomer: readInteger(env, 'CIO_CDC_PEOPLE_SEEN_EVENT_IDS', 1000, 1, invalid),
    dedupePositionsPerCustomer: readInteger(env, 'CIO_CDC_PEOPLE_DEDUPE_POSITIONS', 64, 1, invalid),
    source: parseSourceFormatConfig(env, invalid),
  };
  if (config.customerEventsTopic === config.outboxTopic) {
    throw new PeopleConfigError(
      'CIO_CDC_OUTBOX_TOPIC',
      `must differ from CIO_CDC_CUSTOMER_EVENTS_TOPIC (both are ${JSON.stringify(config.outboxTopic)}); the processor would read its own output`,
    );
  }
  return Object.freeze(config);
}

export function loadPeopleConfig(): PeopleConfig {
  return parsePeopleConfig(process.env);
}
