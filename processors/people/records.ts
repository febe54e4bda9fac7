/**
 * State and output types of the people processor.
 *
 * Store `people` (key: customer id) holds one PersonState. Stores `held` and `held-events` keep
 * the events of customers not identified yet (HeldIndex, HeldEvent). Output `cio.outbox` (key:
 * customer id) carries the forwarded EventRecords and IdentifyRecords
 * (processors/customerio/records.ts) with the full attribute set:
 *
 *   {"kind":"identify","customerId":"501","timestamp":1721050200,"origin":"live",
 *    "attributes":{"email":"mei@example.net","phone":null,"first_name":"Mei","last_name":null,
 *      "created_at":1704121200,"sms_opt_in":true,"total_orders":1,"lifetime_value":59.8,
 *      "first_order_at":1721050200,"last_order_at":1721050200,"last_category":"socks"}}
 */
import type { EventRecord } from '../customerio/records.ts';

/** Attributes from the customers row. Times are unix seconds. */
export interface Profile {
  readonly email: string | null;
  readonly phone: string | null;
  readonly first_name: string | null;
  readonly last_name: string | null;
  readonly created_at: number | null;
  readonly sms_opt_in: boolean | null;
}

/** Rollups over the customer's order events. Money is an exact decimal string. */
export interface Rollups {
  readonly total_orders: number;
  readonly lifetime_value: string;
  readonly first_order_at: number | null;
  readonly last_order_at: number | null;
  readonly last_category: string | null;
}

export interface PersonState {
  readonly customerId: string;
  /** Null until the customers row arrives. */
  readonly profile: Profile | null;
  /** The customers row was deleted: nothing more is sent for this person. */
  readonly deleted: boolean;
  readonly rollups: Rollups;
  /** Ids of order events already counted, oldest first. */
  readonly seenEventIds: readonly string[];
  /** Binlog positions of recently applied customers changes, newest last. */
  readonly recentPositions: readonly string[];
  /** JSON of the attributes last sent, or null before the first identify. */
  readonly sentAttributes: string | null;
}

/**
 * Events of one customer held until the customer's first identify (store `held`, key: customer
 * id). The events themselves are in store `held-events`, one entry per event, so no store value
 * grows with the number of events.
 */
export interface HeldIndex {
  /** Stream time, epoch ms, when the first of these events was held. */
  readonly heldSinceMs: number;
  /** Stream time, epoch ms, at which the events go out without an identify. */
  readonly deadlineMs: number;
  /** Number of held events, stored under heldEventKey(customer id, 0 … count − 1) of forward.ts. */
  readonly count: number;
}

/** One held event with the input coordinates it was read at (store `held-events`). */
export interface HeldEvent {
  readonly record: EventRecord;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}
