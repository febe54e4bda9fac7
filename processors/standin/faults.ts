/**
 * Fault injection for the stand-in: latency, throttling, server errors, outages and a request-rate
 * limit, set at start or at run time through POST /_admin/faults.
 *
 * Each Track API request goes through `decide()`, in this order: an active 503 outage, the next
 * scripted response, the rate limit, the share of 429s, the share of 5xx. The first that applies
 * produces the response. Latency is added before any of them.
 *
 * Time for 503 outages and the rate limit comes from the stand-in's clock, so a test that shares
 * a virtual clock with the client sees an outage end when its retries have waited long enough.
 * A `refuse` outage closes the listening socket, so it runs on real timers (see server.ts).
 */

import { StandinConfigError } from './errors.ts';

export interface OutageSpec {
  /** Start, in milliseconds after the faults were set. Default 0. */
  afterMs?: number;
  durationMs: number;
  /** `503`: respond 503 Service Unavailable. `refuse`: stop listening, so connections are refused. */
  mode: '503' | 'refuse';
}

export interface ScriptedResponse {
  status: number;
  /** Retry-After header value as sent, for example "30" or an HTTP date. */
  retryAfter?: string;
  /** JSON body; defaults to a short error body for 4xx/5xx and `{}` otherwise. */
  body?: unknown;
}

export interface FaultConfig {
  /** Added delay per request: a fixed number of milliseconds, or a random value in [minMs, maxMs]. */
  latencyMs?: number | { minMs: number; maxMs: number };
  /** Share of requests (0-1) that get a 429 with a Retry-After header. */
  share429WithRetryAfter?: number;
  /** Share of requests (0-1) that get a 429 without a Retry-After header. */
  share429WithoutRetryAfter?: number;
  /** Retry-After of injected 429s, seconds. Default 1. */
  retryAfterSeconds?: number;
  /** Share of requests (0-1) that get a 5xx status. */
  share5xx?: number;
  /** Statuses picked at random for injected 5xx responses. Default [503]. */
  statuses5xx?: number[];
  outages?: OutageSpec[];
  /** Responses for the next Track API requests, used once each, in order. */
  script?: ScriptedResponse[];
  /** Request-rate limit; requests above it get 429. 0 or absent: no limit. */
  requestsPerSecond?: number;
  /** Retry-After of rate-limit 429s, seconds; null sends none. Default 1. */
  rateLimitRetryAfterSeconds?: number | null;
  /** Seed of the random choices, for repeatable runs. */
  seed?: number;
}

export interface FaultDecision {
  status: number;
  body: unknown;
  retryAfter?: string;
  /** Source of the fault: `outage`, `script`, `rate_limit`, `random_429` or `random_5xx`. */
  fault: string;
}

interface ActiveOutage {
  startMs: number;
  endMs: number;
  mode: '503' | 'refuse';
}

const SHARE_FIELDS = ['share429WithRetryAfter', 'share429WithoutRetryAfter', 'share5xx'] as const;

/** Checks a fault configuration and throws StandinConfigError naming the bad field. */
export function checkFaultConfig(config: unknown): FaultConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new StandinConfigError('fault configuration must be a JSON object');
  }
  const faults = config as FaultConfig;
  const known = new Set([
    'latencyMs',
    ...SHARE_FIELDS,
    'retryAfterSeconds',
    'statuses5xx',
    'outages',
    'script',
    'requestsPerSecond',
    'rateLimitRetryAfterSeconds',
    'seed',
  ]);
  for (const key of Object.keys(faults)) {
    if (!known.has(key)) throw new StandinConfigError(`unknown fault setting ${key}; known settings are ${[...known].join(', ')}`);
  }

  for (const field of SHARE_FIELDS) {
    const share = faults[field];
    if (share !== undefined && (typeof share !== 'number' || share < 0 || share > 1)) {
      throw new StandinConfigError(`fault setting ${field} must be a share between 0 and 1, got ${String(share)}`);
    }
  }
  const latency = faults.latencyMs;
  if (typeof latency === 'number') {
    if (latency < 0) throw new StandinConfigError(`fault setting latencyMs must not be negative, got ${latency}`);
  } else if (latency !== undefined) {
    if (typeof latency !== 'object' || !(latency.minMs >= 0) || !(latency.maxMs >= latency.minMs)) {
      throw new StandinConfigError('fault setting latencyMs must be a number or {minMs, maxMs} with 0 <= minMs <= maxMs');
    }
  }
  for (const status of faults.statuses5xx ?? []) {
    if (!Number.isInteger(status) || status < 500 || status > 599) {
      throw new StandinConfigError(`fault setting statuses5xx must hold 5xx statuses, got ${String(status)}`);
    }
  }
  for (const [position, outage] of (faults.outages ?? []).entries()) {
    if (typeof outage !== 'object' || outage === null || !(outage.durationMs > 0) || (outage.mode !== '503' && outage.mode !== 'refuse')) {
      throw new StandinConfigError(`fault setting outages[${position}] must be {afterMs?, durationMs > 0, mode: "503" or "refuse"}`);
    }
  }
  for (const [position, response] of (faults.script ?? []).entries()) {
    if (typeof response !== 'object' || response === null || !Number.isInteger(response.status) || response.status < 100 || response.status > 599) {
      throw new StandinConfigError(`fault setting script[${position}] must be {status, retryAfter?, body?} with an HTTP status`);
    }
  }
  if (faults.requestsPerSecond !== undefined && !(faults.requestsPerSecond >= 0)) {
    throw new StandinConfigError(`fault setting requestsPerSecond must be 0 or more, got ${String(faults.requestsPerSecond)}`);
  }
  return faults;
}

export class FaultInjector {
  readonly #now: () => number;
  #config: FaultConfig = {};
  #outages: ActiveOutage[] = [];
  #script: ScriptedResponse[] = [];
  #random: () => number = Math.random;
  #tokens = 0;
  #refilledAtMs = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Replaces the fault configuration; outage windows start counting now. */
  set(config: FaultConfig): void {
    const checked = checkFaultConfig(config);
    const nowMs = this.#now();
    this.#config = structuredClone(checked);
    this.#outages = (checked.outages ?? []).map((outage) => {
      const startMs = nowMs + (outage.afterMs ?? 0);
      return { startMs, endMs: startMs + outage.durationMs, mode: outage.mode };
    });
    this.#script = [...(checked.script ?? [])];
    this.#random = checked.seed === undefined ? Math.random : seededRandom(checked.seed);
    this.#tokens = checked.requestsPerSecond ?? 0;
    this.#refilledAtMs = nowMs;
  }

  /** Returns the configuration in force, the outages as absolute windows, and the number of scripted responses left. */
  describe(): { config: FaultConfig; outages: ActiveOutage[]; scriptLeft: number } {
    return { config: structuredClone(this.#config), outages: [...this.#outages], scriptLeft: this.#script.length };
  }

  /** Outages whose connections are refused, as absolute windows on the stand-in clock. */
  refuseWindows(): ActiveOutage[] {
    return this.#outages.filter((outage) => outage.mode === 'refuse');
  }

  /** Milliseconds of latency to add to the next request. */
  latencyMs(): number {
    const latency = this.#config.latencyMs;
    if (latency === undefined) return 0;
    if (typeof latency === 'number') return latency;
    return latency.minMs + Math.round(this.#random() * (latency.maxMs - latency.minMs));
  }

  /** Returns the injected response for a Track API request, or undefined to serve it normally. */
  decide(): FaultDecision | undefined {
    const nowMs = this.#now();

    const outage = this.#outages.find((window) => window.mode === '503' && nowMs >= window.startMs && nowMs < window.endMs);
    if (outage !== undefined) return { status: 503, body: { meta: { error: 'Service Unavailable' } }, fault: 'outage' };

    const scripted = this.#script.shift();
    if (scripted !== undefined) {
      const decision: FaultDecision = { status: scripted.status, body: scripted.body ?? defaultBody(scripted.status), fault: 'script' };
      if (scripted.retryAfter !== undefined) decision.retryAfter = scripted.retryAfter;
      return decision;
    }

    if (!this.#takeRateToken(nowMs)) {
      const decision: FaultDecision = { status: 429, body: defaultBody(429), fault: 'rate_limit' };
      const retryAfterSeconds = this.#config.rateLimitRetryAfterSeconds === undefined ? 1 : this.#config.rateLimitRetryAfterSeconds;
      if (retryAfterSeconds !== null) decision.retryAfter = String(retryAfterSeconds);
      return decision;
    }

    const draw = this.#random();
    const withRetryAfter = this.#config.share429WithRetryAfter ?? 0;
    const withoutRetryAfter = this.#config.share429WithoutRetryAfter ?? 0;
    const serverErrors = this.#config.share5xx ?? 0;
    if (draw < withRetryAfter) {
      return { status: 429, body: defaultBody(429), retryAfter: String(this.#config.retryAfterSeconds ?? 1), fault: 'random_429' };
    }
    if (draw < withRetryAfter + withoutRetryAfter) return { status: 429, body: defaultBody(429), fault: 'random_429' };
    if (draw < withRetryAfter + withoutRetryAfter + serverErrors) {
      const statuses = this.#config.statuses5xx ?? [503];
      const status = statuses[Math.floor(this.#random() * statuses.length)] ?? 503;
      return { status, body: defaultBody(status), fault: 'random_5xx' };
    }
    return undefined;
  }

  /** Token bucket holding one second's worth of requests. */
  #takeRateToken(nowMs: number): boolean {
    const rate = this.#config.requestsPerSecond ?? 0;
    if (rate <= 0) return true;
    const elapsedMs = Math.max(0, nowMs - this.#refilledAtMs);
    this.#refilledAtMs = nowMs;
    this.#tokens = Math.min(rate, this.#tokens + (elapsedMs * rate) / 1000);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

function defaultBody(status: number): unknown {
  if (status < 400) return {};
  if (status === 429) return { meta: { error: 'Too Many Requests' } };
  return { meta: { error: status >= 500 ? 'Service Unavailable' : 'Bad Request' } };
}

/** Mulberry32: a small, fast PRNG that is good enough for picking faults. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}
