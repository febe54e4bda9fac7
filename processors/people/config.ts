/**
 * Configuration of the people processor, parsed once from the environment into a frozen object.
 * Runtime settings (brokers, application id, timers) are the runtime's own; see
 * processors/runtime/config.ts.
 */
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { PeopleConfigError } from './errors.ts';

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

type Environment = Readonly<Record<string, string | undefined>>;

function text(env: Environment, variable: string, fallback: string): string {
  const value = env[variable]?.trim();
  return value === undefined || value === '' ? fallback : value;
}

function integer(env: Environment, variable: string, fallback: number, min: number): number {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new PeopleConfigError(variable, `must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export function parsePeopleConfig(env: Environment): PeopleConfig {
  const config: PeopleConfig = {
    mappingFile: text(env, 'CIO_CDC_MAPPING_FILE', DEFAULT_MAPPING_FILE),
    orderEventsTopic: text(env, 'CIO_CDC_ORDER_EVENTS_TOPIC', 'cio.order-events'),
    outboxTopic: text(env, 'CIO_CDC_OUTBOX_TOPIC', 'cio.outbox'),
    seenEventIdsPerCustomer: integer(env, 'CIO_CDC_PEOPLE_SEEN_EVENT_IDS', 1000, 1),
    dedupePositionsPerCustomer: integer(env, 'CIO_CDC_PEOPLE_DEDUPE_POSITIONS', 64, 1),
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
