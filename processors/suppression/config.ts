/**
 * Configuration of the suppression processor, parsed once from the environment into a frozen
 * object. Runtime settings (brokers, application id, timers) belong to the runtime; the one
 * runtime value read here is the timer lateness bound, which the wall-clock release rule and the
 * held-past-window gauge share with the runtime.
 */
import { readInteger, readText } from '../runtime/env.ts';
import type { Environment } from '../runtime/env.ts';
import { SuppressionConfigError } from './errors.ts';

const invalid = (variable: string, message: string) => new SuppressionConfigError(variable, message);

export interface SuppressionConfig {
  /** Input: cart_updated and checkout_started EventRecords keyed by customer id. */
  readonly cartEventsTopic: string;
  /** Input: order and refund EventRecords keyed by customer id, co-partitioned with the cart events. */
  readonly orderEventsTopic: string;
  /**
   * Output: released cart events and every order event, outbox contract, keyed by customer id.
   * The people processor reads it and forwards each event to the outbox after the customer's
   * identify.
   */
  readonly customerEventsTopic: string;
  /** Output: one JSON decision per held, coalesced, released, suppressed or passed event. */
  readonly decisionsTopic: string;
  /** How long a cart event is held (checkout_started) or must stay unchanged (cart_updated). */
  readonly windowMs: number;
  /** Cart events whose event time falls this long after one of the customer's orders are dropped. */
  readonly quietMs: number;
  /**
   * Wall-clock time after which an input that delivered nothing stops holding the watermark
   * back. Measured from the input's last record, or from the task's start.
   */
  readonly idleInputMs: number;
  /** The runtime's CIO_CDC_TIMER_LATENESS_BOUND_MS: how far past a deadline the wall clock must be. */
  readonly latenessBoundMs: number;
  /** Orders remembered per customer for the quiet period and for late cart events. */
  readonly ordersPerCustomer: number;
  readonly names: EventNames;
}

export interface EventNames {
  readonly cartUpdated: string;
  readonly checkoutStarted: string;
  readonly orderPlaced: string;
}

export const SUPPRESSION_CONFIG_KEYS = [
  { variable: 'CIO_CDC_CART_EVENTS_TOPIC', default: 'cio.cart-events', unit: 'topic' },
  { variable: 'CIO_CDC_ORDER_EVENTS_TOPIC', default: 'cio.order-events', unit: 'topic' },
  { variable: 'CIO_CDC_CUSTOMER_EVENTS_TOPIC', default: 'cio.customer-events', unit: 'topic' },
  { variable: 'CIO_CDC_SUPPRESSION_DECISIONS_TOPIC', default: 'cio.suppression-decisions', unit: 'topic' },
  { variable: 'SUPPRESSION_WINDOW_MS', default: '1800000', unit: 'ms' },
  { variable: 'SUPPRESSION_QUIET_MS', default: '(SUPPRESSION_WINDOW_MS)', unit: 'ms' },
  { variable: 'SUPPRESSION_IDLE_INPUT_MS', default: '60000', unit: 'ms' },
  { variable: 'SUPPRESSION_ORDERS_PER_CUSTOMER', default: '16', unit: 'count' },
  { variable: 'CIO_CDC_TIMER_LATENESS_BOUND_MS', default: '300000', unit: 'ms' },
] as const;


export function parseSuppressionConfig(env: Environment): SuppressionConfig {
  const windowMs = readInteger(env, 'SUPPRESSION_WINDOW_MS', 30 * 60_000, 1, invalid);
  const config: SuppressionConfig = {
    cartEventsTopic: readText(env, 'CIO_CDC_CART_EVENTS_TOPIC', 'cio.cart-events'),
    orderEventsTopic: readText(env, 'CIO_CDC_ORDER_EVENTS_TOPIC', 'cio.order-events'),
    customerEventsTopic: readText(env, 'CIO_CDC_CUSTOMER_EVENTS_TOPIC', 'cio.customer-events'),
    decisionsTopic: readText(env, 'CIO_CDC_SUPPRESSION_DECISIONS_TOPIC', 'cio.suppression-decisions'),
    windowMs,
    quietMs: readInteger(env, 'SUPPRESSION_QUIET_MS', windowMs, 0, invalid),
    idleInputMs: readInteger(env, 'SUPPRESSION_IDLE_INPUT_MS', 60_000, 1, invalid),
    latenessBoundMs: readInteger(env, 'CIO_CDC_TIMER_LATENESS_BOUND_MS', 300_000, 0, invalid),
    ordersPerCustomer: readInteger(env, 'SUPPRESSION_ORDERS_PER_CUSTOMER', 16, 1, invalid),
    names: Object.freeze({ cartUpdated: 'cart_updated', checkoutStarted: 'checkout_started', orderPlaced: 'order_placed' }),
  };
  if (config.cartEventsTopic === config.orderEventsTopic) {
    throw new SuppressionConfigError(
      'CIO_CDC_ORDER_EVENTS_TOPIC',
      `must differ from CIO_CDC_CART_EVENTS_TOPIC (both are ${JSON.stringify(config.cartEventsTopic)})`,
    );
  }
  if (config.customerEventsTopic === config.decisionsTopic) {
    throw new SuppressionConfigError(
      'CIO_CDC_SUPPRESSION_DECISIONS_TOPIC',
      `must differ from CIO_CDC_CUSTOMER_EVENTS_TOPIC (both are ${JSON.stringify(config.customerEventsTopic)})`,
    );
  }
  return Object.freeze(config);
}

export function loadSuppressionConfig(env: Environment = process.env): SuppressionConfig {
  return parseSuppressionConfig(env);
}
