import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import promClient from 'prom-client';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { MissingColumnError } from '../../processors/debezium/errors.ts';
import { stringifyExact } from '../../processors/debezium/json.ts';
import { changeEventDecoder } from '../../processors/mapping/change-decoder.ts';
import { columnHintsOf, loadMapping, requiredColumnsOf } from '../../processors/mapping/mapping.ts';
import type { DecodeContext, SourceMessage } from '../../processors/runtime/processor.ts';
import type { SourceRole } from '../../processors/runtime/repartition.ts';
import { envelope, envelopeSchema, source } from '../debezium/helpers.ts';
import { capturingLogger } from '../runtime/helpers.ts';

const mapping = loadMapping();

const ORDER_COLUMNS = [
  { field: 'id', type: 'int64', optional: false },
  { field: 'customer_id', type: 'int64', optional: true },
  { field: 'total', type: 'string', optional: false },
  { field: 'placed_at', type: 'int64', optional: false, name: 'io.debezium.time.Timestamp', version: 1 },
];
const COUPON = { field: 'coupon_code', type: 'string', optional: true };

let nextOffset = 0;

/** Builds a shop.shop.orders message with an embedded schema of `columns`. */
function orderMessage(columns: readonly Record<string, unknown>[], row: Record<string, unknown>, tsMs: number): SourceMessage {
  const payload = { ...envelope('orders', 'c', row), source: source('orders', { ts_ms: tsMs }) };
  return {
    topic: 'shop.shop.orders',
    partition: 0,
    offset: String(nextOffset++),
    key: Buffer.from(`{"id":${String(row['id'])}}`),
    value: Buffer.from(stringifyExact({ schema: envelopeSchema('orders', columns), payload })),
    headers: {},
    timestamp: String(tsMs),
  };
}

function harness(role: SourceRole = 'repartition-source') {
  const { logger, lines } = capturingLogger('debug');
  const registry = new promClient.Registry();
  const context: DecodeContext = { log: logger, registry, role };
  const decode = changeEventDecoder(mapping, createDebeziumDecoder({ valueFormat: 'json', datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) }));
  const changes = async (table: string): Promise<number | undefined> => {
    const metric = await registry.getSingleMetric('cio_cdc_source_schema_changes_total')?.get();
    return metric?.values.find((entry) => entry.labels['table'] === table)?.value;
  };
  return { decode, context, lines, changes };
}

const row = (id: number, extra: Record<string, unknown> = {}) => ({ id, customer_id: 501, total: '19.90', placed_at: 1721050200000, ...extra });

describe('required columns of a mapping', () => {
  it('lists the columns of required roles', () => {
    const required = requiredColumnsOf(mapping);
    assert.deepEqual(required['shop.orders'], ['id', 'customer_id', 'total', 'placed_at']);
    assert.deepEqual(required['shop.order_items'], ['order_id', 'sku', 'quantity', 'unit_price']);
    assert.deepEqual(required['shop.customers'], ['id']);
  });

  it('leaves optional roles out', () => {
    assert.equal(requiredColumnsOf(mapping)['shop.orders']?.includes('status'), false);
  });
});

describe('change event decoder', () => {
  it('counts the baseline as zero', async () => {
    const { decode, context, changes, lines } = harness();
    const event = await decode(orderMessage(ORDER_COLUMNS, row(1001), 1721050200000), context);
    assert.equal(event?.after?.['total'], '19.90');
    assert.equal(await changes('shop.orders'), 0);
    assert.equal(lines.filter((line) => line['msg'] === 'source table columns changed').length, 0);
  });

  it('warns and counts an added column', async () => {
    const { decode, context, changes, lines } = harness();
    await decode(orderMessage(ORDER_COLUMNS, row(1001), 1721050200000), context);
    const event = await decode(orderMessage([...ORDER_COLUMNS, COUPON], row(1003, { coupon_code: 'SUMMER10' }), 1721050260000), context);
    assert.equal(event?.after?.['coupon_code'], 'SUMMER10');
    assert.equal(await changes('shop.orders'), 1);
    const warnings = lines.filter((line) => line['msg'] === 'source table columns changed');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.['level'], 40);
    assert.equal(warnings[0]?.['table'], 'shop.orders');
    assert.deepEqual(warnings[0]?.['added'], ['coupon_code']);
    assert.deepEqual(warnings[0]?.['removed'], []);
    assert.equal(warnings[0]?.['topic'], 'shop.shop.orders');
  });

  it('rejects a record without a required column', async () => {
    const { decode, context, changes, lines } = harness();
    await decode(orderMessage(ORDER_COLUMNS, row(1001), 1721050200000), context);
    const dropped = ORDER_COLUMNS.filter((column) => column.field !== 'total');
    const { total: _total, ...withoutTotal } = row(1004);
    await assert.rejects(decode(orderMessage(dropped, withoutTotal, 1721050300000), context), (error: unknown) => {
      assert.ok(error instanceof MissingColumnError);
      assert.deepEqual(error.columns, ['shop.orders.total']);
      assert.equal(error.topic, 'shop.shop.orders');
      assert.match(error.message, /shop\.orders\.total/);
      return true;
    });
    assert.equal(await changes('shop.orders'), 1);
    const warning = lines.find((line) => line['msg'] === 'source table columns changed');
    assert.deepEqual(warning?.['removed'], ['total']);
  });

  it('does not track records read back from a repartition topic', async () => {
    const { decode, context, changes } = harness('repartition');
    await decode(orderMessage(ORDER_COLUMNS, row(1001), 1721050200000), context);
    await decode(orderMessage([...ORDER_COLUMNS, COUPON], row(1003, { coupon_code: 'X' }), 1721050260000), context);
    assert.equal(await changes('shop.orders'), undefined);
    const dropped = ORDER_COLUMNS.filter((column) => column.field !== 'placed_at');
    const { placed_at: _placedAt, ...withoutPlacedAt } = row(1005);
    await assert.rejects(decode(orderMessage(dropped, withoutPlacedAt, 1721050300000), context), MissingColumnError);
  });

  it('skips tombstones', async () => {
    const { decode, context } = harness();
    const tombstone: SourceMessage = { topic: 'shop.shop.orders', partition: 0, offset: '9', key: Buffer.from('{"id":1}'), value: null, headers: {}, timestamp: '0' };
    assert.equal(await decode(tombstone, context), null);
  });
});
