import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import type { ChangeEvent } from '../../processors/debezium/envelope.ts';
import { SourceSchemaTracker } from '../../processors/debezium/schema-changes.ts';
import { MemorySchemaLookup, asChange, avroEnvelopeSchema, avroFrame, avroSource, envelope, envelopeSchema, jsonRecord, rawRecord, source } from './helpers.ts';

const jsonDecoder = createDebeziumDecoder({ valueFormat: 'json' });

const ID = { field: 'id', type: 'int64', optional: false };
const TOTAL = { field: 'total', type: 'string', optional: false };
const COUPON = { field: 'coupon_code', type: 'string', optional: true };

/** Decodes an orders change with an embedded schema of `columns`, committed at `tsMs`. */
async function withSchema(columns: readonly Record<string, unknown>[], row: Record<string, unknown>, tsMs = 1721050200000, offset?: string): Promise<ChangeEvent> {
  const payload = { ...envelope('orders', 'c', row), source: source('orders', { ts_ms: tsMs }) };
  return asChange(await jsonDecoder.decode(jsonRecord({ schema: envelopeSchema('orders', columns), payload }, offset === undefined ? {} : { offset })));
}

/** Decodes a schemaless orders change whose row is `row`. */
async function schemaless(row: Record<string, unknown>, tsMs = 1721050200000): Promise<ChangeEvent> {
  return asChange(await jsonDecoder.decode(jsonRecord({ ...envelope('orders', 'c', row), source: source('orders', { ts_ms: tsMs }) })));
}

describe('source schema tracker', () => {
  it('takes the first event of a table as the baseline', async () => {
    const tracker = new SourceSchemaTracker();
    const first = tracker.inspect(await withSchema([ID, TOTAL], { id: 1001, total: '19.90' }));
    assert.equal(first.status, 'baseline');
    assert.equal(first.table, 'shop.orders');
    assert.equal(first.change, null);
    const second = tracker.inspect(await withSchema([ID, TOTAL], { id: 1002, total: '5.00' }, 1721050201000));
    assert.equal(second.status, 'same');
  });

  it('reports an added column once', async () => {
    const tracker = new SourceSchemaTracker();
    tracker.inspect(await withSchema([ID, TOTAL], { id: 1001, total: '19.90' }));
    const altered = tracker.inspect(await withSchema([ID, TOTAL, COUPON], { id: 1003, total: '19.90', coupon_code: 'SUMMER10' }, 1721050260000));
    assert.equal(altered.status, 'changed');
    assert.deepEqual(altered.change?.added, ['coupon_code']);
    assert.deepEqual(altered.change?.removed, []);
    assert.equal(altered.change?.table, 'shop.orders');
    const next = tracker.inspect(await withSchema([ID, TOTAL, COUPON], { id: 1004, total: '1.00', coupon_code: null }, 1721050261000));
    assert.equal(next.status, 'same');
  });

  it('reports a removed column', async () => {
    const tracker = new SourceSchemaTracker();
    tracker.inspect(await withSchema([ID, TOTAL, COUPON], { id: 1001, total: '19.90', coupon_code: null }));
    const dropped = tracker.inspect(await withSchema([ID, TOTAL], { id: 1005, total: '2.00' }, 1721050300000));
    assert.equal(dropped.status, 'changed');
    assert.deepEqual(dropped.change?.added, []);
    assert.deepEqual(dropped.change?.removed, ['coupon_code']);
  });

  it('reads the field set of schemaless rows from their keys', async () => {
    const tracker = new SourceSchemaTracker();
    assert.equal(tracker.inspect(await schemaless({ id: 1001, total: 'AxY=' })).status, 'baseline');
    const altered = tracker.inspect(await schemaless({ id: 1003, total: 'AxY=', coupon_code: 'SUMMER10' }, 1721050260000));
    assert.deepEqual(altered.change?.added, ['coupon_code']);
  });

  it('keeps tables apart', async () => {
    const tracker = new SourceSchemaTracker();
    tracker.inspect(await schemaless({ id: 1001, total: '1.00' }));
    const carts = asChange(await jsonDecoder.decode(jsonRecord({ ...envelope('carts', 'c', { id: 7 }), source: source('carts') }, { topic: 'shop.shop.carts' })));
    const inspection = tracker.inspect(carts);
    assert.equal(inspection.table, 'shop.carts');
    assert.equal(inspection.status, 'baseline');
  });

  it('ignores an older event with the earlier field set', async () => {
    // A lagging partition (or a replay) still delivers rows written before the ALTER.
    const tracker = new SourceSchemaTracker();
    tracker.inspect(await withSchema([ID, TOTAL], { id: 1001, total: '19.90' }, 1721050200000));
    assert.equal(tracker.inspect(await withSchema([ID, TOTAL, COUPON], { id: 1003, total: '1.00', coupon_code: null }, 1721050260000)).status, 'changed');
    const late = tracker.inspect(await withSchema([ID, TOTAL], { id: 1002, total: '3.00' }, 1721050230000));
    assert.equal(late.status, 'older');
    assert.equal(late.change, null);
    assert.equal(tracker.inspect(await withSchema([ID, TOTAL, COUPON], { id: 1006, total: '1.00', coupon_code: null }, 1721050270000)).status, 'same');
  });

  it('compares Avro records by writer schema id', async () => {
    const v41 = avroEnvelopeSchema('orders', [{ name: 'id', type: 'long' }, { name: 'total', type: 'string' }]);
    const v57 = avroEnvelopeSchema('orders', [{ name: 'id', type: 'long' }, { name: 'total', type: 'string' }, { name: 'coupon_code', type: ['null', 'string'], default: null }]);
    // Same columns as v41 under a new id, as after a column type change.
    const v58 = avroEnvelopeSchema('orders', [{ name: 'id', type: 'long' }, { name: 'total', type: 'string' }, { name: 'coupon_code', type: ['null', 'string'], default: null }]);
    const decoder = createDebeziumDecoder({ valueFormat: 'avro', schemaLookup: new MemorySchemaLookup({ 41: v41, 57: v57, 58: v58 }) });
    const value = (row: Record<string, unknown>, tsMs: number) => ({ before: null, after: row, source: avroSource('orders', { ts_ms: tsMs }), transaction: null, op: 'c', ts_ms: null, ts_ns: null });
    const tracker = new SourceSchemaTracker();

    const old = asChange(await decoder.decode(rawRecord(avroFrame(41, v41, value({ id: 1001, total: '19.90' }, 1721050200000)))));
    assert.equal(tracker.inspect(old).status, 'baseline');
    const altered = asChange(await decoder.decode(rawRecord(avroFrame(57, v57, value({ id: 1003, total: '19.90', coupon_code: 'SUMMER10' }, 1721050260000)))));
    const changed = tracker.inspect(altered);
    assert.equal(changed.status, 'changed');
    assert.deepEqual(changed.change?.added, ['coupon_code']);
    assert.equal(changed.change?.previousSchemaId, 41);
    assert.equal(changed.change?.schemaId, 57);
    const retyped = asChange(await decoder.decode(rawRecord(avroFrame(58, v58, value({ id: 1007, total: '2.00', coupon_code: null }, 1721050300000)))));
    assert.equal(tracker.inspect(retyped).status, 'same');
  });

  it('names missing required columns', async () => {
    const tracker = new SourceSchemaTracker({ requiredColumns: { 'shop.orders': ['id', 'total'] } });
    const complete = tracker.inspect(await withSchema([ID, TOTAL], { id: 1001, total: '19.90' }));
    assert.deepEqual(complete.missing, []);
    const dropped = tracker.inspect(await withSchema([ID], { id: 1008 }, 1721050400000));
    assert.equal(dropped.status, 'changed');
    assert.deepEqual(dropped.change?.removed, ['total']);
    assert.deepEqual(dropped.missing, ['shop.orders.total']);
    // Later events of the same field set are checked again.
    assert.deepEqual(tracker.inspect(await withSchema([ID], { id: 1009 }, 1721050401000)).missing, ['shop.orders.total']);
  });

  it('accepts a required column that is null', async () => {
    const tracker = new SourceSchemaTracker({ requiredColumns: { 'shop.orders': ['coupon_code'] } });
    assert.deepEqual(tracker.inspect(await withSchema([ID, TOTAL, COUPON], { id: 1001, total: '1.00', coupon_code: null })).missing, []);
  });

  it('checks required columns without tracking', async () => {
    const tracker = new SourceSchemaTracker({ requiredColumns: { 'shop.orders': ['total'] } });
    const untracked = tracker.inspect(await withSchema([ID], { id: 1010 }), false);
    assert.equal(untracked.status, 'untracked');
    assert.deepEqual(untracked.missing, ['shop.orders.total']);
    // Nothing was learned, so the next tracked event is the baseline.
    assert.equal(tracker.inspect(await withSchema([ID, TOTAL], { id: 1011, total: '1.00' })).status, 'baseline');
  });

  it('skips a truncate, which has no row', async () => {
    const tracker = new SourceSchemaTracker({ requiredColumns: { 'shop.orders': ['total'] } });
    const truncate = asChange(await jsonDecoder.decode(jsonRecord(envelope('orders', 't', null), { key: null })));
    const inspection = tracker.inspect(truncate);
    assert.equal(inspection.status, 'same');
    assert.deepEqual(inspection.missing, []);
  });
});
