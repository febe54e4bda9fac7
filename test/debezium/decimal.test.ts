import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decimalFromBytes, decimalFromNumber, decimalFromString, formatUnscaled, toDecimal, unscaledFromBytes } from '../../processors/debezium/decimal.ts';
import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { ColumnValueInvalidError, DecimalScaleMissingError, RecordDecodeError } from '../../processors/debezium/errors.ts';
import type { DecimalHandlingMode } from '../../processors/debezium/types.ts';
import { asChange, decimalField, envelope, envelopeSchema, jsonRecord, source } from './helpers.ts';

// One row per value: the precise-mode base64, the string-mode text, the double-mode number, the scale
// and the expected exact decimal.
const VALUES = [
  { base64: 'AxY=', text: '7.90', double: 7.9, scale: 2, expected: '7.90' },
  { base64: 'B1g=', text: '0.1880', double: 0.188, scale: 4, expected: '0.1880' },
  { base64: '/gw=', text: '-5.00', double: -5, scale: 2, expected: '-5.00' },
  { base64: '+x4=', text: '-12.50', double: -12.5, scale: 2, expected: '-12.50' },
  { base64: 'AIA=', text: '1.28', double: 1.28, scale: 2, expected: '1.28' },
  { base64: 'F1w=', text: '59.80', double: 59.8, scale: 2, expected: '59.80' },
] as const;

describe('decimal bytes', () => {
  it('reads two-complement bytes as signed', () => {
    assert.equal(unscaledFromBytes(Buffer.from([0xfe, 0x0c])), -500n);
    assert.equal(unscaledFromBytes(Buffer.from([0xfb, 0x1e])), -1250n);
    assert.equal(unscaledFromBytes(Buffer.from([0x00, 0x80])), 128n);
    assert.equal(unscaledFromBytes(Buffer.from([0x07, 0x58])), 1880n);
    assert.equal(unscaledFromBytes(Buffer.from([0xff])), -1n);
    assert.equal(unscaledFromBytes(Buffer.from([])), 0n);
  });

  it('formats with exactly scale fraction digits', () => {
    assert.equal(formatUnscaled(-500n, 2), '-5.00');
    assert.equal(formatUnscaled(5n, 4), '0.0005');
    assert.equal(formatUnscaled(-5n, 4), '-0.0005');
    assert.equal(formatUnscaled(1234n, 0), '1234');
    assert.equal(formatUnscaled(12n, -2), '1200');
  });

  for (const value of VALUES) {
    it(`decodes ${value.base64} at scale ${value.scale}`, () => {
      assert.equal(decimalFromBytes(value.base64, value.scale), value.expected);
    });
  }

  it('rejects text that is not base64', () => {
    assert.throws(() => decimalFromBytes('7.90', 2), TypeError);
  });

  it('keeps digits beyond double precision', () => {
    // 2^70 + 1 as DECIMAL(30,2) unscaled bytes.
    const unscaled = (1n << 70n) + 1n;
    const hex = unscaled.toString(16).padStart(20, '0');
    assert.equal(decimalFromBytes(Buffer.from(hex, 'hex'), 2), '11805916207174113034.25');
  });
});

describe('decimal text and doubles', () => {
  it('pads string-mode text to the scale', () => {
    assert.equal(decimalFromString('7.9', 2), '7.90');
  });

  it('keeps string-mode digits without a scale', () => {
    assert.equal(decimalFromString('7.90', undefined), '7.90');
  });

  it('rejects text with more digits than the scale', () => {
    assert.throws(() => decimalFromString('7.905', 2), RangeError);
  });

  it('reads doubles through their shortest representation', () => {
    assert.equal(decimalFromNumber(0.1 + 0.2, 2), '0.30');
    assert.equal(decimalFromNumber(7.9, 2), '7.90');
    assert.equal(decimalFromNumber(-12.5, 2), '-12.50');
  });

  it('sums exactly through decimal.js', () => {
    assert.equal(toDecimal('59.80').plus(toDecimal('-5.00')).toFixed(2), '54.80');
  });
});

/** Decodes an orders row with `total` and `discount_rate` in the given mode, with or without schemas. */
async function decodeOrder(mode: DecimalHandlingMode, withSchema: boolean, total: unknown, discountRate: unknown) {
  const decoder = createDebeziumDecoder({
    valueFormat: 'json',
    decimalHandlingMode: mode,
    columnHints: withSchema && mode === 'precise' ? {} : { 'shop.orders': { total: { type: 'decimal', scale: 2 }, discount_rate: { type: 'decimal', scale: 4 } } },
  });
  const payload = envelope('orders', 'c', { id: 1001, customer_id: 501, total, discount_rate: discountRate });
  if (!withSchema) {
    return asChange(await decoder.decode(jsonRecord(payload)));
  }
  const columnTypes = { precise: null, string: 'string', double: 'float64' } as const;
  const columnType = columnTypes[mode];
  const columns = [
    { field: 'id', type: 'int64', optional: false },
    { field: 'customer_id', type: 'int64', optional: true },
    columnType === null ? decimalField('total', 2) : { field: 'total', type: columnType, optional: false },
    columnType === null ? decimalField('discount_rate', 4, true) : { field: 'discount_rate', type: columnType, optional: true },
  ];
  return asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', columns), payload })));
}

describe('decimal handling modes', () => {
  for (const withSchema of [true, false]) {
    const schemas = withSchema ? 'with schemas' : 'without schemas';

    it(`reads precise base64 ${schemas}`, async () => {
      const event = await decodeOrder('precise', withSchema, 'AxY=', 'B1g=');
      assert.equal(event.after?.['total'], '7.90');
      assert.equal(event.after?.['discount_rate'], '0.1880');
    });

    it(`reads string mode ${schemas}`, async () => {
      const event = await decodeOrder('string', withSchema, '7.90', '0.1880');
      assert.equal(event.after?.['total'], '7.90');
      assert.equal(event.after?.['discount_rate'], '0.1880');
    });

    it(`reads double mode ${schemas}`, async () => {
      const event = await decodeOrder('double', withSchema, 7.9, 0.188);
      assert.equal(event.after?.['total'], '7.90');
      assert.equal(event.after?.['discount_rate'], '0.1880');
    });

    for (const value of VALUES.filter((candidate) => candidate.scale === 2)) {
      it(`reads ${value.expected} in every mode ${schemas}`, async () => {
        const precise = await decodeOrder('precise', withSchema, value.base64, null);
        const text = await decodeOrder('string', withSchema, value.text, null);
        const double = await decodeOrder('double', withSchema, value.double, null);
        assert.equal(precise.after?.['total'], value.expected);
        assert.equal(text.after?.['total'], value.expected);
        assert.equal(double.after?.['total'], value.expected);
      });
    }
  }

  it('names the column when the scale is unknown', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { total: { type: 'decimal' } } } });
    const record = jsonRecord(envelope('orders', 'c', { id: 1001, total: 'AxY=' }), { offset: '77', key: '{"id":1001}' });
    const error = await decoder.decode(record).then(
      () => assert.fail('expected a DecimalScaleMissingError'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof DecimalScaleMissingError);
    assert.equal(error.column, 'shop.orders.total');
    assert.match(error.message, /shop\.orders\.total/);
    assert.equal(error.retriable, false);
    assert.equal(error.reason, 'decimal-scale-missing');
    assert.equal(error.topic, 'shop.shop.orders');
    assert.equal(error.offset, '77');
    assert.equal(error.key, '{"id":1001}');
  });

  it('names the column of undecodable decimal text', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', decimalHandlingMode: 'string', columnHints: { 'shop.refunds': { amount: { type: 'decimal', scale: 2 } } } });
    const record = jsonRecord(envelope('refunds', 'c', { id: 88, amount: '12,50' }), { topic: 'shop.shop.refunds' });
    await assert.rejects(decoder.decode(record), (error: unknown) => {
      assert.ok(error instanceof RecordDecodeError);
      assert.match(error.message, /shop\.refunds\.amount/);
      return true;
    });
  });

  it('reads a refund without db in its source', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.refunds': { amount: { type: 'decimal', scale: 2 } } } });
    const payload = {
      before: null,
      after: { id: 88, order_id: 1001, customer_id: 501, amount: '/gw=' },
      source: { table: 'refunds', file: 'mysql-bin.000003', pos: 9120, row: 0 },
      op: 'c',
    };
    const event = asChange(await decoder.decode(jsonRecord(payload, { topic: 'shop.shop.refunds' })));
    assert.equal(event.after?.['amount'], '-5.00');
    assert.equal(event.source.db, 'shop');
  });

  it('reads variable-scale decimals', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const columns = [
      {
        field: 'amount',
        type: 'struct',
        optional: false,
        name: 'io.debezium.data.VariableScaleDecimal',
        fields: [
          { field: 'scale', type: 'int32', optional: false },
          { field: 'value', type: 'bytes', optional: false },
        ],
      },
    ];
    const payload = envelope('refunds', 'c', { amount: { scale: 3, value: Buffer.from([0xfb, 0x1e]).toString('base64') } });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('refunds', columns), payload })));
    assert.equal(event.after?.['amount'], '-1.250');
  });

  it('reads numeric decimal format', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const payload = envelope('orders', 'c', { total: 129.99 });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', [decimalField('total', 2)]), payload })));
    assert.equal(event.after?.['total'], '129.99');
  });

  it('rejects a non-base64 value under a decimal schema', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json' });
    const payload = envelope('orders', 'c', { total: 'not base64!' });
    await assert.rejects(decoder.decode(jsonRecord({ schema: envelopeSchema('orders', [decimalField('total', 2)]), payload })), ColumnValueInvalidError);
  });

  it('uses the schema scale over a hint', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { total: { type: 'decimal', scale: 4 } } } });
    const payload = envelope('orders', 'c', { total: 'AxY=' });
    const event = asChange(await decoder.decode(jsonRecord({ schema: envelopeSchema('orders', [decimalField('total', 2)]), payload })));
    assert.equal(event.after?.['total'], '7.90');
  });

  it('keeps source fields beside decimals', async () => {
    const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.orders': { total: { type: 'decimal', scale: 2 } } } });
    const event = asChange(await decoder.decode(jsonRecord({ ...envelope('orders', 'c', { id: 1, total: 'AxY=' }), source: source('orders', { pos: 5230 }) })));
    assert.equal(event.source.pos, 5230);
  });
});
