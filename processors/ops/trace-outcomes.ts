/**
 * The outcome of each of a customer's events (and identify records): the furthest stage of the
 * pipeline it reached and why it stopped there. Built from the timeline, free of Kafka.
 *
 * Stages, in order: derived (an order or cart event exists), held or merged (suppression keeps
 * it back), released or passed (suppression let it through), waiting (on the topic the people
 * processor forwards to the outbox) and queued (in the outbox). The final stages are suppressed,
 * delivered, rejected and skipped. A later stage replaces an earlier one, never the reverse.
 */
import type { DecisionRecord } from '../suppression/records.ts';
import { HELD_UNTIL, RELEASE_MOVED, labelOf, reasonTime, shortTime, staleNote, suppressedText } from './trace-explain.ts';
import { coordinatesKey } from './trace-timeline.ts';
import type { TimelineEntry } from './trace-timeline.ts';

export const OUTCOME_STATUSES = ['derived', 'held', 'merged', 'released', 'passed', 'waiting', 'queued', 'suppressed', 'delivered', 'rejected', 'skipped'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

/** How far one event or identify record got. */
export interface Outcome {
  /** Event id, or `<topic>[<partition>]@<offset>` of the outbox record for an identify. */
  readonly key: string;
  readonly event: string;
  readonly eventId: string | null;
  readonly status: OutcomeStatus;
  readonly text: string;
}

const STATUS_RANK: Readonly<Record<OutcomeStatus, number>> = {
  derived: 0,
  held: 1,
  merged: 1,
  released: 2,
  passed: 2,
  waiting: 3,
  queued: 4,
  suppressed: 5,
  delivered: 5,
  rejected: 5,
  skipped: 5,
};

const NOT_DECIDED = 'no release and no suppression recorded yet';

/** An outcome while the book is built: the cart it belongs to, and whether a dead letter names it. */
type OpenOutcome = Outcome & { readonly cartId: string | null; readonly deadLetterTopic: string | null };

class OutcomeBook {
  readonly #outcomes = new Map<string, OpenOutcome>();
  /** Outbox coordinates → outcome key and event time, to link delivery results to their record. */
  readonly #outbox = new Map<string, { key: string; eventTimeMs: number | null }>();

  set(key: string, event: string, eventId: string | null, status: OutcomeStatus, text: string, cartId: string | null = null): void {
    const current = this.#outcomes.get(key);
    if (current !== undefined && STATUS_RANK[status] < STATUS_RANK[current.status]) return;
    this.#outcomes.set(key, { key, event, eventId, status, text, cartId: cartId ?? current?.cartId ?? null, deadLetterTopic: current?.deadLetterTopic ?? null });
  }

  /**
   * Records a dead letter of the outbox record `key`. The sink writes it together with the
   * rejected delivery-log record, and either may carry the later time.
   */
  deadLettered(key: string, event: string, eventId: string | null, topic: string, reason: string | null): void {
    this.set(key, event, eventId, 'rejected', `rejected: ${reason ?? 'no reason given'}`);
    const current = this.#outcomes.get(key);
    if (current !== undefined && current.status === 'rejected') this.#outcomes.set(key, { ...current, deadLetterTopic: topic });
  }

  linkOutbox(coordinates: string, key: string, eventTimeMs: number | null): void {
    this.#outbox.set(coordinates, { key, eventTimeMs });
  }

  /** Finds the outcome key of a delivery result: the outbox record it names, else its event id. */
  resolve(coordinates: string | null, eventId: string | null): { key: string | null; eventTimeMs: number | null } {
    const linked = coordinates === null ? undefined : this.#outbox.get(coordinates);
    return linked ?? { key: eventId ?? coordinates, eventTimeMs: null };
  }

  /** Marks the held cart events of `cartId` other than `newestId` as merged into that newer change. */
  mergeHeld(cartId: string, newestId: string): void {
    for (const outcome of this.#outcomes.values()) {
      if (outcome.cartId === cartId && outcome.status === 'held' && outcome.eventId !== newestId) {
        this.#outcomes.set(outcome.key, { ...outcome, status: 'merged', text: `merged into the newer change ${newestId} of cart ${cartId}, whose outcome decides` });
      }
    }
  }

  list(): Outcome[] {
    return [...this.#outcomes.values()].map(({ cartId: _cartId, deadLetterTopic, ...outcome }) =>
      deadLetterTopic === null ? outcome : { ...outcome, text: `${outcome.text} (dead-lettered to ${deadLetterTopic})` },
    );
  }
}

function recordDecision(book: OutcomeBook, decision: DecisionRecord, timeMs: number): void {
  const { event_name: name, event_id: id, cart_id: cartId } = decision;
  switch (decision.decision) {
    case 'held': {
      const deadlineMs = reasonTime(HELD_UNTIL, decision.reason);
      const until = deadlineMs === null ? '' : ` until ${shortTime(deadlineMs, timeMs)}`;
      book.set(id, name, id, 'held', `still held${until}; ${NOT_DECIDED}`, cartId);
      return;
    }
    case 'coalesced': {
      const movedMs = reasonTime(RELEASE_MOVED, decision.reason);
      if (movedMs !== null && cartId !== null) {
        book.set(id, name, id, 'held', `still held until ${shortTime(movedMs, timeMs)}; ${NOT_DECIDED}`, cartId);
        book.mergeHeld(cartId, id);
      } else if (decision.reason === 'older than the held snapshot') {
        book.set(id, name, id, 'merged', `older than the snapshot already held for cart ${cartId ?? 'unknown'}, so it is never sent on its own`, cartId);
      }
      return;
    }
    case 'suppressed':
      book.set(id, name, id, 'suppressed', suppressedText(decision), cartId);
      return;
    case 'released':
    case 'passed':
      book.set(id, name, id, decision.decision, `${decision.decision} by the suppression processor, but not found on the topics after it`, cartId);
      return;
  }
}

function recordEntry(book: OutcomeBook, entry: TimelineEntry): void {
  const record = entry.record;
  switch (record.kind) {
    case 'event': {
      const { id, name, data } = record.record;
      if (entry.source === 'customerEvents') {
        const text = 'let through; the people processor has not written it to the outbox yet (it holds the events of a customer until that customer is identified)';
        book.set(id, name, id, 'waiting', text);
        return;
      }
      const waiting = entry.source === 'cartEvents' ? 'no suppression decision yet' : 'the suppression processor has not passed it on yet';
      book.set(id, name, id, 'derived', `derived, but ${waiting}`, typeof data['cart_id'] === 'string' ? data['cart_id'] : null);
      return;
    }
    case 'decision':
      recordDecision(book, record.decision, entry.timeMs);
      return;
    case 'outbox': {
      const coordinates = coordinatesKey(entry.topic, entry.partition, entry.offset);
      const outboxRecord = record.record;
      const key = outboxRecord.kind === 'event' ? outboxRecord.id : coordinates;
      book.linkOutbox(coordinates, key, outboxRecord.kind === 'event' ? outboxRecord.timestamp * 1000 : null);
      book.set(key, labelOf(outboxRecord), entry.eventId, 'queued', 'in the outbox; the delivery log has no result for it yet');
      return;
    }
    case 'delivery': {
      const { source, status, reason, eventId } = record.entry;
      // A record written by an older sink may lack its source coordinates.
      const coordinates = (source as typeof source | undefined) === undefined ? null : coordinatesKey(source.topic, source.partition, source.offset);
      const { key, eventTimeMs } = book.resolve(coordinates, eventId);
      if (key === null) return;
      const label = record.entry.name ?? record.entry.kind ?? 'record';
      const stale = status === 'delivered' ? staleNote(eventTimeMs, entry.timeMs) : null;
      const texts = {
        delivered: stale === null ? 'delivered to Customer.io' : `delivered to Customer.io, but ${stale}`,
        rejected: `rejected: ${reason ?? 'no reason given'}`,
        skipped: `not sent: ${reason ?? 'no reason given'}`,
      };
      book.set(key, label, eventId, status, texts[status]);
      return;
    }
    case 'dead-letter': {
      const letter = record.letter;
      const { sourceTopic, sourcePartition, sourceOffset } = letter;
      const coordinates = sourceTopic === null || sourcePartition === null || sourceOffset === null ? null : coordinatesKey(sourceTopic, sourcePartition, sourceOffset);
      const eventId = letter.record?.kind === 'event' ? letter.record.id : null;
      const { key } = book.resolve(coordinates, eventId);
      if (key === null) return;
      book.deadLettered(key, letter.record === null ? 'record' : labelOf(letter.record), eventId, entry.topic, letter.reason);
      return;
    }
    case 'source-row':
    case 'unreadable':
      return;
  }
}

/** Returns, per event id (and per identify record), the furthest stage it reached and why it stopped. */
export function buildOutcomes(entries: readonly TimelineEntry[]): Outcome[] {
  const book = new OutcomeBook();
  for (const entry of entries) recordEntry(book, entry);
  return book.list();
}
