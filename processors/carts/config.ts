/**
 * Configuration of the carts processor, parsed once from the environment into a frozen object.
 * Runtime settings (brokers, application id, timers) are the runtime's own; see
 * processors/runtime/config.ts.
 */
import { SOURCE_FORMAT_CONFIG_KEYS, parseSourceFormatConfig } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { readInteger, readText } from '../runtime/env.ts';
import type { Environment } from '../runtime/env.ts';
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { CartsConfigError } from './errors.ts';

const invalid = (variable: string, message: string) => new CartsConfigError(variable, message);

export interface CartsConfig {
  /** Mapping file that names the carts and cart_items tables and columns. */
  readonly mappingFile: string;
  /** Topic of cart_updated and checkout_started records, keyed by customer id. */
  readonly cartEventsTopic: string;
  /** Compacted topic of the current snapshot per cart, keyed by cart id. */
  readonly cartSnapshotsTopic: string;
  /**
   * How long a cart must stay unchanged (in event time) before its changes are published, so
   * the cart row and the items of one transaction go out as one cart_updated.
   */
  readonly settleMs: number;
  /** Binlog positions remembered per cart to drop records the connector emits again. */
  readonly dedupePositionsPerCart: number;
  /**
   * Wall-clock ms between two progress checks of a task. When its progress changed, the task
   * writes a progress record to every partition of the cart-events topic. 0 turns this off.
   */
  readonly progressIntervalMs: number;
  /** Value format of the Debezium topics, and the schema registry for Avro. */
  readonly source: SourceFormatConfig;
}

export const CARTS_CONFIG_KEYS = [
  { variable: 'CIO_CDC_MAPPING_FILE', default: DEFAULT_MAPPING_FILE, unit: 'path' },
  { variable: 'CIO_CDC_CART_EVENTS_TOPIC', default: 'cio.cart-events', unit: 'topic' },
  { variable: 'CIO_CDC_CART_SNAPSHOTS_TOPIC', default: 'cio.cart-snapshots', unit: 'topic' },
  { variable: 'CIO_CDC_CARTS_SETTLE_MS', default: '2000', unit: 'ms' },
  { variable: 'CIO_CDC_CARTS_DEDUPE_POSITIONS', default: '64', unit: 'count' },
  { variable: 'CIO_CDC_CARTS_PROGRESS_INTERVAL_MS', default: '1000', unit: 'ms' },
  ...SOURCE_FORMAT_CONFIG_KEYS,
] as const;


export function parseCartsConfig(env: Environment): CartsConfig {
  const config: CartsConfig = {
    mappingFile: readText(env, 'CIO_CDC_MAPPING_FILE', DEFAULT_MAPPING_FILE),
    cartEventsTopic: readText(env, 'CIO_CDC_CART_EVENTS_TOPIC', 'cio.cart-events'),
    cartSnapshotsTopic: readText(env, 'CIO_CDC_CART_SNAPSHOTS_TOPIC', 'cio.cart-snapshots'),
    settleMs: readInteger(env, 'CIO_CDC_CARTS_SETTLE_MS', 2000, 0, invalid),
    dedupePositionsPerCart: readInteger(env, 'CIO_CDC_CARTS_DEDUPE_POSITIONS', 64, 1, invalid),
    progressIntervalMs: readInteger(env, 'CIO_CDC_CARTS_PROGRESS_INTERVAL_MS', 1000, 0, invalid),
    source: parseSourceFormatConfig(env, invalid),
  };
  if (config.cartEventsTopic === config.cartSnapshotsTopic) {
    throw new CartsConfigError(
      'CIO_CDC_CART_SNAPSHOTS_TOPIC',
      `must differ from CIO_CDC_CART_EVENTS_TOPIC (both are ${JSON.stringify(config.cartEventsTopic)})`,
    );
  }
  return Object.freeze(config);
}

export function loadCartsConfig(): CartsConfig {
  return parseCartsConfig(process.env);
}
