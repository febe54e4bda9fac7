import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ValidationError } from '../../processors/customerio/errors.ts';
import { deriveEventId } from '../../processors/customerio/event-id.ts';
import type { EventRecord, IdentifyRecord } from '../../processors/customerio/records.ts';
import { assertValidRecord, validatePersonId, validateRecord } from '../../processors/customerio/validate.ts';

function identify(attributes: Record<string, unknown>, customerId = '501', timestamp = 1721050200): IdentifyRecord {
  return { kind: 'identify', customerId, attributes: attributes as IdentifyRecord['attributes'], timestamp };
}

function event(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    kind: 'event',
    customerId: '501',
    name: 'order_placed',
    id: deriveEventId(['order_placed', 'order', '1001']),
    timestamp: 1721050200,
    data: { order_id: '1001', total: 7.9 },
    ...overrides,
  };
}

function fields(record: IdentifyRecord | EventRecord): string[] {
  return validateRecord(record).map((issue) => issue.field);
}

function reasons(record: IdentifyRecord | EventRecord): string[] {
  return validateRecord(record).map((issue) => issue.reason);
}

describe('timestamps', () => {
  test('accepts the expected identify payload', () => {
    const record = identify({ created_at: 1704121200, last_order_at: 1721050200, total_orders: 1, lifetime_value: 7.9 });
    assert.deepEqual(validateRecord(record), []);
  });

  test('accepts the expected event payload', () => {
    assert.deepEqual(validateRecord(event()), []);
  });

  test('rejects milliseconds in a *_at attribute', () => {
    const issues = validateRecord(identify({ last_order_at: 1721035800000 }));
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.field, 'attributes.last_order_at');
    assert.equal(issues[0]?.reason, 'not_unix_seconds');
    assert.match(issues[0]?.message ?? '', /13 digits, looks like milliseconds/);
  });

  test('rejects microseconds in a *_at attribute', () => {
    const issues = validateRecord(identify({ created_at: 1704103200000000 }));
    assert.equal(issues[0]?.field, 'attributes.created_at');
    assert.match(issues[0]?.message ?? '', /16 digits, looks like microseconds/);
  });

  test('rejects an ISO string in a *_at attribute', () => {
    const issues = validateRecord(identify({ created_at: '2024-01-01T15:00:00Z' }));
    assert.equal(issues[0]?.field, 'attributes.created_at');
    assert.match(issues[0]?.message ?? '', /ISO date string/);
  });

  test('rejects milliseconds as the event timestamp', () => {
    assert.deepEqual(fields(event({ timestamp: 1721050200000 })), ['timestamp']);
  });

  test('rejects milliseconds as the identify timestamp', () => {
    assert.deepEqual(fields(identify({}, '501', 1721050200000)), ['timestamp']);
  });

  test('rejects fractions and negatives', () => {
    assert.deepEqual(fields(event({ timestamp: 1721050200.5 })), ['timestamp']);
    assert.deepEqual(fields(identify({ created_at: -5 })), ['attributes.created_at']);
  });

  test('accepts 9-digit seconds before 2001', () => {
    assert.deepEqual(validateRecord(identify({ created_at: 852076800 })), []);
  });

  test('accepts null in a *_at attribute', () => {
    assert.deepEqual(validateRecord(identify({ deleted_at: null })), []);
  });

  test('leaves other attributes alone', () => {
    assert.deepEqual(validateRecord(identify({ plan: '2024-01-01', order_count: 1721050200000 })), []);
  });
});

describe('person id', () => {
  test('rejects an email-shaped id', () => {
    const issues = validatePersonId('tom.varga@example.net');
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.reason, 'email_shaped');
    assert.equal(issues[0]?.field, 'customerId');
  });

  test('rejects a cio_ prefix in any case', () => {
    assert.equal(validatePersonId('cio_03000001')[0]?.reason, 'cio_prefix');
    assert.equal(validatePersonId('CIO_03000001')[0]?.reason, 'cio_prefix');
  });

  test('rejects empty and blank ids', () => {
    assert.equal(validatePersonId('')[0]?.reason, 'blank');
    assert.equal(validatePersonId('  ')[0]?.reason, 'blank');
  });

  test('counts bytes, not characters', () => {
    assert.deepEqual(validatePersonId('a'.repeat(150)), []);
    assert.equal(validatePersonId('a'.repeat(151))[0]?.reason, 'too_long');
    // 75 two-byte characters are 150 bytes; one more is over.
    assert.deepEqual(validatePersonId('é'.repeat(75)), []);
    assert.equal(validatePersonId('é'.repeat(76))[0]?.reason, 'too_long');
  });

  test('rejects an email-shaped customerId in a record', () => {
    assert.deepEqual(fields(event({ customerId: 'tom.varga@example.net' })), ['customerId']);
  });
});

describe('attributes', () => {
  test('rejects a name over 150 bytes', () => {
    assert.deepEqual(reasons(identify({ ['n'.repeat(151)]: 1 })), ['name_too_long']);
    assert.deepEqual(validateRecord(identify({ ['n'.repeat(150)]: 1 })), []);
  });

  test('rejects a value over 1000 bytes', () => {
    assert.deepEqual(validateRecord(identify({ bio: 'x'.repeat(1000) })), []);
    assert.deepEqual(fields(identify({ bio: 'x'.repeat(1001) })), ['attributes.bio']);
    assert.deepEqual(fields(identify({ bio: 'ü'.repeat(501) })), ['attributes.bio']);
  });

  test('measures non-string values as JSON', () => {
    const tags = Array.from({ length: 200 }, (_, index) => `t${index}`);
    assert.deepEqual(reasons(identify({ tags })), ['value_too_long']);
  });

  test('allows 300 attributes and rejects 301', () => {
    const attributes = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`a${index}`, index]));
    assert.deepEqual(validateRecord(identify(attributes(300))), []);
    assert.deepEqual(reasons(identify(attributes(301))), ['too_many']);
  });

  test('rejects reserved names and a foreign id', () => {
    assert.deepEqual(reasons(identify({ _timestamp: 1721050200 })), ['reserved']);
    assert.deepEqual(reasons(identify({ cio_id: 'abc' })), ['reserved']);
    assert.deepEqual(reasons(identify({ id: '502' })), ['id_mismatch']);
    assert.deepEqual(validateRecord(identify({ id: '501' })), []);
  });

  test('rejects values JSON cannot carry', () => {
    assert.deepEqual(reasons(identify({ score: Number.NaN })), ['invalid_type']);
    assert.deepEqual(reasons(identify({ nested: { deep: Number.POSITIVE_INFINITY } })), ['invalid_type']);
  });
});

describe('events', () => {
  test('rejects a blank name', () => {
    assert.deepEqual(reasons(event({ name: '  ' })), ['blank']);
  });

  test('rejects a name over 100 bytes', () => {
    assert.deepEqual(validateRecord(event({ name: 'a'.repeat(100) })), []);
    assert.deepEqual(reasons(event({ name: 'a'.repeat(101) })), ['too_long']);
  });

  test('rejects names that are not snake_case', () => {
    for (const name of ['Order Placed', 'orderPlaced', 'order-placed', ' order_placed', 'order__placed', '_order']) {
      assert.deepEqual(reasons(event({ name })), ['not_snake_case'], name);
    }
  });

  test('rejects a non-ULID id', () => {
    assert.deepEqual(reasons(event({ id: '501' })), ['not_ulid']);
    assert.deepEqual(reasons(event({ id: '8ZZZZZZZZZZZZZZZZZZZZZZZZZ' })), ['not_ulid']);
  });

  test('rejects data that is not an object', () => {
    assert.deepEqual(fields(event({ data: [] as unknown as EventRecord['data'] })), ['data']);
  });

  test('rejects data over 100,000 bytes', () => {
    // {"blob":"…"} adds 11 bytes of JSON around the string.
    assert.deepEqual(validateRecord(event({ data: { blob: 'x'.repeat(100_000 - 11) } })), []);
    assert.deepEqual(reasons(event({ data: { blob: 'x'.repeat(100_000 - 10) } })), ['too_long']);
  });
});

describe('assertValidRecord', () => {
  test('throws ValidationError with every issue', () => {
    const record = event({ customerId: 'cio_1', name: 'Order Placed', timestamp: 1721050200000 });
    assert.throws(
      () => assertValidRecord(record),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.deepEqual(
          err.issues.map((issue) => issue.field),
          ['customerId', 'timestamp', 'name'],
        );
        assert.equal(err.field, 'customerId');
        assert.equal(err.retriable, false);
        assert.equal(err.code, 'CIO_VALIDATION_FAILED');
        return true;
      },
    );
  });
});
