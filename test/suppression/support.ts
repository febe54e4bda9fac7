// Helpers for the suppression stack tests: per-test topics, EventRecords, tick records that
// move every input partition's event time forward, and readers of the outputs.
import type { Message } from 'kafkajs';

import type { EventRecord } from '../../processors/customerio/records.ts';
import { parseSuppressionConfig } from '../../processors/suppression/config.ts';
import type { SuppressionConfig } from '../../processors/suppression/config.ts';
import type { DecisionRecord } from '../../processors/suppression/records.ts';
import { createTopics, readTopic, uniqueName } from '../runtime/helpers.ts';

export const PARTITIONS = 3;
export const MINUTE = 60_000;
export const T0 = Date.parse('2024-07-15T09:00:00Z');
export const at = (minutes: number): number => T0 + minutes * MINUTE;

export interface TestTopics {
  readonly carts: string;
  readonly orders: string;
  /** The suppression output (CIO_CDC_CUSTOMER_EVENTS_TOPIC), which people forwards to the outbox. */
  readonly outbox: string;
  readonly decisions: string;
}

/** Input topics with the same partition count, and names for the outputs the runtime creates. */
export async function testTopics(prefix: string): Promise<TestTopics> {
  const topics = {
    carts: uniqueName(`${prefix}-carts`),
    orders: uniqueName(`${prefix}-orders`),
    outbox: uniqueName(`${prefix}-outbox`),
    decisions: uniqueName(`${prefix}-decisions`),
  };
  await createTopics([
    { topic: topics.carts, partitions: PARTITIONS },
    { topic: topics.orders, partitions: PARTITIONS },
  ]);
  return topics;
}

export function outputTopics(topics: TestTopics, suffix: string): TestTopics {
  return { ...topics, outbox: `${topics.outbox}-${suffix}`, decisions: `${topics.decisions}-${suffix}` };
}

export function suppressionEnv(topics: TestTopics): Record<string, string> {
  return {
    CIO_CDC_CART_EVENTS_TOPIC: topics.carts,
    CIO_CDC_ORDER_EVENTS_TOPIC: topics.orders,
    CIO_CDC_CUSTOMER_EVENTS_TOPIC: topics.outbox,
    CIO_CDC_SUPPRESSION_DECISIONS_TOPIC: topics.decisions,
    SUPPRESSION_WINDOW_MS: String(60 * MINUTE),
    // Long enough that no input turns idle during a test: releases follow event time only.
    SUPPRESSION_IDLE_INPUT_MS: '600000',
  };
}

export function suppressionConfig(topics: TestTopics): SuppressionConfig {
  return parseSuppressionConfig(suppressionEnv(topics));
}

export function event(customerId: string, name: string, id: string, timeMs: number, data: Record<string, string>): EventRecord {
  return { kind: 'event', customerId, name, id, timestamp: timeMs / 1000, data, origin: 'live' };
}

export function message(record: EventRecord): Message {
  return { key: record.customerId, value: JSON.stringify(record), timestamp: String(record.timestamp * 1000) };
}

/**
 * One record per partition far in the future, so every input's event time passes every
 * deadline of the test. Cart ticks are held checkouts and order ticks pass through; both
 * belong to customer "tick" and are filtered out by the assertions.
 */
export function ticks(kind: 'carts' | 'orders', timeMs: number): Message[] {
  return Array.from({ length: PARTITIONS }, (_, partition) => {
    const record =
      kind === 'carts'
        ? event('tick', 'checkout_started', `tick-checkout-${partition}-${timeMs}`, timeMs, { cart_id: `tick-${partition}` })
        : event('tick', 'order_paid', `tick-order-${partition}-${timeMs}`, timeMs, { order_id: `tick-${partition}` });
    return { ...message(record), partition };
  });
}

export async function readOutbox(topic: string, expected: number): Promise<EventRecord[]> {
  const records = await readTopic(topic, { expected, timeoutMs: 150_000 });
  return records.map((record) => JSON.parse(record.value!) as EventRecord);
}

export async function readDecisions(topic: string, expected: number): Promise<(DecisionRecord & { key: string })[]> {
  const records = await readTopic(topic, { expected, timeoutMs: 150_000 });
  return records.map((record) => ({ key: record.key!, ...(JSON.parse(record.value!) as DecisionRecord) }));
}

/**
 * Reads the decision topic until `complete` accepts what is there. Each task commits its own
 * transactions, so a complete outbox does not mean every task has committed its last decision:
 * a hold suppressed at release writes a decision and nothing to the outbox.
 */
export async function readDecisionsUntil(
  topic: string,
  complete: (decisions: (DecisionRecord & { key: string })[]) => boolean,
  timeoutMs = 150_000,
): Promise<(DecisionRecord & { key: string })[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const decisions = await readDecisions(topic, 0);
    if (complete(decisions)) {
      return decisions;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms reading ${topic}: ${decisions.length} decisions do not yet hold the expected ones`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
