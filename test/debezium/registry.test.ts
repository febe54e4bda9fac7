// Runs the Avro path against the stack's schema registry (Apicurio, Confluent-compatible API).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { RecordDecodeError, SchemaNotFoundError, SchemaRegistryUnavailableError } from '../../processors/debezium/errors.ts';
import { RegistrySchemaLookup } from '../../processors/debezium/registry.ts';
import { Instant } from '../../processors/debezium/temporal.ts';
import { testStack } from '../support/env.ts';
import { asChange, avroEnvelopeSchema, avroFrame, avroSource, rawRecord } from './helpers.ts';

const FIELDS_V1 = [
  { name: 'id', type: 'long' },
  { name: 'customer_id', type: ['null', 'long'], default: null },
  {
    name: 'total',
    type: {
      type: 'bytes',
      scale: 2,
      precision: 12,
      'connect.version': 1,
      'connect.parameters': { scale: '2', 'connect.decimal.precision': '12' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    },
  },
  { name: 'placed_at', type: { type: 'long', 'connect.version': 1, 'connect.name': 'io.debezium.time.Timestamp' } },
];
const FIELDS_V2 = [...FIELDS_V1, { name: 'coupon_code', type: ['null', 'string'], default: null }];

async function register(subject: string, schema: unknown): Promise<number> {
  const response = await fetch(`${testStack.registryUrl}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  const body = (await response.json()) as { id?: number; message?: string };
  assert.equal(response.status, 200, `registering ${subject} failed: ${JSON.stringify(body)}`);
  assert.equal(typeof body.id, 'number');
  return body.id!;
}

function orderEnvelope(after: Record<string, unknown>) {
  return { before: null, after, source: avroSource('orders'), transaction: null, op: 'c', ts_ms: 1721050200412, ts_ns: null };
}

describe('registry schema lookup', () => {
  // Unique names per run: the registry is shared with other tests.
  const table = `orders_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const subject = `shop.shop.${table}-value`;
  const schemaV1 = avroEnvelopeSchema(table, FIELDS_V1);
  const schemaV2 = avroEnvelopeSchema(table, FIELDS_V2);
  let idV1 = 0;
  let idV2 = 0;

  before(async () => {
    idV1 = await register(subject, schemaV1);
    idV2 = await register(subject, schemaV2);
  });

  it('registers two distinct ids', () => {
    assert.notEqual(idV1, idV2);
  });

  it('decodes with connect names from the registry', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'avro', schemaLookup: new RegistrySchemaLookup({ host: testStack.registryUrl }), datetimeZone: 'America/New_York' });
    const value = avroFrame(idV1, schemaV1, orderEnvelope({ id: 1001, customer_id: 501, total: Buffer.from([0x03, 0x16]), placed_at: 1721035800000 }));
    const event = asChange(await decoder.decode(rawRecord(value, { topic: `shop.shop.${table}` })));
    assert.equal(event.after?.['total'], '7.90');
    assert.ok(event.after?.['placed_at'] instanceof Instant);
    assert.equal(event.after['placed_at'].toUnixSeconds(), 1721050200);
    assert.equal(event.valueSchemaId, idV1);
  });

  it('decodes both schema versions in turn', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'avro', schemaLookup: new RegistrySchemaLookup({ host: testStack.registryUrl }) });
    const first = avroFrame(idV1, schemaV1, orderEnvelope({ id: 1001, customer_id: 501, total: Buffer.from([0x03, 0x16]), placed_at: 1721035800000 }));
    const second = avroFrame(idV2, schemaV2, orderEnvelope({ id: 1003, customer_id: 501, total: Buffer.from([0x07, 0xc6]), placed_at: 1721217600000, coupon_code: 'SUMMER10' }));
    const old = asChange(await decoder.decode(rawRecord(first, { topic: `shop.shop.${table}` })));
    const altered = asChange(await decoder.decode(rawRecord(second, { topic: `shop.shop.${table}` })));
    const oldAgain = asChange(await decoder.decode(rawRecord(first, { topic: `shop.shop.${table}` })));
    assert.equal(old.columns.has('coupon_code'), false);
    assert.equal(altered.after?.['coupon_code'], 'SUMMER10');
    assert.equal(altered.after?.['total'], '19.90');
    assert.equal(oldAgain.after?.['total'], '7.90');
  });

  it('reports an unknown id as not found', async () => {
    const lookup = new RegistrySchemaLookup({ host: testStack.registryUrl });
    await assert.rejects(lookup.getWriterSchema(2_000_000_001), SchemaNotFoundError);
  });

  it('dead-letters a record with an unknown id', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'avro', schemaLookup: new RegistrySchemaLookup({ host: testStack.registryUrl }) });
    const record = rawRecord(Buffer.from([0x00, 0x77, 0x35, 0x94, 0x01, 0x02]), { offset: '402', key: '{"id":1006}' });
    await assert.rejects(decoder.decode(record), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'unknown-schema-id');
      assert.equal(error.schemaId, 0x77359401);
      assert.equal(error.offset, '402');
      assert.equal(error.retriable, false);
      return true;
    });
  });
});

describe('registry outages', () => {
  let server: ReturnType<typeof createServer>;
  let failingUrl = '';
  let closedUrl = '';

  before(async () => {
    server = createServer((_request, response) => {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end('{"message":"unavailable"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    failingUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('retries on a 5xx answer', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'avro', schemaLookup: new RegistrySchemaLookup({ host: failingUrl, retry: { retries: 0 } }) });
    await assert.rejects(decoder.decode(rawRecord(Buffer.from([0x00, 0, 0, 0, 57, 0]), { offset: '403' })), (error: unknown) => {
      assert.ok(error instanceof SchemaRegistryUnavailableError);
      assert.equal(error.retriable, true);
      assert.equal(error.status, 503);
      assert.equal(error.schemaId, 57);
      assert.equal(error.offset, '403');
      return true;
    });
  });

  it('retries when the registry is unreachable', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'avro', schemaLookup: new RegistrySchemaLookup({ host: closedUrl, retry: { retries: 0 } }) });
    await assert.rejects(decoder.decode(rawRecord(Buffer.from([0x00, 0, 0, 0, 57, 0]))), (error: unknown) => {
      assert.ok(error instanceof SchemaRegistryUnavailableError);
      assert.equal(error.retriable, true);
      assert.equal(error.status, null);
      return true;
    });
  });
});
