/**
 * Configuration of the orders processor, parsed once from the environment into a
 * frozen object. Nothing else in this folder reads process.env.
 *
 *   ORDERS_GRACE_MS            5000              quiet time after the last change of an order or
 *                                                its items before the order counts as complete
 *   ORDERS_OUTPUT_TOPIC        cio.order-events  where order events go, keyed by customer id
 *   CIO_CDC_MAPPING_FILE       (built-in default mapping)  which tables and columns play which role
 */
import { DEFAULT_MAPPING_FILE } from '../mapping/mapping.ts';
import { OrdersConfigError } from './errors.ts';

export interface OrdersConfig {
  /** Quiet time, in ms of event time, after which an order and its items count as complete. */
  readonly graceMs: number;
  readonly outputTopic: string;
  readonly mappingFile: string;
}

export const ORDERS_DEFAULTS: OrdersConfig = Object.freeze({
  graceMs: 5_000,
  outputTopic: 'cio.order-events',
  mappingFile: DEFAULT_MAPPING_FILE,
});

/** Upper bound of the grace period: one day; a longer hold is a configuration mistake. */
const MAX_GRACE_MS = 86_400_000;

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
  return Object.freeze({ graceMs, outputTopic, mappingFile });
}
