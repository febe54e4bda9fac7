/**
 * Avro in the Confluent wire format: framing, writer-schema compilation, and the translation of
 * Avro schemas (with their `connect.*` attributes) into the Connect schema model used for conversion.
 *
 * Wire format: byte 0 is the magic byte 0x00, bytes 1-4 the schema id (big-endian int32), then the
 * Avro binary body written with that schema. Avro binary carries no field names, so every record is
 * read with its own writer schema, fetched and compiled once per schema id.
 */
import avsc from 'avsc';

import { isPlainObject } from './json.ts';
import type { ConnectField, ConnectPrimitiveType, ConnectSchema } from './types.ts';

export const CONFLUENT_MAGIC_BYTE = 0x00;
/** Magic byte plus the 4-byte schema id. */
export const CONFLUENT_HEADER_BYTES = 5;

/** An Avro schema as JSON (what a schema registry stores). */
export type AvroSchemaDefinition = string | readonly unknown[] | Readonly<Record<string, unknown>>;

/** Source of writer schemas for the decoder. */
export interface WriterSchemaLookup {
  /**
   * Returns the Avro writer schema registered under `schemaId`, with its attributes intact.
   * Throws `SchemaNotFoundError` when the id is unknown (non-retriable) and anything else when the
   * registry is unavailable (treated as retriable).
   */
  getWriterSchema(schemaId: number): Promise<AvroSchemaDefinition>;
}

export type ConfluentFrame =
  | { readonly framed: true; readonly schemaId: number; readonly body: Buffer }
  | { readonly framed: false; readonly problem: string };

/** Splits a Confluent-framed buffer into schema id and Avro body. */
export function readConfluentFrame(buffer: Buffer): ConfluentFrame {
  if (buffer.length < CONFLUENT_HEADER_BYTES) {
    return { framed: false, problem: `value is ${buffer.length} bytes, shorter than the ${CONFLUENT_HEADER_BYTES}-byte Confluent header` };
  }
  if (buffer[0] !== CONFLUENT_MAGIC_BYTE) {
    const first = buffer[0]!.toString(16).padStart(2, '0');
    return { framed: false, problem: `first byte is 0x${first}, expected the Confluent magic byte 0x00` };
  }
  return { framed: true, schemaId: buffer.readInt32BE(1), body: buffer.subarray(CONFLUENT_HEADER_BYTES) };
}

/** Prefixes an Avro body with the Confluent header. */
export function writeConfluentFrame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(CONFLUENT_HEADER_BYTES);
  header.writeUInt8(CONFLUENT_MAGIC_BYTE, 0);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Avro long that decodes to a number when it fits in ±(2^53-1) and to a bigint otherwise.
 * avsc's default long type throws "potential precision loss" on nanosecond timestamps and
 * BIGINT UNSIGNED values instead.
 */
export const exactLongType = avsc.types.LongType.__with({
  fromBuffer(buffer: Buffer): number | bigint {
    const value = buffer.readBigInt64LE(0);
    return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  },
  toBuffer(value: number | bigint): Buffer {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    return buffer;
  },
  fromJSON(value: unknown): number | bigint {
    return typeof value === 'string' ? BigInt(value) : (value as number | bigint);
  },
  toJSON(value: number | bigint): number | string {
    return typeof value === 'bigint' ? value.toString() : value;
  },
  isValid(value: unknown): boolean {
    return typeof value === 'bigint' || Number.isSafeInteger(value);
  },
  compare(left: number | bigint, right: number | bigint): number {
    if (left === right) {
      return 0;
    }
    return left < right ? -1 : 1;
  },
});

function useExactLong(schema: unknown): avsc.Type | undefined {
  const isLong = schema === 'long' || (isPlainObject(schema) && schema['type'] === 'long');
  return isLong ? exactLongType : undefined;
}

/** Union wrapping used when decoding Avro binary. Every setting yields the same decoded rows. */
export type AvroWrapUnions = boolean | 'auto';

/** A writer schema ready to decode Avro bodies. */
export interface CompiledWriterSchema {
  readonly schemaId: number;
  readonly type: avsc.Type;
  readonly connectSchema: ConnectSchema;
}

/** Parses an Avro writer schema for decoding. Throws when the schema is not valid Avro. */
export function compileWriterSchema(schemaId: number, definition: AvroSchemaDefinition, wrapUnions: AvroWrapUnions): CompiledWriterSchema {
  const raw: unknown = typeof definition === 'string' ? JSON.parse(definition) : definition;
  // A fresh registry per schema: two versions of one table share record names, and a shared
  // registry would reject the second as a duplicate definition.
  const type = avsc.Type.forSchema(raw as avsc.Schema, { wrapUnions, registry: {}, typeHook: useExactLong });
  return { schemaId, type, connectSchema: connectSchemaFromAvro(raw) };
}

const AVRO_TO_CONNECT: Readonly<Record<string, ConnectPrimitiveType>> = {
  int: 'int32',
  long: 'int64',
  float: 'float32',
  double: 'float64',
  boolean: 'boolean',
  string: 'string',
  bytes: 'bytes',
};

/** Connect names for Avro logical types that arrive without a `connect.name` attribute. */
const LOGICAL_TYPE_TO_CONNECT_NAME: Readonly<Record<string, string>> = {
  decimal: 'org.apache.kafka.connect.data.Decimal',
  date: 'org.apache.kafka.connect.data.Date',
  'time-millis': 'org.apache.kafka.connect.data.Time',
  'timestamp-millis': 'org.apache.kafka.connect.data.Timestamp',
  'local-timestamp-millis': 'org.apache.kafka.connect.data.Timestamp',
  'time-micros': 'io.debezium.time.MicroTime',
  'timestamp-micros': 'io.debezium.time.MicroTimestamp',
  'local-timestamp-micros': 'io.debezium.time.MicroTimestamp',
};

interface Translated {
  readonly schema: ConnectSchema;
  /** The key avsc and the Avro JSON encoding use when this type is wrapped as a union branch. */
  readonly branchName: string;
}

interface TranslationScope {
  readonly named: Map<string, Translated>;
}

function qualify(name: string, namespace: string | undefined): string {
  return name.includes('.') || namespace === undefined || namespace === '' ? name : `${namespace}.${name}`;
}

function namespaceOf(fullName: string): string | undefined {
  const dot = fullName.lastIndexOf('.');
  return dot === -1 ? undefined : fullName.slice(0, dot);
}

function readConnectAttributes(node: Readonly<Record<string, unknown>>): { name?: string; parameters?: Record<string, string> } {
  const connectName = typeof node['connect.name'] === 'string' ? node['connect.name'] : undefined;
  const logicalType = typeof node['logicalType'] === 'string' ? node['logicalType'] : undefined;
  const name = connectName ?? (logicalType === undefined ? undefined : LOGICAL_TYPE_TO_CONNECT_NAME[logicalType]);
  const rawParameters = node['connect.parameters'];
  const parameters: Record<string, string> = {};
  if (isPlainObject(rawParameters)) {
    for (const [key, value] of Object.entries(rawParameters)) {
      parameters[key] = String(value);
    }
  }
  if (name === 'org.apache.kafka.connect.data.Decimal' && parameters['scale'] === undefined) {
    parameters['scale'] = String(node['scale'] ?? 0);
  }
  return {
    ...(name === undefined ? {} : { name }),
    ...(Object.keys(parameters).length === 0 ? {} : { parameters }),
  };
}

function translate(node: unknown, namespace: string | undefined, scope: TranslationScope, where: string): Translated {
  if (typeof node === 'string') {
    if (node === 'null') {
      return { schema: { type: 'string', optional: true }, branchName: 'null' };
    }
    const primitive = AVRO_TO_CONNECT[node];
    if (primitive !== undefined) {
      return { schema: { type: primitive, optional: false }, branchName: node };
    }
    const named = scope.named.get(qualify(node, namespace)) ?? scope.named.get(node);
    if (named === undefined) {
      throw new TypeError(`Avro schema at ${where} references undefined type ${node}`);
    }
    return named;
  }

  if (Array.isArray(node)) {
    const branches = node.map((branch, index) => translate(branch, namespace, scope, `${where}[${index}]`));
    const nonNull = branches.filter((branch) => branch.branchName !== 'null');
    const optional = nonNull.length !== branches.length;
    if (nonNull.length === 1) {
      const only = nonNull[0]!;
      return { schema: { ...only.schema, optional, avroBranchNames: [only.branchName] }, branchName: only.branchName };
    }
    return {
      schema: {
        type: 'union',
        optional,
        branches: nonNull.map((branch) => ({ branchName: branch.branchName, schema: branch.schema })),
        avroBranchNames: nonNull.map((branch) => branch.branchName),
      },
      branchName: 'union',
    };
  }

  if (!isPlainObject(node)) {
    throw new TypeError(`Avro schema at ${where} is neither a name, a union nor an object`);
  }
  const type = node['type'];
  if (typeof type !== 'string') {
    return translate(type, namespace, scope, where);
  }
  const attributes = readConnectAttributes(node);

  switch (type) {
    case 'record':
    case 'error': {
      const fullName = qualify(String(node['name']), typeof node['namespace'] === 'string' ? node['namespace'] : namespace);
      const innerNamespace = namespaceOf(fullName);
      const rawFields = node['fields'];
      if (!Array.isArray(rawFields)) {
        throw new TypeError(`Avro record ${fullName} has no fields array`);
      }
      const fields: ConnectField[] = rawFields.map((field: unknown, index) => {
        if (!isPlainObject(field) || typeof field['name'] !== 'string') {
          throw new TypeError(`Avro record ${fullName} field ${index} has no name`);
        }
        return { name: field['name'], schema: translate(field['type'], innerNamespace, scope, `${fullName}.${field['name']}`).schema };
      });
      const translated: Translated = {
        schema: { type: 'struct', optional: false, fields, name: attributes.name ?? fullName },
        branchName: fullName,
      };
      scope.named.set(fullName, translated);
      return translated;
    }
    case 'enum':
    case 'fixed': {
      const fullName = qualify(String(node['name']), typeof node['namespace'] === 'string' ? node['namespace'] : namespace);
      const translated: Translated = {
        schema: { type: type === 'enum' ? 'string' : 'bytes', optional: false, ...attributes },
        branchName: fullName,
      };
      scope.named.set(fullName, translated);
      return translated;
    }
    case 'array':
      return { schema: { type: 'array', optional: false, items: translate(node['items'], namespace, scope, `${where}[]`).schema, ...attributes }, branchName: 'array' };
    case 'map':
      return { schema: { type: 'map', optional: false, values: translate(node['values'], namespace, scope, `${where}{}`).schema, ...attributes }, branchName: 'map' };
    case 'null':
      return { schema: { type: 'string', optional: true }, branchName: 'null' };
    default: {
      let primitive = AVRO_TO_CONNECT[type];
      if (primitive === undefined) {
        // A named type used as {"type": "shop.Name"}.
        return translate(type, namespace, scope, where);
      }
      const connectType = node['connect.type'];
      if (type === 'int' && (connectType === 'int8' || connectType === 'int16')) {
        primitive = connectType;
      }
      return { schema: { type: primitive, optional: false, ...attributes }, branchName: type };
    }
  }
}

/** Translates an Avro schema (parsed JSON) into the Connect schema model. */
export function connectSchemaFromAvro(raw: unknown): ConnectSchema {
  return translate(raw, undefined, { named: new Map() }, 'schema').schema;
}
