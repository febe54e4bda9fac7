/**
 * JSON helpers: parsing that keeps big integers exact, the Connect schema embedded by the JSON
 * converter (`schemas.enable=true`), and unwrapping of the Avro-JSON union form.
 */
import type { ConnectField, ConnectPrimitiveType, ConnectSchema, JsonValue } from './types.ts';

// Every integer beyond Number.MAX_SAFE_INTEGER (9007199254740991) has at least 16 digits, so text
// without such a run can be parsed without the slower reviver.
const LONG_DIGIT_RUN = /\d{16,}/;
const INTEGER_LITERAL = /^-?\d+$/;

interface ReviverContext {
  readonly source?: string;
}

function reviveUnsafeInteger(_key: string, value: unknown, context?: ReviverContext): unknown {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context?.source !== undefined && INTEGER_LITERAL.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}

/**
 * Parses JSON and turns integers outside ±(2^53-1) into bigint, using the reviver's
 * `context.source` (Node 22+), so `ts_ns`, BIGINT UNSIGNED and large ids keep every digit.
 * Non-integer numbers stay JavaScript numbers.
 */
export function parseJsonExact(text: string): JsonValue {
  if (!LONG_DIGIT_RUN.test(text)) {
    return JSON.parse(text) as JsonValue;
  }
  return JSON.parse(text, reviveUnsafeInteger as (this: unknown, key: string, value: unknown) => unknown) as JsonValue;
}

/** Serialises JSON with bigints written as plain integer literals. Used for stable position strings. */
export function stringifyExact(value: unknown): string {
  // rawJSON writes the digits without quotes (Node 21+), so 12345678901234567890 stays a number literal.
  const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? rawJson(item.toString()) : item));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value) && !(value instanceof Uint8Array);
}

const AVRO_PRIMITIVE_BRANCHES = new Set(['boolean', 'int', 'long', 'float', 'double', 'bytes', 'string', 'array', 'map']);

/**
 * Unwraps one level of the Avro-JSON union form when no schema is at hand: `{"string": "x"}` gives
 * "x" and `{"shop.shop.customers.Value": {...}}` gives the inner object. An object is treated as a
 * wrapped union only when it has exactly one key and that key is an Avro primitive type name or a
 * dotted, namespace-qualified type name.
 * NOTE: a schemaless row whose only column is literally named `int`, `string`, ... would be
 * misread. Debezium rows always have more columns or a key with a different name in practice.
 */
export function unwrapAvroJsonUnion(value: unknown): unknown {
  if (!isPlainObject(value)) {
    return value;
  }
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    return value;
  }
  const branch = keys[0]!;
  if (AVRO_PRIMITIVE_BRANCHES.has(branch) || (branch.includes('.') && !branch.startsWith('.') && !branch.endsWith('.'))) {
    return value[branch];
  }
  return value;
}

const CONNECT_PRIMITIVES: ReadonlySet<string> = new Set<ConnectPrimitiveType>([
  'int8',
  'int16',
  'int32',
  'int64',
  'float32',
  'float64',
  'boolean',
  'string',
  'bytes',
]);

function readParameters(raw: unknown, where: string): Readonly<Record<string, string>> | undefined {
  if (raw === undefined || raw === null) {
    return undefined;
  }
  if (!isPlainObject(raw)) {
    throw new TypeError(`Schema parameters at ${where} are not an object`);
  }
  const parameters: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    parameters[name] = String(value);
  }
  return parameters;
}

/**
 * Translates the `schema` part of a JSON-converter record (`{schema, payload}`) into the Connect
 * schema model. Throws a TypeError naming the path of the first malformed node.
 */
export function connectSchemaFromJson(raw: unknown, where = 'schema'): ConnectSchema {
  if (!isPlainObject(raw)) {
    throw new TypeError(`Connect schema at ${where} is not an object`);
  }
  const type = raw['type'];
  const optional = raw['optional'] === true;
  const name = typeof raw['name'] === 'string' ? raw['name'] : undefined;
  const parameters = readParameters(raw['parameters'], where);
  const base = {
    optional,
    ...(name === undefined ? {} : { name }),
    ...(parameters === undefined ? {} : { parameters }),
  };
  if (typeof type === 'string' && CONNECT_PRIMITIVES.has(type)) {
    return { ...base, type: type as ConnectPrimitiveType };
  }
  switch (type) {
    case 'struct': {
      const rawFields = raw['fields'];
      if (!Array.isArray(rawFields)) {
        throw new TypeError(`Connect struct schema at ${where} has no fields array`);
      }
      const fields: ConnectField[] = rawFields.map((field: unknown, index) => {
        if (!isPlainObject(field) || typeof field['field'] !== 'string') {
          throw new TypeError(`Connect struct field ${index} at ${where} has no field name`);
        }
        return { name: field['field'], schema: connectSchemaFromJson(field, `${where}.${field['field']}`) };
      });
      return { ...base, type: 'struct', fields };
    }
    case 'array':
      return { ...base, type: 'array', items: connectSchemaFromJson(raw['items'], `${where}[]`) };
    case 'map':
      return { ...base, type: 'map', values: connectSchemaFromJson(raw['values'], `${where}{}`) };
    default:
      throw new TypeError(`Connect schema at ${where} has unknown type ${JSON.stringify(type)}`);
  }
}
