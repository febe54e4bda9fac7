/**
 * Errors raised while decoding Debezium records.
 *
 * Two families matter to a caller:
 * - `RecordDecodeError` (retriable: false): this one record can never be decoded as it is.
 *   The caller dead-letters it with the topic, partition, offset, key and schema id it carries,
 *   commits, and moves on.
 * - `SchemaRegistryUnavailableError` (retriable: true): the registry could not be reached or
 *   returned 5xx. The record itself may be fine, so the caller retries it and never dead-letters it.
 */

/** Position of the Kafka record an error refers to. */
export interface RecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offset, kept as a string like every offset in this project. */
  readonly offset: string;
  /** The record key as UTF-8 text, `base64:<...>` for binary keys, or null for a null key. */
  readonly key: string | null;
}

export interface DebeziumErrorOptions {
  readonly code: string;
  readonly retriable: boolean;
  readonly cause?: unknown;
}

/** Base class of every error thrown from processors/debezium. */
export class DebeziumError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(message: string, options: DebeziumErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable;
  }
}

/** Reason a record could not be decoded. */
export type DecodeFailureReason =
  | 'not-confluent-framed'
  | 'unknown-schema-id'
  | 'invalid-writer-schema'
  | 'invalid-avro-payload'
  | 'invalid-json'
  | 'invalid-envelope'
  | 'unknown-operation'
  | 'decimal-scale-missing'
  | 'invalid-column-value';

export interface RecordDecodeErrorOptions {
  readonly record: RecordCoordinates;
  readonly reason: DecodeFailureReason;
  /** Confluent schema id of the value (or key) being decoded, null for JSON records. */
  readonly schemaId?: number | null;
  readonly cause?: unknown;
}

/**
 * A record that cannot be decoded however often it is retried. Dead-letter it and commit.
 */
export class RecordDecodeError extends DebeziumError {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly schemaId: number | null;
  readonly reason: DecodeFailureReason;

  constructor(message: string, options: RecordDecodeErrorOptions) {
    super(`${message} (topic ${options.record.topic}, partition ${options.record.partition}, offset ${options.record.offset})`, {
      code: `ERR_DEBEZIUM_${options.reason.toUpperCase().replaceAll('-', '_')}`,
      retriable: false,
      cause: options.cause,
    });
    this.topic = options.record.topic;
    this.partition = options.record.partition;
    this.offset = options.record.offset;
    this.key = options.record.key;
    this.schemaId = options.schemaId ?? null;
    this.reason = options.reason;
  }
}

/** Error for an envelope whose `op` is not c, u, d, r or t. */
export class UnknownOperationError extends RecordDecodeError {
  readonly op: unknown;

  constructor(op: unknown, record: RecordCoordinates, schemaId: number | null) {
    super(`Unknown Debezium operation ${JSON.stringify(op) ?? String(op)}: expected c, u, d, r or t. Dead-letter the record`, {
      record,
      reason: 'unknown-operation',
      schemaId,
    });
    this.op = op;
  }
}

/** A base64 DECIMAL arrived without a schema, and no column hint gives its scale. */
export class DecimalScaleMissingError extends RecordDecodeError {
  /** `<db>.<table>.<column>` */
  readonly column: string;

  constructor(column: string, record: RecordCoordinates) {
    super(
      `Column ${column} holds a base64 DECIMAL but the record has no schema and no column hint gives its scale: ` +
        `add {type: 'decimal', scale} for ${column} to the column hints, or enable schemas in the converter`,
      { record, reason: 'decimal-scale-missing' },
    );
    this.column = column;
  }
}

/** Error for a column value that does not match its schema or hint. */
export class ColumnValueInvalidError extends RecordDecodeError {
  /** `<db>.<table>.<column>` */
  readonly column: string;

  constructor(column: string, detail: string, record: RecordCoordinates, schemaId: number | null, cause?: unknown) {
    super(`Invalid value in column ${column}: ${detail}`, { record, reason: 'invalid-column-value', schemaId, cause });
    this.column = column;
  }
}

/**
 * Thrown by a `WriterSchemaLookup` when the registry has no schema with that id (HTTP 404).
 * The decoder turns it into a `RecordDecodeError` with reason `unknown-schema-id`.
 */
export class SchemaNotFoundError extends DebeziumError {
  readonly schemaId: number;

  constructor(schemaId: number, cause?: unknown) {
    super(`Schema id ${schemaId} was not found in the schema registry`, {
      code: 'ERR_DEBEZIUM_SCHEMA_NOT_FOUND',
      retriable: false,
      cause,
    });
    this.schemaId = schemaId;
  }
}

/**
 * The registry returned something that is not a usable Avro schema for this id (not valid Avro,
 * or a JSON Schema/Protobuf schema). The decoder turns it into a `RecordDecodeError` with reason
 * `invalid-writer-schema`.
 */
export class InvalidWriterSchemaError extends DebeziumError {
  readonly schemaId: number;

  constructor(schemaId: number, detail: string, cause?: unknown) {
    super(`Schema id ${schemaId} is not a usable Avro writer schema: ${detail}`, {
      code: 'ERR_DEBEZIUM_INVALID_WRITER_SCHEMA',
      retriable: false,
      cause,
    });
    this.schemaId = schemaId;
  }
}

/**
 * The schema registry is unreachable, timed out or returned an error other than 404.
 * Retry the record later. Never dead-letter it, because the record itself may be valid.
 */
export class SchemaRegistryUnavailableError extends DebeziumError {
  readonly schemaId: number;
  /** HTTP status the registry returned, or null when no response arrived. */
  readonly status: number | null;
  readonly topic: string | null;
  readonly partition: number | null;
  readonly offset: string | null;

  constructor(schemaId: number, status: number | null, cause: unknown, record?: RecordCoordinates) {
    const failure = status === null ? 'could not be reached' : `returned HTTP ${status}`;
    super(`Schema registry ${failure} while fetching schema id ${schemaId}: retry the record later`, {
      code: 'ERR_DEBEZIUM_SCHEMA_REGISTRY_UNAVAILABLE',
      retriable: true,
      cause,
    });
    this.schemaId = schemaId;
    this.status = status;
    this.topic = record?.topic ?? null;
    this.partition = record?.partition ?? null;
    this.offset = record?.offset ?? null;
  }
}

/**
 * A row lacks columns that the caller requires, typically after `ALTER TABLE ... DROP COLUMN`.
 * Not retriable: the same record will always lack them.
 */
export class MissingColumnError extends DebeziumError {
  /** Each missing column as `<db>.<table>.<column>`. */
  readonly columns: readonly string[];
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;

  constructor(columns: readonly string[], record: { topic: string; partition: number; offset: string }) {
    super(
      `Required column${columns.length === 1 ? '' : 's'} ${columns.join(', ')} missing from the record ` +
        `(topic ${record.topic}, partition ${record.partition}, offset ${record.offset}): ` +
        'the source table was probably altered, so update the mapping',
      { code: 'ERR_DEBEZIUM_MISSING_COLUMN', retriable: false },
    );
    this.columns = columns;
    this.topic = record.topic;
    this.partition = record.partition;
    this.offset = record.offset;
  }
}

/** Formats a Kafka key for error fields and logs: UTF-8 text when printable, base64 otherwise. */
export function describeKey(key: Buffer | string | null | undefined): string | null {
  if (key === null || key === undefined) {
    return null;
  }
  if (typeof key === 'string') {
    return key;
  }
  const text = key.toString('utf8');
  const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000E-\u001F]/.test(text);
  return printable ? text : `base64:${key.toString('base64')}`;
}
