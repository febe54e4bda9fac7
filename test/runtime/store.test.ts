import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { jsonSerde } from '../../processors/runtime/processor.ts';
import type { Serde } from '../../processors/runtime/processor.ts';
import type { Logger } from 'pino';

import type { PartitionReader } from '../../processors/runtime/partition-reader.ts';
import { TaskStores, changelogTopicName, restoreTaskStores } from '../../processors/runtime/store.ts';
import { TaskTimers } from '../../processors/runtime/timers.ts';
import type { TimerStoreValue } from '../../processors/runtime/timers.ts';

function taskStores(task = 2): TaskStores {
  return new TaskStores(task, [
    { name: 'counts', changelogTopic: changelogTopicName('app', 'counts'), serde: jsonSerde as Serde<unknown> },
    { name: 'timers', changelogTopic: changelogTopicName('app', 'timers'), serde: jsonSerde as Serde<unknown> },
  ]);
}

describe('task stores', () => {
  it('names changelogs after application and store', () => {
    assert.equal(changelogTopicName('orders', 'assemblies'), 'orders-assemblies-changelog');
  });

  it('writes the latest value of each key to the task partition', () => {
    const stores = taskStores(2);
    const counts = stores.store<number>('counts');
    counts.put('a', 1);
    counts.put('a', 2);
    counts.put('b', 5);
    const [changelog] = stores.changelogMessages();
    assert.equal(changelog?.topic, 'app-counts-changelog');
    assert.deepEqual(
      changelog?.messages.map((message) => [message.key, message.value?.toString(), message.partition]),
      [
        ['a', '2', 2],
        ['b', '5', 2],
      ],
    );
  });

  it('writes a tombstone for a deleted key', () => {
    const stores = taskStores();
    const counts = stores.store<number>('counts');
    counts.put('a', 1);
    stores.markCommitted();
    assert.equal(counts.delete('a'), true);
    const [changelog] = stores.changelogMessages();
    assert.equal(changelog?.messages[0]?.key, 'a');
    assert.equal(changelog?.messages[0]?.value, null);
  });

  it('reports deleting a missing key as false', () => {
    const stores = taskStores();
    assert.equal(stores.store<number>('counts').delete('missing'), false);
    assert.equal(stores.hasPendingChanges(), false);
  });

  it('rolls back to a savepoint', () => {
    const stores = taskStores();
    const counts = stores.store<number>('counts');
    counts.put('a', 1);
    const savepoint = stores.savepoint();
    counts.put('a', 2);
    counts.put('b', 3);
    counts.delete('a');
    stores.rollbackTo(savepoint);
    assert.equal(counts.get('a'), 1);
    assert.equal(counts.has('b'), false);
  });

  it('aborts everything since the last commit', () => {
    const stores = taskStores();
    const counts = stores.store<number>('counts');
    counts.put('a', 1);
    stores.markCommitted();
    counts.put('a', 2);
    counts.put('c', 9);
    stores.abort();
    assert.equal(counts.get('a'), 1);
    assert.equal(counts.has('c'), false);
    assert.equal(stores.hasPendingChanges(), false);
  });

  it('stores a frozen copy of a value', () => {
    const stores = taskStores();
    const store = stores.store<{ n: number; tags: string[] }>('counts');
    const value = { n: 1, tags: ['x'] };
    store.put('k', value);
    value.n = 2;
    const stored = store.get('k')!;
    assert.equal(stored.n, 1);
    assert.throws(() => {
      stored.tags.push('y');
    }, TypeError);
  });

  it('restores from changelog records', () => {
    const stores = taskStores();
    const counts = stores.store<number>('counts');
    counts.applyChangelogRecord(Buffer.from('a'), Buffer.from('1'));
    counts.applyChangelogRecord(Buffer.from('b'), Buffer.from('2'));
    counts.applyChangelogRecord(Buffer.from('a'), null);
    assert.deepEqual([...counts.entries()], [['b', 2]]);
    assert.equal(stores.hasPendingChanges(), false);
  });

  it('rejects an undeclared store naming the declared ones', () => {
    assert.throws(() => taskStores().store('missing'), /declared stores: counts, timers/);
  });
});

function timers(latenessBoundMs = 1_000): { stores: TaskStores; timers: TaskTimers } {
  const stores = taskStores();
  return { stores, timers: new TaskTimers(stores.store<TimerStoreValue>('timers'), latenessBoundMs) };
}

describe('task timers', () => {
  it('fires event-time timers once stream time reaches them', () => {
    const { timers: service } = timers();
    service.schedule({ kind: 'event-time', key: 'a', deadlineMs: 1_000 });
    service.advanceStreamTime(999);
    assert.equal(service.takeDueEventTimer(), undefined);
    service.advanceStreamTime(1_000);
    assert.equal(service.takeDueEventTimer()?.key, 'a');
    assert.equal(service.takeDueEventTimer(), undefined);
  });

  it('fires in deadline order', () => {
    const { timers: service } = timers();
    service.schedule({ kind: 'event-time', key: 'late', deadlineMs: 300 });
    service.schedule({ kind: 'event-time', key: 'early', deadlineMs: 100 });
    service.schedule({ kind: 'event-time', key: 'middle', deadlineMs: 200 });
    service.advanceStreamTime(1_000);
    const order = [service.takeDueEventTimer()?.key, service.takeDueEventTimer()?.key, service.takeDueEventTimer()?.key];
    assert.deepEqual(order, ['early', 'middle', 'late']);
  });

  it('never moves stream time backwards', () => {
    const { timers: service } = timers();
    assert.equal(service.advanceStreamTime(500), true);
    assert.equal(service.advanceStreamTime(400), false);
    assert.equal(service.streamTimeMs, 500);
  });

  it('replaces a rescheduled timer', () => {
    const { timers: service } = timers();
    service.schedule({ kind: 'event-time', key: 'a', deadlineMs: 100 });
    service.schedule({ kind: 'event-time', key: 'a', deadlineMs: 500, payload: { n: 2 } });
    service.advanceStreamTime(200);
    assert.equal(service.takeDueEventTimer(), undefined);
    assert.equal(service.pending('event-time'), 1);
    service.advanceStreamTime(500);
    assert.deepEqual(service.takeDueEventTimer()?.payload, { n: 2 });
  });

  it('does not fire a cancelled timer', () => {
    const { timers: service } = timers();
    service.schedule({ kind: 'event-time', key: 'a', deadlineMs: 100 });
    assert.equal(service.cancel('event-time', 'a'), true);
    service.advanceStreamTime(200);
    assert.equal(service.takeDueEventTimer(), undefined);
    assert.equal(service.pending('event-time'), 0);
  });

  it('fires wall-clock timers after the lateness bound', () => {
    const { timers: service } = timers(1_000);
    service.schedule({ kind: 'wall-clock', key: 'w', deadlineMs: 5_000 });
    assert.equal(service.takeDueWallClockTimer(5_999), undefined);
    assert.equal(service.takeDueWallClockTimer(6_000)?.key, 'w');
  });

  it('keeps event-time and wall-clock keys apart', () => {
    const { timers: service } = timers();
    service.schedule({ kind: 'event-time', key: 'same', deadlineMs: 1 });
    service.schedule({ kind: 'wall-clock', key: 'same', deadlineMs: 2 });
    assert.equal(service.pending('event-time'), 1);
    assert.equal(service.pending('wall-clock'), 1);
  });

  it('brings a fired timer back after rollback and rebuild', () => {
    const { stores, timers: service } = timers();
    service.schedule({ kind: 'event-time', key: 'a', deadlineMs: 100 });
    stores.markCommitted();
    service.advanceStreamTime(100);
    assert.equal(service.takeDueEventTimer()?.key, 'a');
    stores.abort();
    service.rebuild();
    assert.equal(service.streamTimeMs, null);
    service.advanceStreamTime(100);
    assert.equal(service.takeDueEventTimer()?.key, 'a');
  });

  it('rebuilds from restored changelog records', () => {
    const { stores, timers: service } = timers();
    const store = stores.store<TimerStoreValue>('timers');
    store.applyChangelogRecord(Buffer.from('e:a'), Buffer.from('{"deadlineMs":50,"payload":"x"}'));
    store.applyChangelogRecord(Buffer.from('stream-time'), Buffer.from('{"streamTimeMs":40}'));
    service.rebuild();
    assert.equal(service.streamTimeMs, 40);
    assert.equal(service.pending('event-time'), 1);
    service.advanceStreamTime(60);
    assert.deepEqual(service.takeDueEventTimer(), { kind: 'event-time', key: 'a', deadlineMs: 50, payload: 'x' });
  });

  it('rejects a non-finite deadline', () => {
    const { timers: service } = timers();
    assert.throws(() => service.schedule({ kind: 'event-time', key: 'a', deadlineMs: Number.NaN }), /deadlineMs/);
  });
});

describe('store restore', () => {
  it('keeps the last value and key order', async () => {
    const stores = taskStores(1);
    const log = [
      ['a', '1'],
      ['b', '2'],
      ['a', '3'],
      ['c', '4'],
      ['b', null],
      ['d', '5'],
      ['b', '6'],
      ['c', null],
    ] as const;
    const records = log.map(([key, value], offset) => ({
      offset: String(offset),
      key: Buffer.from(key),
      value: value === null ? null : Buffer.from(value),
      headers: {},
      timestamp: '0',
    }));
    const reader = {
      offsetRanges: async () => new Map([[1, { earliest: '0', end: String(records.length) }]]),
      read: async (topic: string, _partition: number, options: { onRecords: (batch: typeof records, next: string) => void }) => {
        if (topic === changelogTopicName('app', 'counts')) options.onRecords(records, String(records.length));
      },
    } as unknown as PartitionReader;
    const silent = { info: () => undefined } as unknown as Logger;
    const restored = await restoreTaskStores(stores, {
      reader,
      log: silent,
      logIntervalMs: 60_000,
      isCancelled: () => false,
      onProgress: () => undefined,
      onStoreRestored: () => undefined,
    });
    assert.equal(restored, records.length, 'every changelog record counts as restored');
    // Replaying each record in turn gives a=3, d=5, then b=6 (re-added after its tombstone).
    assert.deepEqual([...stores.store<number>('counts').entries()], [
      ['a', 3],
      ['d', 5],
      ['b', 6],
    ]);
  });
});
