/**
 * Replay options, pacing and progress reporting shared by the loaders.
 */

export interface ReplayOptions {
  /** Replay speed: the data's time gaps are divided by this factor. null: as fast as possible. */
  readonly speed: number | null;
  /** Read at most this many data rows of the file; null: all. */
  readonly limitRows: number | null;
  /** Added to order, refund and customer ids (and prefixed to cart ids) so a file can be loaded twice. */
  readonly idOffset: bigint;
  /** Progress callback: receives running counts at most once per `progressIntervalMs` (default 1000), and once at the end. */
  readonly onProgress?: (progress: Readonly<Record<string, number>>) => void;
  readonly progressIntervalMs?: number;
  /** Clock and sleep, injectable for tests. */
  readonly clock?: ReplayClock;
}

export interface ReplayClock {
  nowMs(): number;
  sleepMs(ms: number): Promise<void>;
}

export const systemClock: ReplayClock = Object.freeze({
  nowMs: () => performance.now(),
  sleepMs: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
});

/**
 * Holds each transaction back until its place on the replay timeline: the first event
 * starts the timeline, and an event `gap` ms of data time later is written `gap / speed`
 * ms of wall time after it. Events that run backwards in data time are written at once.
 */
export class Pacer {
  readonly #speed: number | null;
  readonly #clock: ReplayClock;
  #firstEventMs: number | null = null;
  #startWallMs = 0;

  constructor(speed: number | null, clock: ReplayClock) {
    this.#speed = speed;
    this.#clock = clock;
  }

  async waitFor(eventMs: number): Promise<void> {
    if (this.#speed === null) return;
    if (this.#firstEventMs === null) {
      this.#firstEventMs = eventMs;
      this.#startWallMs = this.#clock.nowMs();
      return;
    }
    const dueWallMs = this.#startWallMs + (eventMs - this.#firstEventMs) / this.#speed;
    const waitMs = dueWallMs - this.#clock.nowMs();
    if (waitMs > 0) await this.#clock.sleepMs(waitMs);
  }
}

/** Calls `onProgress` when `intervalMs` has passed since the last call. */
export class ProgressTicker {
  readonly #onProgress: ((progress: Readonly<Record<string, number>>) => void) | undefined;
  readonly #intervalMs: number;
  readonly #clock: ReplayClock;
  #lastMs: number;

  constructor(options: ReplayOptions) {
    this.#onProgress = options.onProgress;
    this.#intervalMs = options.progressIntervalMs ?? 1000;
    this.#clock = options.clock ?? systemClock;
    this.#lastMs = this.#clock.nowMs();
  }

  tick(progress: () => Readonly<Record<string, number>>, force = false): void {
    if (this.#onProgress === undefined) return;
    const now = this.#clock.nowMs();
    if (!force && now - this.#lastMs < this.#intervalMs) return;
    this.#lastMs = now;
    this.#onProgress(progress());
  }
}

/** Increments `counts[key]`, creating it at 0. */
export function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}
