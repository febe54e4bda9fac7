/**
 * Forwarding of customer events to the outbox, each after its customer's first identify.
 *
 * - An event of an identified customer (see isIdentified) updates the rollups and goes out at
 *   once, after the identify those rollups changed.
 * - An event of a customer not identified yet is counted in the rollups and held in stores `held`
 *   and `held-events`. When the customers row arrives, its identify (which already carries those
 *   rollups) goes out first and the held events follow in input order, in the same transaction.
 * - An event-time timer per customer bounds the wait: once stream time reaches the stream time
 *   of the first held event plus the identify wait, the held events go out anyway, after an
 *   identify that carries the rollups alone. That is logged as a warning and counted.
 *
 * Records of one customer go to one outbox partition in the order they are emitted, so the
 * outbox offset order is the order above.
 */
import type { Logger } from 'pino';

import type { EventRecord, IdentifyRecord, OutboxRecord, OutboxSource } from '../customerio/records.ts';
import type { ChangeEvent } from '../debezium/index.ts';
import type { KeyValueStore, Timer, TimerKind, TimerRequest } from '../runtime/index.ts';
import { applyCustomerChange, applyOrderEvent, countOrderEvent, isIdentified, personOrEmpty, withIdentify } from './process.ts';
import type { PeopleRules } from './process.ts';
import type { HeldEvent, HeldIndex, PersonState } from './records.ts';

export interface PeopleStores {
  people: KeyValueStore<PersonState>;
  held: KeyValueStore<HeldIndex>;
  'held-events': KeyValueStore<HeldEvent>;
}

/** The part of the runtime's ProcessorContext this logic uses. */
export interface PeopleContext {
  readonly log: Logger;
  readonly streamTimeMs: number | null;
  store<K extends keyof PeopleStores>(name: K): PeopleStores[K];
  emit(output: 'outbox', record: { key: string; value: OutboxRecord; timestampMs?: number }): void;
  schedule(timer: TimerRequest): void;
  cancel(kind: TimerKind, key: string): boolean;
}

/** Topic, partition and offset a record was read at. */
export interface RecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface ForwardOptions {
  readonly rules: PeopleRules;
  /** Stream time, in ms, that held events wait for the customer's row (PEOPLE_IDENTIFY_WAIT_MS). */
  readonly identifyWaitMs: number;
  /** Called with the number of events sent without the customer's row (a metric in production). */
  readonly onReleasedUnidentified?: (events: number) => void;
}

/** Key of the `index`-th held event of a customer in store `held-events`. */
export function heldEventKey(customerId: string, index: number): string {
  return JSON.stringify([customerId, index]);
}

function emitIdentify(ctx: PeopleContext, identify: IdentifyRecord): void {
  ctx.emit('outbox', { key: identify.customerId, value: identify, timestampMs: identify.timestamp * 1000 });
}

function emitEvent(ctx: PeopleContext, event: EventRecord): void {
  ctx.emit('outbox', { key: event.customerId, value: event, timestampMs: event.timestamp * 1000 });
}

/**
 * Handles one event of the customer events input: counts it in the rollups and forwards it, or
 * holds it while the customer is not identified. `source` is the event's own source with the
 * coordinates people read it at, for the identify it causes.
 */
export function onCustomerEvent(ctx: PeopleContext, event: EventRecord, source: OutboxSource, at: RecordCoordinates, options: ForwardOptions): void {
  const people = ctx.store('people');
  const customerId = event.customerId;
  const previous = people.get(customerId);
  const identified = isIdentified(previous);
  const result = identified ? applyOrderEvent(previous, customerId, event, source, options.rules) : countOrderEvent(previous, customerId, event, options.rules);
  if (result.outcome === 'applied') {
    people.put(customerId, result.state);
  } else if (result.outcome === 'duplicate') {
    ctx.log.info({ ...at, customerId, eventId: event.id, event: event.name }, 'order event counted already; rollups unchanged');
  }

  if (!identified) {
    hold(ctx, event, at, options);
    return;
  }
  if (result.identify !== null) {
    emitIdentify(ctx, result.identify);
  }
  emitEvent(ctx, event);
}

function hold(ctx: PeopleContext, event: EventRecord, at: RecordCoordinates, options: ForwardOptions): void {
  const customerId = event.customerId;
  const held = ctx.store('held');
  const index = held.get(customerId);
  const count = index?.count ?? 0;
  ctx.store('held-events').put(heldEventKey(customerId, count), { record: event, ...at });
  if (index === undefined) {
    // Stream time is set before a record reaches the handler; the event's own time is a fallback.
    const heldSinceMs = ctx.streamTimeMs ?? event.timestamp * 1000;
    const deadlineMs = heldSinceMs + options.identifyWaitMs;
    held.put(customerId, { heldSinceMs, deadlineMs, count: 1 });
    // NOTE: only records move stream time, so on a partition that receives no further record the
    // events stay held past the deadline. There is no wall-clock fallback, because a consumer
    // catching up would fire it before reading customers rows that are already in the topic.
    ctx.schedule({ kind: 'event-time', key: customerId, deadlineMs });
  } else {
    held.put(customerId, { ...index, count: count + 1 });
  }
  ctx.log.debug({ ...at, customerId, eventId: event.id, event: event.name, held: count + 1 }, 'event held until the customer is identified');
}

/** Emits the held events of a customer in input order, deletes them from the stores and cancels the timer. */
function releaseHeld(ctx: PeopleContext, customerId: string, index: HeldIndex): HeldEvent[] {
  const events = ctx.store('held-events');
  const released: HeldEvent[] = [];
  for (let position = 0; position < index.count; position += 1) {
    const key = heldEventKey(customerId, position);
    const entry = events.get(key);
    if (entry === undefined) {
      ctx.log.error({ customerId, position, count: index.count }, 'held event missing from store held-events; it cannot be sent');
      continue;
    }
    events.delete(key);
    emitEvent(ctx, entry.record);
    released.push(entry);
  }
  ctx.store('held').delete(customerId);
  ctx.cancel('event-time', customerId);
  return released;
}

/**
 * Handles one customers change: applies it, emits the identify when an attribute changed, then
 * the events held for that customer, in the same transaction. `source` names the change for the
 * identify.
 */
export function onCustomerChange(ctx: PeopleContext, customerId: string, change: ChangeEvent, source: OutboxSource, at: RecordCoordinates, options: ForwardOptions): void {
  const people = ctx.store('people');
  const result = applyCustomerChange(people.get(customerId), customerId, change, source, options.rules);
  if (result.outcome !== 'applied') {
    ctx.log.info({ ...at, customerId, outcome: result.outcome }, 'person change skipped');
    return;
  }
  people.put(customerId, result.state);
  if (result.identify !== null) {
    emitIdentify(ctx, result.identify);
  }

  const index = ctx.store('held').get(customerId);
  if (index === undefined || !isIdentified(result.state)) {
    return;
  }
  const released = releaseHeld(ctx, customerId, index);
  ctx.log.info(
    { customerId, events: released.length, heldSinceMs: index.heldSinceMs, streamTimeMs: ctx.streamTimeMs },
    'held events sent after the first identify',
  );
}

/**
 * Fires when a customer's held events waited the identify wait in stream time without the
 * customers row: sends an identify with the rollups alone, then the events.
 */
export function onIdentifyWaitExpired(ctx: PeopleContext, timer: Timer, options: ForwardOptions): void {
  const customerId = timer.key;
  const index = ctx.store('held').get(customerId);
  if (index === undefined || index.deadlineMs !== timer.deadlineMs) {
    return;
  }
  const first = ctx.store('held-events').get(heldEventKey(customerId, 0));
  const last = ctx.store('held-events').get(heldEventKey(customerId, index.count - 1));
  if (last !== undefined) {
    const people = ctx.store('people');
    const { record, ...at } = last;
    const result = withIdentify(personOrEmpty(people.get(customerId), customerId), record.timestamp, record.origin ?? 'live', { ...(record.source ?? {}), ...at });
    people.put(customerId, result.state);
    if (result.identify !== null) {
      emitIdentify(ctx, result.identify);
    }
  }
  const released = releaseHeld(ctx, customerId, index);
  options.onReleasedUnidentified?.(released.length);
  ctx.log.warn(
    {
      customerId,
      events: released.length,
      identifyWaitMs: options.identifyWaitMs,
      heldSinceMs: index.heldSinceMs,
      deadlineMs: index.deadlineMs,
      streamTimeMs: ctx.streamTimeMs,
      firstEventId: first?.record.id,
      firstEvent: first?.record.name,
      topic: first?.topic,
      partition: first?.partition,
      offset: first?.offset,
    },
    'customers row not seen within the identify wait; held events sent without the profile',
  );
}
