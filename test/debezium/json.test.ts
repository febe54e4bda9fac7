import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { parseJsonExact, stringifyExact, unwrapAvroJsonUnion } from '../../processors/debezium/json.ts';
import { Instant } from '../../processors/debezium/temporal.ts';
import { asChange, decimalField, envelope, envelopeSchema, jsonRecord, rawRecord } from './helpers.ts';

describe('exact JSON parsing', () => {
  it('keeps integers beyond 2^53', () => {
    const parsed = parseJsonExact('{"ts_ns": 1796415907665863455, "id": 18446744073709551615, "small": 42, "price": 7.9}') as Record<string, unknown>;
    assert.equal(parsed['ts_ns'], 1796415907665863455n);
    assert.equal(parsed['id'], 18446744073709551615n);
    assert.equal(parsed['small'], 42);
    assert.equal(parsed['price'], 7.9);
  });

  it('keeps negative big integers', () => {
    assert.equal(parseJsonExact('-9223372036854775808'), -9223372036854775808n);
  });

  it('leaves the largest safe integer a number', () => {
    assert.equal(parseJsonExact('9007199254740991'), 9007199254740991);
    assert.equal(parseJsonExact('9007199254740993'), 9007199254740993n);
  });

  it('writes bigints back as literals', () => {
    assert.equal(stringifyExact({ id: 18446744073709551615n }), '{"id":18446744073709551615}');
  });

  it('reads big ids in rows exactly', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const record = rawRecord(Buffer.from('{"after":{"id":9223372036854775807,"customer_id":501},"op":"c","source":{"db":"shop","table":"orders"}}'), { key: '{"id":9223372036854775807}' });
    const event = asChange(await decoder.decode(record));
    assert.equal(event.after?.['id'], 9223372036854775807n);
    assert.deepEqual(event.key, { id: 9223372036854775807n });
    assert.equal(String(event.after?.['id']), '9223372036854775807');
  });
});

describe('unsigned bigint', () => {
  it('undoes long-mode wrap-around', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { external_id: { type: 'bigint', unsigned: true } } } });
    const event = asChange(await decoder.decode(jsonRecord(envelope('orders', 'c', { id: 1, external_id: -1n }))));
    assert.equal(event.after?.['external_id'], 18446744073709551615n);
  });

  it('reads precise-mode unsigned bigint', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { external_id: { type: 'bigint' } } } });
    // 2^64-1 as a Connect Decimal with scale 0: bytes 00 ff ff ff ff ff ff ff ff.
    const base64 = Buffer.from('00ffffffffffffffff', 'hex').toString('base64');
    const payload = envelope('orders', 'c', { external_id: base64 });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', [decimalField('external_id', 0)]), payload })));
    assert.equal(event.after?.['external_id'], 18446744073709551615n);
  });

  it('leaves an unhinted precise bigint a decimal string', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const base64 = Buffer.from('00ffffffffffffffff', 'hex').toString('base64');
    const payload = envelope('orders', 'c', { external_id: base64 });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', [decimalField('external_id', 0)]), payload })));
    assert.equal(event.after?.['external_id'], '18446744073709551615');
  });
});

describe('json columns', () => {
  it('parses a Json-named column', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const columns = [{ field: 'attributes', type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1 }];
    const payload = envelope('orders', 'c', { attributes: '{"gift": true, "ref": 12345678901234567890}' });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', columns), payload })));
    assert.deepEqual(event.after?.['attributes'], { gift: true, ref: 12345678901234567890n });
  });

  it('parses a hinted MariaDB json string', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { attributes: { type: 'json' } } } });
    const event = asChange(await decoder.decode(jsonRecord(envelope('orders', 'c', { attributes: '["a", {"b": null}]' }))));
    assert.deepEqual(event.after?.['attributes'], ['a', { b: null }]);
  });

  it('names the column of invalid json', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { attributes: { type: 'json' } } } });
    await assert.rejects(decoder.decode(jsonRecord(envelope('orders', 'c', { attributes: '{oops' }))), /shop\.orders\.attributes/);
  });

  it('reads enum sets and bits', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const columns = [
      { field: 'tags', type: 'string', optional: true, name: 'io.debezium.data.EnumSet', parameters: { allowed: 'gift,sale' } },
      { field: 'flags', type: 'bytes', optional: true, name: 'io.debezium.data.Bits', parameters: { length: '16' } },
      { field: 'size', type: 'string', optional: true, name: 'io.debezium.data.Enum', parameters: { allowed: 'S,M,L' } },
    ];
    const payload = envelope('orders', 'c', { tags: 'gift,sale', flags: Buffer.from([0x01, 0x02]).toString('base64'), size: 'M' });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', columns), payload })));
    assert.deepEqual(event.after?.['tags'], ['gift', 'sale']);
    assert.equal(event.after?.['flags'], 0x0201n);
    assert.equal(event.after?.['size'], 'M');
  });
});

describe('wrapped avro json unions', () => {
  // The form kafka-avro-console-consumer prints.
  const fixture = {
    before: null,
    after: {
      'shop.shop.customers.Value': {
        id: 506,
        email: { string: 'nora.quinn@example.net' },
        first_name: { string: 'Nora' },
        phone: null,
        sms_opt_in: { int: 1 },
      },
    },
    source: { version: '2.5.0.Final', connector: 'mysql', snapshot: { string: 'false' }, table: { string: 'customers' } },
    op: 'c',
    ts_ms: { long: 1721050200412 },
    transaction: null,
  };

  it('unwraps to plain rows', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.customers': { sms_opt_in: { type: 'boolean' } } } });
    const event = asChange(await decoder.decode(jsonRecord(fixture, { topic: 'shop.shop.customers' })));
    assert.deepEqual(event.after, { id: 506, email: 'nora.quinn@example.net', first_name: 'Nora', phone: null, sms_opt_in: true });
    assert.equal(event.source.table, 'customers');
    assert.equal(event.source.snapshot, 'false');
    assert.equal(event.tsMs, 1721050200412);
  });

  it('unwraps only single-key type-named objects', () => {
    assert.equal(unwrapAvroJsonUnion({ string: 'x' }), 'x');
    assert.deepEqual(unwrapAvroJsonUnion({ 'a.b.Value': { id: 1 } }), { id: 1 });
    assert.deepEqual(unwrapAvroJsonUnion({ id: 1 }), { id: 1 });
    assert.deepEqual(unwrapAvroJsonUnion({ string: 'x', int: 1 }), { string: 'x', int: 1 });
  });

  it('unwraps hinted temporal columns', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { placed_at: { type: 'datetime' } } } });
    const event = asChange(await decoder.decode(jsonRecord(envelope('orders', 'c', { 'shop.shop.orders.Value': { id: 1, placed_at: { long: 1721035800000 } } }))));
    assert.ok(event.after?.['placed_at'] instanceof Instant);
    assert.equal(event.after['placed_at'].toUnixSeconds(), 1721035800);
  });
});
