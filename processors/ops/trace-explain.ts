/**
 * One plain sentence per trace record, and the UTC time formats the trace prints.
 *
 * Decision sentences read the suppression processor's reason texts (processors/suppression/
 * process.ts): `held until <ISO time>` and `newest change of the cart; release moved to <ISO
 * time>` give the deadline; any other reason is printed as it is.
 */
import type { OutboxRecord } from '../customerio/records.ts';
import { DEFAULT_BACKFILL_HORIZON_HOURS } from '../customerio/sink/backfill.ts';
import type { DeliveryLogEntry } from '../customerio/sink/sink.ts';
import type { DecisionRecord } from '../suppression/records.ts';
import type { DeadLetter, SourceChange } from './trace-records.ts';

export const HELD_UNTIL = /^held until (\S+)$/;
export const RELEASE_MOVED = /^newest change of the cart; release moved to (\S+)$/;

/** Customer.io triggers campaigns only for events at most this old when they arrive. */
export const CAMPAIGN_TRIGGER_WINDOW_MS = DEFAULT_BACKFILL_HORIZON_HOURS * 3_600_000;

export function dayOf(timeMs: number): string {
  return new Date(timeMs).toISOString().slice(0, 10);
}

export function clockOf(timeMs: number): string {
  return new Date(timeMs).toISOString().slice(11, 19);
}

/** `10:30`, or `10:30:15` when seconds matter, with the date in front when it is not `dayMs`'s day. */
export function shortTime(timeMs: number, dayMs: number): string {
  const iso = new Date(timeMs).toISOString();
  const clock = iso.slice(17, 23) === '00.000' ? iso.slice(11, 16) : iso.slice(11, 19);
  return dayOf(timeMs) === dayOf(dayMs) ? clock : `${dayOf(timeMs)} ${clock}`;
}

export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Parses the ISO time a reason text carries, or returns null. */
export function reasonTime(pattern: RegExp, reason: string): number | null {
  const timeMs = Date.parse(pattern.exec(reason)?.[1] ?? '');
  return Number.isNaN(timeMs) ? null : timeMs;
}

export function labelOf(record: OutboxRecord): string {
  return record.kind === 'event' ? record.name : 'identify';
}

function originNote(record: OutboxRecord): string {
  return record.origin === undefined || record.origin === 'live' ? '' : ` [${record.origin}]`;
}

function subjectOf(data: Readonly<Record<string, unknown>>): string {
  const orderId = data['order_id'];
  if (typeof orderId === 'string' || typeof orderId === 'number') return ` for order ${orderId}`;
  const cartId = data['cart_id'];
  if (typeof cartId === 'string' || typeof cartId === 'number') return ` for cart ${cartId}`;
  return '';
}

export function explainSourceRow(change: SourceChange): string {
  const where = change.position === null ? '' : ` (${change.position})`;
  switch (change.op) {
    case 'create':
      return `customer row inserted into ${change.table}${where}`;
    case 'read':
      return `customer row read by the snapshot of ${change.table}${where}`;
    case 'update': {
      if (change.changedColumns === null) return `customer row updated in ${change.table}${where}`;
      const changed = change.changedColumns.length === 0 ? 'no column changed' : `${change.changedColumns.join(', ')} changed`;
      return `customer row updated in ${change.table}: ${changed}${where}`;
    }
    case 'delete':
      return `customer row deleted from ${change.table}${where}`;
    case 'truncate':
      return `${change.table} truncated${where}`;
    case 'tombstone':
      return 'tombstone after the delete of the customer row';
  }
}

/** Describes an order or cart event as the orders or carts processor derived it from the source tables. */
export function explainDerivedEvent(record: OutboxRecord & { kind: 'event' }): string {
  const table = record.source?.table;
  const from = table === undefined ? '' : `, from ${table}`;
  const file = record.source?.binlogFile;
  const pos = record.source?.binlogPos;
  const binlog = file !== undefined && pos !== undefined ? ` (binlog ${file}:${pos})` : '';
  return `${record.name}${subjectOf(record.data)}${from}${binlog}${originNote(record)}`;
}

/** Describes an event the suppression processor let through, on its way to the people processor. */
export function explainLetThrough(record: OutboxRecord & { kind: 'event' }): string {
  return `${record.name} handed to the people processor for the outbox (event id ${record.id})${originNote(record)}`;
}

export function suppressedText(decision: DecisionRecord): string {
  return decision.order_id === undefined ? `suppressed (${decision.reason})` : `suppressed by order ${decision.order_id} (${decision.reason})`;
}

export function explainDecision(decision: DecisionRecord, timeMs: number): string {
  const name = decision.event_name;
  switch (decision.decision) {
    case 'held': {
      const deadlineMs = reasonTime(HELD_UNTIL, decision.reason);
      if (deadlineMs === null) return `${name} held (${decision.reason})`;
      return `${name} held until ${shortTime(deadlineMs, timeMs)} (window ${formatDuration(deadlineMs - decision.event_time)})`;
    }
    case 'coalesced': {
      const cart = decision.cart_id === null ? 'the held cart' : `the held cart ${decision.cart_id}`;
      const movedMs = reasonTime(RELEASE_MOVED, decision.reason);
      if (movedMs !== null) return `${name} merged into ${cart}; release moved to ${shortTime(movedMs, timeMs)}`;
      return `${name} merged into ${cart} (${decision.reason})`;
    }
    case 'released':
      return `${name} released (${decision.reason})`;
    case 'suppressed':
      return `${name} ${suppressedText(decision)}`;
    case 'passed':
      return `${name} passed through (${decision.reason})`;
  }
}

export function explainOutbox(record: OutboxRecord): string {
  if (record.kind === 'event') return `${record.name} written to the outbox (event id ${record.id})${originNote(record)}`;
  const names = Object.keys(record.attributes);
  const shown = names.length > 8 ? `${names.slice(0, 8).join(', ')} and ${names.length - 8} more` : names.join(', ');
  return `identify written to the outbox (attributes: ${shown === '' ? 'none' : shown})${originNote(record)}`;
}

/**
 * Returns a note when a delivered event was older than Customer.io's campaign-trigger window
 * at delivery, so it reached the person's activity but starts no journey.
 */
export function staleNote(eventTimeMs: number | null, deliveredAtMs: number): string | null {
  if (eventTimeMs === null || deliveredAtMs - eventTimeMs <= CAMPAIGN_TRIGGER_WINDOW_MS) return null;
  const hours = Math.floor((deliveredAtMs - eventTimeMs) / 3_600_000);
  return `the event was ${hours} h old, so Customer.io triggers no campaign for it (limit ${CAMPAIGN_TRIGGER_WINDOW_MS / 3_600_000} h)`;
}

export function explainDelivery(entry: DeliveryLogEntry, stale: string | null): string {
  const label = entry.name ?? entry.kind ?? 'record';
  const effort = `${plural(entry.attempts, 'attempt')}, ${entry.latencyMs} ms`;
  const reason = entry.reason ?? 'no reason given';
  switch (entry.status) {
    case 'delivered':
      return `${label} delivered to Customer.io (${effort})${stale === null ? '' : `, but ${stale}`}`;
    case 'skipped':
      return `${label} not sent by the sink: ${reason}`;
    case 'rejected':
      return entry.attempts === 0 ? `${label} rejected before sending: ${reason}` : `${label} rejected by Customer.io: ${reason} (${effort})`;
  }
}

export function explainDeadLetter(letter: DeadLetter, topic: string): string {
  const label = letter.record === null ? 'record' : labelOf(letter.record);
  const details: string[] = [];
  if (letter.status === 'not_sent') details.push('not sent');
  else if (letter.status !== null) details.push(`HTTP ${letter.status}`);
  if (letter.field !== null) details.push(`field ${letter.field}`);
  const detail = details.length === 0 ? '' : ` (${details.join(', ')})`;
  const message = letter.message === null ? '' : `: ${letter.message}`;
  return `${label} dead-lettered to ${topic}: ${letter.reason ?? 'no reason given'}${detail}${message}`;
}
