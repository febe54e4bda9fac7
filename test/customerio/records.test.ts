import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';

import avro from 'avsc';

import { OutboxRecordError } from '../../processors/customerio/errors.ts';
import { encodeOutboxRecord, fromAvroRecord, parseOutboxRecord, toAvroRecord, type OutboxAvroRecord, type OutboxRecord } from '../../processors/customerio/records.ts';
import { validateRecord } from '../../processors/customerio/validate.ts';

const schemaUrl = new URL('../../schemas/cio.outbox.avsc', import.meta.url);
const exampleUrl = new URL('../../schemas/cio.outbox.example.json', import.meta.url);

const identify = { kind: 'identify', customerId: '501', attributes: { first_name: 'Ada', created_at: 1704121200 }, timestamp: 1721050200 };
const event = {
  kind: 'event',
  customerId: '501',
  name: 'order_placed',
  id: '0WJMZVTB5KXF1T4CEENV1TTP35',
  timestamp: 1721050200,
  data: { order_id: '1001', total: 7.9 },
  origin: 'replay',
  source: { table: 'shop.orders', offset: '400', binlogPos: 4471, row: 0 },
};

function parseError(value: unknown, key?: string): OutboxRecordError {
  try {
    parseOutboxRecord(value, key);
  } catch (err) {
    assert.ok(err instanceof OutboxRecordError, `expected OutboxRecordError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected parseOutboxRecord to throw');
}

describe('outbox record', () => {
  test('parses identify from a buffer', () => {
    const record = parseOutboxRecord(Buffer.from(JSON.stringify(identify)), '501');
    assert.deepEqual(record, identify);
  });

  test('parses event with origin and source', () => {
    const record = parseOutboxRecord(JSON.stringify(event), Buffer.from('501'));
    assert.equal(record.kind, 'event');
    assert.deepEqual(record, event);
  });

  test('round-trips through encode', () => {
    const encoded = encodeOutboxRecord(event as OutboxRecord);
    assert.equal(encoded.key, '501');
    assert.deepEqual(parseOutboxRecord(encoded.value, encoded.key), event);
  });

  test('rejects invalid input naming the field', () => {
    const cases: [unknown, string][] = [
      ['{"kind":', '(value)'],
      [null, '(value)'],
      [[1, 2], '(value)'],
      [{ ...identify, kind: 'track' }, 'kind'],
      [{ ...identify, customerId: 501 }, 'customerId'],
      [{ ...identify, customerId: '' }, 'customerId'],
      [{ ...identify, timestamp: '2024-07-15T13:30:00Z' }, 'timestamp'],
      [{ ...identify, timestamp: 1.5 }, 'timestamp'],
      [{ ...identify, attributes: [] }, 'attributes'],
      [{ ...event, data: 'x' }, 'data'],
      [{ ...event, name: undefined }, 'name'],
      [{ ...event, origin: 'manual' }, 'origin'],
      [{ ...event, source: { offset: 400 } }, 'source.offset'],
      [{ ...event, source: { partition: '0' } }, 'source.partition'],
      [{ ...event, source: { host: 'db1' } }, 'source.host'],
      [{ ...identify, name: 'order_placed' }, 'name'],
    ];
    for (const [value, field] of cases) {
      const error = parseError(value);
      assert.equal(error.field, field, `field for ${JSON.stringify(value)}`);
      assert.equal(error.retriable, false);
      assert.equal(error.code, 'CIO_OUTBOX_RECORD_INVALID');
    }
  });

  test('rejects a key that differs from customerId', () => {
    const error = parseError(identify, '502');
    assert.equal(error.field, 'customerId');
    assert.match(error.message, /key "502" differs from customerId "501"/);
  });

  test('keeps email addresses out of error messages', () => {
    const error = parseError({ ...identify, customerId: 'tom.varga@example.net' }, '507');
    assert.doesNotMatch(error.message, /tom\.varga/);
  });
});

describe('outbox schema files', () => {
  test('avsc opens with an example in doc', async () => {
    const text = await readFile(schemaUrl, 'utf8');
    assert.match(text, /^\{\s*"doc": "Outbox record.*Example JSON value/);
  });

  test('examples parse and validate', async () => {
    const examples = JSON.parse(await readFile(exampleUrl, 'utf8')) as unknown[];
    assert.equal(examples.length, 2);
    for (const example of examples) {
      const record = parseOutboxRecord(example);
      assert.deepEqual(validateRecord(record), []);
    }
  });

  test('examples round-trip through Avro', async () => {
    const type = avro.Type.forSchema(JSON.parse(await readFile(schemaUrl, 'utf8')));
    const examples = JSON.parse(await readFile(exampleUrl, 'utf8')) as unknown[];
    for (const example of [...examples, identify]) {
      const record = parseOutboxRecord(example);
      const buffer = type.toBuffer(toAvroRecord(record));
      const decoded = type.fromBuffer(buffer) as OutboxAvroRecord;
      assert.deepEqual(fromAvroRecord(decoded), record);
    }
  });
});
