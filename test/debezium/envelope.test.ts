import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { assertColumnsPresent, missingColumns, OP_CODES, OPERATION_BY_CODE, SNAPSHOT_MARKERS } from '../../processors/debezium/envelope.ts';
import { MissingColumnError, RecordDecodeError, UnknownOperationError } from '../../processors/debezium/errors.ts';
import { parseJsonExact } from '../../processors/debezium/json.ts';
import { Instant } from '../../processors/debezium/temporal.ts';
import type { JsonValue } from '../../processors/debezium/types.ts';
import { asChange, capturedRecord, envelope, envelopeSchema, jsonRecord, rawRecord, source } from './helpers.ts';

const decoder = createDebeziumDecoder({ valueFormat: 'json' });

describe('operations', () => {
  const cases = [
    { op: 'c', operation: 'create', before: null, after: { id: 1 } },
    { op: 'u', operation: 'update', before: { id: 1 }, after: { id: 1 } },
    { op: 'd', operation: 'delete', before: { id: 1 }, after: null },
    { op: 'r', operation: 'read', before: null, after: { id: 1 } },
    { op: 't', operation: 'truncate', before: null, after: null },
  ] as const;

  for (const { op, operation, before, after } of cases) {
    it(`maps op ${op} to ${operation}`, async () => {
      const event = asChange(await decoder.decode(jsonRecord({ ...envelope('carts', op, after), before }, { topic: 'shop.shop.carts' })));
      assert.equal(event.op, operation);
      assert.deepEqual(event.before, before);
      assert.deepEqual(event.after, after);
    });
  }

  it('documents every op code', () => {
    assert.deepEqual(Object.values(OP_CODES).sort(), ['c', 'd', 'r', 't', 'u']);
    assert.deepEqual(Object.keys(OPERATION_BY_CODE).sort(), ['c', 'd', 'r', 't', 'u']);
  });

  it('rejects an unknown op', async () => {
    const record = jsonRecord(envelope('carts', 'x', { id: 1 }), { topic: 'shop.shop.carts', partition: 2, offset: '41', key: '{"id":1}' });
    await assert.rejects(decoder.decode(record), (error: unknown) => {
      assert.ok(error instanceof UnknownOperationError);
      assert.equal(error.op, 'x');
      assert.equal(error.retriable, false);
      assert.equal(error.reason, 'unknown-operation');
      assert.equal(error.topic, 'shop.shop.carts');
      assert.equal(error.partition, 2);
      assert.equal(error.offset, '41');
      assert.equal(error.key, '{"id":1}');
      return true;
    });
  });

  it('rejects a create without after', async () => {
    await assert.rejects(decoder.decode(jsonRecord(envelope('carts', 'c', null))), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'invalid-envelope');
      return true;
    });
  });

  it('rejects invalid JSON', async () => {
    await assert.rejects(decoder.decode(rawRecord(Buffer.from('{"op": "c",'))), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'invalid-json');
      return true;
    });
  });

  it('reads a truncate with a null key', async () => {
    const event = asChange(await decoder.decode(jsonRecord(envelope('carts', 't', null), { topic: 'shop.shop.carts', key: null })));
    assert.equal(event.op, 'truncate');
    assert.equal(event.key, null);
  });
});

describe('deletes and tombstones', () => {
  const deleteValue = {
    before: { id: 7003, cart_id: 3001, sku: 'MUG-01', qty: 1 },
    after: null,
    op: 'd',
    source: { table: 'cart_items' },
  };

  it('decodes the delete before its tombstone', async () => {
    const record = jsonRecord(deleteValue, { topic: 'shop.shop.cart_items', offset: '210', key: '{"id":7003}' });
    const event = asChange(await decoder.decode(record));
    assert.equal(event.op, 'delete');
    assert.equal(event.after, null);
    assert.deepEqual(event.before, { id: 7003, cart_id: 3001, sku: 'MUG-01', qty: 1 });
    assert.deepEqual(event.key, { id: 7003 });
  });

  it('skips a tombstone without parsing', async () => {
    const parsed: string[] = [];
    const spyDecoder = createDebeziumDecoder({
      valueFormat: 'json',
      parseJson: (text: string): JsonValue => {
        parsed.push(text);
        return parseJsonExact(text);
      },
    });
    const tombstone = await spyDecoder.decode(rawRecord(null, { topic: 'shop.shop.cart_items', offset: '211', key: '{"id":7003}' }));
    assert.deepEqual(tombstone, { kind: 'tombstone', topic: 'shop.shop.cart_items', partition: 0, offset: '211', key: '{"id":7003}' });
    assert.deepEqual(parsed, []);
  });

  it('parses the delete with the spy', async () => {
    // Guards the tombstone test above: the spy does see ordinary records.
    const parsed: string[] = [];
    const spyDecoder = createDebeziumDecoder({ valueFormat: 'json', parseJson: (text) => (parsed.push(text), parseJsonExact(text)) });
    await spyDecoder.decode(jsonRecord(deleteValue, { topic: 'shop.shop.cart_items', key: '{"id":7003}' }));
    assert.equal(parsed.length, 2);
  });

  it('treats a schema envelope with null payload as a tombstone', async () => {
    const record = await decoder.decode(rawRecord(Buffer.from('{"schema":null,"payload":null}'), { offset: '9' }));
    assert.equal(record.kind, 'tombstone');
  });
});

describe('snapshot reads', () => {
  for (const marker of SNAPSHOT_MARKERS) {
    it(`reads snapshot marker ${marker}`, async () => {
      const record = jsonRecord({ ...envelope('carts', 'r', { id: 2901 }), source: source('carts', { snapshot: marker }) }, { topic: 'shop.shop.carts' });
      const event = asChange(await decoder.decode(record));
      assert.equal(event.source.snapshot, marker);
      assert.equal(event.source.isSnapshot, marker !== 'false');
    });
  }

  it('treats a missing marker as streaming', async () => {
    const record = jsonRecord({ after: { id: 2903, customer_id: 603, status: 'open' }, op: 'c' }, { topic: 'shop.shop.carts' });
    const event = asChange(await decoder.decode(record));
    assert.equal(event.op, 'create');
    assert.equal(event.source.snapshot, 'false');
    assert.equal(event.source.isSnapshot, false);
    assert.equal(event.source.db, 'shop');
    assert.equal(event.source.table, 'carts');
  });

  it('reads old boolean markers', async () => {
    const record = jsonRecord({ ...envelope('carts', 'r', { id: 1 }), source: source('carts', { snapshot: true }) }, { topic: 'shop.shop.carts' });
    assert.equal(asChange(await decoder.decode(record)).source.snapshot, 'true');
  });

  it('rejects an unknown marker', async () => {
    const record = jsonRecord({ ...envelope('carts', 'r', { id: 1 }), source: source('carts', { snapshot: 'maybe' }) }, { topic: 'shop.shop.carts' });
    await assert.rejects(decoder.decode(record), /Unknown source\.snapshot value "maybe"/);
  });

  it('reads initial snapshot rows as reads', async () => {
    const hinted = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { total: { type: 'decimal', scale: 2 }, placed_at: { type: 'datetime' } } } });
    const record = jsonRecord(
      { after: { id: 950, customer_id: 601, total: 'F1w=', status: 'paid', placed_at: 1690000000000 }, op: 'r', source: { table: 'orders', snapshot: 'last' } },
      { topic: 'shop.shop.orders' },
    );
    const event = asChange(await hinted.decode(record));
    assert.equal(event.op, 'read');
    assert.equal(event.source.isSnapshot, true);
    assert.equal(event.after?.['total'], '59.80');
    assert.ok(event.after?.['placed_at'] instanceof Instant);
    assert.equal(event.after['placed_at'].toUnixSeconds(), 1690000000);
  });
});

describe('positions', () => {
  const created = { after: { id: 1001, customer_id: 501, total: 'F1w=', status: 'pending' }, op: 'c', source: { file: 'mysql-bin.000003', pos: 4471, row: 0 } };
  const paid = {
    before: { id: 1001, customer_id: 501, total: 'F1w=', status: 'pending' },
    after: { id: 1001, customer_id: 501, total: 'F1w=', status: 'paid' },
    op: 'u',
    source: { file: 'mysql-bin.000003', pos: 5230, row: 0 },
  };

  it('repeats for a re-emitted change', async () => {
    const first = asChange(await decoder.decode(jsonRecord(created, { offset: '120' })));
    const again = asChange(await decoder.decode(jsonRecord(created, { offset: '134' })));
    assert.equal(first.position, 'binlog:mysql-bin.000003:4471:0');
    assert.equal(again.position, first.position);
  });

  it('differs between changes', async () => {
    const first = asChange(await decoder.decode(jsonRecord(created, { offset: '120' })));
    const second = asChange(await decoder.decode(jsonRecord(paid, { offset: '121' })));
    assert.notEqual(second.position, first.position);
  });

  it('differs between rows of one event', async () => {
    const rowZero = asChange(await decoder.decode(jsonRecord({ ...created, source: { file: 'mysql-bin.000003', pos: 4471, row: 0 } })));
    const rowOne = asChange(await decoder.decode(jsonRecord({ ...created, source: { file: 'mysql-bin.000003', pos: 4471, row: 1 } })));
    assert.notEqual(rowOne.position, rowZero.position);
  });

  it('adds the key for snapshot reads', async () => {
    const snapshotSource = source('carts', { snapshot: 'true', file: 'mariadb-bin.000002', pos: 100, row: 0 });
    const first = asChange(await decoder.decode(jsonRecord({ ...envelope('carts', 'r', { id: 2901 }), source: snapshotSource }, { key: '{"id":2901}' })));
    const second = asChange(await decoder.decode(jsonRecord({ ...envelope('carts', 'r', { id: 2902 }), source: snapshotSource }, { key: '{"id":2902}' })));
    assert.equal(first.position, 'binlog:mariadb-bin.000002:100:0:shop.carts:{"id":2901}');
    assert.notEqual(second.position, first.position);
  });

  it('uses the gtid without a binlog file', async () => {
    const record = jsonRecord({ ...envelope('orders', 'c', { id: 1 }), source: { db: 'shop', table: 'orders', gtid: '0-1-7', row: 0 }, transaction: { id: '0-1-7', total_order: 3, data_collection_order: 1 } });
    assert.equal(asChange(await decoder.decode(record)).position, 'gtid:0-1-7:3');
  });

  it('falls back to kafka coordinates', async () => {
    const record = jsonRecord({ after: { id: 1 }, op: 'c' }, { topic: 'shop.shop.orders', partition: 1, offset: '9' });
    assert.equal(asChange(await decoder.decode(record)).position, 'kafka:shop.shop.orders:1:9');
  });
});

describe('envelope details', () => {
  it('exposes primary key change headers', async () => {
    const deleted = asChange(
      await decoder.decode(jsonRecord({ ...envelope('orders', 'd', null), before: { id: 1001 } }, { key: '{"id":1001}', headers: { '__debezium.newkey': Buffer.from('{"id":2001}') } })),
    );
    const created = asChange(await decoder.decode(jsonRecord(envelope('orders', 'c', { id: 2001 }), { key: '{"id":2001}', headers: { '__debezium.oldkey': '{"id":1001}' } })));
    assert.deepEqual(deleted.primaryKeyChange, { role: 'old-key-deleted', newKey: '{"id":2001}' });
    assert.deepEqual(created.primaryKeyChange, { role: 'new-key-created', oldKey: '{"id":1001}' });
    assert.equal(deleted.headers['__debezium.newkey'], '{"id":2001}');
  });

  it('reads the transaction block', async () => {
    const record = jsonRecord({ ...envelope('orders', 'c', { id: 1 }), transaction: { id: '0-1-7', total_order: 2, data_collection_order: 1 } });
    assert.deepEqual(asChange(await decoder.decode(record)).transaction, { id: '0-1-7', totalOrder: 2, dataCollectionOrder: 1 });
  });

  it('decodes a captured MariaDB order', async () => {
    const event = asChange(await decoder.decode(capturedRecord('mariadb-orders-create.json')));
    assert.equal(event.op, 'create');
    assert.deepEqual(event.key, { id: 1 });
    assert.equal(event.after['total'], '7.90');
    assert.ok(event.after['placed_at'] instanceof Instant);
    assert.equal(event.after['placed_at'].toISOString(), '2024-07-15T09:30:00Z');
    assert.ok(event.after['paid_at'] instanceof Instant);
    assert.equal(event.after['paid_at'].toUnixSeconds(), 1721050200);
    assert.equal(event.source.connector, 'mariadb');
    assert.equal(event.source.gtid, '0-1-21');
    assert.equal(event.source.serverId, 1);
    assert.deepEqual(event.transaction, { id: '0-1-21', totalOrder: 2, dataCollectionOrder: 1 });
    assert.equal(event.position, 'binlog:mariadb-bin.000002:1953:0');
  });

  it('lists columns including null ones', async () => {
    const event = asChange(await decoder.decode(capturedRecord('mariadb-orders-create.json')));
    assert.equal(event.after?.['discount_code'], null);
    assert.ok(event.columns.has('discount_code'));
    assert.equal(event.columns.size, 12);
  });
});

describe('schema changes', () => {
  const columnsV1 = [
    { field: 'id', type: 'int64', optional: false },
    { field: 'total', type: 'string', optional: false },
  ];
  const columnsV2 = [...columnsV1, { field: 'coupon_code', type: 'string', optional: true }];

  it('shows an added column', async () => {
    const before = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', columnsV1), payload: envelope('orders', 'c', { id: 1001, total: '19.90' }) })));
    const after = asChange(
      await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', columnsV2), payload: envelope('orders', 'c', { id: 1003, total: '19.90', coupon_code: 'SUMMER10' }) })),
    );
    assert.equal(before.columns.has('coupon_code'), false);
    assert.equal(after.columns.has('coupon_code'), true);
    assert.equal(after.after?.['coupon_code'], 'SUMMER10');
  });

  it('names a dropped required column', async () => {
    const dropped = [{ field: 'id', type: 'int64', optional: false }];
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', dropped), payload: envelope('orders', 'c', { id: 1004 }) }, { offset: '55' })));
    assert.deepEqual(missingColumns(event, ['id', 'total']), ['shop.orders.total']);
    assert.throws(
      () => assertColumnsPresent(event, ['id', 'total']),
      (error: unknown) => {
        assert.ok(error instanceof MissingColumnError);
        assert.deepEqual(error.columns, ['shop.orders.total']);
        assert.equal(error.offset, '55');
        assert.match(error.message, /shop\.orders\.total/);
        return true;
      },
    );
  });

  it('accepts a required column that is null', async () => {
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', columnsV2), payload: envelope('orders', 'c', { id: 1001, total: '1.00', coupon_code: null }) })));
    assert.deepEqual(missingColumns(event, ['coupon_code']), []);
  });
});

describe('transaction markers', () => {
  it('reads a captured BEGIN', async () => {
    const marker = await decoder.decodeTransactionMarker(capturedRecord('mariadb-transaction-begin.json'));
    assert.equal(marker.kind, 'transaction');
    assert.deepEqual(marker.kind === 'transaction' && { status: marker.status, id: marker.id, eventCount: marker.eventCount, dataCollections: marker.dataCollections }, {
      status: 'BEGIN',
      id: '0-1-23',
      eventCount: null,
      dataCollections: [],
    });
  });

  it('reads a captured END with counts', async () => {
    const marker = await decoder.decodeTransactionMarker(capturedRecord('mariadb-transaction-end.json'));
    assert.equal(marker.kind, 'transaction');
    assert.equal(marker.kind === 'transaction' && marker.status, 'END');
    assert.equal(marker.kind === 'transaction' && marker.eventCount, 5);
    assert.deepEqual(marker.kind === 'transaction' && marker.dataCollections, [
      { dataCollection: 'shop.order_items', eventCount: 3 },
      { dataCollection: 'shop.customers', eventCount: 1 },
      { dataCollection: 'shop.orders', eventCount: 1 },
    ]);
  });

  it('rejects an unknown status', async () => {
    const record = jsonRecord({ status: 'COMMIT', id: '0-1-9', event_count: null, data_collections: null, ts_ms: 1 }, { topic: 'shop.transaction' });
    await assert.rejects(decoder.decodeTransactionMarker(record), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.equal(error.reason, 'invalid-envelope');
      assert.match(error.message, /COMMIT/);
      return true;
    });
  });
});
