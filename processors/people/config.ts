/**
 * Configuration of the people processor, parsed once from the environment into a frozen object.
 * Runtime settings (brokers, application id, timers) are the runtime's own; see
 * processors/runtime/config.ts.
 */
import { readInteger, readText } from '../runtime/env.ts';
import type { Environment } from '../runtime/env.ts';
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { PeopleConfigError } from './errors.ts';

const invalid = (variable: string, message: string) => new PeopleConfigError(variable, message);

export interface PeopleConfig {
  /** Mapping file that names the customers table, its columns and the event names. */
  readonly mappingFile: string;
  /** Order events written by the orders processor, keyed by customer id. */
  readonly orderEventsTopic: string;
  /** Identify records go here, keyed by customer id. */
  readonly outboxTopic: string;
  /** Order event ids remembered per customer to count each event once. */
  readonly seenEventIdsPerCustomer: number;
  /** Binlog positions remembered per customer to drop records the connector emits again. */
  readonly dedupePositionsPerCustomer: number;
}

export const PEOPLE_CONFIG_KEYS = [
  { variable: 'CIO_CDC_MAPPING_FILE', default: DEFAULT_MAPPING_FILE, unit: 'path' },
  { variable: 'CIO_CDC_ORDER_EVENTS_TOPIC', default: 'cio.order-events', unit: 'topic' },
  { variable: 'CIO_CDC_OUTBOX_TOPIC', default: 'cio.outbox', unit: 'topic' },
  { variable: 'CIO_CDC_PEOPLE_SEEN_EVENT_IDS', default: '1000', unit: 'count' },
  { variable: 'CIO_CDC_PEOPLE_DEDUPE_POSITIONS', default: '64', unit: 'count' },
] as const;


export function parsePeopleConfig(env: Environment): PeopleConfig {
  const config: PeopleConfig = {
    mappingFile: readText(env, 'CIO_CDC_MAPPING_FILE', DEFAULT_MAPPING_FILE),
    orderEventsTopic: readText(env, 'CIO_CDC_ORDER_EVENTS_TOPIC', 'cio.order-events'),
    outboxTopic: readText(env, 'CIO_CDC_OUTBOX_TOPIC', 'cio.outbox'),
    seenEventIdsPerCustomer: readInteger(env, 'CIO_CDC_PEOPLE_SEEN_EVENT_IDS', 1000, 1, invalid),
    dedupePositionsPerCustomer: readInteger(env, 'CIO_CDC_PEOPLE_DEDUPE_POSITIONS', 64, 1, invalid),
  };
  if (config.orderEventsTopic === config.outboxTopic) {
    throw new PeopleConfigError(
      'CIO_CDC_OUTBOX_TOPIC',
      `must differ from CIO_CDC_ORDER_EVENTS_TOPIC (both are ${JSON.stringify(config.outboxTopic)}); the processor would read its own output`,
    );
  }
  return Object.freeze(config);
}

export function loadPeopleConfig(): PeopleConfig {
  return parsePeopleConfig(process.env);
}
