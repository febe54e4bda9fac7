/**
 * Public API of processors/debezium: decode Debezium change records into typed rows.
 */
export { DebeziumDecoder, createDebeziumDecoder } from './decoder.ts';
export type { DebeziumDecoderOptions, WireFormat } from './decoder.ts';
export {
  ENVELOPE_FIELDS,
  OPERATION_BY_CODE,
  OP_CODES,
  PRIMARY_KEY_CHANGE_HEADERS,
  SNAPSHOT_MARKERS,
  assertColumnsPresent,
  missingColumns,
  rowOf,
  tableFromTopic,
} from './envelope.ts';
export type {
  ChangeEvent,
  CreateEvent,
  DecodedRecord,
  DeleteEvent,
  OpCode,
  Operation,
  PrimaryKeyChange,
  ReadEvent,
  SnapshotMarker,
  SourceInfo,
  Tombstone,
  TransactionInfo,
  TransactionMarker,
  TruncateEvent,
  UpdateEvent,
} from './envelope.ts';
export {
  ColumnValueInvalidError,
  DebeziumError,
  DecimalScaleMissingError,
  InvalidWriterSchemaError,
  MissingColumnError,
  RecordDecodeError,
  SchemaNotFoundError,
  SchemaRegistryUnavailableError,
  UnknownOperationError,
  describeKey,
} from './errors.ts';
export type { DecodeFailureReason, RecordCoordinates } from './errors.ts';
export { SourceSchemaTracker } from './schema-changes.ts';
export type { SchemaChange, SchemaInspection, SchemaStatus, SourceSchemaTrackerOptions } from './schema-changes.ts';
export { CONFLUENT_MAGIC_BYTE, readConfluentFrame, writeConfluentFrame } from './avro.ts';
export type { AvroSchemaDefinition, AvroWrapUnions, WriterSchemaLookup } from './avro.ts';
export { RegistrySchemaLookup } from './registry.ts';
export type { RegistrySchemaLookupOptions } from './registry.ts';
export { formatUnscaled, toDecimal, unscaledFromBytes } from './decimal.ts';
export { Instant, LocalDate, LocalTime } from './temporal.ts';
export type { TimePrecisionMode } from './temporal.ts';
export { parseJsonExact, stringifyExact } from './json.ts';
export type {
  ColumnHint,
  ColumnHints,
  ColumnValue,
  DecimalHandlingMode,
  DecimalString,
  JsonValue,
  RawRecord,
  Row,
  TableHints,
} from './types.ts';
