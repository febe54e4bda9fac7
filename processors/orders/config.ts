/**
 * Configuration of the orders processor, parsed once from the environment into a
 * frozen object. Nothing else in this folder reads process.env.
 *
 *   ORDERS_GRACE_MS            5000              quiet time after the last change of an order or
 *                                                its items before the order counts as complete
 *   ORDERS_OUTPUT_TOPIC        cio.order-events  where order events go, keyed by customer id
 *   CIO_CDC_MAPPING_FILE       (built-in default mapping)  which tables and columns play which role
 *   ORDERS_TRANSACTIONS_TOPIC  unset             order-transaction records of the transactions
 *                                                processor, keyed by order id; unset = not read
 *   ORDERS_TRANSACTION_METADATA  true when the topic is set  complete an order as soon as the
 *                                                items of its creating transaction arrived
 *   ORDERS_PROGRESS_INTERVAL_MS  1000             how often each task checks its progress and, when
 *                                                it changed, writes a progress record to every
 *                                                partition of the output topic; 0 = never
 *                                                (processors/progress/records.ts)
 *   SOURCE_VALUE_FORMAT, SCHEMA_REGISTRY_*  value format of the Debezium topics
 *                                           (processors/debezium/source-format.ts)
 */
import { SOURCE_FORMAT_DEFAULTS, parseSourceFormatConfig } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { OrdersConfigError } from './errors.ts';

export interface OrdersConfig {
  /** Quiet time, in ms of event time, after which an order and its items count as complete. */
  readonly graceMs: number;
  readonly outputTopic: string;
  readonly mappingFile: string;
  /** Order-transaction records from the transactions processor, or null when none are read. */
  readonly transactionsTopic: string | null;
  /**
   * Whether an order is complete once every item its creating transaction inserted has arrived,
   * as the transactions topic counts them. Otherwise only the grace period decides.
   */
  readonly transactionMetadata: boolean;
  /** Wall-clock ms between two progress checks of a task; 0 writes no progress records. */
  readonly progressIntervalMs: number;
  /** Value format of the Debezium topics, and the schema registry for Avro. */
  readonly source: SourceFormatConfig;
}

export const ORDERS_DEFAULTS: OrdersConfig = Object.freeze({
  graceMs: 5_000,
  outputTopic: 'cio.order-events',
  mappingFile: DEFAULT_MAPPING_FILE,
  transactionsTopic: null,
  transactionMetadata: false,
  progressIntervalMs: 1_000,
  source: SOURCE_FORMAT_DEFAULTS,
});

/** Upper bound of the grace period: one day; a longer hold is a configuration mistake. */
const MAX_GRACE_MS = 86_400_000;
/** Upper bound of the progress interval: one minute, so a consumer waiting on it is not held longer. */
const MAX_PROGRESS_INTERVAL_MS = 60_000;

export function loadOrdersConfig(env: Readonly<Record<string, string | undefined>> = process.env): OrdersConfig {
  const graceText = env.ORDERS_GRACE_MS?.trim();
  let graceMs = ORDERS_DEFAULTS.graceMs;
  if (graceText !== undefined && graceText !== '') {
    if (!/^\d+$/.test(graceText) || Number(graceText) > MAX_GRACE_MS) {
      throw new OrdersConfigError(
        'ORDERS_GRACE_MS',
        `expected whole milliseconds between 0 and ${MAX_GRACE_MS}, got ${JSON.stringify(graceText)}`,
      );
    }
    graceMs = Number(graceText);
  }
  const outputTopic = env.ORDERS_OUTPUT_TOPIC?.trim() || ORDERS_DEFAULTS.outputTopic;
  const mappingFile = env.CIO_CDC_MAPPING_FILE?.trim() || ORDERS_DEFAULTS.mappingFile;
  const transactionsTopic = env.ORDERS_TRANSACTIONS_TOPIC?.trim() || null;
  const transactionMetadata = parseTransactionMetadata(env.ORDERS_TRANSACTION_METADATA, transactionsTopic);
  const progressIntervalMs = parseProgressInterval(env.ORDERS_PROGRESS_INTERVAL_MS);
  const source = parseSourceFormatConfig(env, (variable, message) => new OrdersConfigError(variable, message));
  return Object.freeze({ graceMs, outputTopic, mappingFile, transactionsTopic, transactionMetadata, progressIntervalMs, source });
}

function parseProgressInterval(raw: string | undefined): number {
  const text = raw?.trim() ?? '';
  if (text === '') return ORDERS_DEFAULTS.progressIntervalMs;
  if (!/^\d+$/.test(text) || Number(text) > MAX_PROGRESS_INTERVAL_MS) {
    throw new OrdersConfigError(
      'ORDERS_PROGRESS_INTERVAL_MS',
      `expected whole milliseconds between 0 and ${MAX_PROGRESS_INTERVAL_MS}, got ${JSON.stringify(raw)}`,
    );
  }
  return Number(text);
}

/** On by default when a transactions topic is set; on without one is a configuration mistake. */
function parseTransactionMetadata(raw: string | undefined, transactionsTopic: string | null): boolean {
  const text = raw?.trim().toLowerCase() ?? '';
  if (text === '') {
    return transactionsTopic !== null;
  }
  if (text !== 'true' && text !== 'false') {
    throw new OrdersConfigError('ORDERS_TRANSACTION_METADATA', `expected true or false, got ${JSON.stringify(raw)}`);
  }
  if (text === 'true' && transactionsTopic === null) {
    throw new OrdersConfigError(
      'ORDERS_TRANSACTION_METADATA',
      'is true but ORDERS_TRANSACTIONS_TOPIC is not set; set it to the transactions processor\'s output topic (cio.order-transactions)',
    );
  }
  return text === 'true';
}
