// Builders for Debezium records used by the decoder tests.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import avsc from 'avsc';

import { exactLongType, writeConfluentFrame } from '../../processors/debezium/avro.ts';
import type { AvroSchemaDefinition, WriterSchemaLookup } from '../../processors/debezium/avro.ts';
import type { ChangeEvent, DecodedRecord } from '../../processors/debezium/envelope.ts';
import { SchemaNotFoundError } from '../../processors/debezium/errors.ts';
import { stringifyExact } from '../../processors/debezium/json.ts';
import type { RawHeaders, RawRecord } from '../../processors/debezium/types.ts';

let nextOffset = 100;

export interface RecordOptions {
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: string;
  readonly key?: Buffer | string | null;
  readonly headers?: RawHeaders;
}

/** Builds a Kafka record whose value is `value` serialised as JSON (bigints kept exact). */
export function jsonRecord(value: unknown, options: RecordOptions = {}): RawRecord {
  return rawRecord(Buffer.from(stringifyExact(value)), options);
}

export function rawRecord(value: Buffer | null, options: RecordOptions = {}): RawRecord {
  const key = options.key === undefined ? null : options.key;
  return {
    topic: options.topic ?? 'shop.shop.orders',
    partition: options.partition ?? 0,
    offset: options.offset ?? String(nextOffset++),
    key: typeof key === 'string' ? Buffer.from(key) : key,
    value,
    ...(options.headers === undefined ? {} : { headers: options.headers }),
  };
}

/** Narrows a decoded record to a change event, failing the test otherwise. */
export function asChange(record: DecodedRecord): ChangeEvent {
  assert.equal(record.kind, 'change');
  return record as ChangeEvent;
}

/** Connect JSON schema of a Decimal column. */
export function decimalField(field: string, scale: number, optional = false): Record<string, unknown> {
  return {
    field,
    type: 'bytes',
    optional,
    name: 'org.apache.kafka.connect.data.Decimal',
    version: 1,
    parameters: { scale: String(scale), 'connect.decimal.precision': '10' },
  };
}

/** Builds a JSON-converter envelope schema whose before/after rows have `columns`. */
export function envelopeSchema(table: string, columns: readonly Record<string, unknown>[]): Record<string, unknown> {
  const row = { type: 'struct', optional: true, name: `shop.shop.${table}.Value`, fields: columns };
  return {
    type: 'struct',
    name: `shop.shop.${table}.Envelope`,
    optional: false,
    fields: [
      { ...row, field: 'before' },
      { ...row, field: 'after' },
      {
        field: 'source',
        type: 'struct',
        optional: false,
        name: 'io.debezium.connector.mariadb.Source',
        fields: [
          { field: 'connector', type: 'string', optional: false },
          { field: 'db', type: 'string', optional: false },
          { field: 'table', type: 'string', optional: true },
          { field: 'ts_ms', type: 'int64', optional: false },
          {
            field: 'snapshot',
            type: 'string',
            optional: true,
            name: 'io.debezium.data.Enum',
            version: 1,
            parameters: { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
          },
          { field: 'file', type: 'string', optional: false },
          { field: 'pos', type: 'int64', optional: false },
          { field: 'row', type: 'int32', optional: false },
        ],
      },
      { field: 'op', type: 'string', optional: false },
      { field: 'ts_ms', type: 'int64', optional: true },
    ],
  };
}

/** Builds a Debezium source block for table `table` of db `shop`. */
export function source(table: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    connector: 'mariadb',
    db: 'shop',
    table,
    ts_ms: 1721050200000,
    snapshot: 'false',
    file: 'mariadb-bin.000003',
    pos: 4471,
    row: 0,
    ...extra,
  };
}

/** Builds a schemaless envelope. */
export function envelope(table: string, op: string, after: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { before: null, after, source: source(table), op, ts_ms: 1721050200412, ...extra };
}

/** Reads a record captured from the local MariaDB connector (Debezium 3.5.0.Final, JsonConverter). */
export function capturedRecord(name: string): RawRecord {
  const text = readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
  const captured = JSON.parse(text) as { topic: string; partition: number; offset: string; key: string; headers: Record<string, string>; value: string };
  return {
    topic: captured.topic,
    partition: captured.partition,
    offset: captured.offset,
    key: Buffer.from(captured.key),
    value: Buffer.from(captured.value),
    headers: captured.headers,
  };
}

/** avsc type of a writer schema, with longs that may exceed 2^53. */
export function avroType(schema: AvroSchemaDefinition): avsc.Type {
  return avsc.Type.forSchema(schema as avsc.Schema, {
    registry: {},
    typeHook: (node) => (node === 'long' || (typeof node === 'object' && node !== null && (node as { type?: unknown }).type === 'long') ? exactLongType : undefined),
  });
}

/** Encodes `value` with `schema` in the Confluent wire format under `schemaId`. */
export function avroFrame(schemaId: number, schema: AvroSchemaDefinition, value: unknown): Buffer {
  return writeConfluentFrame(schemaId, avroType(schema).toBuffer(value));
}

/** An in-memory writer-schema lookup that counts its calls. */
export class MemorySchemaLookup implements WriterSchemaLookup {
  readonly calls: number[] = [];
  readonly #schemas: Map<number, AvroSchemaDefinition>;
  failure: Error | null = null;

  constructor(schemas: Record<number, AvroSchemaDefinition>) {
    this.#schemas = new Map(Object.entries(schemas).map(([id, schema]) => [Number(id), schema]));
  }

  async getWriterSchema(schemaId: number): Promise<AvroSchemaDefinition> {
    this.calls.push(schemaId);
    if (this.failure !== null) {
      throw this.failure;
    }
    const schema = this.#schemas.get(schemaId);
    if (schema === undefined) {
      throw new SchemaNotFoundError(schemaId);
    }
    return schema;
  }
}

/** Avro writer schema of `shop.shop.<table>` with the given row fields, shaped as Debezium writes it. */
export function avroEnvelopeSchema(table: string, rowFields: readonly unknown[]): Record<string, unknown> {
  return {
    type: 'record',
    name: 'Envelope',
    namespace: `shop.shop.${table}`,
    fields: [
      { name: 'before', type: ['null', { type: 'record', name: 'Value', fields: rowFields, 'connect.name': `shop.shop.${table}.Value` }], default: null },
      { name: 'after', type: ['null', 'Value'], default: null },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          namespace: 'io.debezium.connector.mariadb',
          fields: [
            { name: 'version', type: 'string' },
            { name: 'connector', type: 'string' },
            { name: 'ts_ms', type: 'long' },
            {
              name: 'snapshot',
              type: [
                {
                  type: 'string',
                  'connect.version': 1,
                  'connect.parameters': { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
                  'connect.default': 'false',
                  'connect.name': 'io.debezium.data.Enum',
                },
                'null',
              ],
              default: 'false',
            },
            { name: 'db', type: 'string' },
            { name: 'table', type: ['null', 'string'], default: null },
            { name: 'server_id', type: 'long' },
            { name: 'gtid', type: ['null', 'string'], default: null },
            { name: 'file', type: 'string' },
            { name: 'pos', type: 'long' },
            { name: 'row', type: 'int' },
          ],
          'connect.name': 'io.debezium.connector.mariadb.Source',
        },
      },
      {
        name: 'transaction',
        type: [
          'null',
          {
            type: 'record',
            name: 'block',
            namespace: 'event',
            fields: [
              { name: 'id', type: 'string' },
              { name: 'total_order', type: 'long' },
              { name: 'data_collection_order', type: 'long' },
            ],
            'connect.name': 'event.block',
          },
        ],
        default: null,
      },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: ['null', 'long'], default: null },
      { name: 'ts_ns', type: ['null', 'long'], default: null },
    ],
    'connect.name': `shop.shop.${table}.Envelope`,
  };
}

/** Avro source value matching `avroEnvelopeSchema`, with unwrapped unions (avsc's default for ["null", T]). */
export function avroSource(table: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '3.5.0.Final',
    connector: 'mariadb',
    ts_ms: 1721050200000,
    snapshot: 'false',
    db: 'shop',
    table,
    server_id: 1,
    gtid: '0-1-7',
    file: 'mariadb-bin.000003',
    pos: 4471,
    row: 0,
    ...extra,
  };
}
