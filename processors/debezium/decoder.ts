/**
 * Decodes Kafka records written by Debezium into typed change events, once, at the edge.
 *
 * Value formats: JSON with an embedded Connect schema (`{schema, payload}`), JSON without one
 * (including the Avro-JSON union form of console-consumer fixtures), and Avro in the Confluent
 * wire format, where every record is read with its own writer schema.
 *
 * A null value (tombstone) is returned as such before any parsing or schema lookup happens.
 */
import { compileWriterSchema, readConfluentFrame } from './avro.ts';
import type { AvroWrapUnions, CompiledWriterSchema, WriterSchemaLookup } from './avro.ts';
import { convertRow } from './convert.ts';
import type { ConversionContext } from './convert.ts';
import { buildChangeEvent, buildTransactionMarker } from './envelope.ts';
import type { DecodedRecord, Tombstone, TransactionMarker } from './envelope.ts';
import {
  DebeziumError,
  InvalidWriterSchemaError,
  RecordDecodeError,
  SchemaNotFoundError,
  SchemaRegistryUnavailableError,
  describeKey,
} from './errors.ts';
import type { RecordCoordinates } from './errors.ts';
import { connectSchemaFromJson, isPlainObject, parseJsonExact } from './json.ts';
import { TIME_PRECISION_MODES, isValidZone } from './temporal.ts';
import type { TimePrecisionMode } from './temporal.ts';
import type { ColumnHints, ConnectSchema, DecimalHandlingMode, JsonValue, RawHeaders, RawRecord, Row, TableHints } from './types.ts';

/** Serialisation format of keys or values, as the connector's converter wrote them. */
export type WireFormat = 'json' | 'avro';

export interface DebeziumDecoderOptions {
  /** Format of record values: `json` (JsonConverter, with or without schemas) or `avro` (Confluent framing). */
  readonly valueFormat: WireFormat;
  /** Format of record keys. @default valueFormat */
  readonly keyFormat?: WireFormat;
  /** Writer-schema source, required when either format is `avro`. */
  readonly schemaLookup?: WriterSchemaLookup;
  /** IANA zone in which DATETIME wall-clock readings are interpreted. @default 'UTC' */
  readonly datetimeZone?: string;
  /** The connector's `time.precision.mode`, used only to read hinted columns that have no schema. @default 'adaptive_time_microseconds' */
  readonly timePrecisionMode?: TimePrecisionMode;
  /** The connector's `decimal.handling.mode`, used only to read hinted decimal strings that have no schema. @default 'precise' */
  readonly decimalHandlingMode?: DecimalHandlingMode;
  /** Per-table column hints, keyed `<db>.<table>`. @default {} */
  readonly columnHints?: ColumnHints;
  /** avsc `wrapUnions` setting for Avro decoding. Decoded rows are the same with any setting. @default 'auto' */
  readonly avroWrapUnions?: AvroWrapUnions;
  /** JSON parser for values, keys and JSON columns. @default parseJsonExact */
  readonly parseJson?: (text: string) => JsonValue;
}

interface DecodedPayload {
  readonly payload: unknown;
  readonly schema: ConnectSchema | null;
  readonly schemaId: number | null;
  /** True for schemaless JSON, where Avro-JSON union wrappers are removed heuristically. */
  readonly unwrapAvroJson: boolean;
}

const DECIMAL_HANDLING_MODES: readonly DecimalHandlingMode[] = ['precise', 'string', 'double'];

function headerText(value: RawHeaders[string]): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  if (last === undefined) {
    return undefined;
  }
  return typeof last === 'string' ? last : last.toString('utf8');
}

function decodeHeaders(headers: RawHeaders | undefined): Readonly<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) {
      result[name] = text;
    }
  }
  return Object.freeze(result);
}

/** Decoder of Debezium records (see the file comment). One instance per consumer is enough. */
export class DebeziumDecoder {
  readonly #valueFormat: WireFormat;
  readonly #keyFormat: WireFormat;
  readonly #schemaLookup: WriterSchemaLookup | undefined;
  readonly #datetimeZone: string;
  readonly #timePrecisionMode: TimePrecisionMode;
  readonly #decimalHandlingMode: DecimalHandlingMode;
  readonly #columnHints: ColumnHints;
  readonly #avroWrapUnions: AvroWrapUnions;
  readonly #parseJson: (text: string) => JsonValue;
  /** Compiled writer schemas by schema id. Failed lookups are removed so that they are retried. */
  readonly #writerSchemas = new Map<number, Promise<CompiledWriterSchema>>();

  constructor({
    valueFormat,
    keyFormat = valueFormat,
    schemaLookup,
    datetimeZone = 'UTC',
    timePrecisionMode = 'adaptive_time_microseconds',
    decimalHandlingMode = 'precise',
    columnHints = {},
    avroWrapUnions = 'auto',
    parseJson = parseJsonExact,
  }: DebeziumDecoderOptions) {
    for (const [option, format] of [['valueFormat', valueFormat], ['keyFormat', keyFormat]] as const) {
      if (format !== 'json' && format !== 'avro') {
        throw new TypeError(`${option} must be 'json' or 'avro', got ${JSON.stringify(format)}`);
      }
    }
    if ((valueFormat === 'avro' || keyFormat === 'avro') && schemaLookup === undefined) {
      throw new TypeError(`schemaLookup is required when valueFormat is '${valueFormat}' and keyFormat is '${keyFormat}'`);
    }
    if (!isValidZone(datetimeZone)) {
      throw new TypeError(`datetimeZone must be an IANA zone name such as 'America/New_York', got ${JSON.stringify(datetimeZone)}`);
    }
    if (!TIME_PRECISION_MODES.includes(timePrecisionMode)) {
      throw new TypeError(`timePrecisionMode must be one of ${TIME_PRECISION_MODES.join(', ')}, got ${JSON.stringify(timePrecisionMode)}`);
    }
    if (!DECIMAL_HANDLING_MODES.includes(decimalHandlingMode)) {
      throw new TypeError(`decimalHandlingMode must be one of ${DECIMAL_HANDLING_MODES.join(', ')}, got ${JSON.stringify(decimalHandlingMode)}`);
    }
    this.#valueFormat = valueFormat;
    this.#keyFormat = keyFormat;
    this.#schemaLookup = schemaLookup;
    this.#datetimeZone = datetimeZone;
    this.#timePrecisionMode = timePrecisionMode;
    this.#decimalHandlingMode = decimalHandlingMode;
    this.#columnHints = columnHints;
    this.#avroWrapUnions = avroWrapUnions;
    this.#parseJson = parseJson;
  }

  /**
   * Decodes one record into a tombstone or a typed change event.
   * Throws `RecordDecodeError` (dead-letter the record) or `SchemaRegistryUnavailableError` (retry it).
   */
  async decode(record: RawRecord): Promise<DecodedRecord> {
    const coordinates: RecordCoordinates = {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      key: describeKey(record.key),
    };
    if (record.value === null) {
      return { kind: 'tombstone', topic: record.topic, partition: record.partition, offset: record.offset, key: coordinates.key };
    }

    const value = await this.#decodePayload(record.value, this.#valueFormat, coordinates, 'value');
    if (value.payload === null) {
      // JsonConverter with schemas writes a null value as {"schema": null, "payload": null}.
      return { kind: 'tombstone', topic: record.topic, partition: record.partition, offset: record.offset, key: coordinates.key };
    }
    const ctx = this.#context(coordinates, value);

    return await buildChangeEvent({
      envelope: value.payload,
      envelopeSchema: value.schema,
      record: coordinates,
      headers: decodeHeaders(record.headers),
      valueSchemaId: value.schemaId,
      ctx,
      hintsFor: (db, table) => this.#hintsFor(db, table),
      decodeKey: async (db, table) => await this.#decodeKey(record.key, coordinates, db, table),
    });
  }

  /**
   * Decodes one record of the transaction metadata topic (`<prefix>.transaction`).
   * Throws like `decode`.
   */
  async decodeTransactionMarker(record: RawRecord): Promise<TransactionMarker | Tombstone> {
    const coordinates: RecordCoordinates = {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      key: describeKey(record.key),
    };
    if (record.value === null) {
      return { kind: 'tombstone', topic: record.topic, partition: record.partition, offset: record.offset, key: coordinates.key };
    }
    const value = await this.#decodePayload(record.value, this.#valueFormat, coordinates, 'value');
    return buildTransactionMarker(value.payload, value.schema, coordinates, value.schemaId, this.#context(coordinates, value));
  }

  #context(record: RecordCoordinates, payload: DecodedPayload): ConversionContext {
    return {
      datetimeZone: this.#datetimeZone,
      timePrecisionMode: this.#timePrecisionMode,
      decimalHandlingMode: this.#decimalHandlingMode,
      record,
      schemaId: payload.schemaId,
      parseJson: this.#parseJson,
      unwrapAvroJson: payload.unwrapAvroJson,
    };
  }

  #hintsFor(db: string, table: string): TableHints | undefined {
    return this.#columnHints[db === '' ? table : `${db}.${table}`];
  }

  async #decodeKey(key: Buffer | null, coordinates: RecordCoordinates, db: string, table: string): Promise<Row | null> {
    if (key === null) {
      return null;
    }
    const decoded = await this.#decodePayload(key, this.#keyFormat, coordinates, 'key');
    const tablePath = db === '' ? table : `${db}.${table}`;
    return convertRow(decoded.payload, decoded.schema, this.#hintsFor(db, table), `${tablePath}(key)`, this.#context(coordinates, decoded));
  }

  async #decodePayload(buffer: Buffer, format: WireFormat, record: RecordCoordinates, part: 'key' | 'value'): Promise<DecodedPayload> {
    return format === 'json' ? this.#decodeJson(buffer, record, part) : await this.#decodeAvro(buffer, record, part);
  }

  #decodeJson(buffer: Buffer, record: RecordCoordinates, part: 'key' | 'value'): DecodedPayload {
    let parsed: unknown;
    try {
      parsed = this.#parseJson(buffer.toString('utf8'));
    } catch (error) {
      const framedHint = buffer[0] === 0x00 ? '. It starts with byte 0x00 like Confluent-framed Avro, so check the decoder format' : '';
      throw new RecordDecodeError(`Record ${part} is not valid JSON${framedHint}`, { record, reason: 'invalid-json', cause: error });
    }
    if (isPlainObject(parsed) && Object.keys(parsed).length === 2 && 'schema' in parsed && 'payload' in parsed) {
      let schema: ConnectSchema | null = null;
      try {
        schema = parsed['schema'] === null ? null : connectSchemaFromJson(parsed['schema']);
      } catch (error) {
        throw new RecordDecodeError(`Record ${part} has an invalid embedded schema: ${(error as Error).message}`, {
          record,
          reason: 'invalid-envelope',
          cause: error,
        });
      }
      return { payload: parsed['payload'], schema, schemaId: null, unwrapAvroJson: false };
    }
    return { payload: parsed, schema: null, schemaId: null, unwrapAvroJson: true };
  }

  async #decodeAvro(buffer: Buffer, record: RecordCoordinates, part: 'key' | 'value'): Promise<DecodedPayload> {
    const frame = readConfluentFrame(buffer);
    if (!frame.framed) {
      throw new RecordDecodeError(`Record ${part} is not in the Confluent Avro wire format: ${frame.problem}`, {
        record,
        reason: 'not-confluent-framed',
      });
    }
    const compiled = await this.#writerSchema(frame.schemaId, record);
    let payload: unknown;
    try {
      payload = compiled.type.fromBuffer(frame.body);
    } catch (error) {
      throw new RecordDecodeError(`Record ${part} does not match its writer schema id ${frame.schemaId}: ${(error as Error).message}`, {
        record,
        reason: 'invalid-avro-payload',
        schemaId: frame.schemaId,
        cause: error,
      });
    }
    return { payload, schema: compiled.connectSchema, schemaId: frame.schemaId, unwrapAvroJson: false };
  }

  async #writerSchema(schemaId: number, record: RecordCoordinates): Promise<CompiledWriterSchema> {
    let pending = this.#writerSchemas.get(schemaId);
    if (pending === undefined) {
      pending = this.#fetchWriterSchema(schemaId);
      this.#writerSchemas.set(schemaId, pending);
      pending.catch(() => this.#writerSchemas.delete(schemaId));
    }
    try {
      return await pending;
    } catch (error) {
      throw this.#schemaFailure(error, schemaId, record);
    }
  }

  async #fetchWriterSchema(schemaId: number): Promise<CompiledWriterSchema> {
    const definition = await this.#schemaLookup!.getWriterSchema(schemaId);
    try {
      return compileWriterSchema(schemaId, definition, this.#avroWrapUnions);
    } catch (error) {
      throw new InvalidWriterSchemaError(schemaId, (error as Error).message, error);
    }
  }

  #schemaFailure(error: unknown, schemaId: number, record: RecordCoordinates): DebeziumError {
    if (error instanceof SchemaNotFoundError) {
      return new RecordDecodeError(`Schema id ${schemaId} is not in the schema registry. Dead-letter the record`, {
        record,
        reason: 'unknown-schema-id',
        schemaId,
        cause: error,
      });
    }
    if (error instanceof InvalidWriterSchemaError) {
      return new RecordDecodeError(error.message, { record, reason: 'invalid-writer-schema', schemaId, cause: error });
    }
    // Anything else (refused connection, timeout, 5xx, an unexpected client failure) may pass, so retry.
    const status = error instanceof SchemaRegistryUnavailableError ? error.status : null;
    return new SchemaRegistryUnavailableError(schemaId, status, error, record);
  }
}

/** Creates a decoder with `DebeziumDecoderOptions`. */
export function createDebeziumDecoder(options: DebeziumDecoderOptions): DebeziumDecoder {
  return new DebeziumDecoder(options);
}
