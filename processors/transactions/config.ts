/**
 * Configuration of the transactions processor, parsed once from the environment into a frozen
 * object. Runtime settings (brokers, application id, timers) are the runtime's own; see
 * processors/runtime/config.ts.
 */
import { SOURCE_FORMAT_CONFIG_KEYS, parseSourceFormatConfig } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { readInteger, readText } from '../runtime/env.ts';
import type { Environment } from '../runtime/env.ts';
import { TransactionsConfigError } from './errors.ts';

const invalid = (variable: string, message: string) => new TransactionsConfigError(variable, message);

export interface TransactionsConfig {
  /** Mapping file that names the orders and order_items tables and the topic prefix. */
  readonly mappingFile: string;
  /** Debezium's transaction metadata topic; null means `<topicPrefix>.transaction` of the mapping. */
  readonly metadataTopic: string | null;
  /** Output: one record per order and creating transaction, keyed by order id. */
  readonly outputTopic: string;
  /** Event time after a transaction's first record at which its state is dropped, in ms. */
  readonly expiryMs: number;
  /** Value format of the Debezium topics, and the schema registry for Avro. */
  readonly source: SourceFormatConfig;
}

export const TRANSACTIONS_CONFIG_KEYS = [
  { variable: 'CIO_CDC_MAPPING_FILE', default: DEFAULT_MAPPING_FILE, unit: 'path' },
  { variable: 'TRANSACTIONS_METADATA_TOPIC', default: '<topicPrefix>.transaction', unit: 'topic' },
  { variable: 'TRANSACTIONS_OUTPUT_TOPIC', default: 'cio.order-transactions', unit: 'topic' },
  { variable: 'TRANSACTIONS_EXPIRY_MS', default: '600000', unit: 'ms' },
  ...SOURCE_FORMAT_CONFIG_KEYS,
] as const;

export const TRANSACTIONS_DEFAULT_OUTPUT_TOPIC = 'cio.order-transactions';

export function loadTransactionsConfig(env: Environment = process.env): TransactionsConfig {
  const metadataTopic = readText(env, 'TRANSACTIONS_METADATA_TOPIC', '');
  return Object.freeze({
    mappingFile: readText(env, 'CIO_CDC_MAPPING_FILE', DEFAULT_MAPPING_FILE),
    metadataTopic: metadataTopic === '' ? null : metadataTopic,
    outputTopic: readText(env, 'TRANSACTIONS_OUTPUT_TOPIC', TRANSACTIONS_DEFAULT_OUTPUT_TOPIC),
    expiryMs: readInteger(env, 'TRANSACTIONS_EXPIRY_MS', 600_000, 1, invalid),
    source: parseSourceFormatConfig(env, invalid),
  });
}
