/**
 * Retry policy of the Track API client: which responses are retried, how long to wait, and when
 * to give up and hand the item back to the sink as retriable.
 *
 * A wait is the server's Retry-After when it sent one (seconds or an HTTP date), otherwise a
 * capped exponential backoff with jitter. A Retry-After longer than `maxRetryAfterMs`, or a wait
 * that would overrun `maxElapsedMs`, ends the retries early: the result then carries the wait as
 * `retryAfterMs`, so the sink can pause the partition instead of blocking inside one call.
 */

export interface RetryOptions {
  /** HTTP attempts per request, the first included. */
  maxAttempts: number;
  /** Backoff before the first retry, before jitter. */
  initialDelayMs: number;
  /** Cap of one computed backoff, before jitter. */
  maxDelayMs: number;
  /** Longest Retry-After waited for inside one send. */
  maxRetryAfterMs: number;
  /** Time budget of one request from its first attempt, waits included. */
  maxElapsedMs: number;
  /** HTTP statuses that are retried. Network errors and timeouts are always retried. */
  retryStatusCodes: readonly number[];
}

export const DEFAULT_RETRY_OPTIONS: Readonly<RetryOptions> = Object.freeze({
  maxAttempts: 10,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  // Five minutes: a longer Retry-After means the workspace is blocked, not briefly throttled.
  maxRetryAfterMs: 300_000,
  maxElapsedMs: 600_000,
  // Customer.io's own Node library retries this set; 522 and 524 are edge-proxy timeouts.
  retryStatusCodes: Object.freeze([408, 429, 500, 502, 503, 504, 522, 524]),
});

/**
 * Parses a Retry-After header into milliseconds from `nowMs`. Accepts delta-seconds and HTTP
 * dates; a date in the past gives 0. Returns undefined for a missing or unreadable header.
 */
export function parseRetryAfterMs(header: string | readonly string[] | undefined, nowMs: number): number | undefined {
  const value = (typeof header === 'string' ? header : header?.[0])?.trim();
  if (value === undefined || value === '') return undefined;

  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);

  // Every HTTP date form starts with the day name; this keeps Date.parse from reading "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const dateMs = Date.parse(value);
  if (Number.isNaN(dateMs)) return undefined;
  return Math.max(0, dateMs - nowMs);
}

/**
 * Computes the backoff before retry number `retryNumber`, which is 1 for the first retry. The
 * delay doubles from `initialDelayMs` up to `maxDelayMs`. The result lies between half of it and
 * all of it, so clients that failed together do not retry together.
 */
export function computeBackoffMs(retryNumber: number, options: Readonly<RetryOptions>, random: () => number = Math.random): number {
  const exponent = Math.max(0, retryNumber - 1);
  const ceilingMs = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
  return Math.round(ceilingMs / 2 + random() * (ceilingMs / 2));
}

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: 'attempts_exhausted' | 'retry_after_too_long' | 'time_budget_exhausted'; retryAfterMs: number };

export interface AttemptState {
  /** Attempts made so far for this request. */
  attempts: number;
  /** Time since the request's first attempt. */
  elapsedMs: number;
  /** Wait the server requested with Retry-After, if any. */
  retryAfterMs: number | undefined;
}

/** Decides whether a failed, retriable attempt is tried again and after how long. */
export function decideRetry(state: AttemptState, options: Readonly<RetryOptions>, random: () => number = Math.random): RetryDecision {
  const delayMs = state.retryAfterMs ?? computeBackoffMs(state.attempts, options, random);

  if (state.attempts >= options.maxAttempts) return { retry: false, reason: 'attempts_exhausted', retryAfterMs: delayMs };
  if (state.retryAfterMs !== undefined && state.retryAfterMs > options.maxRetryAfterMs) {
    return { retry: false, reason: 'retry_after_too_long', retryAfterMs: delayMs };
  }
  if (state.elapsedMs + delayMs > options.maxElapsedMs) return { retry: false, reason: 'time_budget_exhausted', retryAfterMs: delayMs };
  return { retry: true, delayMs };
}

/** Merges partial options over the defaults and checks them; throws TypeError naming the bad field. */
export function resolveRetryOptions(partial: Partial<RetryOptions> = {}, base: Readonly<RetryOptions> = DEFAULT_RETRY_OPTIONS): Readonly<RetryOptions> {
  const options = { ...base, ...withoutUndefined(partial) };
  if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
    throw new TypeError(`retry.maxAttempts must be an integer of at least 1, got ${options.maxAttempts}`);
  }
  for (const field of ['initialDelayMs', 'maxDelayMs', 'maxRetryAfterMs', 'maxElapsedMs'] as const) {
    if (!Number.isFinite(options[field]) || options[field] < 0) {
      throw new TypeError(`retry.${field} must be a non-negative number of milliseconds, got ${options[field]}`);
    }
  }
  if (options.initialDelayMs > options.maxDelayMs) {
    throw new TypeError(`retry.initialDelayMs (${options.initialDelayMs}) must not exceed retry.maxDelayMs (${options.maxDelayMs})`);
  }
  return Object.freeze({ ...options, retryStatusCodes: Object.freeze([...options.retryStatusCodes]) });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, fieldValue]) => fieldValue !== undefined)) as Partial<T>;
}
