/**
 * Value types of decoded Debezium rows, column hints, and the schema model shared by the JSON and
 * Avro paths.
 *
 * Representations chosen for exactness:
 * - DECIMAL → `DecimalString`: a canonical decimal string with exactly `scale` fraction digits
 *   ("7.90", "-5.00", "0.1880"), so the declared scale survives and the value can go into a JSON
 *   payload unchanged. Use `toDecimal()` (decimal.js) for arithmetic. When neither a schema nor a hint
 *   gives the scale (string or double mode without a hint), the string keeps the digits it arrived with.
 * - DATETIME / TIMESTAMP → `Instant`: epoch microseconds as a bigint, with `toUnixSeconds()`,
 *   `toUnixMillis()` and `toISOString()`.
 * - DATE → `LocalDate`, TIME → `LocalTime`.
 * - Integers beyond ±2^53 (BIGINT, BIGINT UNSIGNED, nanosecond timestamps) → `bigint`, while smaller
 *   integers stay `number`, so an int64 column can yield either. Format ids with `String(value)`.
 * - JSON columns → the parsed JSON value (unsafe integers inside it become bigint too).
 * - BIT(n > 1) → `bigint`, SET → `string[]`, binary columns → base64 text. No Buffer leaves the decoder.
 */
import type { Instant, LocalDate, LocalTime } from './temporal.ts';

declare const decimalBrand: unique symbol;

/** A canonical decimal string such as "-12.50" (see the file comment). */
export type DecimalString = string & { readonly [decimalBrand]: true };

/** A parsed JSON value as returned by `parseJsonExact`. */
export type JsonValue = null | boolean | number | bigint | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** One column value of a decoded row. */
export type ColumnValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | DecimalString
  | Instant
  | LocalDate
  | LocalTime
  | JsonValue
  | readonly ColumnValue[]
  | { readonly [field: string]: ColumnValue };

/** A decoded row: column name to plain value. */
export type Row = Readonly<Record<string, ColumnValue>>;

/**
 * Caller knowledge about a column, for records that may carry no schema (JSON converter with
 * `schemas.enable=false`), or when the schema alone does not say enough (TINYINT(1) as boolean).
 * When a schema with a semantic name is present (Decimal, Timestamp, ...), the schema wins for
 * decimal, temporal and json hints, while boolean, number, bigint and string hints still convert
 * the result.
 */
export type ColumnHint =
  /** DECIMAL(p, scale). The scale is required to read precise-mode base64 without a schema. */
  | { readonly type: 'decimal'; readonly scale?: number }
  /** DATETIME(precision): a wall-clock reading, placed in the decoder's `datetimeZone`. */
  | { readonly type: 'datetime'; readonly precision?: number }
  /** TIMESTAMP: an instant (ISO-8601 string in UTC). */
  | { readonly type: 'timestamp' }
  | { readonly type: 'date' }
  | { readonly type: 'time'; readonly precision?: number }
  /** TINYINT(1) used as a flag: any non-zero number is true, as in MySQL. */
  | { readonly type: 'boolean' }
  /** A JSON column (MariaDB sends it as a plain string). */
  | { readonly type: 'json' }
  /** Keep as a number, for example a TINYINT(1) that contains 0-9. */
  | { readonly type: 'number' }
  /** Always a bigint. `unsigned` undoes the wrap-around of BIGINT UNSIGNED values above 2^63-1 in `long` mode. */
  | { readonly type: 'bigint'; readonly unsigned?: boolean }
  | { readonly type: 'string' };

/** Hints of one table, by column name. */
export type TableHints = Readonly<Record<string, ColumnHint>>;

/** Hints by `<db>.<table>`, for example `{ 'shop.orders': { total: { type: 'decimal', scale: 2 } } }`. */
export type ColumnHints = Readonly<Record<string, TableHints>>;

/** Debezium's `decimal.handling.mode`. Only consulted for hinted decimal strings without a schema. */
export type DecimalHandlingMode = 'precise' | 'string' | 'double';

export type ConnectPrimitiveType = 'int8' | 'int16' | 'int32' | 'int64' | 'float32' | 'float64' | 'boolean' | 'string' | 'bytes';

interface ConnectSchemaBase {
  /** Connect logical name, e.g. `org.apache.kafka.connect.data.Decimal` or `io.debezium.time.Timestamp`. */
  readonly name?: string;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly optional: boolean;
  /**
   * Avro union branch names under which this value may arrive wrapped (`{"long": 5}`), when the
   * schema came from an Avro union such as `["null", "long"]`.
   */
  readonly avroBranchNames?: readonly string[];
}

export interface ConnectPrimitiveSchema extends ConnectSchemaBase {
  readonly type: ConnectPrimitiveType;
}

export interface ConnectField {
  readonly name: string;
  readonly schema: ConnectSchema;
}

export interface ConnectStructSchema extends ConnectSchemaBase {
  readonly type: 'struct';
  readonly fields: readonly ConnectField[];
}

export interface ConnectArraySchema extends ConnectSchemaBase {
  readonly type: 'array';
  readonly items: ConnectSchema;
}

export interface ConnectMapSchema extends ConnectSchemaBase {
  readonly type: 'map';
  readonly values: ConnectSchema;
}

/** An Avro union with more than one non-null branch (Debezium does not write these for rows). */
export interface ConnectUnionSchema extends ConnectSchemaBase {
  readonly type: 'union';
  readonly branches: readonly { readonly branchName: string; readonly schema: ConnectSchema }[];
}

/**
 * Kafka Connect's schema model. The JSON converter embeds it directly, and Avro writer schemas are
 * translated into it (`connect.name`, `connect.parameters`, `connect.type` attributes).
 */
export type ConnectSchema = ConnectPrimitiveSchema | ConnectStructSchema | ConnectArraySchema | ConnectMapSchema | ConnectUnionSchema;

/** Kafka record headers as kafkajs delivers them. */
export type RawHeaders = Readonly<Record<string, Buffer | string | readonly (Buffer | string)[] | undefined>>;

/** A record as consumed from Kafka (kafkajs `eachMessage`/`eachBatch` fields). */
export interface RawRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  /** Null for a tombstone. */
  readonly value: Buffer | null;
  readonly headers?: RawHeaders;
}
