// The mapping file: which source tables and columns play which role. It is
// validated once at start against schemas/mapping.schema.json, and every error
// names the bad key and what was expected.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';

import type { ColumnHint, ColumnHints, TableHints } from '../debezium/index.ts';

export const MAPPING_SCHEMA_FILE = join(import.meta.dirname, '..', '..', 'schemas', 'mapping.schema.json');
export const DEFAULT_MAPPING_FILE = join(import.meta.dirname, '..', '..', 'schemas', 'mapping.default.yaml');

export type TableRole = 'customers' | 'orders' | 'orderItems' | 'carts' | 'cartItems' | 'fulfillments' | 'refunds' | 'subscriptions';

export type EventRole =
  | 'orderPlaced'
  | 'orderPaid'
  | 'orderFulfilled'
  | 'orderCanceled'
  | 'refundCreated'
  | 'subscriptionCreated'
  | 'subscriptionCanceled'
  | 'cartUpdated'
  | 'checkoutStarted';

export interface TableMapping {
  readonly table: string;
  /** Source column by role, for example `{ createdAt: 'placed_at' }`. */
  readonly columns: Readonly<Record<string, string>>;
  /** Declared column types, for example `{ total: 'decimal(12,2)' }`. */
  readonly types: Readonly<Record<string, string>>;
  /** Status values by meaning, for example `{ paid: ['paid'] }`. */
  readonly statuses: Readonly<Record<string, readonly string[]>>;
}

export interface Mapping {
  readonly version: 1;
  readonly source: { readonly topicPrefix: string; readonly database: string };
  readonly datetimeZone: string;
  readonly emitSnapshotEvents: boolean;
  readonly tables: Readonly<Partial<Record<TableRole, TableMapping>>> & Readonly<Record<'customers' | 'orders' | 'orderItems', TableMapping>>;
  readonly events: Readonly<Record<EventRole, string>>;
}

/** The mapping file is invalid; the message names the key and what was expected. */
export class MappingError extends Error {
  override readonly name = 'MappingError';
  readonly code = 'MAPPING_INVALID';
  readonly retriable = false;
  readonly file: string;
  readonly key: string | null;

  constructor(file: string, key: string | null, message: string) {
    super(`invalid mapping ${file}${key === null ? '' : ` at ${key}`}: ${message}`);
    this.file = file;
    this.key = key;
  }
}

/** Converts a JSON pointer such as `/tables/orders/columns` into `tables.orders.columns`. */
function keyOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (error.keyword === 'required') path.push(String((error.params as { missingProperty: string }).missingProperty));
  if (error.keyword === 'additionalProperties') path.push(String((error.params as { additionalProperty: string }).additionalProperty));
  return path.length === 0 ? '(top level)' : path.join('.');
}

function describe(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is missing';
    case 'additionalProperties':
      return 'is not a known key';
    case 'pattern':
      return `must match ${(error.params as { pattern: string }).pattern}`;
    case 'const':
      return `must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    default:
      return error.message ?? 'is invalid';
  }
}

let compiledValidator: ReturnType<Ajv2020['compile']> | null = null;

function validator(): ReturnType<Ajv2020['compile']> {
  if (compiledValidator === null) {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    compiledValidator = ajv.compile(JSON.parse(readFileSync(MAPPING_SCHEMA_FILE, 'utf8')) as object);
  }
  return compiledValidator;
}

function isValidZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Validates a parsed mapping document and returns it typed and frozen. */
export function validateMapping(document: unknown, file = '(inline)'): Mapping {
  const validate = validator();
  if (!validate(document)) {
    const errors = validate.errors ?? [];
    const first = errors[0];
    const details = errors.map((error) => `${keyOf(error)} ${describe(error)}`).join('; ');
    throw new MappingError(file, first ? keyOf(first) : null, details);
  }
  const raw = document as {
    version: 1;
    source: { topicPrefix: string; database: string };
    datetimeZone?: string;
    emitSnapshotEvents?: boolean;
    tables: Record<string, { table: string; columns: Record<string, string>; types?: Record<string, string>; statuses?: Record<string, string[]> }>;
    events: Record<EventRole, string>;
  };

  const datetimeZone = raw.datetimeZone ?? 'UTC';
  if (!isValidZone(datetimeZone)) {
    throw new MappingError(file, 'datetimeZone', `${JSON.stringify(datetimeZone)} is not an IANA time zone such as UTC or America/New_York`);
  }

  // One name per event role, so `Order Placed` and `order_placed` cannot both exist:
  // the schema allows snake_case only, and this check rejects a name used twice.
  const seen = new Map<string, string>();
  for (const [role, name] of Object.entries(raw.events)) {
    const other = seen.get(name);
    if (other !== undefined) {
      throw new MappingError(file, `events.${role}`, `event name ${JSON.stringify(name)} is already used by events.${other}`);
    }
    seen.set(name, role);
  }

  const tables: Record<string, TableMapping> = {};
  for (const [role, table] of Object.entries(raw.tables)) {
    tables[role] = Object.freeze({
      table: table.table,
      columns: Object.freeze({ ...table.columns }),
      types: Object.freeze({ ...(table.types ?? {}) }),
      statuses: Object.freeze(Object.fromEntries(Object.entries(table.statuses ?? {}).map(([meaning, values]) => [meaning, Object.freeze([...values])]))),
    });
  }

  return Object.freeze({
    version: 1,
    source: Object.freeze({ ...raw.source }),
    datetimeZone,
    emitSnapshotEvents: raw.emitSnapshotEvents ?? false,
    tables: Object.freeze(tables) as Mapping['tables'],
    events: Object.freeze({ ...raw.events }),
  });
}

/** Reads a YAML or JSON mapping file and validates it. */
export function loadMapping(file = DEFAULT_MAPPING_FILE): Mapping {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MappingError(file, null, `could not be read: ${(err as Error).message}`);
  }
  let document: unknown;
  try {
    document = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new MappingError(file, null, `is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return validateMapping(document, file);
}

/** Translates one declared type, such as `decimal(12,2)` or `datetime(6)`, into a decoder hint. */
export function columnHintOf(declared: string): ColumnHint {
  const decimal = /^decimal\((\d+),(\d+)\)$/.exec(declared);
  if (decimal) return { type: 'decimal', scale: Number(decimal[2]) };
  const datetime = /^datetime(?:\((\d)\))?$/.exec(declared);
  if (datetime) return { type: 'datetime', precision: Number(datetime[1] ?? 0) };
  const time = /^time(?:\((\d)\))?$/.exec(declared);
  if (time) return { type: 'time', precision: Number(time[1] ?? 0) };
  switch (declared) {
    case 'bigint':
      return { type: 'bigint' };
    case 'bigint unsigned':
      return { type: 'bigint', unsigned: true };
    case 'number':
    case 'string':
    case 'boolean':
    case 'json':
    case 'date':
    case 'timestamp':
      return { type: declared };
    default:
      throw new TypeError(`unknown column type ${JSON.stringify(declared)}`);
  }
}

/** Builds the decoder's column hints, keyed `<database>.<table>`, from the declared types. */
export function columnHintsOf(mapping: Mapping): ColumnHints {
  const hints: Record<string, TableHints> = {};
  for (const table of Object.values(mapping.tables)) {
    if (table === undefined) continue;
    hints[`${mapping.source.database}.${table.table}`] = Object.fromEntries(Object.entries(table.types).map(([column, declared]) => [column, columnHintOf(declared)]));
  }
  return hints;
}

let requiredRolesByTable: Readonly<Record<string, readonly string[]>> | null = null;

/** Column roles that schemas/mapping.schema.json requires, by table role (for example orders: id, customerId, total, createdAt). */
function requiredRoles(): Readonly<Record<string, readonly string[]>> {
  if (requiredRolesByTable === null) {
    const schema = JSON.parse(readFileSync(MAPPING_SCHEMA_FILE, 'utf8')) as {
      properties: { tables: { properties: Record<string, { properties: { columns: { required?: string[] } } }> } };
    };
    requiredRolesByTable = Object.fromEntries(
      Object.entries(schema.properties.tables.properties).map(([role, table]) => [role, table.properties.columns.required ?? []]),
    );
  }
  return requiredRolesByTable;
}

/**
 * Returns, per `<database>.<table>`, the source columns of the roles the mapping schema requires.
 * A record without one of them cannot be processed: the column was dropped or renamed, and the
 * mapping must follow. Optional roles (an order's status, a customer's email) are not included.
 */
export function requiredColumnsOf(mapping: Mapping): Readonly<Record<string, readonly string[]>> {
  const columns: Record<string, string[]> = {};
  for (const [role, table] of Object.entries(mapping.tables)) {
    if (table === undefined) continue;
    const key = `${mapping.source.database}.${table.table}`;
    const names = (requiredRoles()[role] ?? []).map((columnRole) => table.columns[columnRole]).filter((name) => name !== undefined);
    columns[key] = [...new Set([...(columns[key] ?? []), ...names])];
  }
  return columns;
}

/** Returns the Debezium topic of a mapped table. */
export function topicOf(mapping: Mapping, role: TableRole): string {
  const table = mapping.tables[role];
  if (table === undefined) {
    throw new MappingError('(loaded mapping)', `tables.${role}`, 'is not mapped');
  }
  return `${mapping.source.topicPrefix}.${mapping.source.database}.${table.table}`;
}
