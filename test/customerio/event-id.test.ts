import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { deriveEventId, encodeUlid, isUlid, ULID_PATTERN } from '../../processors/customerio/event-id.ts';

// Five events: two of order 1001, one of order 1002, two changes of cart 3001.
const identities = [
  ['order_placed', 'order', '1001'],
  ['order_paid', 'order', '1001'],
  ['order_placed', 'order', '1002'],
  ['cart_updated', 'cart', '3001', 'mysql-bin.000004:120:0'],
  ['cart_updated', 'cart', '3001', 'mysql-bin.000004:980:0'],
] as const;

describe('deriveEventId', () => {
  test('gives a ULID for each event', () => {
    for (const identity of identities) {
      const id = deriveEventId(identity);
      assert.match(id, ULID_PATTERN, `id for ${identity.join(' ')}`);
      assert.equal(id.length, 26);
    }
  });

  test('gives five different ids for five events', () => {
    const ids = identities.map((identity) => deriveEventId(identity));
    assert.equal(new Set(ids).size, 5);
  });

  test('gives the same ids on replay', () => {
    const first = identities.map((identity) => deriveEventId(identity));
    const replay = identities.map((identity) => deriveEventId([...identity]));
    assert.deepEqual(replay, first);
  });

  test('treats numbers like their decimal strings', () => {
    assert.equal(deriveEventId(['order_placed', 'order', 1001]), deriveEventId(['order_placed', 'order', '1001']));
    assert.equal(deriveEventId(['order_placed', 'order', 1001n]), deriveEventId(['order_placed', 'order', '1001']));
  });

  test('keeps part boundaries apart', () => {
    assert.notEqual(deriveEventId(['order_placed', 'a', 'bc']), deriveEventId(['order_placed', 'ab', 'c']));
  });

  test('differs per event name for one person', () => {
    assert.notEqual(deriveEventId(['order_placed', 'customer', '501']), deriveEventId(['order_paid', 'customer', '501']));
  });

  test('requires a part after the event name', () => {
    assert.throws(() => deriveEventId(['order_placed'] as unknown as [string, string]), /at least one part after the event name/);
  });

  test('rejects an empty name and fractional parts', () => {
    assert.throws(() => deriveEventId(['', 'order', '1']), /must start with the event name/);
    assert.throws(() => deriveEventId(['order_placed', 'order', 7.9]), /part 2 must be a string or an integer/);
  });
});

describe('encodeUlid', () => {
  test('maps all-ones to 7 and Z', () => {
    assert.equal(encodeUlid(new Uint8Array(16).fill(255)), `7${'Z'.repeat(25)}`);
  });

  test('maps zero to zeros', () => {
    assert.equal(encodeUlid(new Uint8Array(16)), '0'.repeat(26));
  });

  test('rejects other lengths', () => {
    assert.throws(() => encodeUlid(new Uint8Array(15)), /16 bytes/);
  });
});

describe('isUlid', () => {
  test('rejects malformed ids', () => {
    const malformed = ['8ZZZZZZZZZZZZZZZZZZZZZZZZZ', '01ARZ3NDEKTSV4RRFFQ69G5FAI', '01ARZ3NDEKTSV4RRFFQ69G5FAL', '01ARZ3NDEKTSV4RRFFQ69G5FAO', '01arz3ndektsv4rrffq69g5fav', '501', 'b2c4a1e0-4f0e-4d7c-9f57-1d2a3c4b5e6f'];
    for (const value of malformed) assert.equal(isUlid(value), false, value);
  });

  test('accepts a well-formed id', () => {
    assert.equal(isUlid('01ARZ3NDEKTSV4RRFFQ69G5FAV'), true);
  });
});
