/**
 * State and output types of the suppression processor.
 *
 * Stores (all changelog-backed, per task):
 *   customers   customer id → CustomerState (held events and recent orders)
 *   watermarks  input name  → InputWatermark (largest event time read from that input)
 *   due         timer key   → DueEntry (held events whose deadline the runtime's stream time
 *                              or the wall clock passed, waiting for the slower input)
 *   producers   "<input>/<application id>" → ProducerProgress (the last progress record of
 *                              each task of a processor that writes that input)
 *
 * Example decision record on cio.suppression-decisions (key "512"):
 *   {"decision":"suppressed","event_name":"checkout_started","event_id":"0F…","cart_id":"3010",
 *    "order_id":"1017","event_time":1721034000000,"decided_at_stream_time":1721035200000,
 *    "reason":"order placed during the hold"}
 * Times are epoch milliseconds.
 */
import type { EventRecord } from '../customerio/records.ts';

export type HeldKind = 'checkout_started' | 'cart_updated';

/** One held cart event. */
export interface HeldEvent {
  /** Unique per customer: `checkout:<event id>` or `cart:<cart id>` (debounce per cart). */
  readonly heldKey: string;
  readonly kind: HeldKind;
  readonly cartId: string | null;
  /** Event time of the first change in this hold; an order at or after it suppresses the hold. */
  readonly firstTimeMs: number;
  /** Event time of the newest change (the snapshot carried). */
  readonly timeMs: number;
  /** Release time: timeMs + window. */
  readonly deadlineMs: number;
  /** The record released as is: the newest snapshot. */
  readonly record: EventRecord;
  /** Changes merged into this hold after the first. */
  readonly coalesced: number;
}

/** An order_placed the customer made, kept for the quiet period and for late cart events. */
export interface OrderMark {
  readonly orderId: string;
  readonly timeMs: number;
}

export interface CustomerState {
  readonly held: readonly HeldEvent[];
  readonly orders: readonly OrderMark[];
}

export interface InputWatermark {
  readonly maxEventTimeMs: number;
}

/** Content of one producer task's last progress record (processors/progress/records.ts). */
export interface TaskReport {
  readonly idle: boolean;
  readonly watermarkMs: number | null;
}

export interface ProducerProgress {
  /** Task count of the producer, from its latest record. */
  readonly tasks: number;
  /** Last report per task number; a task absent here has not reported yet. */
  readonly reports: Readonly<Record<string, TaskReport>>;
}

export interface DueEntry {
  readonly customerId: string;
  readonly heldKey: string;
  readonly deadlineMs: number;
}

export const DECISIONS = ['held', 'coalesced', 'released', 'suppressed', 'passed'] as const;
export type DecisionKind = (typeof DECISIONS)[number];

export interface DecisionRecord {
  readonly decision: DecisionKind;
  readonly event_name: string;
  readonly event_id: string;
  readonly cart_id: string | null;
  readonly order_id?: string;
  /** Event time of the event decided on, epoch ms. */
  readonly event_time: number;
  /** The task's stream time when the decision was made, epoch ms (null before any record). */
  readonly decided_at_stream_time: number | null;
  readonly reason: string;
}

/** Payload of the timers of one held event. */
export interface HoldTimerPayload {
  readonly customerId: string;
  readonly heldKey: string;
  [key: string]: string;
}
