/**
 * The outbox record contract: what the people, orders, carts and suppression processors write to
 * `cio.outbox` and what the Customer.io sink reads.
 *
 * Key: the customer id as a UTF-8 string. Value: one JSON object, either
 *
 *   {"kind":"identify","customerId":"501","attributes":{"email":"…","created_at":1704121200},
 *    "timestamp":1721050200,"origin":"live","source":{…}}
 *   {"kind":"event","customerId":"501","name":"order_placed","id":"<ULID>","timestamp":1721050200,
 *    "data":{"order_id":"1001"},"origin":"live","source":{…}}
 *
 * Timestamps are unix seconds. `origin` marks records that come from a snapshot, replay or
 * backfill so the sink and the trace command can tell them from live changes. `source` contains
 * the coordinates of the change the record was derived from. It is for tracing only, and the sink
 * never sends it.
 * schemas/cio.outbox.avsc is the same contract in Avro form.
 */

import { OutboxRecordError } from './errors.ts';

export const OUTBOX_TOPIC = 'cio.outbox';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const RECORD_ORIGINS = ['live', 'snapshot', 'replay', 'backfill'] as const;
export type RecordOrigin = (typeof RECORD_ORIGINS)[number];

/** Coordinates of the change a record came from. Every field is optional, and offsets are strings. */
export interface OutboxSource {
  /** Source table, for example `shop.orders`. */
  table?: string;
  /** Kafka topic, partition and offset of the input record the processor read. */
  topic?: string;
  partition?: number;
  offset?: string;
  /** MySQL binlog position of the change. */
  binlogFile?: string;
  binlogPos?: number;
  /** Row number inside the binlog event. */
  row?: number;
  gtid?: string;
  /** Source transaction id from Debezium's transaction metadata. */
  txId?: string;
  /** Commit time of the change in the source database, epoch milliseconds. */
  tsMs?: number;
}

interface OutboxRecordBase {
  /** Customer.io person id; equal to the Kafka key. */
  customerId: string;
  /** Unix seconds. For identify: orders updates. For event: the time the event happened. */
  timestamp: number;
  origin?: RecordOrigin;
  source?: OutboxSource;
}

export interface IdentifyRecord extends OutboxRecordBase {
  kind: 'identify';
  attributes: JsonObject;
}

export interface EventRecord extends OutboxRecordBase {
  kind: 'event';
  /** snake_case event name. */
  name: string;
  /** Deterministic ULID from event-id.ts; Customer.io drops repeats of an id. */
  id: string;
  data: JsonObject;
}

export type OutboxRecord = IdentifyRecord | EventRecord;

const SOURCE_STRING_FIELDS = ['table', 'topic', 'offset', 'binlogFile', 'gtid', 'txId'] as const;
const SOURCE_INTEGER_FIELDS = ['partition', 'binlogPos', 'row', 'tsMs'] as const;

const IDENTIFY_FIELDS = new Set(['kind', 'customerId', 'attributes', 'timestamp', 'origin', 'source']);
const EVENT_FIELDS = new Set(['kind', 'customerId', 'name', 'id', 'timestamp', 'data', 'origin', 'source']);

/**
 * Parses and checks one outbox record value. `value` may be the raw Kafka value (Buffer or
 * string) or an already decoded object. When `key` is given it must equal `customerId`.
 * Throws OutboxRecordError naming the field. Customer.io's own limits are checked by
 * validate.ts, not here.
 */
export function parseOutboxRecord(value: unknown, key?: string | Buffer | null): OutboxRecord {
  const decoded = decodeValue(value);
  if (!isPlainObject(decoded)) {
    throw new OutboxRecordError(`outbox record must be a JSON object, got ${describe(decoded)}`, '(value)');
  }

  const kind = decoded['kind'];
  if (kind !== 'identify' && kind !== 'event') {
    throw new OutboxRecordError(`outbox record field kind must be "identify" or "event", got ${describe(kind)}`, 'kind');
  }

  const allowed = kind === 'identify' ? IDENTIFY_FIELDS : EVENT_FIELDS;
  for (const field of Object.keys(decoded)) {
    if (!allowed.has(field)) {
      throw new OutboxRecordError(`outbox ${kind} record has unknown field ${field}; remove it or update the contract`, field);
    }
  }

  const customerId = requireString(decoded, 'customerId');
  if (customerId.length === 0) throw new OutboxRecordError('outbox record field customerId must not be empty', 'customerId');
  const timestamp = requireInteger(decoded, 'timestamp');
  const origin = readOrigin(decoded['origin']);
  const source = readSource(decoded['source']);

  if (key !== undefined && key !== null) {
    const keyText = typeof key === 'string' ? key : key.toString('utf8');
    if (keyText !== customerId) {
      throw new OutboxRecordError(
        `outbox record key ${quote(keyText)} differs from customerId ${quote(customerId)}; the producer must key records by customer id`,
        'customerId',
        { key: keyText },
      );
    }
  }

  const base: OutboxRecordBase = { customerId, timestamp };
  if (origin !== undefined) base.origin = origin;
  if (source !== undefined) base.source = source;

  if (kind === 'identify') {
    const attributes = requireObject(decoded, 'attributes');
    return { kind, ...base, attributes };
  }

  const name = requireString(decoded, 'name');
  const id = requireString(decoded, 'id');
  const data = requireObject(decoded, 'data');
  return { kind, ...base, name, id, data };
}

/** Encodes a record as its Kafka key and JSON value. */
export function encodeOutboxRecord(record: OutboxRecord): { key: string; value: string } {
  return { key: record.customerId, value: JSON.stringify(record) };
}

/** The record as Avro expects it under schemas/cio.outbox.avsc (attributes and data as JSON text). */
export interface OutboxAvroRecord {
  kind: 'identify' | 'event';
  customerId: string;
  timestamp: number;
  name: string | null;
  id: string | null;
  attributes: string | null;
  data: string | null;
  origin: RecordOrigin | null;
  source: AvroSource | null;
}

type AvroSource = { [K in keyof Required<OutboxSource>]: OutboxSource[K] | null };

const AVRO_SOURCE_FIELDS = [...SOURCE_STRING_FIELDS, ...SOURCE_INTEGER_FIELDS];

/** Converts a record to the Avro form: free-form objects become JSON text, absent fields null. */
export function toAvroRecord(record: OutboxRecord): OutboxAvroRecord {
  let source: AvroSource | null = null;
  if (record.source !== undefined) {
    const entries = AVRO_SOURCE_FIELDS.map((field) => [field, record.source?.[field] ?? null]);
    source = Object.fromEntries(entries) as AvroSource;
  }
  return {
    kind: record.kind,
    customerId: record.customerId,
    timestamp: record.timestamp,
    name: record.kind === 'event' ? record.name : null,
    id: record.kind === 'event' ? record.id : null,
    attributes: record.kind === 'identify' ? JSON.stringify(record.attributes) : null,
    data: record.kind === 'event' ? JSON.stringify(record.data) : null,
    origin: record.origin ?? null,
    source,
  };
}

/** Converts the Avro form back to a record and checks it like parseOutboxRecord. */
export function fromAvroRecord(avro: OutboxAvroRecord): OutboxRecord {
  const value: Record<string, unknown> = { kind: avro.kind, customerId: avro.customerId, timestamp: avro.timestamp };
  if (avro.kind === 'identify') {
    value['attributes'] = parseJsonText(avro.attributes, 'attributes');
  } else {
    value['name'] = avro.name;
    value['id'] = avro.id;
    value['data'] = parseJsonText(avro.data, 'data');
  }
  if (avro.origin !== null) value['origin'] = avro.origin;
  if (avro.source !== null) {
    value['source'] = Object.fromEntries(Object.entries(avro.source).filter(([, fieldValue]) => fieldValue !== null));
  }
  return parseOutboxRecord(value);
}

function parseJsonText(text: string | null, field: string): unknown {
  if (text === null) throw new OutboxRecordError(`Avro outbox record field ${field} is null`, field);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OutboxRecordError(`Avro outbox record field ${field} is not valid JSON text`, field, { cause: err });
  }
}

function decodeValue(value: unknown): unknown {
  if (value === null || value === undefined) {
    throw new OutboxRecordError('outbox record value is empty (a tombstone); the outbox topic carries no tombstones', '(value)');
  }
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) return value;
  const text = typeof value === 'string' ? value : value.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OutboxRecordError(`outbox record value is not valid JSON (starts with ${JSON.stringify(text.slice(0, 20))})`, '(value)', {
      cause: err,
    });
  }
}

function readOrigin(value: unknown): RecordOrigin | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (RECORD_ORIGINS as readonly string[]).includes(value)) return value as RecordOrigin;
  throw new OutboxRecordError(`outbox record field origin must be one of ${RECORD_ORIGINS.join(', ')}, got ${describe(value)}`, 'origin');
}

function readSource(value: unknown): OutboxSource | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw new OutboxRecordError(`outbox record field source must be an object, got ${describe(value)}`, 'source');

  const source: Record<string, string | number> = {};
  for (const [field, fieldValue] of Object.entries(value)) {
    if ((SOURCE_STRING_FIELDS as readonly string[]).includes(field)) {
      if (typeof fieldValue !== 'string') {
        throw new OutboxRecordError(`outbox record field source.${field} must be a string, got ${describe(fieldValue)}`, `source.${field}`);
      }
      source[field] = fieldValue;
    } else if ((SOURCE_INTEGER_FIELDS as readonly string[]).includes(field)) {
      if (!Number.isSafeInteger(fieldValue)) {
        throw new OutboxRecordError(`outbox record field source.${field} must be an integer, got ${describe(fieldValue)}`, `source.${field}`);
      }
      source[field] = fieldValue as number;
    } else {
      throw new OutboxRecordError(`outbox record has unknown field source.${field}`, `source.${field}`);
    }
  }
  return source as OutboxSource;
}

function requireString(object: Record<string, unknown>, field: string): string {
  const value = object[field];
  if (typeof value !== 'string') throw new OutboxRecordError(`outbox record field ${field} must be a string, got ${describe(value)}`, field);
  return value;
}

function requireInteger(object: Record<string, unknown>, field: string): number {
  const value = object[field];
  if (!Number.isSafeInteger(value)) {
    throw new OutboxRecordError(`outbox record field ${field} must be an integer (unix seconds), got ${describe(value)}`, field);
  }
  return value as number;
}

function requireObject(object: Record<string, unknown>, field: string): JsonObject {
  const value = object[field];
  if (!isPlainObject(value)) throw new OutboxRecordError(`outbox record field ${field} must be an object, got ${describe(value)}`, field);
  return value as JsonObject;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

// Error messages end up in logs and the DLQ, where email addresses must not appear.
const EMAIL_IN_TEXT = /[^\s@"]+@[^\s@"]+/g;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `the string ${quote(shown)}`;
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Quotes a value for an error message, with email addresses replaced. */
export function quote(text: string): string {
  return JSON.stringify(text.replace(EMAIL_IN_TEXT, '<email>'));
}
