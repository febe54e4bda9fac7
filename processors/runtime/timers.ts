/**
 * Event-time and wall-clock timers of one task.
 *
 * Timers are state: they live in the task's `timers` store, so they are written
 * to its changelog in the batch's transaction and restored with the other stores.
 * The same store keeps the task's stream time (the largest event time seen), so a
 * restarted task reaches the same decisions as one that never stopped.
 *
 * - An event-time timer fires once stream time >= its deadline. The runtime fires
 *   due timers before it hands over the record that advanced stream time, so a
 *   deadline that passed before an event is decided before that event.
 * - A wall-clock timer fires once clock.now() >= deadline + lateness bound. It
 *   lets an idle partition, whose stream time no longer moves, release what it
 *   keeps. The bound leaves time for records still in flight (consumer lag).
 *
 * Heaps order the timers by deadline. They are an index over the store: entries
 * are checked against the store when taken, and rebuilt after a rollback.
 */
import type { ChangelogStore } from './store.ts';
import type { JsonValue, Timer, TimerKind, TimerRequest } from './processor.ts';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

interface StoredTimer {
  readonly deadlineMs: number;
  readonly payload: JsonValue;
}

interface StoredStreamTime {
  readonly streamTimeMs: number;
}

export type TimerStoreValue = StoredTimer | StoredStreamTime;

const STREAM_TIME_KEY = 'stream-time';
const PREFIX: Record<TimerKind, string> = { 'event-time': 'e:', 'wall-clock': 'w:' };

interface HeapEntry {
  readonly deadlineMs: number;
  readonly id: string;
}

function before(a: HeapEntry, b: HeapEntry): boolean {
  return a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.id < b.id);
}

/** Binary min-heap ordered by deadline, then store key, so firing order is deterministic. */
class TimerHeap {
  private readonly items: HeapEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items.length = 0;
  }

  peek(): HeapEntry | undefined {
    return this.items[0];
  }

  push(entry: HeapEntry): void {
    const items = this.items;
    items.push(entry);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(items[index]!, items[parent]!)) {
        break;
      }
      [items[index], items[parent]] = [items[parent]!, items[index]!];
      index = parent;
    }
  }

  pop(): HeapEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) {
      return top;
    }
    items[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < items.length && before(items[left]!, items[smallest]!)) {
        smallest = left;
      }
      if (right < items.length && before(items[right]!, items[smallest]!)) {
        smallest = right;
      }
      if (smallest === index) {
        break;
      }
      [items[index], items[smallest]] = [items[smallest]!, items[index]!];
      index = smallest;
    }
    return top;
  }
}

function kindOf(id: string): TimerKind | undefined {
  if (id.startsWith(PREFIX['event-time'])) {
    return 'event-time';
  }
  if (id.startsWith(PREFIX['wall-clock'])) {
    return 'wall-clock';
  }
  return undefined;
}

export class TaskTimers {
  private readonly store: ChangelogStore<TimerStoreValue>;
  private readonly latenessBoundMs: number;
  private readonly heaps: Record<TimerKind, TimerHeap> = { 'event-time': new TimerHeap(), 'wall-clock': new TimerHeap() };
  private readonly counts: Record<TimerKind, number> = { 'event-time': 0, 'wall-clock': 0 };

  constructor(store: ChangelogStore<TimerStoreValue>, latenessBoundMs: number) {
    this.store = store;
    this.latenessBoundMs = latenessBoundMs;
  }

  /** Rebuilds the heaps and counts from the store, after a restore or a rollback. */
  rebuild(): void {
    for (const kind of ['event-time', 'wall-clock'] as const) {
      this.heaps[kind].clear();
      this.counts[kind] = 0;
    }
    for (const [id, value] of this.store.entries()) {
      const kind = kindOf(id);
      if (kind !== undefined) {
        this.heaps[kind].push({ deadlineMs: (value as StoredTimer).deadlineMs, id });
        this.counts[kind] += 1;
      }
    }
  }

  /** Drops stale heap entries once they outnumber live timers, after a commit. */
  compact(): void {
    const live = this.counts['event-time'] + this.counts['wall-clock'];
    const indexed = this.heaps['event-time'].size + this.heaps['wall-clock'].size;
    // 1024 keeps small heaps from being rebuilt after every few timers.
    if (indexed > 2 * live + 1024) {
      this.rebuild();
    }
  }

  pending(kind: TimerKind): number {
    return this.counts[kind];
  }

  get streamTimeMs(): number | null {
    const value = this.store.get(STREAM_TIME_KEY) as StoredStreamTime | undefined;
    return value === undefined ? null : value.streamTimeMs;
  }

  /** Moves stream time forward to `eventTimeMs`; returns whether it moved. */
  advanceStreamTime(eventTimeMs: number): boolean {
    const current = this.streamTimeMs;
    if (current !== null && eventTimeMs <= current) {
      return false;
    }
    this.store.put(STREAM_TIME_KEY, { streamTimeMs: eventTimeMs });
    return true;
  }

  schedule(request: TimerRequest): void {
    const prefix = PREFIX[request.kind];
    if (prefix === undefined) {
      throw new TypeError(`timer kind must be 'event-time' or 'wall-clock', got ${String(request.kind)}`);
    }
    if (typeof request.key !== 'string' || request.key === '') {
      throw new TypeError(`timer key must be a non-empty string, got ${JSON.stringify(request.key)}`);
    }
    if (!Number.isFinite(request.deadlineMs)) {
      throw new TypeError(`timer "${request.key}": deadlineMs must be a finite number, got ${request.deadlineMs}`);
    }
    const id = prefix + request.key;
    if (!this.store.has(id)) {
      this.counts[request.kind] += 1;
    }
    this.store.put(id, { deadlineMs: request.deadlineMs, payload: request.payload ?? null });
    this.heaps[request.kind].push({ deadlineMs: request.deadlineMs, id });
  }

  cancel(kind: TimerKind, key: string): boolean {
    const deleted = this.store.delete(PREFIX[kind] + key);
    if (deleted) {
      this.counts[kind] -= 1;
    }
    return deleted;
  }

  get(kind: TimerKind, key: string): Timer | undefined {
    const stored = this.store.get(PREFIX[kind] + key) as StoredTimer | undefined;
    return stored === undefined ? undefined : { kind, key, deadlineMs: stored.deadlineMs, payload: stored.payload };
  }

  /** Removes and returns the earliest event-time timer that stream time has reached. */
  takeDueEventTimer(): Timer | undefined {
    const streamTime = this.streamTimeMs;
    return streamTime === null ? undefined : this.takeDue('event-time', streamTime);
  }

  /** Removes and returns the earliest wall-clock timer that `nowMs` has passed by the lateness bound. */
  takeDueWallClockTimer(nowMs: number): Timer | undefined {
    return this.takeDue('wall-clock', nowMs - this.latenessBoundMs);
  }

  private takeDue(kind: TimerKind, limitMs: number): Timer | undefined {
    const heap = this.heaps[kind];
    for (let top = heap.peek(); top !== undefined && top.deadlineMs <= limitMs; top = heap.peek()) {
      heap.pop();
      const stored = this.store.get(top.id) as StoredTimer | undefined;
      if (stored === undefined || stored.deadlineMs !== top.deadlineMs) {
        continue;
      }
      this.store.delete(top.id);
      this.counts[kind] -= 1;
      return { kind, key: top.id.slice(PREFIX[kind].length), deadlineMs: stored.deadlineMs, payload: stored.payload };
    }
    return undefined;
  }
}
