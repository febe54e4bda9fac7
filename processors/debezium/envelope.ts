/**
 * The Debezium change-event envelope and its typed, decoded form.
 *
 * A Debezium value looks like this (JSON converter, schemas disabled, abbreviated):
 *
 *   {"before": null,
 *    "after": {"id": 1001, "customer_id": 501, "total": "AxY="},
 *    "source": {"connector": "mariadb", "db": "shop", "table": "orders", "snapshot": "false",
 *               "file": "mysql-bin.000003", "pos": 4471, "row": 0, "gtid": "0-1-7",
 *               "server_id": 1, "ts_ms": 1721050200000},
 *    "op": "c", "ts_ms": 1721050200412,
 *    "transaction": {"id": "0-1-7", "total_order": 1, "data_collection_order": 1}}
 *
 * A delete is followed by a tombstone (same key, null value). A primary-key update arrives as a
 * delete carrying header `__debezium.newkey` followed by a create carrying `__debezium.oldkey`.
 */
import { MissingColumnError, RecordDecodeError, UnknownOperationError } from './errors.ts';
import type { RecordCoordinates } from './errors.ts';
import { convertColumn, convertRow } from './convert.ts';
import type { ConversionContext } from './convert.ts';
import { isPlainObject, stringifyExact } from './json.ts';
import type { ColumnValue, ConnectSchema, Row, TableHints } from './types.ts';

/** Envelope field names. */
export const ENVELOPE_FIELDS = {
  BEFORE: 'before',
  AFTER: 'after',
  SOURCE: 'source',
  OP: 'op',
  TS_MS: 'ts_ms',
  TRANSACTION: 'transaction',
} as const;

/** Operation codes in the envelope's `op` field. */
export const OP_CODES = {
  /** A row was inserted. */
  CREATE: 'c',
  /** A row was updated. */
  UPDATE: 'u',
  /** A row was deleted. A tombstone with the same key follows. */
  DELETE: 'd',
  /** A row was read by a snapshot (initial or incremental), not changed. */
  READ: 'r',
  /** The table was truncated. The record has a null key. */
  TRUNCATE: 't',
} as const;

export type OpCode = (typeof OP_CODES)[keyof typeof OP_CODES];

export type Operation = 'create' | 'update' | 'delete' | 'read' | 'truncate';

export const OPERATION_BY_CODE: Readonly<Record<OpCode, Operation>> = {
  c: 'create',
  u: 'update',
  d: 'delete',
  r: 'read',
  t: 'truncate',
};

/** Values of `source.snapshot`. Debezium writes a string, not a boolean, and "false" while streaming. */
export const SNAPSHOT_MARKERS = [
  'true',
  'first',
  'first_in_data_collection',
  'last_in_data_collection',
  'last',
  'false',
  'incremental',
] as const;

export type SnapshotMarker = (typeof SNAPSHOT_MARKERS)[number];

/** Headers Debezium sets when an update changes the primary key. */
export const PRIMARY_KEY_CHANGE_HEADERS = {
  /** Header on the delete of the old key. Its value is the new key. */
  NEW_KEY: '__debezium.newkey',
  /** Header on the create under the new key. Its value is the old key. */
  OLD_KEY: '__debezium.oldkey',
} as const;

/** The decoded `source` block. */
export interface SourceInfo {
  readonly connector: string | null;
  /** Logical server name (the topic prefix). */
  readonly name: string | null;
  readonly version: string | null;
  /** From `source.db`, or from the topic name `<prefix>.<db>.<table>` when absent. */
  readonly db: string;
  /** From `source.table`, or from the topic name when absent. */
  readonly table: string;
  /** Commit time in the database, epoch ms (binlog headers carry whole seconds). */
  readonly tsMs: number | null;
  readonly snapshot: SnapshotMarker;
  readonly isSnapshot: boolean;
  readonly file: string | null;
  readonly pos: number | null;
  readonly row: number | null;
  readonly gtid: string | null;
  readonly serverId: number | null;
  readonly thread: number | null;
  readonly query: string | null;
}

/** The `transaction` block, present when the connector has `provide.transaction.metadata=true`. */
export interface TransactionInfo {
  /** Transaction id: on MariaDB the GTID `domain-server-seq`, or `file=...,pos=...` without GTIDs. */
  readonly id: string;
  /** Position of this event among all events of the transaction, from 1. */
  readonly totalOrder: number;
  /** Position of this event among the transaction's events on the same table, from 1. */
  readonly dataCollectionOrder: number;
}

/** The two halves of a primary-key update, as Debezium marks them with headers. */
export type PrimaryKeyChange =
  /** This delete removes the old key, and `newKey` is the header text of the key the row moved to. */
  | { readonly role: 'old-key-deleted'; readonly newKey: string }
  /** This create inserts the new key, and `oldKey` is the header text of the key the row moved from. */
  | { readonly role: 'new-key-created'; readonly oldKey: string };

interface ChangeEventBase {
  readonly kind: 'change';
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The decoded record key (the table's primary key), or null for a null key (no key, truncate). */
  readonly key: Row | null;
  readonly source: SourceInfo;
  /** When Kafka Connect processed the event, epoch ms. Use `source.tsMs` for the commit time. */
  readonly tsMs: number | null;
  readonly transaction: TransactionInfo | null;
  /**
   * Identity of this change in the binlog, equal when Debezium re-emits the same change:
   * `binlog:<file>:<pos>:<row>`, or `gtid:<gtid>:<total_order or row>` when no file is given.
   * Snapshot reads share one binlog position, so for `read` the table and key are appended.
   * Without any source coordinates it falls back to `kafka:<topic>:<partition>:<offset>`, which is
   * stable across re-reads of the same Kafka record but not across re-emits.
   */
  readonly position: string;
  /** Kafka headers as UTF-8 text (the last value of a repeated header). */
  readonly headers: Readonly<Record<string, string>>;
  readonly primaryKeyChange: PrimaryKeyChange | null;
  /**
   * Column names of the table as this record describes it: the fields of the value schema when the
   * record has one (including columns whose value is null), otherwise the keys of the row.
   */
  readonly columns: ReadonlySet<string>;
  /** Confluent schema id of the value (Avro only), which changes when the table's schema changes. */
  readonly valueSchemaId: number | null;
}

export interface CreateEvent extends ChangeEventBase {
  readonly op: 'create';
  readonly before: null;
  readonly after: Row;
}

export interface UpdateEvent extends ChangeEventBase {
  readonly op: 'update';
  readonly before: Row | null;
  readonly after: Row;
}

export interface DeleteEvent extends ChangeEventBase {
  readonly op: 'delete';
  readonly before: Row | null;
  readonly after: null;
}

export interface ReadEvent extends ChangeEventBase {
  readonly op: 'read';
  readonly before: null;
  readonly after: Row;
}

export interface TruncateEvent extends ChangeEventBase {
  readonly op: 'truncate';
  readonly before: null;
  readonly after: null;
}

export type ChangeEvent = CreateEvent | UpdateEvent | DeleteEvent | ReadEvent | TruncateEvent;

/** A record with a null value, written after a delete so log compaction can drop the key. */
export interface Tombstone {
  readonly kind: 'tombstone';
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The key as text (see `describeKey`), not decoded. */
  readonly key: string | null;
}

export type DecodedRecord = ChangeEvent | Tombstone;

/** Inputs of `buildChangeEvent`, produced by the decoder from the raw record. */
export interface EnvelopeInput {
  readonly envelope: unknown;
  /** Schema of the whole envelope (JSON with schemas, or Avro), null when schemaless. */
  readonly envelopeSchema: ConnectSchema | null;
  readonly record: RecordCoordinates;
  readonly headers: Readonly<Record<string, string>>;
  readonly valueSchemaId: number | null;
  readonly ctx: ConversionContext;
  readonly hintsFor: (db: string, table: string) => TableHints | undefined;
  /** Decodes the record key once the table is known (hints are per table). */
  readonly decodeKey: (db: string, table: string) => Promise<Row | null>;
}

function fieldSchema(schema: ConnectSchema | null, name: string): ConnectSchema | null {
  if (schema === null || schema.type !== 'struct') {
    return null;
  }
  return schema.fields.find((field) => field.name === name)?.schema ?? null;
}

function envelopeError(message: string, input: EnvelopeInput): RecordDecodeError {
  return new RecordDecodeError(message, { record: input.record, reason: 'invalid-envelope', schemaId: input.valueSchemaId });
}

function textOrNull(value: ColumnValue | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

function numberOrNull(value: ColumnValue | undefined): number | null {
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'bigint') {
    return Number(value);
  }
  return null;
}

function parseSnapshotMarker(value: ColumnValue | undefined, input: EnvelopeInput): SnapshotMarker {
  if (value === null || value === undefined || value === false) {
    // Streaming events carry "false", or null with replace.null.with.default=false.
    return 'false';
  }
  if (value === true) {
    return 'true';
  }
  const marker = SNAPSHOT_MARKERS.find((candidate) => candidate === value);
  if (marker === undefined) {
    throw envelopeError(
      `Unknown source.snapshot value ${JSON.stringify(textOrNull(value))}: expected one of ${SNAPSHOT_MARKERS.join(', ')}. ` +
        'If a newer Debezium added it, add it to SNAPSHOT_MARKERS',
      input,
    );
  }
  return marker;
}

/** Splits `<prefix>.<db>.<table>` into db and table. The prefix may itself contain dots. */
export function tableFromTopic(topic: string): { db: string; table: string } {
  const parts = topic.split('.');
  if (parts.length >= 3) {
    return { db: parts[parts.length - 2]!, table: parts[parts.length - 1]! };
  }
  return { db: '', table: parts[parts.length - 1] ?? topic };
}

function readSource(raw: unknown, input: EnvelopeInput, envelopeSchema: ConnectSchema | null): SourceInfo {
  const source = convertRow(raw, fieldSchema(envelopeSchema, ENVELOPE_FIELDS.SOURCE), undefined, 'source', input.ctx) ?? {};
  const fromTopic = tableFromTopic(input.record.topic);
  const snapshot = parseSnapshotMarker(source['snapshot'], input);
  return {
    connector: textOrNull(source['connector']),
    name: textOrNull(source['name']),
    version: textOrNull(source['version']),
    db: textOrNull(source['db']) ?? fromTopic.db,
    table: textOrNull(source['table']) ?? fromTopic.table,
    tsMs: numberOrNull(source['ts_ms']),
    snapshot,
    isSnapshot: snapshot !== 'false',
    file: textOrNull(source['file']),
    pos: numberOrNull(source['pos']),
    row: numberOrNull(source['row']),
    gtid: textOrNull(source['gtid']),
    serverId: numberOrNull(source['server_id']),
    thread: numberOrNull(source['thread']),
    query: textOrNull(source['query']),
  };
}

function readTransaction(raw: unknown, envelopeSchema: ConnectSchema | null, input: EnvelopeInput): TransactionInfo | null {
  const block = convertRow(raw, fieldSchema(envelopeSchema, ENVELOPE_FIELDS.TRANSACTION), undefined, 'transaction', input.ctx);
  if (block === null) {
    return null;
  }
  const id = textOrNull(block['id']);
  const totalOrder = numberOrNull(block['total_order']);
  const dataCollectionOrder = numberOrNull(block['data_collection_order']);
  if (id === null || totalOrder === null || dataCollectionOrder === null) {
    throw envelopeError('Envelope transaction block lacks id, total_order or data_collection_order', input);
  }
  return { id, totalOrder, dataCollectionOrder };
}

function readPrimaryKeyChange(headers: Readonly<Record<string, string>>): PrimaryKeyChange | null {
  const newKey = headers[PRIMARY_KEY_CHANGE_HEADERS.NEW_KEY];
  if (newKey !== undefined) {
    return { role: 'old-key-deleted', newKey };
  }
  const oldKey = headers[PRIMARY_KEY_CHANGE_HEADERS.OLD_KEY];
  if (oldKey !== undefined) {
    return { role: 'new-key-created', oldKey };
  }
  return null;
}

function computePosition(
  op: Operation,
  source: SourceInfo,
  transaction: TransactionInfo | null,
  key: Row | null,
  row: Row | null,
  record: RecordCoordinates,
): string {
  let base: string;
  if (source.file !== null && source.pos !== null) {
    base = `binlog:${source.file}:${source.pos}:${source.row ?? 0}`;
  } else if (source.gtid !== null) {
    base = `gtid:${source.gtid}:${transaction?.totalOrder ?? source.row ?? 0}`;
  } else {
    return `kafka:${record.topic}:${record.partition}:${record.offset}`;
  }
  if (op !== 'read') {
    return base;
  }
  return `${base}:${source.db}.${source.table}:${stringifyExact(key ?? row)}`;
}

function columnNames(schema: ConnectSchema | null, row: Row | null): ReadonlySet<string> {
  if (schema !== null && schema.type === 'struct') {
    return new Set(schema.fields.map((field) => field.name));
  }
  return new Set(row === null ? [] : Object.keys(row));
}

/** Builds the typed change event from a decoded (but not yet converted) envelope. */
export async function buildChangeEvent(input: EnvelopeInput): Promise<ChangeEvent> {
  const { envelope, envelopeSchema, ctx, record } = input;
  if (!isPlainObject(envelope)) {
    throw envelopeError('Envelope is not an object', input);
  }
  const rawEnvelope = envelope;

  const opValue = convertColumn(rawEnvelope[ENVELOPE_FIELDS.OP], fieldSchema(envelopeSchema, ENVELOPE_FIELDS.OP), undefined, 'envelope.op', ctx);
  const op = typeof opValue === 'string' && Object.hasOwn(OPERATION_BY_CODE, opValue) ? OPERATION_BY_CODE[opValue as OpCode] : undefined;
  if (op === undefined) {
    throw new UnknownOperationError(opValue, record, input.valueSchemaId);
  }

  const source = readSource(rawEnvelope[ENVELOPE_FIELDS.SOURCE], input, envelopeSchema);
  const tablePath = source.db === '' ? source.table : `${source.db}.${source.table}`;
  const hints = input.hintsFor(source.db, source.table);
  const beforeSchema = fieldSchema(envelopeSchema, ENVELOPE_FIELDS.BEFORE);
  const afterSchema = fieldSchema(envelopeSchema, ENVELOPE_FIELDS.AFTER);
  const before = convertRow(rawEnvelope[ENVELOPE_FIELDS.BEFORE], beforeSchema, hints, tablePath, ctx);
  const after = convertRow(rawEnvelope[ENVELOPE_FIELDS.AFTER], afterSchema, hints, tablePath, ctx);
  const tsMsValue = convertColumn(rawEnvelope[ENVELOPE_FIELDS.TS_MS], fieldSchema(envelopeSchema, ENVELOPE_FIELDS.TS_MS), undefined, 'envelope.ts_ms', ctx);
  const transaction = readTransaction(rawEnvelope[ENVELOPE_FIELDS.TRANSACTION], envelopeSchema, input);
  const key = await input.decodeKey(source.db, source.table);

  const base = {
    kind: 'change' as const,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key,
    source,
    tsMs: numberOrNull(tsMsValue),
    transaction,
    position: computePosition(op, source, transaction, key, after ?? before, record),
    headers: input.headers,
    primaryKeyChange: readPrimaryKeyChange(input.headers),
    columns: columnNames(afterSchema ?? beforeSchema, after ?? before),
    valueSchemaId: input.valueSchemaId,
  };

  switch (op) {
    case 'create':
    case 'read':
    case 'update':
      if (after === null) {
        throw envelopeError(`Envelope with op ${op} has no after row`, input);
      }
      return op === 'update' ? { ...base, op, before, after } : { ...base, op, before: null, after };
    case 'delete':
      return { ...base, op, before, after: null };
    case 'truncate':
      return { ...base, op, before: null, after: null };
  }
}

/**
 * A record of the `<prefix>.transaction` topic. BEGIN carries no counts. END carries the number of
 * events of the transaction in total and per table, so a consumer can tell when it has them all.
 */
export interface TransactionMarker {
  readonly kind: 'transaction';
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly status: 'BEGIN' | 'END';
  /** The same id as `transaction.id` of the data events. */
  readonly id: string;
  /** Events of the whole transaction, null on BEGIN. */
  readonly eventCount: number | null;
  /** Events per table as `<db>.<table>`, empty on BEGIN. */
  readonly dataCollections: readonly { readonly dataCollection: string; readonly eventCount: number }[];
  readonly tsMs: number | null;
}

/** Builds a transaction marker from a decoded (not yet converted) transaction-topic value. */
export function buildTransactionMarker(
  value: unknown,
  schema: ConnectSchema | null,
  record: RecordCoordinates,
  schemaId: number | null,
  ctx: ConversionContext,
): TransactionMarker {
  const fail = (detail: string): RecordDecodeError =>
    new RecordDecodeError(`Transaction metadata record is invalid: ${detail}`, { record, reason: 'invalid-envelope', schemaId });
  const row = convertRow(value, schema, undefined, 'transaction', ctx);
  if (row === null) {
    throw fail('the value is null');
  }
  const statusText = textOrNull(row['status']);
  const id = textOrNull(row['id']);
  if (statusText !== 'BEGIN' && statusText !== 'END') {
    throw fail(`status ${JSON.stringify(statusText)} is neither BEGIN nor END`);
  }
  const status: 'BEGIN' | 'END' = statusText;
  if (id === null) {
    throw fail('id is missing');
  }
  const rawCollections = row['data_collections'];
  const dataCollections = (Array.isArray(rawCollections) ? rawCollections : []).map((entry: ColumnValue) => {
    const item = entry as Row;
    const dataCollection = textOrNull(item['data_collection']);
    const eventCount = numberOrNull(item['event_count']);
    if (dataCollection === null || eventCount === null) {
      throw fail('a data_collections entry lacks data_collection or event_count');
    }
    return { dataCollection, eventCount };
  });
  return {
    kind: 'transaction',
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    status,
    id,
    eventCount: numberOrNull(row['event_count']),
    dataCollections,
    tsMs: numberOrNull(row['ts_ms']),
  };
}

/** Returns the row a change describes: `after`, or `before` for a delete. Null for a truncate. */
export function rowOf(event: ChangeEvent): Row | null {
  return event.after ?? event.before;
}

/**
 * Lists required columns the record's table lacks, each as `<db>.<table>.<column>`. A column that
 * exists but contains NULL is not missing.
 */
export function missingColumns(event: ChangeEvent, required: readonly string[]): string[] {
  const prefix = event.source.db === '' ? event.source.table : `${event.source.db}.${event.source.table}`;
  return required.filter((column) => !event.columns.has(column)).map((column) => `${prefix}.${column}`);
}

/** Throws `MissingColumnError` naming every required column the record lacks. */
export function assertColumnsPresent(event: ChangeEvent, required: readonly string[]): void {
  const missing = missingColumns(event, required);
  if (missing.length > 0) {
    throw new MissingColumnError(missing, event);
  }
}
