/**
 * Decodes the records `cio-cdc trace` read into typed trace records. A record that does not fit
 * its topic's contract becomes an `unreadable` record with the reason, because a record the
 * processors would dead-letter is itself part of the explanation.
 *
 * Contracts: customers rows are Debezium change events (processors/debezium). Order, cart and
 * let-through events and outbox records follow processors/customerio/records.ts, and decisions
 * follow processors/suppression/records.ts. The sink (processors/customerio/sink/sink.ts) writes
 * the delivery-log records and dead letters.
 */
import { parseOutboxRecord } from '../customerio/records.ts';
import type { EventRecord, OutboxRecord } from '../customerio/records.ts';
import { DEAD_LETTER_HEADERS } from '../customerio/sink/sink.ts';
import type { DeliveryLogEntry } from '../customerio/sink/sink.ts';
import { stringifyExact } from '../debezium/index.ts';
import type { ChangeEvent, DebeziumDecoder, Row } from '../debezium/index.ts';
import { createSourceDecoder } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { columnHintsOf } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { DECISIONS } from '../suppression/records.ts';
import type { DecisionRecord } from '../suppression/records.ts';
import type { TraceSource } from './trace-config.ts';
import type { FetchedRecord } from './trace-read.ts';

/** Coordinates of a record as read. */
export interface RecordPosition {
  readonly source: TraceSource;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Kafka record timestamp, epoch milliseconds. */
  readonly timestampMs: number;
}

/** A customers row change, reduced to what the trace explains (no column values). */
export interface SourceChange {
  readonly op: ChangeEvent['op'] | 'tombstone';
  /** `<database>.<table>`, or null for a tombstone. */
  readonly table: string | null;
  /** Commit time in the database, epoch ms, when the record carries it. */
  readonly committedAtMs: number | null;
  /** `binlog <file>:<pos>` or `GTID <gtid>`, when the record carries either. */
  readonly position: string | null;
  /** Columns whose value differs between the before and after image of an update. */
  readonly changedColumns: readonly string[] | null;
}

/** A record of the sink's dead-letter topic: headers with the reason, value the original record. */
export interface DeadLetter {
  readonly reason: string | null;
  /** HTTP status of the rejecting response, or `not_sent` when the sink rejected it before sending. */
  readonly status: string | null;
  readonly field: string | null;
  readonly errorClass: string | null;
  readonly message: string | null;
  readonly failedAtMs: number | null;
  /** Outbox coordinates of the original record. */
  readonly sourceTopic: string | null;
  readonly sourcePartition: number | null;
  readonly sourceOffset: string | null;
  /** The original record, when its value is an outbox record. */
  readonly record: OutboxRecord | null;
}

export type TraceRecord =
  | { readonly kind: 'source-row'; readonly at: RecordPosition; readonly change: SourceChange }
  | { readonly kind: 'event'; readonly at: RecordPosition; readonly record: EventRecord }
  | { readonly kind: 'decision'; readonly at: RecordPosition; readonly decision: DecisionRecord }
  | { readonly kind: 'outbox'; readonly at: RecordPosition; readonly record: OutboxRecord }
  | { readonly kind: 'delivery'; readonly at: RecordPosition; readonly entry: DeliveryLogEntry }
  | { readonly kind: 'dead-letter'; readonly at: RecordPosition; readonly letter: DeadLetter }
  | { readonly kind: 'unreadable'; readonly at: RecordPosition; readonly problem: string };

function positionOf(record: FetchedRecord): RecordPosition {
  return { source: record.source, topic: record.topic, partition: record.partition, offset: record.offset, timestampMs: record.timestampMs };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Decodes fetched records; customers rows are decoded as the people processor decodes them. */
export class TraceDecoder {
  readonly #decoder: DebeziumDecoder;

  constructor(mapping: Mapping, sourceFormat: SourceFormatConfig) {
    this.#decoder = createSourceDecoder(sourceFormat, { datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) });
  }

  async decode(record: FetchedRecord): Promise<TraceRecord> {
    const at = positionOf(record);
    try {
      switch (record.source) {
        case 'customers':
          return { kind: 'source-row', at, change: await this.#sourceChange(record) };
        case 'orderEvents':
        case 'cartEvents':
        case 'customerEvents':
          return eventRecord(at, record);
        case 'decisions':
          return { kind: 'decision', at, decision: decisionRecord(record.value) };
        case 'outbox':
          return { kind: 'outbox', at, record: parseOutboxRecord(record.value, record.key) };
        case 'deliveryLog':
          return { kind: 'delivery', at, entry: deliveryLogEntry(record.value) };
        case 'deadLetter':
          return { kind: 'dead-letter', at, letter: deadLetter(record) };
      }
    } catch (error) {
      return { kind: 'unreadable', at, problem: messageOf(error) };
    }
  }

  async #sourceChange(record: FetchedRecord): Promise<SourceChange> {
    // The key stays undecoded: the trace matched it already, and only the row is explained.
    const decoded = await this.#decoder.decode({ topic: record.topic, partition: record.partition, offset: record.offset, key: null, value: record.value, headers: record.headers });
    if (decoded.kind === 'tombstone') {
      return { op: 'tombstone', table: null, committedAtMs: null, position: null, changedColumns: null };
    }
    const source = decoded.source;
    let position: string | null = null;
    if (source.file !== null && source.pos !== null) position = `binlog ${source.file}:${source.pos}`;
    else if (source.gtid !== null) position = `GTID ${source.gtid}`;
    return {
      op: decoded.op,
      table: `${source.db}.${source.table}`,
      committedAtMs: source.tsMs ?? decoded.tsMs,
      position,
      changedColumns: decoded.op === 'update' && decoded.before !== null ? changedColumns(decoded.before, decoded.after) : null,
    };
  }
}

function changedColumns(before: Row, after: Row): string[] {
  const columns = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...columns].filter((column) => stringifyExact(before[column] ?? null) !== stringifyExact(after[column] ?? null)).sort();
}

function eventRecord(at: RecordPosition, record: FetchedRecord): TraceRecord {
  const parsed = parseOutboxRecord(record.value, record.key);
  if (parsed.kind !== 'event') {
    return { kind: 'unreadable', at, problem: 'identify record on an event topic, which carries event records only' };
  }
  return { kind: 'event', at, record: parsed };
}

function jsonObject(value: Buffer | null, recordName: string): Record<string, unknown> {
  if (value === null) throw new Error(`empty ${recordName} (a tombstone)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch {
    throw new Error(`${recordName} is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${recordName} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

function decisionRecord(value: Buffer | null): DecisionRecord {
  const object = jsonObject(value, 'decision record');
  const decision = object['decision'];
  if (typeof decision !== 'string' || !(DECISIONS as readonly string[]).includes(decision)) {
    throw new Error(`decision record has decision ${JSON.stringify(decision)}, expected one of ${DECISIONS.join(', ')}`);
  }
  for (const field of ['event_name', 'event_id', 'reason']) {
    if (typeof object[field] !== 'string') throw new Error(`decision record field ${field} must be a string`);
  }
  if (!Number.isFinite(object['event_time'])) throw new Error('decision record field event_time must be a number (epoch ms)');
  return object as unknown as DecisionRecord;
}

const DELIVERY_STATUSES: readonly DeliveryLogEntry['status'][] = ['delivered', 'rejected', 'skipped'];

function deliveryLogEntry(value: Buffer | null): DeliveryLogEntry {
  const object = jsonObject(value, 'delivery-log record');
  if (!(DELIVERY_STATUSES as readonly unknown[]).includes(object['status'])) {
    throw new Error(`delivery-log record has status ${JSON.stringify(object['status'])}, expected one of ${DELIVERY_STATUSES.join(', ')}`);
  }
  if (!Number.isFinite(object['attempts']) || !Number.isFinite(object['latencyMs'])) {
    throw new Error('delivery-log record fields attempts and latencyMs must be numbers');
  }
  return object as unknown as DeliveryLogEntry;
}

function deadLetter(record: FetchedRecord): DeadLetter {
  const header = (name: string): string | null => {
    const value = record.headers[name];
    return value === undefined || value === '' ? null : value;
  };
  const failedAt = header(DEAD_LETTER_HEADERS.failedAt);
  const failedAtMs = failedAt === null ? Number.NaN : Date.parse(failedAt);
  const partition = header(DEAD_LETTER_HEADERS.partition);
  let original: OutboxRecord | null = null;
  try {
    original = parseOutboxRecord(record.value, record.key);
  } catch {
    // An undecodable outbox record is dead-lettered as it was; the reason header says why.
  }
  return {
    reason: header(DEAD_LETTER_HEADERS.reason),
    status: header(DEAD_LETTER_HEADERS.status),
    field: header(DEAD_LETTER_HEADERS.field),
    errorClass: header(DEAD_LETTER_HEADERS.errorClass),
    message: header(DEAD_LETTER_HEADERS.message),
    failedAtMs: Number.isFinite(failedAtMs) ? failedAtMs : null,
    sourceTopic: header(DEAD_LETTER_HEADERS.topic),
    sourcePartition: partition === null ? null : Number(partition),
    sourceOffset: header(DEAD_LETTER_HEADERS.offset),
    record: original,
  };
}
