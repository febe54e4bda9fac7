/**
 * Track API client settings, parsed once from the environment into a frozen object that can be
 * passed to `new TrackClient(...)` as it is. The sink adds its own keys beside these.
 *
 * CIO_SITE_ID and CIO_TRACK_API_KEY have no default: they come from a Kubernetes Secret. The key
 * never appears in `JSON.stringify(config)` or in logs.
 */

import { TrackConfigError } from './errors.ts';
import type { Region } from './client.ts';
import { DEFAULT_BURST_REQUESTS, DEFAULT_REQUESTS_PER_SECOND } from './rate-limit.ts';
import { API_VERSIONS, DEFAULT_BATCH_LIMITS, type ApiVersion, type BatchLimits } from './requests.ts';
import { DEFAULT_RETRY_OPTIONS, type RetryOptions } from './retry.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

export interface TrackClientConfig {
  readonly siteId: string;
  readonly apiKey: string;
  readonly region: Region;
  /** Explicit base URL, or undefined to use the region's host. */
  readonly baseUrl: string | undefined;
  readonly apiVersion: ApiVersion;
  readonly requestsPerSecond: number;
  readonly burstRequests: number;
  readonly maxConcurrentRequests: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly batch: Readonly<BatchLimits>;
  readonly retry: Readonly<RetryOptions>;
}

/** Environment variables of the client, their defaults and units, for docs and --help. */
export const TRACK_CLIENT_KEYS = Object.freeze([
  { variable: 'CIO_SITE_ID', default: '(required)', unit: 'text' },
  { variable: 'CIO_TRACK_API_KEY', default: '(required, secret)', unit: 'text' },
  { variable: 'CIO_REGION', default: 'us', unit: 'us|eu' },
  { variable: 'CIO_TRACK_BASE_URL', default: '(the region host)', unit: 'URL' },
  { variable: 'CIO_TRACK_API_VERSION', default: 'v2', unit: 'v1|v2' },
  { variable: 'CIO_REQUESTS_PER_SECOND', default: String(DEFAULT_REQUESTS_PER_SECOND), unit: 'requests/s per process' },
  { variable: 'CIO_BURST_REQUESTS', default: String(DEFAULT_BURST_REQUESTS), unit: 'requests' },
  { variable: 'CIO_MAX_CONCURRENT_REQUESTS', default: '4', unit: 'requests' },
  { variable: 'CIO_REQUEST_TIMEOUT_MS', default: '10000', unit: 'ms' },
  { variable: 'CIO_CONNECT_TIMEOUT_MS', default: '10000', unit: 'ms' },
  { variable: 'CIO_MAX_BATCH_BYTES', default: String(DEFAULT_BATCH_LIMITS.maxBatchBytes), unit: 'bytes' },
  { variable: 'CIO_MAX_ITEM_BYTES', default: String(DEFAULT_BATCH_LIMITS.maxItemBytes), unit: 'bytes' },
  { variable: 'CIO_MAX_BATCH_ITEMS', default: String(DEFAULT_BATCH_LIMITS.maxBatchItems), unit: 'items' },
  { variable: 'CIO_RETRY_MAX_ATTEMPTS', default: String(DEFAULT_RETRY_OPTIONS.maxAttempts), unit: 'attempts' },
  { variable: 'CIO_RETRY_INITIAL_DELAY_MS', default: String(DEFAULT_RETRY_OPTIONS.initialDelayMs), unit: 'ms' },
  { variable: 'CIO_RETRY_MAX_DELAY_MS', default: String(DEFAULT_RETRY_OPTIONS.maxDelayMs), unit: 'ms' },
  { variable: 'CIO_RETRY_MAX_RETRY_AFTER_MS', default: String(DEFAULT_RETRY_OPTIONS.maxRetryAfterMs), unit: 'ms' },
  { variable: 'CIO_RETRY_MAX_ELAPSED_MS', default: String(DEFAULT_RETRY_OPTIONS.maxElapsedMs), unit: 'ms' },
] as const);

/** Parses the client settings from `env`. Throws TrackConfigError naming the variable. */
export function parseTrackClientConfig(env: Environment): TrackClientConfig {
  const siteId = required(env, 'CIO_SITE_ID');
  const apiKey = required(env, 'CIO_TRACK_API_KEY');

  const region = env['CIO_REGION'] ?? 'us';
  if (region !== 'us' && region !== 'eu') throw new TrackConfigError(`CIO_REGION must be us or eu, got ${JSON.stringify(region)}`);

  const baseUrlText = env['CIO_TRACK_BASE_URL'];
  const baseUrl = baseUrlText === undefined || baseUrlText === '' ? undefined : baseUrlText;
  if (baseUrl !== undefined && !URL.canParse(baseUrl)) throw new TrackConfigError(`CIO_TRACK_BASE_URL must be a URL, got ${JSON.stringify(baseUrl)}`);

  const apiVersion = (env['CIO_TRACK_API_VERSION'] ?? 'v2') as ApiVersion;
  if (!API_VERSIONS.includes(apiVersion)) throw new TrackConfigError(`CIO_TRACK_API_VERSION must be v1 or v2, got ${JSON.stringify(apiVersion)}`);

  const batch: BatchLimits = Object.freeze({
    ...DEFAULT_BATCH_LIMITS,
    maxBatchBytes: integer(env, 'CIO_MAX_BATCH_BYTES', DEFAULT_BATCH_LIMITS.maxBatchBytes, 1),
    maxItemBytes: integer(env, 'CIO_MAX_ITEM_BYTES', DEFAULT_BATCH_LIMITS.maxItemBytes, 1),
    maxBatchItems: integer(env, 'CIO_MAX_BATCH_ITEMS', DEFAULT_BATCH_LIMITS.maxBatchItems, 1),
  });
  if (batch.maxItemBytes > batch.maxBatchBytes) {
    throw new TrackConfigError(`CIO_MAX_ITEM_BYTES (${batch.maxItemBytes}) must not exceed CIO_MAX_BATCH_BYTES (${batch.maxBatchBytes})`);
  }

  const retry: RetryOptions = Object.freeze({
    ...DEFAULT_RETRY_OPTIONS,
    maxAttempts: integer(env, 'CIO_RETRY_MAX_ATTEMPTS', DEFAULT_RETRY_OPTIONS.maxAttempts, 1),
    initialDelayMs: integer(env, 'CIO_RETRY_INITIAL_DELAY_MS', DEFAULT_RETRY_OPTIONS.initialDelayMs, 0),
    maxDelayMs: integer(env, 'CIO_RETRY_MAX_DELAY_MS', DEFAULT_RETRY_OPTIONS.maxDelayMs, 0),
    maxRetryAfterMs: integer(env, 'CIO_RETRY_MAX_RETRY_AFTER_MS', DEFAULT_RETRY_OPTIONS.maxRetryAfterMs, 0),
    maxElapsedMs: integer(env, 'CIO_RETRY_MAX_ELAPSED_MS', DEFAULT_RETRY_OPTIONS.maxElapsedMs, 0),
  });
  if (retry.initialDelayMs > retry.maxDelayMs) {
    throw new TrackConfigError(`CIO_RETRY_INITIAL_DELAY_MS (${retry.initialDelayMs}) must not exceed CIO_RETRY_MAX_DELAY_MS (${retry.maxDelayMs})`);
  }

  const requestsPerSecond = Number(env['CIO_REQUESTS_PER_SECOND'] ?? DEFAULT_REQUESTS_PER_SECOND);
  if (!Number.isFinite(requestsPerSecond) || requestsPerSecond <= 0) {
    throw new TrackConfigError(`CIO_REQUESTS_PER_SECOND must be a positive number, got ${JSON.stringify(env['CIO_REQUESTS_PER_SECOND'])}`);
  }

  const config: TrackClientConfig = {
    siteId,
    apiKey,
    region,
    baseUrl,
    apiVersion,
    requestsPerSecond,
    burstRequests: integer(env, 'CIO_BURST_REQUESTS', DEFAULT_BURST_REQUESTS, 1),
    maxConcurrentRequests: integer(env, 'CIO_MAX_CONCURRENT_REQUESTS', 4, 1),
    requestTimeoutMs: integer(env, 'CIO_REQUEST_TIMEOUT_MS', 10_000, 1),
    connectTimeoutMs: integer(env, 'CIO_CONNECT_TIMEOUT_MS', 10_000, 1),
    batch,
    retry,
  };
  // Keep the key out of JSON.stringify, and so out of logs.
  Object.defineProperty(config, 'toJSON', { value: () => ({ ...config, apiKey: '[redacted]' }), enumerable: false });
  return Object.freeze(config);
}

function required(env: Environment, variable: string): string {
  const value = env[variable];
  if (value === undefined || value.trim() === '') throw new TrackConfigError(`${variable} is not set; set it from the workspace's Track API credentials`);
  return value;
}

function integer(env: Environment, variable: string, fallback: number, minimum: number): number {
  const text = env[variable];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new TrackConfigError(`${variable} must be an integer of at least ${minimum}, got ${JSON.stringify(text)}`);
  }
  return value;
}
