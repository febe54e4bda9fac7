// Shared pieces of the people tests: customers changes in Debezium's JSON envelope, decoded by the
// real decoder, a mapping whose customers topic is the test's own, and event records.
import assert from 'node:assert/strict';

import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, JsonObject } from '../../processors/customerio/records.ts';
import { DebeziumDecoder } from '../../processors/debezium/index.ts';
import type { ChangeEvent } from '../../processors/debezium/index.ts';
import { DEFAULT_MAPPING_FILE, columnHintsOf, validateMapping } from '../../processors/mapping/mapping.ts';
import type { Mapping } from '../../processors/mapping/mapping.ts';
import { parseYaml } from '../carts/yaml.ts';

export interface EnvelopeOptions {
  /** Commit time, epoch ms (`source.ts_ms`). */
  readonly tsMs?: number;
  readonly file?: string;
}

/**
 * A customers change with created_at as Debezium writes DATETIME(6): epoch micros of the wall
 * clock read as UTC. For a delete (`d`), `row` is the before image.
 */
export function customerEnvelope(op: 'c' | 'u' | 'r' | 'd', row: Record<string, unknown>, pos: number, options: EnvelopeOptions = {}): Buffer {
  const field = (name: string, type: string, extra: Record<string, unknown> = {}) => ({ field: name, type, optional: true, ...extra });
  const value = {
    type: 'struct',
    optional: true,
    fields: [
      field('id', 'int64'),
      field('email', 'string'),
      field('first_name', 'string'),
      field('sms_opt_in', 'int16'),
      field('created_at', 'int64', { name: 'io.debezium.time.MicroTimestamp', version: 1 }),
    ],
  };
  const schema = {
    type: 'struct',
    fields: [
      { ...value, field: 'before' },
      { ...value, field: 'after' },
      {
        field: 'source',
        type: 'struct',
        optional: false,
        fields: [field('db', 'string'), field('table', 'string'), field('ts_ms', 'int64'), field('snapshot', 'string'), field('file', 'string'), field('pos', 'int64'), field('row', 'int32')],
      },
      field('op', 'string'),
      field('ts_ms', 'int64'),
    ],
  };
  const tsMs = options.tsMs ?? 1721050200000;
  const payload = {
    before: op === 'd' ? row : null,
    after: op === 'd' ? null : row,
    source: { db: 'shop', table: 'customers', ts_ms: tsMs, snapshot: op === 'r' ? 'true' : 'false', file: options.file ?? 'mysql-bin.000003', pos, row: 0 },
    op,
    ts_ms: tsMs + 412,
  };
  return Buffer.from(JSON.stringify({ schema, payload }));
}

export async function decodeCustomer(zone: string, op: 'c' | 'u' | 'r' | 'd', row: Record<string, unknown>, pos = 100, options: EnvelopeOptions = {}): Promise<ChangeEvent> {
  const zoned = validateMapping({ ...parseYaml(DEFAULT_MAPPING_FILE), datetimeZone: zone });
  const decoder = new DebeziumDecoder({ valueFormat: 'json', datetimeZone: zone, columnHints: columnHintsOf(zoned) });
  const decoded = await decoder.decode({ topic: 'shop.shop.customers', partition: 0, offset: String(pos), key: null, value: customerEnvelope(op, row, pos, options) });
  assert.equal(decoded.kind, 'change');
  return decoded as ChangeEvent;
}

/** The default mapping with its own Debezium topic prefix, so the customers topic is `<prefix>.shop.customers`. */
export function mappingWithTopicPrefix(topicPrefix: string): Mapping {
  const document = parseYaml(DEFAULT_MAPPING_FILE);
  return validateMapping({ ...document, source: { ...(document['source'] as Record<string, unknown>), topicPrefix } });
}

/** An event record as the suppression processor writes it, with the MySQL commit time in source.tsMs. */
export function customerEvent(customerId: string, name: string, identity: string, commitMs: number, data: JsonObject = {}): EventRecord {
  return {
    kind: 'event',
    customerId,
    name,
    id: deriveEventId([name, identity]),
    timestamp: Math.floor(commitMs / 1000),
    data,
    origin: 'live',
    source: { table: 'shop.orders', tsMs: commitMs },
  };
}
