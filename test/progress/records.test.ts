import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { PROGRESS_HEADERS, ProgressRecordError, isProgressMessage, parseProgressRecord, progressKey } from '../../processors/progress/records.ts';

const valid = { kind: 'progress', producer: 'cio-cdc-orders', task: 1, tasks: 3, idle: false, watermark_ms: 1_733_390_000_000, at_ms: 1_733_390_004_211 };
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('progress records', () => {
  it('parses valid records', () => {
    assert.deepEqual(parseProgressRecord(bytes(valid)), valid);
    assert.equal(parseProgressRecord(bytes({ ...valid, watermark_ms: null })).watermark_ms, null);
  });

  it('rejects invalid fields by name', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...valid, kind: 'event' }, /kind "event"/],
      [{ ...valid, producer: '' }, /no producer/],
      [{ ...valid, tasks: 0 }, /tasks 0/],
      [{ ...valid, task: 3 }, /task 3, expected a whole number below tasks \(3\)/],
      [{ ...valid, idle: 'yes' }, /boolean idle/],
      [{ ...valid, watermark_ms: 1.5 }, /watermark_ms 1.5/],
      [{ ...valid, at_ms: undefined }, /no at_ms/],
      [[valid], /not a JSON object/],
    ];
    for (const [value, message] of cases) {
      assert.throws(() => parseProgressRecord(bytes(value)), (error: unknown) => error instanceof ProgressRecordError && message.test(error.message), JSON.stringify(value));
    }
    assert.throws(() => parseProgressRecord(Buffer.from('{')), /not JSON/);
  });

  it('recognises the progress header', () => {
    assert.equal(isProgressMessage({ ...PROGRESS_HEADERS }), true);
    assert.equal(isProgressMessage({ 'cio-cdc-record': Buffer.from('progress') }), true);
    assert.equal(isProgressMessage({ 'cio-cdc-record': Buffer.from('event') }), false);
    assert.equal(isProgressMessage({}), false);
    assert.equal(isProgressMessage(undefined), false);
    assert.equal(progressKey('cio-cdc-orders', 2), 'progress/cio-cdc-orders/2');
  });
});
