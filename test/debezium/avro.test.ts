import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { compileWriterSchema, connectSchemaFromAvro, readConfluentFrame, writeConfluentFrame } from '../../processors/debezium/avro.ts';
import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import type { AvroWrapUnions } from '../../processors/debezium/avro.ts';
import { RecordDecodeError, SchemaRegistryUnavailableError } from '../../processors/debezium/errors.ts';
import { LocalDate } from '../../processors/debezium/temporal.ts';
import { asChange, avroEnvelopeSchema, avroFrame, avroSource, MemorySchemaLookup, rawRecord } from './helpers.ts';

const CUSTOMER_FIELDS = [
  { name: 'id', type: 'long' },
  { name: 'email', type: ['null', 'string'], default: null },
  { name: 'first_name', type: ['null', 'string'], default: null },
  { name: 'phone', type: ['null', 'string'], default: null },
  { name: 'sms_opt_in', type: ['null', { type: 'int', 'connect.type': 'int16' }], default: null },
];
const CUSTOMERS_SCHEMA = avroEnvelopeSchema('customers', CUSTOMER_FIELDS);
const CUSTOMER_KEY_SCHEMA = { type: 'record', name: 'Key', namespace: 'shop.shop.customers', fields: [{ name: 'id', type: 'long' }], 'connect.name': 'shop.shop.customers.Key' };

const DECIMAL_BYTES = {
  type: 'bytes',
  scale: 2,
  precision: 10,
  'connect.version': 1,
  'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
  'connect.name': 'org.apache.kafka.connect.data.Decimal',
  logicalType: 'decimal',
};
const ORDER_FIELDS_V41 = [
  { name: 'id', type: 'long' },
  { name: 'customer_id', type: ['null', 'long'], default: null },
  { name: 'total', type: DECIMAL_BYTES },
  {
    name: 'shipping_fee',
    type: [{ type: 'bytes', scale: 2, precision: 10, 'connect.default': 'AA==', 'connect.name': 'org.apache.kafka.connect.data.Decimal', logicalType: 'decimal' }, 'null'],
    default: '\u0000',
  },
  { name: 'delivery_date', type: ['null', { type: 'int', 'connect.version': 1, 'connect.name': 'io.debezium.time.Date' }], default: null },
  { name: 'placed_at', type: { type: 'long', 'connect.version': 1, 'connect.name': 'io.debezium.time.Timestamp' } },
];
const ORDER_FIELDS_V57 = [
  ...ORDER_FIELDS_V41.slice(0, 3),
  { name: 'coupon_code', type: ['null', 'string'], default: null },
  ...ORDER_FIELDS_V41.slice(3),
];
const ORDERS_V41 = avroEnvelopeSchema('orders', ORDER_FIELDS_V41);
const ORDERS_V57 = avroEnvelopeSchema('orders', ORDER_FIELDS_V57);

function customerEnvelope() {
  return {
    before: null,
    after: { id: 506, email: 'nora.quinn@example.net', first_name: 'Nora', phone: null, sms_opt_in: 1 },
    source: avroSource('customers'),
    transaction: null,
    op: 'c',
    ts_ms: 1721050200412,
    ts_ns: null,
  };
}

function orderEnvelope(after: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { before: null, after, source: avroSource('orders'), transaction: null, op: 'c', ts_ms: 1721050200412, ts_ns: null, ...extra };
}

const ORDER_1001 = {
  id: 1001,
  customer_id: 501,
  total: Buffer.from([0x32, 0xc7]),
  shipping_fee: Buffer.from([0x00]),
  delivery_date: 19919,
  placed_at: 1721035800000,
};
const ORDER_1003 = { ...ORDER_1001, id: 1003, coupon_code: 'SUMMER10', total: Buffer.from([0x07, 0xc6]) };

function avroDecoder(lookup: MemorySchemaLookup, avroWrapUnions: AvroWrapUnions = 'auto') {
  return createDebeziumDecoder({
    valueFormat: 'avro',
    schemaLookup: lookup,
    avroWrapUnions,
    columnHints: { 'shop.customers': { sms_opt_in: { type: 'boolean' } } },
  });
}

describe('confluent framing', () => {
  it('round-trips the schema id', () => {
    const frame = readConfluentFrame(writeConfluentFrame(57, Buffer.from([1, 2, 3])));
    assert.equal(frame.framed, true);
    assert.equal(frame.framed && frame.schemaId, 57);
    assert.deepEqual(frame.framed && [...frame.body], [1, 2, 3]);
  });

  it('rejects plain JSON bytes', () => {
    const frame = readConfluentFrame(Buffer.from('{"id":1006}'));
    assert.equal(frame.framed, false);
    assert.match(frame.framed ? '' : frame.problem, /0x7b/);
  });
});

describe('avro records', () => {
  for (const wrapUnions of [false, true, 'auto'] as const) {
    it(`decodes plain rows with wrapUnions ${String(wrapUnions)}`, async () => {
      const lookup = new MemorySchemaLookup({ 7: CUSTOMERS_SCHEMA });
      const value = avroFrame(7, CUSTOMERS_SCHEMA, customerEnvelope());
      const event = asChange(await avroDecoder(lookup, wrapUnions).decode(rawRecord(value, { topic: 'shop.shop.customers' })));
      assert.deepEqual(event.after, { id: 506, email: 'nora.quinn@example.net', first_name: 'Nora', phone: null, sms_opt_in: true });
      assert.equal(event.source.snapshot, 'false');
      assert.equal(event.source.gtid, '0-1-7');
      assert.equal(event.tsMs, 1721050200412);
      assert.equal(event.valueSchemaId, 7);
    });
  }

  it('decodes avro keys with their own schema', async () => {
    const lookup = new MemorySchemaLookup({ 7: CUSTOMERS_SCHEMA, 6: CUSTOMER_KEY_SCHEMA });
    const record = rawRecord(avroFrame(7, CUSTOMERS_SCHEMA, customerEnvelope()), { topic: 'shop.shop.customers', key: avroFrame(6, CUSTOMER_KEY_SCHEMA, { id: 506 }) });
    const event = asChange(await avroDecoder(lookup).decode(record));
    assert.deepEqual(event.key, { id: 506 });
  });

  it('converts logical types and connect names', async () => {
    const lookup = new MemorySchemaLookup({ 41: ORDERS_V41 });
    const event = asChange(await avroDecoder(lookup).decode(rawRecord(avroFrame(41, ORDERS_V41, orderEnvelope(ORDER_1001)))));
    assert.equal(event.after?.['total'], '129.99');
    assert.equal(event.after?.['shipping_fee'], '0.00');
    assert.ok(event.after?.['delivery_date'] instanceof LocalDate);
    assert.equal(String(event.after['delivery_date']), '2024-07-15');
    assert.equal(JSON.stringify(event.after).includes('Buffer'), false);
  });

  it('parses a decimal union with a byte default', () => {
    const compiled = compileWriterSchema(41, ORDERS_V41, 'auto');
    assert.equal(compiled.schemaId, 41);
    const schema = connectSchemaFromAvro(ORDERS_V41);
    assert.equal(schema.type, 'struct');
  });

  it('keeps avro longs beyond 2^53', async () => {
    const lookup = new MemorySchemaLookup({ 41: ORDERS_V41 });
    const value = avroFrame(41, ORDERS_V41, orderEnvelope({ ...ORDER_1001, id: 9223372036854775807n }, { ts_ns: 1796415907665863455n }));
    const event = asChange(await avroDecoder(lookup).decode(rawRecord(value)));
    assert.equal(event.after?.['id'], 9223372036854775807n);
  });

  it('reads the delete and skips its tombstone', async () => {
    const lookup = new MemorySchemaLookup({ 41: ORDERS_V41 });
    const decoder = avroDecoder(lookup);
    const deleted = asChange(await decoder.decode(rawRecord(avroFrame(41, ORDERS_V41, orderEnvelope(ORDER_1001, { before: ORDER_1001, after: null, op: 'd' })))));
    const callsAfterDelete = lookup.calls.length;
    const tombstone = await decoder.decode(rawRecord(null, { key: avroFrame(40, CUSTOMER_KEY_SCHEMA, { id: 1001 }) }));
    assert.equal(deleted.op, 'delete');
    assert.equal(deleted.before?.['total'], '129.99');
    assert.equal(tombstone.kind, 'tombstone');
    assert.equal(lookup.calls.length, callsAfterDelete);
  });

  it('never looks up a schema for a tombstone', async () => {
    const lookup = new MemorySchemaLookup({});
    const tombstone = await avroDecoder(lookup).decode(rawRecord(null, { key: avroFrame(6, CUSTOMER_KEY_SCHEMA, { id: 1 }) }));
    assert.equal(tombstone.kind, 'tombstone');
    assert.deepEqual(lookup.calls, []);
  });
});

describe('schema evolution', () => {
  it('decodes each record with its own writer schema', async () => {
    const lookup = new MemorySchemaLookup({ 41: ORDERS_V41, 57: ORDERS_V57 });
    const decoder = avroDecoder(lookup);
    const old = asChange(await decoder.decode(rawRecord(avroFrame(41, ORDERS_V41, orderEnvelope(ORDER_1001)))));
    const altered = asChange(await decoder.decode(rawRecord(avroFrame(57, ORDERS_V57, orderEnvelope(ORDER_1003)))));
    const oldAgain = asChange(await decoder.decode(rawRecord(avroFrame(41, ORDERS_V41, orderEnvelope(ORDER_1001)))));
    assert.equal(old.after?.['total'], '129.99');
    assert.equal(old.columns.has('coupon_code'), false);
    assert.equal(altered.after?.['coupon_code'], 'SUMMER10');
    assert.equal(altered.after?.['total'], '19.90');
    assert.equal(altered.columns.has('coupon_code'), true);
    assert.deepEqual(oldAgain.after, old.after);
    assert.deepEqual(lookup.calls, [41, 57]);
  });
});

describe('poison records', () => {
  it('dead-letters plain JSON where avro is expected', async () => {
    const lookup = new MemorySchemaLookup({ 57: ORDERS_V57 });
    const record = rawRecord(Buffer.from('7b226964223a313030367d', 'hex'), { partition: 0, offset: '401', key: '{"id":1006}' });
    await assert.rejects(avroDecoder(lookup).decode(record), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'not-confluent-framed');
      assert.equal(error.retriable, false);
      assert.equal(error.topic, 'shop.shop.orders');
      assert.equal(error.partition, 0);
      assert.equal(error.offset, '401');
      assert.equal(error.key, '{"id":1006}');
      assert.equal(error.schemaId, null);
      assert.match(error.message, /0x7b/);
      return true;
    });
    assert.deepEqual(lookup.calls, []);
  });

  it('dead-letters an unknown schema id', async () => {
    const lookup = new MemorySchemaLookup({ 57: ORDERS_V57 });
    const record = rawRecord(writeConfluentFrame(9999, Buffer.from([0])), { offset: '402', key: '{"id":1007}' });
    await assert.rejects(avroDecoder(lookup).decode(record), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'unknown-schema-id');
      assert.equal(error.retriable, false);
      assert.equal(error.schemaId, 9999);
      assert.equal(error.offset, '402');
      assert.equal(error.key, '{"id":1007}');
      return true;
    });
  });

  it('retries when the registry is unavailable', async () => {
    const lookup = new MemorySchemaLookup({ 57: ORDERS_V57 });
    lookup.failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { code: 'ECONNREFUSED' });
    const decoder = avroDecoder(lookup);
    const record = rawRecord(avroFrame(57, ORDERS_V57, orderEnvelope(ORDER_1003)), { offset: '403' });
    await assert.rejects(decoder.decode(record), (error: unknown) => {
      assert.ok(error instanceof SchemaRegistryUnavailableError);
      assert.equal(error.retriable, true);
      assert.equal(error.schemaId, 57);
      assert.equal(error.offset, '403');
      return true;
    });
    lookup.failure = null;
    const event = asChange(await decoder.decode(record));
    assert.equal(event.after?.['coupon_code'], 'SUMMER10');
    assert.deepEqual(lookup.calls, [57, 57]);
  });

  it('dead-letters a body that does not match its schema', async () => {
    const lookup = new MemorySchemaLookup({ 41: ORDERS_V41 });
    const full = avroFrame(41, ORDERS_V41, orderEnvelope(ORDER_1001));
    await assert.rejects(avroDecoder(lookup).decode(rawRecord(full.subarray(0, full.length - 6))), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'invalid-avro-payload');
      assert.equal(error.schemaId, 41);
      return true;
    });
  });

  it('dead-letters an invalid writer schema', async () => {
    const lookup = new MemorySchemaLookup({ 5: { type: 'record', name: 'Broken', fields: [{ name: 'x', type: 'no-such-type' }] } });
    await assert.rejects(avroDecoder(lookup).decode(rawRecord(writeConfluentFrame(5, Buffer.from([0])))), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'invalid-writer-schema');
      return true;
    });
  });

  it('requires a schema lookup for avro', () => {
    assert.throws(() => createDebeziumDecoder({ valueFormat: 'avro' }), /schemaLookup is required/);
  });
});
