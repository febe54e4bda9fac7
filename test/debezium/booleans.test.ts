import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { ColumnValueInvalidError } from '../../processors/debezium/errors.ts';
import type { TableHints } from '../../processors/debezium/types.ts';
import { asChange, capturedRecord, envelopeSchema, jsonRecord } from './helpers.ts';

const HINTS: TableHints = { sms_opt_in: { type: 'boolean' }, loyalty_tier: { type: 'number' } };
const decoder = createDebeziumDecoder({ valueFormat: 'json', columnHints: { 'shop.customers': HINTS } });

// Snapshot rows carry TINYINT(1) as INT16, but a column declared BOOLEAN can stream as a JSON boolean.
const RECORDS = [
  { id: 503, smsOptIn: 1, op: 'r', snapshot: 'true', expected: true },
  { id: 504, smsOptIn: -1, op: 'r', snapshot: 'true', expected: true },
  { id: 506, smsOptIn: 2, op: 'r', snapshot: 'last', expected: true },
  { id: 503, smsOptIn: true, op: 'u', snapshot: 'false', expected: true },
  { id: 505, smsOptIn: 0, op: 'c', snapshot: 'false', expected: false },
  { id: 507, smsOptIn: false, op: 'u', snapshot: 'false', expected: false },
] as const;

function customerValue(id: number, smsOptIn: unknown, op: string, snapshot: string): Record<string, unknown> {
  return {
    before: null,
    after: { id, email: `customer${id}@example.net`, sms_opt_in: smsOptIn, loyalty_tier: 3 },
    op,
    source: { db: 'shop', table: 'customers', snapshot, file: 'mariadb-bin.000002', pos: 1, row: 0 },
  };
}

describe('tinyint(1) booleans', () => {
  for (const { id, smsOptIn, op, snapshot, expected } of RECORDS) {
    it(`reads ${JSON.stringify(smsOptIn)} as ${expected} without schema (op ${op})`, async () => {
      const event = asChange(await decoder.decode(jsonRecord(customerValue(id, smsOptIn, op, snapshot), { topic: 'shop.shop.customers' })));
      assert.equal(event.after?.['sms_opt_in'], expected);
    });

    it(`reads ${JSON.stringify(smsOptIn)} as ${expected} with schema (op ${op})`, async () => {
      const columnType = typeof smsOptIn === 'boolean' ? 'boolean' : 'int16';
      const schema = envelopeSchema('customers', [
        { field: 'id', type: 'int64', optional: false },
        { field: 'email', type: 'string', optional: true },
        { field: 'sms_opt_in', type: columnType, optional: true },
        { field: 'loyalty_tier', type: 'int16', optional: true },
      ]);
      const event = asChange(await decoder.decode(jsonRecord({ schema, payload: customerValue(id, smsOptIn, op, snapshot) }, { topic: 'shop.shop.customers' })));
      assert.equal(event.after?.['sms_opt_in'], expected);
    });
  }

  it('keeps a number-hinted tinyint a number', async () => {
    const event = asChange(await decoder.decode(jsonRecord(customerValue(503, 1, 'r', 'true'), { topic: 'shop.shop.customers' })));
    assert.equal(event.after?.['loyalty_tier'], 3);
  });

  it('keeps an unhinted tinyint a number', async () => {
    const plain = createDebeziumDecoder({ valueFormat: 'json' });
    const event = asChange(await plain.decode(jsonRecord(customerValue(503, 1, 'r', 'true'), { topic: 'shop.shop.customers' })));
    assert.equal(event.after?.['sms_opt_in'], 1);
  });

  it('reads a captured MariaDB customer', async () => {
    const event = asChange(await decoder.decode(capturedRecord('mariadb-customers-create.json')));
    assert.equal(event.after?.['sms_opt_in'], true);
    assert.equal(event.after?.['loyalty_tier'], 0);
  });

  it('rejects a text flag', async () => {
    const record = jsonRecord(customerValue(508, 'yes', 'c', 'false'), { topic: 'shop.shop.customers' });
    await assert.rejects(decoder.decode(record), (error: unknown) => {
      assert.ok(error instanceof ColumnValueInvalidError);
      assert.equal(error.column, 'shop.customers.sms_opt_in');
      return true;
    });
  });
});
