import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parse as parseYaml } from 'yaml';

import { DEFAULT_MAPPING_FILE, MappingError, columnHintOf, columnHintsOf, loadMapping, topicOf, validateMapping } from '../../processors/mapping/mapping.ts';

const referenceSql = readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'mysql', 'reference.sql'), 'utf8');

/** Column names of each CREATE TABLE in the reference schema. */
function referenceColumns(): Map<string, Set<string>> {
  const tables = new Map<string, Set<string>>();
  for (const match of referenceSql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*?)\n\);/g)) {
    const columns = new Set<string>();
    for (const line of match[2]!.split('\n')) {
      const column = /^\s+(\w+)\s+[A-Z]/.exec(line)?.[1];
      if (column && column !== 'KEY') columns.add(column);
    }
    tables.set(match[1]!, columns);
  }
  return tables;
}

function defaultDocument(): Record<string, unknown> {
  return parseYaml(readFileSync(DEFAULT_MAPPING_FILE, 'utf8')) as Record<string, unknown>;
}

function expectMappingError(document: unknown, key: string, message: RegExp): void {
  assert.throws(
    () => validateMapping(document, 'test.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof MappingError, `expected a MappingError, got ${String(err)}`);
      assert.equal(err.key, key);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('mapping file', () => {
  it('default mapping loads', () => {
    const mapping = loadMapping();
    assert.equal(mapping.datetimeZone, 'UTC');
    assert.equal(mapping.emitSnapshotEvents, false);
    assert.equal(mapping.tables.orders.columns['createdAt'], 'placed_at');
    assert.equal(topicOf(mapping, 'orderItems'), 'shop.shop.order_items');
    assert.ok(Object.isFrozen(mapping));
  });

  it('default mapping fits reference schema', () => {
    const tables = referenceColumns();
    const mapping = loadMapping();
    for (const [role, table] of Object.entries(mapping.tables)) {
      const columns = tables.get(table!.table);
      assert.ok(columns, `tables.${role}.table ${table!.table} exists in the reference schema`);
      for (const [columnRole, column] of Object.entries(table!.columns)) {
        assert.ok(columns.has(column), `tables.${role}.columns.${columnRole} = ${column} exists in ${table!.table}`);
      }
      for (const column of Object.keys(table!.types)) {
        assert.ok(columns.has(column), `tables.${role}.types.${column} exists in ${table!.table}`);
      }
    }
  });

  it('declared types become decoder hints', () => {
    const hints = columnHintsOf(loadMapping());
    assert.deepEqual(hints['shop.orders']?.['total'], { type: 'decimal', scale: 2 });
    assert.deepEqual(hints['shop.order_items']?.['unit_price'], { type: 'decimal', scale: 3 });
    assert.deepEqual(hints['shop.customers']?.['sms_opt_in'], { type: 'boolean' });
    assert.deepEqual(hints['shop.customers']?.['loyalty_tier'], { type: 'number' });
    assert.deepEqual(hints['shop.orders']?.['placed_at'], { type: 'datetime', precision: 0 });
    assert.deepEqual(hints['shop.customers']?.['created_at'], { type: 'datetime', precision: 6 });
    assert.deepEqual(hints['shop.orders']?.['paid_at'], { type: 'timestamp' });
    assert.deepEqual(columnHintOf('bigint unsigned'), { type: 'bigint', unsigned: true });
  });

  it('missing required role names its key', () => {
    const document = defaultDocument();
    const orders = (document['tables'] as Record<string, { columns: Record<string, string> }>)['orders']!;
    delete orders.columns['total'];
    expectMappingError(document, 'tables.orders.columns.total', /is missing/);
  });

  it('unknown key names its key', () => {
    const document = defaultDocument();
    (document['tables'] as Record<string, { columns: Record<string, string> }>)['orders']!.columns['totl'] = 'total';
    expectMappingError(document, 'tables.orders.columns.totl', /is not a known key/);
  });

  it('event name must be snake_case', () => {
    const document = defaultDocument();
    (document['events'] as Record<string, string>)['orderPlaced'] = 'Order Placed';
    expectMappingError(document, 'events.orderPlaced', /must match/);
  });

  it('event name used twice is rejected', () => {
    const document = defaultDocument();
    (document['events'] as Record<string, string>)['orderPaid'] = 'order_placed';
    expectMappingError(document, 'events.orderPaid', /already used by events\.orderPlaced/);
  });

  it('unknown column type is rejected', () => {
    const document = defaultDocument();
    (document['tables'] as Record<string, { types: Record<string, string> }>)['orders']!.types['total'] = 'money';
    expectMappingError(document, 'tables.orders.types.total', /must match/);
  });

  it('invalid datetime zone is rejected', () => {
    const document = defaultDocument();
    document['datetimeZone'] = 'Mars/Olympus';
    expectMappingError(document, 'datetimeZone', /not an IANA time zone/);
  });

  it('unreadable file names the file', () => {
    assert.throws(() => loadMapping('/nonexistent/mapping.yaml'), /invalid mapping \/nonexistent\/mapping\.yaml: could not be read/);
  });
});
