import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { EventRecord, IdentifyRecord } from '../../processors/customerio/records.ts';
import { BACKFILL_GUARD_DEFAULTS, backfillDecision, markBackfill, parseBackfillGuard } from '../../processors/customerio/sink/backfill.ts';
import type { BackfillGuardConfig } from '../../processors/customerio/sink/backfill.ts';
import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { SinkConfigError } from '../../processors/customerio/sink/errors.ts';

const CREDENTIALS = { CIO_SITE_ID: 'site', CIO_TRACK_API_KEY: 'secret-key' };
const HOUR_MS = 3_600_000;
const NOW_MS = Date.UTC(2024, 6, 18, 12, 0, 0);
const NOW_SECONDS = NOW_MS / 1000;

function event(timestamp: number): EventRecord {
  return { kind: 'event', customerId: '501', name: 'order_placed', id: '01J2ZP8T3Q7NW1K4B5C6D7E8F9', timestamp, data: { order_id: '1001' } };
}

function identify(timestamp: number): IdentifyRecord {
  return { kind: 'identify', customerId: '501', attributes: { email_opt_in: true }, timestamp };
}

const skip: BackfillGuardConfig = { mode: 'skip', horizonHours: 72 };
const mark: BackfillGuardConfig = { mode: 'mark', horizonHours: 72 };

describe('backfill guard', () => {
  test('sends everything when off', () => {
    assert.deepEqual(backfillDecision(event(0), NOW_MS, BACKFILL_GUARD_DEFAULTS), { action: 'send' });
  });

  test('sends an event within the horizon', () => {
    assert.deepEqual(backfillDecision(event(NOW_SECONDS - 72 * 3600), NOW_MS, skip), { action: 'send' });
  });

  test('skips an event past the horizon', () => {
    assert.deepEqual(backfillDecision(event(NOW_SECONDS - 72 * 3600 - 1), NOW_MS, skip), { action: 'skip', ageMs: 72 * HOUR_MS + 1000 });
  });

  test('marks an event past the horizon', () => {
    assert.deepEqual(backfillDecision(event(NOW_SECONDS - 100 * 3600), NOW_MS, mark), { action: 'mark', ageMs: 100 * HOUR_MS });
  });

  test('never acts on an identify', () => {
    assert.deepEqual(backfillDecision(identify(0), NOW_MS, skip), { action: 'send' });
    assert.deepEqual(backfillDecision(identify(0), NOW_MS, mark), { action: 'send' });
  });

  test('uses the configured horizon', () => {
    const guard: BackfillGuardConfig = { mode: 'skip', horizonHours: 1 };
    assert.equal(backfillDecision(event(NOW_SECONDS - 3599), NOW_MS, guard).action, 'send');
    assert.equal(backfillDecision(event(NOW_SECONDS - 3601), NOW_MS, guard).action, 'skip');
  });

  test('sends a future event', () => {
    assert.deepEqual(backfillDecision(event(NOW_SECONDS + 600), NOW_MS, skip), { action: 'send' });
  });

  test('marking copies the record and adds the key', () => {
    const original = event(0);
    const marked = markBackfill(original);
    assert.deepEqual(marked.data, { order_id: '1001', backfill: true });
    assert.deepEqual(original.data, { order_id: '1001' });
    assert.equal(marked.id, original.id);
    assert.equal(marked.timestamp, original.timestamp);
  });
});

describe('backfill guard settings', () => {
  const invalid = (variable: string, message: string) => new SinkConfigError(`${variable} ${message}`, variable);

  test('default to off and 72 hours', () => {
    assert.deepEqual(parseBackfillGuard({}, invalid), { mode: 'off', horizonHours: 72 });
    assert.deepEqual(parseSinkConfig(CREDENTIALS).backfillGuard, { mode: 'off', horizonHours: 72 });
  });

  test('read the mode and the horizon', () => {
    assert.deepEqual(parseSinkConfig({ ...CREDENTIALS, CIO_BACKFILL_GUARD: 'Skip', CIO_BACKFILL_HORIZON_HOURS: '48' }).backfillGuard, { mode: 'skip', horizonHours: 48 });
  });

  test('reject an unknown mode naming the variable', () => {
    assert.throws(
      () => parseSinkConfig({ ...CREDENTIALS, CIO_BACKFILL_GUARD: 'drop' }),
      (err: unknown) => err instanceof SinkConfigError && err.variable === 'CIO_BACKFILL_GUARD' && /off, mark, skip/.test(err.message) && /"drop"/.test(err.message),
    );
  });

  for (const hours of ['0', '1.5', '-3', 'three']) {
    test(`reject a horizon of ${hours}`, () => {
      assert.throws(
        () => parseSinkConfig({ ...CREDENTIALS, CIO_BACKFILL_HORIZON_HOURS: hours }),
        (err: unknown) => err instanceof SinkConfigError && err.variable === 'CIO_BACKFILL_HORIZON_HOURS',
      );
    });
  }
});
