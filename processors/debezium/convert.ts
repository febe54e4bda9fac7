/**
 * Conversion of raw column values (from Connect JSON or decoded Avro) into plain values, driven by
 * the schema's Connect names and, where the schema is missing or not specific enough, by column hints.
 */
import { ColumnValueInvalidError, DecimalScaleMissingError, RecordDecodeError } from './errors.ts';
import type { RecordCoordinates } from './errors.ts';
import { decimalFromBigInt, decimalFromBytes, decimalFromNumber, decimalFromString, isStrictBase64, scaleFromParameters } from './decimal.ts';
import { isPlainObject, unwrapAvroJsonUnion } from './json.ts';
import {
  Instant,
  LocalDate,
  LocalTime,
  datetimeUnit,
  parseIsoDateTime,
  timeFromNumber,
  timeUnit,
  wallClockMicros,
  wallClockToInstant,
} from './temporal.ts';
import type { TimePrecisionMode } from './temporal.ts';
import type {
  ColumnHint,
  ColumnValue,
  ConnectSchema,
  ConnectStructSchema,
  DecimalHandlingMode,
  DecimalString,
  JsonValue,
  Row,
  TableHints,
} from './types.ts';

/** Connect and Debezium logical names the converter understands. */
export const CONNECT_NAMES = {
  decimal: 'org.apache.kafka.connect.data.Decimal',
  connectDate: 'org.apache.kafka.connect.data.Date',
  connectTime: 'org.apache.kafka.connect.data.Time',
  connectTimestamp: 'org.apache.kafka.connect.data.Timestamp',
  variableScaleDecimal: 'io.debezium.data.VariableScaleDecimal',
  date: 'io.debezium.time.Date',
  time: 'io.debezium.time.Time',
  microTime: 'io.debezium.time.MicroTime',
  nanoTime: 'io.debezium.time.NanoTime',
  timestamp: 'io.debezium.time.Timestamp',
  microTimestamp: 'io.debezium.time.MicroTimestamp',
  nanoTimestamp: 'io.debezium.time.NanoTimestamp',
  zonedTimestamp: 'io.debezium.time.ZonedTimestamp',
  zonedTime: 'io.debezium.time.ZonedTime',
  year: 'io.debezium.time.Year',
  isoDate: 'io.debezium.time.IsoDate',
  isoTime: 'io.debezium.time.IsoTime',
  isoTimestamp: 'io.debezium.time.IsoTimestamp',
  json: 'io.debezium.data.Json',
  enum: 'io.debezium.data.Enum',
  enumSet: 'io.debezium.data.EnumSet',
  bits: 'io.debezium.data.Bits',
} as const;

/** Everything a conversion needs besides the value. */
export interface ConversionContext {
  readonly datetimeZone: string;
  readonly timePrecisionMode: TimePrecisionMode;
  readonly decimalHandlingMode: DecimalHandlingMode;
  readonly record: RecordCoordinates;
  readonly schemaId: number | null;
  readonly parseJson: (text: string) => JsonValue;
  /** Unwrap `{"string": ...}` union objects heuristically (schemaless Avro-JSON fixtures). */
  readonly unwrapAvroJson: boolean;
}

const NOT_SEMANTIC: unique symbol = Symbol('not semantic');

function invalid(path: string, detail: string, ctx: ConversionContext, cause?: unknown): ColumnValueInvalidError {
  return new ColumnValueInvalidError(path, detail, ctx.record, ctx.schemaId, cause);
}

function describe(value: unknown): string {
  if (Buffer.isBuffer(value)) {
    return `bytes ${value.toString('hex')}`;
  }
  if (typeof value === 'bigint') {
    return value.toString();
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Runs `convert`, turning plain TypeErrors/RangeErrors into a ColumnValueInvalidError that names the column. */
function guarded<T>(path: string, value: unknown, ctx: ConversionContext, convert: () => T): T {
  try {
    return convert();
  } catch (error) {
    if (error instanceof RecordDecodeError) {
      throw error;
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(path, `${describe(value)}: ${reason}`, ctx, error);
  }
}

/** Removes an Avro union wrapper (`{"long": 5}`, `{"shop.Value": {...}}`) around `value`. */
export function unwrapUnion(value: unknown, schema: ConnectSchema | null, ctx: ConversionContext): unknown {
  if (!isPlainObject(value)) {
    return value;
  }
  const branches = schema?.avroBranchNames;
  if (branches !== undefined) {
    const keys = Object.keys(value);
    if (keys.length === 1 && branches.includes(keys[0]!)) {
      return value[keys[0]!];
    }
    return value;
  }
  return schema === null && ctx.unwrapAvroJson ? unwrapAvroJsonUnion(value) : value;
}

function integerValue(value: unknown): number | bigint {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    return value;
  }
  throw new TypeError('expected an integer');
}

function bytesOf(value: unknown): Uint8Array | string {
  if (typeof value === 'string' || value instanceof Uint8Array) {
    return value;
  }
  throw new TypeError('expected bytes (base64 text or a buffer)');
}

function bufferOf(value: unknown): Buffer {
  const bytes = bytesOf(value);
  if (typeof bytes === 'string') {
    if (!isStrictBase64(bytes) && bytes !== '') {
      throw new TypeError('expected base64 text');
    }
    return Buffer.from(bytes, 'base64');
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads BIT(n) bytes, which Debezium writes little-endian, as an unsigned bigint. */
function bitsValue(value: unknown): bigint {
  const bytes = bufferOf(value);
  let result = 0n;
  for (let index = bytes.length - 1; index >= 0; index -= 1) {
    result = (result << 8n) | BigInt(bytes[index]!);
  }
  return result;
}

function stringValue(value: unknown): string {
  if (typeof value !== 'string') {
    throw new TypeError('expected a string');
  }
  return value;
}

function decimalFromAny(value: unknown, scale: number | undefined, path: string, ctx: ConversionContext): DecimalString {
  if (typeof value === 'number') {
    return decimalFromNumber(value, scale);
  }
  if (typeof value === 'bigint') {
    return decimalFromBigInt(value, scale);
  }
  if (value instanceof Uint8Array) {
    if (scale === undefined) {
      throw new DecimalScaleMissingError(path, ctx.record);
    }
    return decimalFromBytes(value, scale);
  }
  if (typeof value === 'string') {
    const base64First = ctx.decimalHandlingMode === 'precise' && isStrictBase64(value);
    if (base64First || !/^[+-]?(\d|\.\d)/.test(value)) {
      if (scale === undefined) {
        throw new DecimalScaleMissingError(path, ctx.record);
      }
      return decimalFromBytes(value, scale);
    }
    return decimalFromString(value, scale);
  }
  throw new TypeError('expected a decimal as base64 text, bytes, a number or a numeric string');
}

/** Converts a value whose schema carries a known Connect name, or returns NOT_SEMANTIC. */
function convertNamed(value: unknown, schema: ConnectSchema, path: string, ctx: ConversionContext): ColumnValue | typeof NOT_SEMANTIC {
  switch (schema.name) {
    case CONNECT_NAMES.decimal: {
      const scale = scaleFromParameters(schema.parameters) ?? 0;
      if (typeof value === 'number') {
        // NOTE: JsonConverter decimal.format=NUMERIC writes a JSON number, which JSON.parse reads as a
        // double, so values with more than about 15 significant digits lose their last digits here.
        return decimalFromNumber(value, scale);
      }
      return typeof value === 'bigint' ? decimalFromBigInt(value, scale) : decimalFromBytes(bytesOf(value), scale);
    }
    case CONNECT_NAMES.variableScaleDecimal: {
      if (!isPlainObject(value)) {
        throw new TypeError('expected a {scale, value} struct');
      }
      const scale = integerValue(unwrapUnion(value['scale'], null, ctx));
      return decimalFromBytes(bytesOf(unwrapUnion(value['value'], null, ctx)), Number(scale));
    }
    case CONNECT_NAMES.date:
    case CONNECT_NAMES.connectDate:
      return LocalDate.fromEpochDay(Number(integerValue(value)));
    case CONNECT_NAMES.time:
    case CONNECT_NAMES.connectTime:
      // NOTE: Kafka's Connect Time is int32 milliseconds since midnight, but Debezium's documentation
      // describes connect-mode TIME as microseconds. Kafka's definition is followed here.
      return timeFromNumber(integerValue(value), 'ms');
    case CONNECT_NAMES.microTime:
      return timeFromNumber(integerValue(value), 'us');
    case CONNECT_NAMES.nanoTime:
      return timeFromNumber(integerValue(value), 'ns');
    case CONNECT_NAMES.timestamp:
    case CONNECT_NAMES.connectTimestamp:
      return wallClockToInstant(wallClockMicros(integerValue(value), 'ms'), ctx.datetimeZone);
    case CONNECT_NAMES.microTimestamp:
      return wallClockToInstant(wallClockMicros(integerValue(value), 'us'), ctx.datetimeZone);
    case CONNECT_NAMES.nanoTimestamp:
      return wallClockToInstant(wallClockMicros(integerValue(value), 'ns'), ctx.datetimeZone);
    case CONNECT_NAMES.zonedTimestamp:
    case CONNECT_NAMES.isoTimestamp:
      return parseIsoDateTime(stringValue(value), ctx.datetimeZone);
    case CONNECT_NAMES.isoDate:
      return LocalDate.parse(stringValue(value));
    case CONNECT_NAMES.isoTime:
      return LocalTime.parse(stringValue(value).replace(/Z$/, ''));
    case CONNECT_NAMES.zonedTime:
      // MySQL has no TIME WITH TIME ZONE, so this keeps Debezium's ISO text such as "13:30:00Z".
      return stringValue(value);
    case CONNECT_NAMES.year:
      return Number(integerValue(value));
    case CONNECT_NAMES.json:
      return typeof value === 'string' ? ctx.parseJson(value) : (value as JsonValue);
    case CONNECT_NAMES.enum:
      return stringValue(value);
    case CONNECT_NAMES.enumSet: {
      const text = stringValue(value);
      return text === '' ? [] : text.split(',');
    }
    case CONNECT_NAMES.bits:
      return bitsValue(value);
    default:
      return NOT_SEMANTIC;
  }
}

function booleanFrom(value: unknown): boolean {
  if (typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'number') {
    return value !== 0;
  }
  if (typeof value === 'bigint') {
    return value !== 0n;
  }
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'true') {
      return true;
    }
    if (text === 'false') {
      return false;
    }
    if (/^[+-]?\d+(\.\d+)?$/.test(text)) {
      return Number(text) !== 0;
    }
  }
  throw new TypeError('expected a boolean, a number or a numeric string');
}

function numberFrom(value: unknown): number | bigint {
  if (typeof value === 'number' || typeof value === 'bigint') {
    return value;
  }
  if (typeof value === 'boolean') {
    return value ? 1 : 0;
  }
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    return /^-?\d+$/.test(value.trim()) ? integerValue(BigInt(value.trim())) : Number(value);
  }
  throw new TypeError('expected a number');
}

const TWO_TO_THE_64 = 1n << 64n;

function bigintFrom(value: unknown, unsigned: boolean): bigint {
  let result: bigint;
  if (typeof value === 'bigint') {
    result = value;
  } else if (typeof value === 'number' && Number.isInteger(value)) {
    result = BigInt(value);
  } else if (typeof value === 'boolean') {
    result = value ? 1n : 0n;
  } else if (typeof value === 'string' && /^[+-]?\d+(\.0*)?$/.test(value.trim())) {
    result = BigInt(value.trim().replace(/\.0*$/, ''));
  } else {
    throw new TypeError('expected an integer');
  }
  // BIGINT UNSIGNED above 2^63-1 arrives as a negative int64 under bigint.unsigned.handling.mode=long.
  return unsigned && result < 0n ? result + TWO_TO_THE_64 : result;
}

function stringFrom(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value);
  }
  if (value instanceof Instant || value instanceof LocalDate || value instanceof LocalTime) {
    return value.toString();
  }
  throw new TypeError('expected a scalar');
}

/** Applies a hint to a value that has no schema or only a plain primitive schema. */
function convertByHint(value: unknown, hint: ColumnHint, path: string, ctx: ConversionContext): ColumnValue {
  switch (hint.type) {
    case 'decimal':
      return decimalFromAny(value, hint.scale, path, ctx);
    case 'datetime':
      if (typeof value === 'string') {
        return parseIsoDateTime(value, ctx.datetimeZone);
      }
      return wallClockToInstant(wallClockMicros(integerValue(value), datetimeUnit(ctx.timePrecisionMode, hint.precision)), ctx.datetimeZone);
    case 'timestamp':
      if (typeof value === 'string') {
        return parseIsoDateTime(value, 'UTC');
      }
      return Instant.fromEpochMillis(integerValue(value));
    case 'date':
      return typeof value === 'string' ? LocalDate.parse(value) : LocalDate.fromEpochDay(Number(integerValue(value)));
    case 'time':
      if (typeof value === 'string') {
        return LocalTime.parse(value);
      }
      return timeFromNumber(integerValue(value), timeUnit(ctx.timePrecisionMode, hint.precision));
    case 'boolean':
      return booleanFrom(value);
    case 'json':
      return typeof value === 'string' ? ctx.parseJson(value) : (value as JsonValue);
    case 'number':
      return numberFrom(value);
    case 'bigint':
      return bigintFrom(value, hint.unsigned === true);
    case 'string':
      return stringFrom(value);
  }
}

/** Applies a boolean/number/bigint/string hint to a value already converted by its schema name. */
function coerceNamed(value: ColumnValue, hint: ColumnHint | undefined): ColumnValue {
  if (hint === undefined || value === null) {
    return value;
  }
  switch (hint.type) {
    case 'boolean':
      return booleanFrom(value);
    case 'number':
      return numberFrom(value);
    case 'bigint':
      return bigintFrom(value, hint.unsigned === true);
    case 'string':
      return stringFrom(value);
    default:
      // The schema states the decimal scale, temporal unit or JSON type exactly, so it wins over the hint.
      return value;
  }
}

/** Converts a value by its plain Connect type (no semantic name). */
function convertPlain(value: unknown, schema: ConnectSchema, path: string, ctx: ConversionContext): ColumnValue {
  switch (schema.type) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
      return integerValue(value);
    case 'float32':
    case 'float64':
      if (typeof value !== 'number') {
        throw new TypeError('expected a number');
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') {
        throw new TypeError('expected a boolean');
      }
      return value;
    case 'string':
      return stringValue(value);
    case 'bytes':
      // Binary columns leave the decoder as base64 text, the same in the JSON and the Avro path.
      return typeof value === 'string' ? value : bufferOf(value).toString('base64');
    case 'struct':
      return convertStruct(value, schema, undefined, path, ctx);
    case 'array':
      if (!Array.isArray(value)) {
        throw new TypeError('expected an array');
      }
      return value.map((item, index) => convertColumn(item, schema.items, undefined, `${path}[${index}]`, ctx));
    case 'map': {
      if (!isPlainObject(value)) {
        throw new TypeError('expected a map object');
      }
      const result: Record<string, ColumnValue> = {};
      for (const [key, item] of Object.entries(value)) {
        result[key] = convertColumn(item, schema.values, undefined, `${path}.${key}`, ctx);
      }
      return result;
    }
    case 'union': {
      if (isPlainObject(value)) {
        const keys = Object.keys(value);
        const branch = keys.length === 1 ? schema.branches.find((candidate) => candidate.branchName === keys[0]) : undefined;
        if (branch !== undefined) {
          return convertColumn(value[branch.branchName], branch.schema, undefined, path, ctx);
        }
      }
      // NOTE: an unwrapped value of a multi-branch union is converted without its branch schema.
      return convertSchemaless(value, path, ctx);
    }
  }
}

/** Converts a value that has neither schema nor hint: JSON values pass through, nested unions are unwrapped. */
function convertSchemaless(value: unknown, path: string, ctx: ConversionContext): ColumnValue {
  const unwrapped = ctx.unwrapAvroJson ? unwrapAvroJsonUnion(value) : value;
  if (unwrapped === null || unwrapped === undefined) {
    return null;
  }
  if (unwrapped instanceof Uint8Array) {
    return Buffer.from(unwrapped.buffer, unwrapped.byteOffset, unwrapped.byteLength).toString('base64');
  }
  if (Array.isArray(unwrapped)) {
    return unwrapped.map((item, index) => convertSchemaless(item, `${path}[${index}]`, ctx));
  }
  if (isPlainObject(unwrapped)) {
    const result: Record<string, ColumnValue> = {};
    for (const [key, item] of Object.entries(unwrapped)) {
      result[key] = convertSchemaless(item, `${path}.${key}`, ctx);
    }
    return result;
  }
  return unwrapped as ColumnValue;
}

/**
 * Converts one column value. `path` is `<db>.<table>.<column>` and appears in every error.
 */
export function convertColumn(raw: unknown, schema: ConnectSchema | null, hint: ColumnHint | undefined, path: string, ctx: ConversionContext): ColumnValue {
  const value = unwrapUnion(raw, schema, ctx);
  if (value === null || value === undefined) {
    return null;
  }
  return guarded(path, value, ctx, () => {
    if (schema !== null) {
      const named = convertNamed(value, schema, path, ctx);
      if (named !== NOT_SEMANTIC) {
        return coerceNamed(named, hint);
      }
      return hint === undefined ? convertPlain(value, schema, path, ctx) : convertByHint(value, hint, path, ctx);
    }
    return hint === undefined ? convertSchemaless(value, path, ctx) : convertByHint(value, hint, path, ctx);
  });
}

function convertStruct(value: unknown, schema: ConnectStructSchema, hints: TableHints | undefined, path: string, ctx: ConversionContext): Row {
  if (!isPlainObject(value)) {
    throw new TypeError('expected a struct object');
  }
  const row: Record<string, ColumnValue> = {};
  for (const field of schema.fields) {
    row[field.name] = convertColumn(value[field.name], field.schema, hints?.[field.name], `${path}.${field.name}`, ctx);
  }
  return row;
}

/**
 * Converts a row (`before`, `after` or a key). With a struct schema, every schema field appears in
 * the row (null when absent). Without one, the row has the keys of the raw object.
 * `tablePath` is `<db>.<table>`.
 */
export function convertRow(
  raw: unknown,
  schema: ConnectSchema | null,
  hints: TableHints | undefined,
  tablePath: string,
  ctx: ConversionContext,
): Row | null {
  const value = unwrapUnion(raw, schema, ctx);
  if (value === null || value === undefined) {
    return null;
  }
  if (!isPlainObject(value)) {
    throw new RecordDecodeError(`Row of ${tablePath} is not an object: ${describe(value)}`, {
      record: ctx.record,
      reason: 'invalid-envelope',
      schemaId: ctx.schemaId,
    });
  }
  if (schema !== null && schema.type === 'struct') {
    return convertStruct(value, schema, hints, tablePath, ctx);
  }
  const row: Record<string, ColumnValue> = {};
  for (const [column, item] of Object.entries(value)) {
    row[column] = convertColumn(item, null, hints?.[column], `${tablePath}.${column}`, ctx);
  }
  return row;
}
