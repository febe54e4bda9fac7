/**
 * Client-side request rate limit for one Customer.io workspace.
 *
 * Customer.io documents a Track API rate limit without a Retry-After contract, and the number has
 * changed over time, so the client paces itself instead of relying on 429s. The bucket holds up
 * to `burstRequests` tokens and refills `requestsPerSecond` tokens a second. A caller that finds
 * it empty takes a token on credit and sleeps until that token has refilled, so waiters are served
 * in call order. Any window of one second therefore admits at most
 * `requestsPerSecond + burstRequests - 1` requests; the default burst of 1 keeps that at the rate.
 *
 * NOTE: the limit is per process. With several sink pods on one workspace, give each pod its
 * share of the workspace limit.
 */

import { systemClock, type Clock } from './clock.ts';

export interface TokenBucketOptions {
  /** Sustained rate, requests per second. */
  requestsPerSecond?: number;
  /** Requests that may go out back to back after an idle period. */
  burstRequests?: number;
  clock?: Clock;
}

export const DEFAULT_REQUESTS_PER_SECOND = 100;
export const DEFAULT_BURST_REQUESTS = 1;

export class TokenBucket {
  readonly requestsPerSecond: number;
  readonly burstRequests: number;
  readonly #clock: Clock;
  #tokens: number;
  #refilledAtMs: number;

  constructor({ requestsPerSecond = DEFAULT_REQUESTS_PER_SECOND, burstRequests = DEFAULT_BURST_REQUESTS, clock = systemClock }: TokenBucketOptions = {}) {
    if (!Number.isFinite(requestsPerSecond) || requestsPerSecond <= 0) {
      throw new TypeError(`requestsPerSecond must be a positive number, got ${requestsPerSecond}`);
    }
    if (!Number.isInteger(burstRequests) || burstRequests < 1) {
      throw new TypeError(`burstRequests must be an integer of at least 1, got ${burstRequests}`);
    }
    this.requestsPerSecond = requestsPerSecond;
    this.burstRequests = burstRequests;
    this.#clock = clock;
    this.#tokens = burstRequests;
    this.#refilledAtMs = clock.now();
  }

  /** Waits until a request may be sent and takes its token. Rejects if `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.#refill();
    this.#tokens -= 1;
    if (this.#tokens >= 0) return;

    // Round up: waking a millisecond late keeps the rate, waking early would exceed it.
    const waitMs = Math.ceil((-this.#tokens * 1000) / this.requestsPerSecond);
    try {
      await this.#clock.sleep(waitMs, signal);
    } catch (err) {
      this.#tokens += 1;
      throw err;
    }
  }

  /** Tokens available now; negative while callers wait on credit. */
  get availableTokens(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const nowMs = this.#clock.now();
    const elapsedMs = Math.max(0, nowMs - this.#refilledAtMs);
    this.#refilledAtMs = nowMs;
    this.#tokens = Math.min(this.burstRequests, this.#tokens + (elapsedMs * this.requestsPerSecond) / 1000);
  }
}
