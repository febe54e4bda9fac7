/**
 * In-memory key-value stores of one task, each backed by a compacted changelog
 * topic `<applicationId>-<store>-changelog` whose partition number is the task's.
 *
 * Writes change the in-memory map at once and are remembered in an undo log, so
 * a failed record or an aborted transaction can be rolled back. At commit, the
 * latest value of every key written since the last commit goes to the changelog
 * inside the batch's transaction. A deleted key becomes a tombstone.
 */
import type { Logger } from 'pino';

import type { Message } from 'kafkajs';

import { RuntimeError } from './errors.ts';
import type { PartitionReader } from './partition-reader.ts';
import type { KeyValueStore, Serde } from './processor.ts';

/** Marks "the key did not exist" in the undo log. */
const ABSENT = Symbol('absent');

export function changelogTopicName(applicationId: string, store: string): string {
  return `${applicationId}-${store}-changelog`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) {
    return value;
  }
  for (const property of Object.values(value)) {
    deepFreeze(property);
  }
  return Object.freeze(value);
}

interface UndoEntry {
  readonly store: ChangelogStore<unknown>;
  readonly key: string;
  readonly previous: unknown;
}

export class ChangelogStore<V> implements KeyValueStore<V> {
  readonly name: string;
  readonly changelogTopic: string;
  private readonly serde: Serde<V>;
  private readonly owner: TaskStores;
  private readonly map = new Map<string, V>();

  constructor(name: string, changelogTopic: string, serde: Serde<V>, owner: TaskStores) {
    this.name = name;
    this.changelogTopic = changelogTopic;
    this.serde = serde;
    this.owner = owner;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  put(key: string, value: V): void {
    if (typeof key !== 'string') {
      throw new TypeError(`store "${this.name}": key must be a string, got ${typeof key}`);
    }
    const copy = deepFreeze(this.serde.deserialize(this.serde.serialize(value)));
    this.owner.recordWrite(this as ChangelogStore<unknown>, key, this.map.has(key) ? this.map.get(key) : ABSENT);
    this.map.set(key, copy);
  }

  delete(key: string): boolean {
    if (!this.map.has(key)) {
      return false;
    }
    this.owner.recordWrite(this as ChangelogStore<unknown>, key, this.map.get(key));
    this.map.delete(key);
    return true;
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  /** Changelog record for the current value of `key`. */
  changelogMessage(key: string, partition: number): Message {
    const value = this.map.get(key);
    return {
      key,
      value: this.map.has(key) ? this.serde.serialize(value as V) : null,
      partition,
    };
  }

  /** Applies one changelog record during restore, without logging it. */
  applyChangelogRecord(key: Buffer | null, value: Buffer | null): void {
    if (key === null) {
      return;
    }
    this.applyRestoredValue(key.toString('utf8'), value);
  }

  /** Sets or removes a restored key, without logging it. */
  applyRestoredValue(key: string, value: Buffer | null): void {
    if (value === null) {
      this.map.delete(key);
    } else {
      this.map.set(key, deepFreeze(this.serde.deserialize(value)));
    }
  }

  /** Sets a value back during rollback, without logging it. */
  undo(key: string, previous: unknown): void {
    if (previous === ABSENT) {
      this.map.delete(key);
    } else {
      this.map.set(key, previous as V);
    }
  }

  clear(): void {
    this.map.clear();
  }
}

export interface StoreSpec {
  readonly name: string;
  readonly changelogTopic: string;
  readonly serde: Serde<unknown>;
}

/**
 * The stores of one task, with one undo log across them so a rollback restores
 * every store to the same point.
 */
export class TaskStores {
  readonly task: number;
  private readonly stores = new Map<string, ChangelogStore<unknown>>();
  private undoLog: UndoEntry[] = [];
  private readonly dirty = new Map<ChangelogStore<unknown>, Set<string>>();

  constructor(task: number, specs: readonly StoreSpec[]) {
    this.task = task;
    for (const spec of specs) {
      this.stores.set(spec.name, new ChangelogStore(spec.name, spec.changelogTopic, spec.serde, this));
    }
  }

  store<V>(name: string): ChangelogStore<V> {
    const store = this.stores.get(name);
    if (store === undefined) {
      throw new RuntimeError(
        'STORE_UNKNOWN',
        `store "${name}" is not declared; declared stores: ${[...this.stores.keys()].join(', ') || '(none)'}`,
      );
    }
    return store as ChangelogStore<V>;
  }

  all(): IterableIterator<ChangelogStore<unknown>> {
    return this.stores.values();
  }

  recordWrite(store: ChangelogStore<unknown>, key: string, previous: unknown): void {
    this.undoLog.push({ store, key, previous });
    let keys = this.dirty.get(store);
    if (keys === undefined) {
      keys = new Set();
      this.dirty.set(store, keys);
    }
    keys.add(key);
  }

  /** Returns a point to roll back to: rollbackTo undoes every write made after it. */
  savepoint(): number {
    return this.undoLog.length;
  }

  /**
   * Undoes every write made after `savepoint`, newest first. Keys stay marked
   * dirty, which only means their (restored) current value is written again.
   * Returns the names of the stores that changed.
   */
  rollbackTo(savepoint: number): Set<string> {
    const changed = new Set<string>();
    for (let index = this.undoLog.length - 1; index >= savepoint; index -= 1) {
      const entry = this.undoLog[index]!;
      entry.store.undo(entry.key, entry.previous);
      changed.add(entry.store.name);
    }
    this.undoLog.length = savepoint;
    return changed;
  }

  /** Changelog records for every key written since the last commit. */
  changelogMessages(): { topic: string; messages: Message[] }[] {
    const result: { topic: string; messages: Message[] }[] = [];
    for (const [store, keys] of this.dirty) {
      const messages = [...keys].map((key) => store.changelogMessage(key, this.task));
      result.push({ topic: store.changelogTopic, messages });
    }
    return result;
  }

  hasPendingChanges(): boolean {
    return this.dirty.size > 0;
  }

  /** Forgets the undo log after the transaction holding the changelog records committed. */
  markCommitted(): void {
    this.undoLog = [];
    this.dirty.clear();
  }

  /** Rolls back everything since the last commit. Returns the names of the stores that changed. */
  abort(): Set<string> {
    const changed = this.rollbackTo(0);
    this.dirty.clear();
    return changed;
  }

  /** Drops all state, for example when the task is revoked. */
  clear(): void {
    for (const store of this.stores.values()) {
      store.clear();
    }
    this.undoLog = [];
    this.dirty.clear();
  }
}

export interface RestoreProgress {
  readonly store: string;
  readonly partition: number;
  readonly restoredRecords: number;
  readonly position: string;
  readonly endOffset: string;
}

export interface RestoreOptions {
  readonly reader: PartitionReader;
  readonly log: Logger;
  readonly logIntervalMs: number;
  readonly isCancelled: () => boolean;
  readonly onProgress: (progress: RestoreProgress) => void;
  readonly onStoreRestored: (store: string, records: number, seconds: number) => void;
}

/**
 * Reloads every store of `stores` from its changelog partition, from the earliest
 * offset to the last stable offset. The caller must have initialized the task's
 * transactional producer first: that aborts or completes any transaction left
 * open by a previous owner, so the last stable offset is the true end.
 */
export async function restoreTaskStores(stores: TaskStores, options: RestoreOptions): Promise<number> {
  stores.clear();
  let total = 0;
  for (const store of stores.all()) {
    const ranges = await options.reader.offsetRanges(store.changelogTopic, [stores.task]);
    const range = ranges.get(stores.task);
    if (range === undefined) {
      throw new RuntimeError(
        'CHANGELOG_PARTITION_MISSING',
        `changelog topic ${store.changelogTopic} has no partition ${stores.task}; ` +
          'it must have as many partitions as the task count',
      );
    }
    let restored = 0;
    const started = performance.now();
    let lastLogAt = Date.now();
    const base = { store: store.name, partition: stores.task, endOffset: range.end };
    options.log.info({ ...base, startOffset: range.earliest, topic: store.changelogTopic }, 'store restore started');

    // An uncompacted changelog contains many values per key, so only the last one is
    // deserialized, after the read. A tombstone followed by a value moves the key to the end,
    // as replaying each record in turn would.
    const latest = new Map<string, Buffer | null>();
    await options.reader.read(store.changelogTopic, stores.task, {
      from: range.earliest,
      to: range.end,
      isCancelled: options.isCancelled,
      onRecords: (records, nextOffset) => {
        for (const record of records) {
          if (record.key === null) continue;
          const key = record.key.toString('utf8');
          if (record.value !== null && latest.get(key) === null) latest.delete(key);
          // A copy, so the fetch response the value was sliced from can be freed.
          latest.set(key, record.value === null ? null : Buffer.from(record.value));
        }
        restored += records.length;
        options.onProgress({ ...base, restoredRecords: restored, position: nextOffset });
        if (Date.now() - lastLogAt >= options.logIntervalMs) {
          lastLogAt = Date.now();
          options.log.info({ ...base, restoredRecords: restored, position: nextOffset }, 'store restore progress');
        }
      },
    });
    if (options.isCancelled()) {
      return total;
    }
    for (const [key, value] of latest) {
      store.applyRestoredValue(key, value);
    }
    options.onProgress({ ...base, restoredRecords: restored, position: range.end });
    options.onStoreRestored(store.name, restored, (performance.now() - started) / 1000);
    options.log.info({ ...base, restoredRecords: restored, keys: store.size }, 'store restore finished');
    total += restored;
  }
  return total;
}
