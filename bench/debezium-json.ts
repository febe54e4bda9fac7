// Debezium change events for the shop tables as the stack's connector writes them
// (deploy/connect/shop-connector.json): JSON converter with schemas, a JSON key without schema,
// the MariaDB source block, the transaction block of provide.transaction.metadata,
// decimal.handling.mode=precise and time.precision.mode=adaptive_time_microseconds. The Connect
// schemas are those the connector publishes for schemas/mysql/reference.sql.
import type { IHeaders, Message } from 'kafkajs';

import { stringifyExact } from '../processors/debezium/json.ts';
import { topicOf } from '../processors/mapping/mapping.ts';
import type { Mapping, TableRole } from '../processors/mapping/mapping.ts';
import { preciseDecimal } from '../test/orders/harness.ts';

export type ShopTable = 'customers' | 'orders' | 'order_items' | 'carts' | 'cart_items';

/** A row with its columns already in the connector's encoding (see the `encode` helpers). */
export type Row = Record<string, unknown>;

export interface RowChange {
  readonly table: ShopTable;
  readonly op: 'c' | 'u';
  readonly before?: Row | null;
  readonly after: Row;
}

interface ConnectField {
  readonly type: string;
  readonly optional: boolean;
  readonly field: string;
  readonly name?: string;
  readonly version?: number;
  readonly parameters?: Readonly<Record<string, string>>;
  readonly default?: unknown;
}

type FieldOptions = Omit<Partial<ConnectField>, 'field' | 'type'>;

const field = (name: string, type: string, options: FieldOptions = {}): ConnectField => ({ type, optional: false, ...options, field: name });
const optional = (name: string, type: string, options: FieldOptions = {}): ConnectField => field(name, type, { ...options, optional: true });
const decimal = (name: string, precision: number, scale: number): ConnectField =>
  field(name, 'bytes', { name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: String(scale), 'connect.decimal.precision': String(precision) } });
/** DATETIME(0..3): epoch milliseconds of the wall clock read as UTC. */
const timestamp = { name: 'io.debezium.time.Timestamp', version: 1 };
/** DATETIME(4..6): epoch microseconds of the wall clock read as UTC. */
const microTimestamp = { name: 'io.debezium.time.MicroTimestamp', version: 1 };
/** TIMESTAMP: an ISO-8601 instant in UTC. */
const zonedTimestamp = { name: 'io.debezium.time.ZonedTimestamp', version: 1 };

const COLUMNS: Readonly<Record<ShopTable, readonly ConnectField[]>> = {
  customers: [
    field('id', 'int64'),
    optional('email', 'string'),
    optional('phone', 'string'),
    optional('first_name', 'string'),
    optional('last_name', 'string'),
    optional('country', 'string'),
    field('sms_opt_in', 'int16', { default: 0 }),
    field('email_opt_in', 'int16', { default: 0 }),
    field('loyalty_tier', 'int16', { default: 0 }),
    field('created_at', 'int64', microTimestamp),
    field('updated_at', 'string', { ...zonedTimestamp, default: '1970-01-01T00:00:00Z' }),
  ],
  orders: [
    field('id', 'int64'),
    optional('customer_id', 'int64'),
    optional('email', 'string'),
    field('status', 'string', { default: 'pending' }),
    field('currency', 'string', { default: 'USD' }),
    decimal('total', 12, 2),
    optional('discount_code', 'string'),
    field('placed_at', 'int64', timestamp),
    optional('paid_at', 'string', zonedTimestamp),
    optional('canceled_at', 'string', zonedTimestamp),
    field('updated_at', 'int64', { ...microTimestamp, default: 0 }),
    optional('attributes', 'string'),
  ],
  order_items: [
    field('id', 'int64'),
    field('order_id', 'int64'),
    field('sku', 'string'),
    optional('variant_id', 'string'),
    optional('name', 'string'),
    optional('category', 'string'),
    field('quantity', 'int32'),
    decimal('unit_price', 12, 3),
  ],
  carts: [
    field('id', 'string'),
    optional('customer_id', 'int64'),
    field('status', 'string', { default: 'open' }),
    field('currency', 'string', { default: 'USD' }),
    optional('checkout_started_at', 'int64', timestamp),
    field('created_at', 'int64', timestamp),
    field('updated_at', 'int64', timestamp),
  ],
  cart_items: [
    field('id', 'int64'),
    field('cart_id', 'string'),
    field('sku', 'string'),
    optional('variant_id', 'string'),
    optional('name', 'string'),
    optional('category', 'string'),
    field('quantity', 'int32'),
    decimal('unit_price', 12, 3),
    field('added_at', 'int64', timestamp),
  ],
};

const ROLES: Readonly<Record<ShopTable, TableRole>> = {
  customers: 'customers',
  orders: 'orders',
  order_items: 'orderItems',
  carts: 'carts',
  cart_items: 'cartItems',
};

const SOURCE_FIELDS: readonly ConnectField[] = [
  field('version', 'string'),
  field('connector', 'string'),
  field('name', 'string'),
  field('ts_ms', 'int64'),
  optional('snapshot', 'string', {
    name: 'io.debezium.data.Enum',
    version: 1,
    parameters: { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
    default: 'false',
  }),
  field('db', 'string'),
  optional('sequence', 'string'),
  optional('ts_us', 'int64'),
  optional('ts_ns', 'int64'),
  optional('table', 'string'),
  field('server_id', 'int64'),
  optional('gtid', 'string'),
  field('file', 'string'),
  field('pos', 'int64'),
  field('row', 'int32'),
  optional('thread', 'int64'),
  optional('query', 'string'),
];

const TRANSACTION_FIELDS: readonly ConnectField[] = [field('id', 'string'), field('total_order', 'int64'), field('data_collection_order', 'int64')];

/** Encoders from plain values to the connector's JSON encoding of each column type. */
export const encode = {
  /** DECIMAL under decimal.handling.mode=precise: base64 of the unscaled two's-complement bytes. */
  decimal: (text: string, scale: number): string => preciseDecimal(text, scale),
  /** DATETIME(0): the wall clock in UTC, cut to whole seconds, as epoch milliseconds. */
  datetimeSeconds: (epochMs: number): number => Math.floor(epochMs / 1000) * 1000,
  /** DATETIME(3): epoch milliseconds. */
  datetimeMillis: (epochMs: number): number => Math.floor(epochMs),
  /** DATETIME(6): epoch microseconds. */
  datetimeMicros: (epochMs: number): number => Math.floor(epochMs) * 1000,
  /** TIMESTAMP(0): ISO-8601 UTC without a fraction. */
  timestampSeconds: (epochMs: number): string => new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
  /** TIMESTAMP(3): ISO-8601 UTC with milliseconds. */
  timestampMillis: (epochMs: number): string => new Date(Math.floor(epochMs)).toISOString(),
};

/** Time from a commit until Debezium handles its binlog event (the envelope's ts_ms), in ms. */
const CAPTURE_DELAY_MS = 300;

export class DebeziumJsonWriter {
  readonly mapping: Mapping;
  private readonly schemas = new Map<ShopTable, string>();
  private readonly headers: IHeaders;
  private transactions = 0;
  private position = 4;
  /** Messages in write order, per topic. */
  readonly messages = new Map<string, Message[]>();

  constructor(mapping: Mapping, runId: string) {
    this.mapping = mapping;
    this.headers = {
      '__debezium.context.connectorLogicalName': mapping.source.topicPrefix,
      '__debezium.context.taskId': '0',
      '__debezium.context.connectorName': 'mariadb',
      '__debezium.context.runId': runId,
    };
  }

  topic(table: ShopTable): string {
    return topicOf(this.mapping, ROLES[table]);
  }

  /**
   * Writes the change events of one MySQL transaction committed at `commitMs`. MariaDB's binlog
   * stores whole seconds, so source.ts_ms is the commit time cut to the second.
   */
  commit(commitMs: number, changes: readonly RowChange[]): void {
    this.transactions += 1;
    const gtid = `0-1-${this.transactions}`;
    const sourceMs = Math.floor(commitMs / 1000) * 1000;
    const capturedMs = Math.floor(commitMs) + CAPTURE_DELAY_MS;
    const perTable = new Map<ShopTable, number>();
    this.position += 120;

    for (const [index, change] of changes.entries()) {
      const tableOrder = (perTable.get(change.table) ?? 0) + 1;
      perTable.set(change.table, tableOrder);
      this.position += 64 + Math.round(stringifyExact(change.after).length / 2);
      const payload = {
        before: change.before ?? null,
        after: change.after,
        source: {
          version: '3.5.0.Final',
          connector: 'mariadb',
          name: this.mapping.source.topicPrefix,
          ts_ms: sourceMs,
          snapshot: 'false',
          db: this.mapping.source.database,
          sequence: null,
          ts_us: sourceMs * 1000,
          ts_ns: BigInt(sourceMs) * 1_000_000n,
          table: this.mapping.tables[ROLES[change.table]]!.table,
          server_id: 1,
          gtid,
          file: 'mariadb-bin.000001',
          pos: this.position,
          row: 0,
          thread: null,
          query: null,
        },
        transaction: { id: gtid, total_order: index + 1, data_collection_order: tableOrder },
        op: change.op,
        ts_ms: capturedMs,
        ts_us: capturedMs * 1000 + index,
        ts_ns: BigInt(capturedMs) * 1_000_000n + BigInt(index),
      };
      const topic = this.topic(change.table);
      const value = `{"schema":${this.schema(change.table)},"payload":${stringifyExact(payload)}}`;
      const message: Message = { key: stringifyExact({ id: change.after['id'] }), value, headers: this.headers };
      const list = this.messages.get(topic);
      if (list === undefined) this.messages.set(topic, [message]);
      else list.push(message);
    }
  }

  private schema(table: ShopTable): string {
    let text = this.schemas.get(table);
    if (text === undefined) {
      const name = `${this.mapping.source.topicPrefix}.${this.mapping.source.database}.${this.mapping.tables[ROLES[table]]!.table}`;
      const value = { type: 'struct', fields: COLUMNS[table], optional: true, name: `${name}.Value` };
      text = JSON.stringify({
        type: 'struct',
        fields: [
          { ...value, field: 'before' },
          { ...value, field: 'after' },
          { type: 'struct', fields: SOURCE_FIELDS, optional: false, name: 'io.debezium.connector.mariadb.Source', version: 1, field: 'source' },
          { type: 'struct', fields: TRANSACTION_FIELDS, optional: true, name: 'event.block', version: 1, field: 'transaction' },
          field('op', 'string'),
          optional('ts_ms', 'int64'),
          optional('ts_us', 'int64'),
          optional('ts_ns', 'int64'),
        ],
        optional: false,
        name: `${name}.Envelope`,
        version: 2,
      });
      this.schemas.set(table, text);
    }
    return text;
  }
}
