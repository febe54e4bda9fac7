/**
 * In-memory workspace of the stand-in: people with their attributes and events, the log of every
 * Track API call in arrival order, and counters.
 *
 * People are found the way Customer.io finds them: by `id`, by `email` (case-insensitive) or by
 * `cio_id`. A value given in a URL path has no type, so its type is inferred from its shape:
 * email-shaped means email, a `cio_` prefix means cio_id, anything else is an id.
 */

import { CONTROL_ATTRIBUTES, isUnixSeconds } from './limits.ts';

export type IdentifierType = 'id' | 'email' | 'cio_id' | 'phone';

export interface Identifier {
  type: IdentifierType;
  value: string;
}

export interface StoredEvent {
  name: string;
  id: string;
  /** Unix seconds; the receipt time when the call's timestamp was missing or not unix seconds. */
  timestamp: number;
  /** Receipt time, unix seconds. */
  receivedAt: number;
  timestampReplaced: boolean;
  /** The timestamp as sent, when it was replaced. */
  sentTimestamp?: unknown;
  data: Record<string, unknown>;
  api: 'v1' | 'v2';
}

export interface Person {
  cioId: string;
  id: string | null;
  email: string | null;
  attributes: Record<string, unknown>;
  events: StoredEvent[];
  /** Unix seconds. */
  createdAt: number;
  updatedAt: number;
  /** False while the person only exists because an event arrived for an unknown identifier. */
  identified: boolean;
}

/** Something the stand-in noticed about a call that Customer.io would not report in the response. */
export interface CallFlag {
  flag:
    | 'timestamp_replaced'
    | 'timestamp_missing'
    | 'duplicate_event_id'
    | 'event_before_identify'
    | 'non_unix_attribute'
    | 'attribute_update_failure'
    | 'update_only_no_match'
    | 'unknown_cio_id';
  batchIndex?: number;
  field?: string;
  detail?: string;
}

export interface CallRecord {
  /** Position in arrival order, from 1. */
  sequence: number;
  /** Arrival time by the stand-in's clock, epoch milliseconds. */
  receivedAtMs: number;
  method: string;
  path: string;
  status: number;
  /** Person addressed by a v1 call. */
  identifier?: Identifier;
  requestBody: unknown;
  responseBody: unknown;
  /** Set when an injected fault produced the response. */
  fault?: string;
  retryAfter?: string;
  flags: CallFlag[];
}

export interface StandinStats {
  calls: number;
  callsByStatus: Record<string, number>;
  people: number;
  events: number;
  duplicateEventIds: number;
  timestampsReplaced: number;
  faultsInjected: number;
  rateLimited: number;
  unauthorized: number;
}

const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Infers the identifier type of a value found in a URL path, as Customer.io does. */
export function inferIdentifier(value: string): Identifier {
  if (EMAIL_SHAPE.test(value)) return { type: 'email', value };
  if (value.startsWith('cio_')) return { type: 'cio_id', value: value.slice('cio_'.length) };
  return { type: 'id', value };
}

export interface IdentifyOutcome {
  flags: CallFlag[];
}

export class StandinStore {
  #people: Person[] = [];
  #calls: CallRecord[] = [];
  #seenEventIds = new Set<string>();
  #nextCioId = 1;
  #counters = { duplicateEventIds: 0, timestampsReplaced: 0, faultsInjected: 0, rateLimited: 0, unauthorized: 0 };

  /** Finds a person by identifier; emails match case-insensitively. */
  find(identifier: Identifier): Person | undefined {
    switch (identifier.type) {
      case 'id':
        return this.#people.find((person) => person.id === identifier.value);
      case 'email': {
        const email = identifier.value.toLowerCase();
        return this.#people.find((person) => person.email?.toLowerCase() === email);
      }
      case 'cio_id':
        return this.#people.find((person) => person.cioId === identifier.value);
      case 'phone':
        return this.#people.find((person) => person.attributes['phone'] === identifier.value);
    }
  }

  /**
   * Applies an identify, as an email-or-id workspace does. Creates the person unless `_update` is
   * true or the identifier is an unknown cio_id (Customer.io drops those). An unknown id whose
   * email belongs to a person without an id gives that person the id. An email that belongs to
   * another person fails the whole update, which Customer.io reports only in its activity log.
   */
  identify(identifier: Identifier, attributes: Record<string, unknown>, nowSeconds: number): IdentifyOutcome {
    const flags: CallFlag[] = [];
    let person = this.find(identifier);

    if (person === undefined) {
      if (attributes['_update'] === true) return { flags: [{ flag: 'update_only_no_match', detail: 'no person matched and _update is true, so nothing was created' }] };
      if (identifier.type === 'cio_id') return { flags: [{ flag: 'unknown_cio_id', detail: 'no person has this cio_id; the call was dropped' }] };
    }

    const email = attributes['email'];
    if (typeof email === 'string' && email !== '') {
      const owner = this.find({ type: 'email', value: email });
      if (person === undefined && owner !== undefined && owner.id === null && identifier.type === 'id') {
        // An unknown id with the email of a person who has no id: that person takes the id.
        owner.id = identifier.value;
        person = owner;
      } else if (owner !== undefined && owner !== person) {
        return { flags: [{ flag: 'attribute_update_failure', field: 'email', detail: 'the email belongs to another person; nothing was changed' }] };
      }
    }

    person ??= this.#create(identifier, nowSeconds);
    person.identified = true;
    for (const [name, value] of Object.entries(attributes)) {
      if (CONTROL_ATTRIBUTES.has(name)) continue;
      if (name === 'id') continue;
      person.attributes[name] = value;
      if (name.endsWith('_at') && value !== null && !isUnixSeconds(value)) {
        flags.push({ flag: 'non_unix_attribute', field: name, detail: 'stored as sent, but segments that compare dates will not match it' });
      }
    }
    if (typeof email === 'string' && email !== '') person.email = email;
    person.updatedAt = nowSeconds;
    return { flags };
  }

  /**
   * Records an event. A repeated event id is dropped and counted. An event for an unknown
   * identifier creates the person, flagged, so tests can see an event that overtook its identify.
   */
  addEvent(identifier: Identifier, event: StoredEvent): { flags: CallFlag[] } {
    const flags: CallFlag[] = [];
    if (event.timestampReplaced) {
      this.#counters.timestampsReplaced += 1;
      flags.push({ flag: event.sentTimestamp === undefined ? 'timestamp_missing' : 'timestamp_replaced', field: 'timestamp', detail: `replaced by the receipt time ${event.receivedAt}` });
    }
    if (this.#seenEventIds.has(event.id)) {
      this.#counters.duplicateEventIds += 1;
      flags.push({ flag: 'duplicate_event_id', field: 'id', detail: `event id ${event.id} was seen before; the event was dropped` });
      return { flags };
    }

    let person = this.find(identifier);
    if (person === undefined && identifier.type === 'cio_id') {
      flags.push({ flag: 'unknown_cio_id', detail: 'no person has this cio_id; the event was dropped' });
      return { flags };
    }
    if (person === undefined || !person.identified) {
      flags.push({ flag: 'event_before_identify', detail: 'no identify had been received for this person' });
    }
    person ??= this.#create(identifier, event.receivedAt);

    this.#seenEventIds.add(event.id);
    person.events.push(event);
    person.updatedAt = event.receivedAt;
    return { flags };
  }

  /** Deletes a person. Returns false when no person matched. */
  delete(identifier: Identifier): boolean {
    const person = this.find(identifier);
    if (person === undefined) return false;
    this.#people = this.#people.filter((candidate) => candidate !== person);
    return true;
  }

  recordCall(call: Omit<CallRecord, 'sequence'>): CallRecord {
    const record = { sequence: this.#calls.length + 1, ...call };
    this.#calls.push(record);
    if (call.fault !== undefined) this.#counters.faultsInjected += 1;
    if (call.fault === 'rate_limit') this.#counters.rateLimited += 1;
    if (call.status === 401) this.#counters.unauthorized += 1;
    return record;
  }

  people(): Person[] {
    return structuredClone(this.#people);
  }

  person(identifier: Identifier): Person | undefined {
    const person = this.find(identifier);
    return person === undefined ? undefined : structuredClone(person);
  }

  calls(): CallRecord[] {
    return structuredClone(this.#calls);
  }

  stats(): StandinStats {
    const callsByStatus: Record<string, number> = {};
    for (const call of this.#calls) callsByStatus[call.status] = (callsByStatus[call.status] ?? 0) + 1;
    return {
      calls: this.#calls.length,
      callsByStatus,
      people: this.#people.length,
      events: this.#people.reduce((sum, person) => sum + person.events.length, 0),
      ...this.#counters,
    };
  }

  /** Forgets all people, events, seen event ids, calls and counters. */
  reset(): void {
    this.#people = [];
    this.#calls = [];
    this.#seenEventIds = new Set();
    this.#nextCioId = 1;
    this.#counters = { duplicateEventIds: 0, timestampsReplaced: 0, faultsInjected: 0, rateLimited: 0, unauthorized: 0 };
  }

  #create(identifier: Identifier, nowSeconds: number): Person {
    const person: Person = {
      cioId: (this.#nextCioId++).toString(16).padStart(8, '0'),
      id: identifier.type === 'id' ? identifier.value : null,
      email: identifier.type === 'email' ? identifier.value : null,
      attributes: {},
      events: [],
      createdAt: nowSeconds,
      updatedAt: nowSeconds,
      identified: false,
    };
    this.#people.push(person);
    return person;
  }
}
