/**
 * Time source for retries and rate limiting. The client never reads Date.now() or calls
 * setTimeout directly, so tests and the sink can drive waits explicitly.
 */

export interface Clock {
  /** Current time, epoch milliseconds. */
  now(): number;
  /** Resolves after `ms` milliseconds; rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  sleep: (ms: number, signal?: AbortSignal) => sleepFor(ms, signal),
});

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A clock for tests, whose time moves only when a sleep is due. Each sleep is queued with its
 * wake-up time. When the event loop has nothing else ready, the clock jumps to the earliest
 * wake-up and resolves that sleep. Concurrent sleeps therefore overlap as on a real clock, and a
 * 30-second Retry-After passes at once. Every requested wait is recorded in `sleeps`.
 */
export class VirtualClock implements Clock {
  readonly sleeps: number[] = [];
  #nowMs: number;
  #timers: { wakeAtMs: number; sequence: number; resolve: () => void }[] = [];
  #sequence = 0;
  #drainScheduled = false;

  constructor(startMs = Date.UTC(2024, 6, 15, 13, 30)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  /** Moves time forward without sleeping. */
  advance(ms: number): void {
    this.#nowMs += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      const timer = { wakeAtMs: this.#nowMs + Math.max(0, ms), sequence: this.#sequence++, resolve };
      this.#timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.#timers = this.#timers.filter((queued) => queued !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
      this.#scheduleDrain();
    });
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => {
      this.#drainScheduled = false;
      this.#timers.sort((a, b) => a.wakeAtMs - b.wakeAtMs || a.sequence - b.sequence);
      const next = this.#timers.shift();
      if (next === undefined) return;
      this.#nowMs = Math.max(this.#nowMs, next.wakeAtMs);
      next.resolve();
      if (this.#timers.length > 0) this.#scheduleDrain();
    });
  }
}
