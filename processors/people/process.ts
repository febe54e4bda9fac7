/**
 * Pure logic of the people processor: apply a customers change or an order event to a person's
 * state, and build the identify record when an attribute changed. No Kafka here.
 *
 * Rules:
 * - Person id = customer id as text. An id that looks like an email address or starts with
 *   `cio_` is rejected (dead-lettered): email and phone are attributes, never the id.
 * - An identify carries the full current attribute set and goes out only when that set differs
 *   from the one last sent. Its timestamp is the source time in unix seconds.
 * - sms_opt_in is a boolean: any non-zero number is true, as in MySQL.
 * - lifetime_value = Σ order totals − Σ refund amounts, exact. A refund amount may be stored
 *   positive or negative; its absolute value is the money returned.
 * - An order event is counted once per event id.
 * - Snapshot reads update state; their identify carries origin 'snapshot'.
 * - A person counts as identified once an identify went out or the customers row was deleted.
 *   Until then, events are counted but no identify is built for them (see forward.ts).
 */
import { Decimal } from 'decimal.js';

import type { EventRecord, IdentifyRecord, JsonObject, JsonValue, OutboxSource, RecordOrigin } from '../customerio/records.ts';
import { Instant } from '../debezium/index.ts';
import type { ChangeEvent, ColumnValue, Row } from '../debezium/index.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { PersonIdRejectedError } from './errors.ts';
import type { PersonRecordCoordinates } from './errors.ts';
import type { PersonState, Profile, Rollups } from './records.ts';

export interface PeopleRules {
  readonly columns: {
    readonly id: string;
    readonly email: string;
    readonly phone: string;
    readonly firstName: string;
    readonly lastName: string;
    readonly createdAt: string;
    readonly smsOptIn: string;
  };
  readonly orderPlacedName: string;
  readonly refundCreatedName: string;
  readonly seenEventIds: number;
  readonly dedupePositions: number;
}

export function peopleRules(mapping: Mapping, limits: { seenEventIds: number; dedupePositions: number }): PeopleRules {
  const columns = mapping.tables.customers.columns;
  const column = (role: string, fallback: string) => columns[role] ?? fallback;
  return Object.freeze({
    columns: {
      id: column('id', 'id'),
      email: column('email', 'email'),
      phone: column('phone', 'phone'),
      firstName: column('firstName', 'first_name'),
      lastName: column('lastName', 'last_name'),
      createdAt: column('createdAt', 'created_at'),
      smsOptIn: column('smsOptIn', 'sms_opt_in'),
    },
    orderPlacedName: mapping.events.orderPlaced,
    refundCreatedName: mapping.events.refundCreated,
    seenEventIds: limits.seenEventIds,
    dedupePositions: limits.dedupePositions,
  });
}

const EMPTY_ROLLUPS: Rollups = { total_orders: 0, lifetime_value: '0.00', first_order_at: null, last_order_at: null, last_category: null };

function emptyState(customerId: string): PersonState {
  return { customerId, profile: null, deleted: false, rollups: EMPTY_ROLLUPS, seenEventIds: [], recentPositions: [], sentAttributes: null };
}

function textOf(value: ColumnValue | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Unix seconds of a temporal column; a bare number is read as epoch ms, as Debezium writes Timestamp. */
export function secondsOf(value: ColumnValue | undefined): number | null {
  if (value instanceof Instant) return value.toUnixSeconds();
  if (typeof value === 'number' && Number.isFinite(value)) return Math.floor(value / 1000);
  return null;
}

/** MySQL's truth for a TINYINT(1) flag: any non-zero number is true. */
export function booleanOf(value: ColumnValue | undefined): boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'bigint') return value !== 0n;
  if (typeof value === 'string') {
    const lowered = value.trim().toLowerCase();
    if (lowered === 'true') return true;
    if (lowered === 'false' || lowered === '') return false;
    const number = Number(lowered);
    return Number.isFinite(number) ? number !== 0 : null;
  }
  return null;
}

/** Shows an email-like id without its full address: first character and domain. */
function redactedId(id: string): string {
  const at = id.indexOf('@');
  return at <= 0 ? '<email>' : `${id[0]}…${id.slice(at)}`;
}

/**
 * Throws PersonIdRejectedError when `customerId` cannot be a Customer.io person id. `origin`
 * names where the id came from.
 */
export function checkPersonId(customerId: string, origin: string, coordinates: PersonRecordCoordinates): void {
  const where = `${coordinates.topic ?? '?'}[${coordinates.partition ?? '?'}]@${coordinates.offset ?? '?'}`;
  if (customerId.includes('@')) {
    throw new PersonIdRejectedError(
      `customer id "${redactedId(customerId)}" from ${origin} (${where}) looks like an email address; ` +
        'a person is identified by the stable customer id, and email is an attribute; map the customer id column as the id',
      { ...coordinates, key: redactedId(customerId) },
    );
  }
  if (customerId.startsWith('cio_')) {
    throw new PersonIdRejectedError(
      `customer id "${customerId}" from ${origin} (${where}) starts with cio_, which Customer.io reserves for its own person ids; ` +
        'map the shop customer id column as the id',
      coordinates,
    );
  }
}

function profileOf(row: Row, rules: PeopleRules): Profile {
  const columns = rules.columns;
  return {
    email: textOf(row[columns.email]),
    phone: textOf(row[columns.phone]),
    first_name: textOf(row[columns.firstName]),
    last_name: textOf(row[columns.lastName]),
    created_at: secondsOf(row[columns.createdAt]),
    sms_opt_in: booleanOf(row[columns.smsOptIn]),
  };
}

/** The full attribute set of a person. Money goes out as a JSON number parsed from the exact string. */
export function attributesOf(state: PersonState): JsonObject {
  const attributes: JsonObject = {};
  if (state.profile !== null) {
    for (const [name, value] of Object.entries(state.profile)) attributes[name] = value as JsonValue;
  }
  const rollups = state.rollups;
  attributes['total_orders'] = rollups.total_orders;
  attributes['lifetime_value'] = Number(rollups.lifetime_value);
  attributes['first_order_at'] = rollups.first_order_at;
  attributes['last_order_at'] = rollups.last_order_at;
  attributes['last_category'] = rollups.last_category;
  return attributes;
}

export interface PersonResult {
  readonly state: PersonState;
  readonly identify: IdentifyRecord | null;
  readonly outcome: 'applied' | 'duplicate' | 'ignored';
}

/** Returns true once an identify went out for the person or its row was deleted, so its events can go out at once. */
export function isIdentified(state: PersonState | undefined): boolean {
  return state !== undefined && (state.sentAttributes !== null || state.deleted);
}

/** Builds the identify of `state` when its attributes differ from those last sent. */
export function withIdentify(state: PersonState, timestamp: number, origin: RecordOrigin, source: OutboxSource): PersonResult {
  if (state.deleted) return { state, identify: null, outcome: 'applied' };
  const attributes = attributesOf(state);
  const json = JSON.stringify(attributes);
  if (json === state.sentAttributes) return { state, identify: null, outcome: 'applied' };
  return {
    state: { ...state, sentAttributes: json },
    identify: { kind: 'identify', customerId: state.customerId, attributes, timestamp, origin, source },
    outcome: 'applied',
  };
}

/** The customer id a customers change belongs to. */
export function customerIdOf(event: ChangeEvent, rules: PeopleRules): string | null {
  const row = event.after ?? event.before;
  return row === null ? null : textOf(row[rules.columns.id]);
}

/** Applies one customers change. */
export function applyCustomerChange(
  previous: PersonState | undefined,
  customerId: string,
  event: ChangeEvent,
  source: OutboxSource,
  rules: PeopleRules,
): PersonResult {
  const state = previous ?? emptyState(customerId);
  if (state.recentPositions.includes(event.position)) return { state, identify: null, outcome: 'duplicate' };
  if (event.op === 'truncate') return { state, identify: null, outcome: 'ignored' };
  const recentPositions = [...state.recentPositions, event.position].slice(-rules.dedupePositions);
  if (event.op === 'delete') {
    return { state: { ...state, deleted: true, recentPositions }, identify: null, outcome: 'applied' };
  }
  const next: PersonState = { ...state, profile: profileOf(event.after, rules), deleted: false, recentPositions };
  const tsMs = event.source.tsMs ?? event.tsMs ?? 0;
  const origin: RecordOrigin = event.op === 'read' || event.source.isSnapshot ? 'snapshot' : 'live';
  return withIdentify(next, Math.floor(tsMs / 1000), origin, source);
}

function decimalOf(value: JsonValue | undefined): Decimal | null {
  if (typeof value === 'number' || typeof value === 'string') {
    try {
      const decimal = new Decimal(value);
      return decimal.isFinite() ? decimal : null;
    } catch {
      return null;
    }
  }
  return null;
}

function integerOf(value: JsonValue | undefined): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}

function lastCategoryOf(items: JsonValue | undefined): string | null {
  if (!Array.isArray(items) || items.length === 0) return null;
  const last = items[items.length - 1];
  if (typeof last !== 'object' || last === null || Array.isArray(last)) return null;
  const category = last['category'];
  return typeof category === 'string' ? category : null;
}

function formatMoney(value: Decimal): string {
  return value.toFixed(Math.max(2, value.decimalPlaces()));
}

/** Applies one order event: order_placed and refund_created change the rollups; others are ignored. */
export function applyOrderEvent(previous: PersonState | undefined, customerId: string, event: EventRecord, source: OutboxSource, rules: PeopleRules): PersonResult {
  const counted = countOrderEvent(previous, customerId, event, rules);
  if (counted.outcome !== 'applied') return counted;
  return withIdentify(counted.state, event.timestamp, event.origin ?? 'live', source);
}

/**
 * Counts one order event in the rollups without building an identify, for a person whose first
 * identify has not gone out yet. order_placed and refund_created change the rollups; others are
 * ignored.
 */
export function countOrderEvent(previous: PersonState | undefined, customerId: string, event: EventRecord, rules: PeopleRules): PersonResult {
  const state = previous ?? emptyState(customerId);
  if (state.seenEventIds.includes(event.id)) return { state, identify: null, outcome: 'duplicate' };
  const rollups = state.rollups;
  let next: Rollups;
  if (event.name === rules.orderPlacedName) {
    const total = decimalOf(event.data['order_total'] ?? event.data['total']) ?? new Decimal(0);
    const at = integerOf(event.data['created_at']) ?? event.timestamp;
    const latest = rollups.last_order_at === null || at >= rollups.last_order_at;
    next = {
      total_orders: rollups.total_orders + 1,
      lifetime_value: formatMoney(new Decimal(rollups.lifetime_value).plus(total)),
      first_order_at: rollups.first_order_at === null ? at : Math.min(rollups.first_order_at, at),
      last_order_at: latest ? at : rollups.last_order_at,
      last_category: latest ? lastCategoryOf(event.data['items']) : rollups.last_category,
    };
  } else if (event.name === rules.refundCreatedName) {
    const amount = decimalOf(event.data['amount']) ?? new Decimal(0);
    next = { ...rollups, lifetime_value: formatMoney(new Decimal(rollups.lifetime_value).minus(amount.abs())) };
  } else {
    return { state, identify: null, outcome: 'ignored' };
  }
  const seenEventIds = [...state.seenEventIds, event.id].slice(-rules.seenEventIds);
  return { state: { ...state, rollups: next, seenEventIds }, identify: null, outcome: 'applied' };
}

/** Returns the person's state, or an empty state for a customer nothing was applied to yet. */
export function personOrEmpty(previous: PersonState | undefined, customerId: string): PersonState {
  return previous ?? emptyState(customerId);
}
