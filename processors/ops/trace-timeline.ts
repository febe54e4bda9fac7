/**
 * Turns one customer's trace records into a time-ordered timeline, one sentence per record
 * (trace-explain.ts). Free of Kafka.
 *
 * Times: a source row at its commit time; an order or cart event at its event time. A
 * suppression decision is placed in event time, so the timeline reads the same whether the
 * processor decided live or while catching up. Held, coalesced and passed go at the event's time,
 * suppressed at the later of the event's and the suppressing order's time, and released at the
 * hold's deadline. The stream time of the decision stays in the JSON record (`decided_at_stream_time`)
 * and is the fallback when the order or the deadline is not in the trace. A let-through event and
 * an outbox event are placed at their event time, or at the time of the decision that let them
 * through when that is later (a released cart event keeps its original timestamp). A delivery-log
 * record is placed at the time the sink knew the result, a dead letter at its failed-at header.
 * Records of equal time keep pipeline order (source, derived event, decision, let-through event,
 * outbox, delivery, dead letter), then offset order.
 */
import type { DecisionRecord } from '../suppression/records.ts';
import type { TraceSource } from './trace-config.ts';
import {
  HELD_UNTIL,
  RELEASE_MOVED,
  explainDeadLetter,
  explainDecision,
  explainDelivery,
  explainDerivedEvent,
  explainLetThrough,
  explainOutbox,
  explainSourceRow,
  labelOf,
  reasonTime,
  staleNote,
} from './trace-explain.ts';
import type { TraceRecord } from './trace-records.ts';

export interface TimelineEntry {
  readonly timeMs: number;
  readonly source: TraceSource;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Event name, `identify`, or null for a source row or an unreadable record. */
  readonly event: string | null;
  readonly eventId: string | null;
  readonly text: string;
  readonly record: TraceRecord;
}

const STAGE_RANK: Readonly<Record<TraceSource, number>> = {
  customers: 0,
  orderEvents: 1,
  cartEvents: 1,
  decisions: 2,
  customerEvents: 3,
  outbox: 4,
  deliveryLog: 5,
  deadLetter: 6,
};

/** `<topic>[<partition>]@<offset>`: how delivery-log records and dead letters name an outbox record. */
export function coordinatesKey(topic: string, partition: number, offset: string): string {
  return `${topic}[${partition}]@${offset}`;
}

/** Facts from the other records that placing and describing one record need. */
interface TimelineContext {
  /** Order id → event time of its order_placed. */
  readonly orderPlacedMs: ReadonlyMap<string, number>;
  /** Event id → latest release deadline its held or coalesced decisions name. */
  readonly deadlineMs: ReadonlyMap<string, number>;
  /** Event id → time of the suppression decision that released or passed it. */
  readonly letThroughMs: ReadonlyMap<string, number>;
  /** Outbox coordinates → event time of the event record there, epoch ms. */
  readonly outboxEventTimeMs: ReadonlyMap<string, number>;
}

interface Described {
  readonly timeMs: number;
  readonly event: string | null;
  readonly eventId: string | null;
  readonly text: string;
}

function notBefore(timeMs: number, eventId: string | null, context: TimelineContext): number {
  const decidedMs = eventId === null ? undefined : context.letThroughMs.get(eventId);
  return decidedMs === undefined ? timeMs : Math.max(timeMs, decidedMs);
}

function describe(record: TraceRecord, context: TimelineContext): Described {
  const at = record.at;
  switch (record.kind) {
    case 'source-row':
      return { timeMs: record.change.committedAtMs ?? at.timestampMs, event: null, eventId: null, text: explainSourceRow(record.change) };
    case 'event': {
      const { name, id, timestamp } = record.record;
      if (at.source === 'customerEvents') {
        return { timeMs: notBefore(timestamp * 1000, id, context), event: name, eventId: id, text: explainLetThrough(record.record) };
      }
      return { timeMs: timestamp * 1000, event: name, eventId: id, text: explainDerivedEvent(record.record) };
    }
    case 'decision': {
      const timeMs = decisionTime(record.decision, context);
      return { timeMs, event: record.decision.event_name, eventId: record.decision.event_id, text: explainDecision(record.decision, timeMs) };
    }
    case 'outbox': {
      const eventId = record.record.kind === 'event' ? record.record.id : null;
      return { timeMs: notBefore(record.record.timestamp * 1000, eventId, context), event: labelOf(record.record), eventId, text: explainOutbox(record.record) };
    }
    case 'delivery': {
      const entry = record.entry;
      const parsedMs = Date.parse(entry.at);
      const timeMs = Number.isNaN(parsedMs) ? at.timestampMs : parsedMs;
      const source = entry.source as typeof entry.source | undefined;
      const eventTimeMs = source === undefined ? undefined : context.outboxEventTimeMs.get(coordinatesKey(source.topic, source.partition, source.offset));
      const stale = entry.status === 'delivered' ? staleNote(eventTimeMs ?? null, timeMs) : null;
      return { timeMs, event: entry.name ?? entry.kind, eventId: entry.eventId, text: explainDelivery(entry, stale) };
    }
    case 'dead-letter': {
      const original = record.letter.record;
      return {
        timeMs: record.letter.failedAtMs ?? at.timestampMs,
        event: original === null ? null : labelOf(original),
        eventId: original?.kind === 'event' ? original.id : null,
        text: explainDeadLetter(record.letter, at.topic),
      };
    }
    case 'unreadable':
      return { timeMs: at.timestampMs, event: null, eventId: null, text: `unreadable record at offset ${at.offset}: ${record.problem}` };
  }
}

/** Returns the event time at which a decision took effect (see the file comment). */
function decisionTime(decision: DecisionRecord, context: Omit<TimelineContext, 'letThroughMs' | 'outboxEventTimeMs'>): number {
  const fallbackMs = decision.decided_at_stream_time ?? decision.event_time;
  switch (decision.decision) {
    case 'held':
    case 'coalesced':
    case 'passed':
      return decision.event_time;
    case 'suppressed': {
      const orderMs = decision.order_id === undefined ? undefined : context.orderPlacedMs.get(decision.order_id);
      return orderMs === undefined ? fallbackMs : Math.max(decision.event_time, orderMs);
    }
    case 'released':
      return context.deadlineMs.get(decision.event_id) ?? fallbackMs;
  }
}

function keepMax(map: Map<string, number>, key: string, value: number): void {
  map.set(key, Math.max(value, map.get(key) ?? value));
}

function contextOf(records: readonly TraceRecord[]): TimelineContext {
  const orderPlacedMs = new Map<string, number>();
  const deadlineMs = new Map<string, number>();
  const outboxEventTimeMs = new Map<string, number>();
  for (const record of records) {
    if (record.kind === 'event' && record.at.source === 'orderEvents' && record.record.name === 'order_placed') {
      const orderId = record.record.data['order_id'];
      if (typeof orderId === 'string' || typeof orderId === 'number') orderPlacedMs.set(String(orderId), record.record.timestamp * 1000);
    }
    if (record.kind === 'decision') {
      const deadline = reasonTime(HELD_UNTIL, record.decision.reason) ?? reasonTime(RELEASE_MOVED, record.decision.reason);
      if (deadline !== null) keepMax(deadlineMs, record.decision.event_id, deadline);
    }
    if (record.kind === 'outbox' && record.record.kind === 'event') {
      outboxEventTimeMs.set(coordinatesKey(record.at.topic, record.at.partition, record.at.offset), record.record.timestamp * 1000);
    }
  }
  const letThroughMs = new Map<string, number>();
  for (const record of records) {
    if (record.kind === 'decision' && (record.decision.decision === 'released' || record.decision.decision === 'passed')) {
      keepMax(letThroughMs, record.decision.event_id, decisionTime(record.decision, { orderPlacedMs, deadlineMs }));
    }
  }
  return { orderPlacedMs, deadlineMs, letThroughMs, outboxEventTimeMs };
}

function compareEntries(a: TimelineEntry, b: TimelineEntry): number {
  if (a.timeMs !== b.timeMs) return a.timeMs - b.timeMs;
  const stage = STAGE_RANK[a.source] - STAGE_RANK[b.source];
  if (stage !== 0) return stage;
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  const offset = BigInt(a.offset) - BigInt(b.offset);
  if (offset === 0n) return 0;
  return offset < 0n ? -1 : 1;
}

/** Builds the time-ordered timeline of one customer's records. */
export function buildTimeline(records: readonly TraceRecord[]): TimelineEntry[] {
  const context = contextOf(records);
  const entries = records.map((record): TimelineEntry => ({
    ...describe(record, context),
    source: record.at.source,
    topic: record.at.topic,
    partition: record.at.partition,
    offset: record.at.offset,
    record,
  }));
  return entries.sort(compareEntries);
}
