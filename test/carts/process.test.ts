import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Instant } from '../../processors/debezium/index.ts';
import type { ChangeEvent } from '../../processors/debezium/index.ts';
import { DEFAULT_MAPPING_FILE, loadMapping, validateMapping } from '../../processors/mapping/mapping.ts';
import { parseYaml } from './yaml.ts';
import { applyChange, cartsRules, cartTotalOf, flushCart } from '../../processors/carts/process.ts';
import type { CartState } from '../../processors/carts/records.ts';

const mapping = loadMapping();
const rules = cartsRules(mapping, 64);
let position = 0;

function change(
  table: 'carts' | 'cart_items',
  op: ChangeEvent['op'],
  row: Record<string, unknown> | null,
  options: { before?: Record<string, unknown>; snapshot?: boolean; tsMs?: number; position?: string } = {},
): ChangeEvent {
  position += 1;
  return {
    kind: 'change',
    op,
    before: options.before ?? null,
    after: row,
    source: { db: 'shop', table, tsMs: options.tsMs ?? 1721050200000, isSnapshot: options.snapshot ?? false, file: 'mysql-bin.000001', pos: position, row: 0, gtid: null },
    tsMs: options.tsMs ?? 1721050200000,
    transaction: null,
    position: options.position ?? `binlog:mysql-bin.000001:${position}:0`,
  } as unknown as ChangeEvent;
}

const source = { topic: 'shop.shop.carts', partition: 0, offset: '1' };

function apply(state: CartState | undefined, event: ChangeEvent): CartState {
  return applyChange(state, 'c-1', event, source, rules).state;
}

const cartRow = (status = 'open', customer: string | null = '601') => ({ id: 'c-1', customer_id: customer, status, currency: 'USD', checkout_started_at: null });
const item = (id: number, sku: string, quantity: number, price: string) => ({ id, cart_id: 'c-1', sku, variant_id: null, name: sku, category: 'kitchen', quantity, unit_price: price });

describe('carts process', () => {
  it('emits one cart_updated with both items of one settled change set', () => {
    let state = apply(undefined, change('carts', 'create', cartRow()));
    state = apply(state, change('cart_items', 'create', item(1, 'MUG-01', 2, '12.500')));
    state = apply(state, change('cart_items', 'create', item(2, 'CAP-1', 1, '10.000')));
    const result = flushCart(state, rules);
    assert.equal(result.events.length, 1);
    const event = result.events[0]!;
    assert.equal(event.name, 'cart_updated');
    assert.equal(event.customerId, '601');
    assert.equal(event.timestamp, 1721050200);
    assert.equal(event.origin, 'live');
    assert.deepEqual(event.data['items'], [
      { sku: 'CAP-1', variant_id: null, name: 'CAP-1', category: 'kitchen', quantity: 1, price: 10 },
      { sku: 'MUG-01', variant_id: null, name: 'MUG-01', category: 'kitchen', quantity: 2, price: 12.5 },
    ]);
    assert.equal(event.data['cart_total'], 35);
    assert.equal(event.data['item_count'], 3);
    assert.equal(result.snapshot?.cart_total, '35.00');
    assert.equal(result.snapshot?.version, 1);
  });

  it('stamps events with the cart row updated_at', () => {
    // A backfill loaded in 2026 of carts changed in 2019: the event time is the shop's time.
    const loadedAtMs = 1796420856000;
    const changedAt = Instant.fromEpochMillis(1569888134000);
    let state = apply(undefined, change('carts', 'create', { ...cartRow(), updated_at: changedAt }, { tsMs: loadedAtMs }));
    state = apply(state, change('cart_items', 'create', item(1, 'MUG-01', 1, '5.000'), { tsMs: loadedAtMs + 5 }));
    const result = flushCart(state, rules);
    assert.equal(result.events.length, 1);
    assert.equal(result.events[0]!.timestamp, 1569888134);
    assert.equal(result.events[0]!.data['updated_at'], 1569888134);
  });

  it('stamps events with the commit time without updated_at', () => {
    const state = apply(undefined, change('carts', 'create', cartRow(), { tsMs: 1796420856000 }));
    const withItem = apply(state, change('cart_items', 'create', item(1, 'MUG-01', 1, '5.000'), { tsMs: 1796420856000 }));
    assert.equal(flushCart(withItem, rules).events[0]!.timestamp, 1796420856);
  });

  it('does not emit when only an unrelated column or the price formatting changes', () => {
    let state = apply(undefined, change('carts', 'create', cartRow()));
    state = apply(state, change('cart_items', 'create', item(1, 'MUG-01', 2, '12.500')));
    state = flushCart(state, rules).state;
    state = apply(state, change('carts', 'update', { ...cartRow(), updated_at: 'x' }));
    state = apply(state, change('cart_items', 'update', item(1, 'MUG-01', 2, '12.5')));
    const result = flushCart(state, rules);
    assert.equal(result.events.length, 0);
    assert.equal(result.state.version, 1);
  });

  it('emits the remaining item after one item is deleted', () => {
    let state = apply(undefined, change('carts', 'create', cartRow()));
    state = apply(state, change('cart_items', 'create', item(7003, 'MUG-01', 1, '5.000')));
    state = apply(state, change('cart_items', 'create', item(7004, 'CAP-1', 1, '10.000')));
    state = flushCart(state, rules).state;
    state = apply(state, change('cart_items', 'delete', null, { before: item(7003, 'MUG-01', 1, '5.000') }));
    const result = flushCart(state, rules);
    assert.equal(result.events.length, 1);
    assert.deepEqual((result.events[0]!.data['items'] as { sku: string }[]).map((entry) => entry.sku), ['CAP-1']);
    assert.equal(result.state.version, 2);
  });

  it('emits nothing for snapshot reads but keeps their state', () => {
    let state = apply(undefined, change('carts', 'read', cartRow('checkout'), { snapshot: true }));
    state = apply(state, change('cart_items', 'read', item(1, 'MUG-01', 1, '5.000'), { snapshot: true }));
    const result = flushCart(state, rules);
    assert.equal(result.events.length, 0);
    assert.equal(result.snapshot?.items.length, 1);
    assert.equal(result.state.emittedContentKey, result.state.contentKey);
  });

  it('marks snapshot events as snapshot records when the operator turns them on', () => {
    const document = parseYaml(DEFAULT_MAPPING_FILE);
    const snapshotRules = cartsRules(validateMapping({ ...document, emitSnapshotEvents: true }), 64);
    let state = applyChange(undefined, 'c-1', change('carts', 'read', cartRow(), { snapshot: true }), source, snapshotRules).state;
    state = applyChange(state, 'c-1', change('cart_items', 'read', item(1, 'MUG-01', 1, '5.000'), { snapshot: true }), source, snapshotRules).state;
    const result = flushCart(state, snapshotRules);
    assert.equal(result.events.length, 1);
    assert.equal(result.events[0]!.origin, 'snapshot');
  });

  it('emits checkout_started once per checkout and nothing after conversion', () => {
    let state = apply(undefined, change('carts', 'create', cartRow()));
    state = apply(state, change('cart_items', 'create', item(1, 'MUG-01', 1, '5.000')));
    state = flushCart(state, rules).state;
    state = apply(state, change('carts', 'update', cartRow('checkout')));
    const first = flushCart(state, rules);
    assert.deepEqual(first.events.map((event) => event.name), ['checkout_started']);
    state = apply(first.state, change('carts', 'update', { ...cartRow('checkout'), currency: 'USD' }));
    assert.equal(flushCart(state, rules).events.length, 0);
    state = apply(flushCart(state, rules).state, change('carts', 'update', cartRow('converted')));
    state = apply(state, change('cart_items', 'create', item(2, 'CAP-1', 1, '1.000')));
    const closed = flushCart(state, rules);
    assert.equal(closed.events.length, 0);
    assert.equal(closed.snapshot, null);
  });

  it('keeps a cart without customer id silent until the customer id is set', () => {
    let state = apply(undefined, change('carts', 'create', cartRow('open', null)));
    state = apply(state, change('cart_items', 'create', item(1, 'MUG-01', 1, '5.000')));
    const silent = flushCart(state, rules);
    assert.equal(silent.events.length, 0);
    state = apply(silent.state, change('carts', 'update', cartRow('open', '601')));
    const later = flushCart(state, rules);
    assert.equal(later.events.length, 1);
    assert.equal(later.events[0]!.customerId, '601');
  });

  it('drops a change the connector emitted again', () => {
    const event = change('cart_items', 'create', item(1, 'MUG-01', 1, '5.000'));
    const state = apply(apply(undefined, change('carts', 'create', cartRow())), event);
    assert.equal(applyChange(state, 'c-1', event, source, rules).outcome, 'duplicate');
  });

  it('sums money exactly', () => {
    const items = [
      { sku: 'a', variant_id: null, name: null, category: null, quantity: 3, price: '0.1' },
      { sku: 'b', variant_id: null, name: null, category: null, quantity: 1, price: '0.005' },
    ];
    assert.equal(cartTotalOf(items), '0.305');
  });
});
