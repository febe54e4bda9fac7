/**
 * Track API client used by the Customer.io sink.
 *
 * `send(records)` validates each outbox record, plans v1 calls or v2 batches, paces them with a
 * token bucket, retries what may pass later, and returns one result per record, in input order:
 *
 * - `delivered`: Customer.io accepted it (200, or a 207 that did not list it).
 * - `rejected`: invalid before sending, or refused for good (400, another 4xx, a 207 item error).
 *   The sink sends it to the DLQ and may commit past it.
 * - `retriable`: not delivered yet (429, 5xx, network error, timeout, aborted, or skipped because
 *   an earlier operation for the same person was not delivered). The sink must not commit past it.
 *
 * A 401 or 403 (TrackAuthError) or a redirect (TrackRegionError) makes `send` throw a
 * TrackFatalError: no retry fixes those, and the sink stops.
 *
 * Operations for one person are sent one after another in input order, never concurrently, so an
 * identify always lands before a later event for the same person. Operations for different people
 * run up to `maxConcurrentRequests` at a time.
 */

import type { Logger } from 'pino';
import { Pool, type Dispatcher } from 'undici';

import { systemClock, type Clock } from './clock.ts';
import { TrackAuthError, TrackConfigError, TrackRegionError, TrackRejectedError, TrackRetriableError, ValidationError, type TrackFatalError } from './errors.ts';
import { DEFAULT_BURST_REQUESTS, DEFAULT_REQUESTS_PER_SECOND, TokenBucket } from './rate-limit.ts';
import type { OutboxRecord } from './records.ts';
import {
  API_VERSIONS,
  DEFAULT_BATCH_LIMITS,
  planRequests,
  requestBody,
  splitRequest,
  withItems,
  type ApiVersion,
  type BatchLimits,
  type PlannedItem,
  type PlannedRequest,
} from './requests.ts';
import { classifyResponse, parseErrorBody, type ApiErrorDetail } from './responses.ts';
import { decideRetry, resolveRetryOptions, type RetryOptions } from './retry.ts';
import { DEFAULT_TRACK_LIMITS, validateRecord, type TrackLimits } from './validate.ts';

export type Region = 'us' | 'eu';

export const REGION_BASE_URLS: Readonly<Record<Region, string>> = Object.freeze({
  us: 'https://track.customer.io',
  eu: 'https://track-eu.customer.io',
});

export interface TrackClientOptions {
  /** Workspace site id; the user name of HTTP Basic auth. */
  siteId: string;
  /** Track API key; the password of HTTP Basic auth. Never logged. */
  apiKey: string;
  /** Workspace region; picks the host unless baseUrl is set. Default `us`. */
  region?: Region;
  /** Explicit API base URL, for example the local stand-in. Wins over region for the host. */
  baseUrl?: string;
  /** Default `v2` (batches); `v1` sends one call per record. */
  apiVersion?: ApiVersion;
  /** Customer.io limits checked before sending. */
  limits?: Partial<TrackLimits>;
  /** v2 batch sizes. */
  batch?: Partial<BatchLimits>;
  retry?: Partial<RetryOptions>;
  /** Requests per second for this client; ignored when rateLimiter is given. Default 100. */
  requestsPerSecond?: number;
  /** Back-to-back requests allowed after idle time; ignored when rateLimiter is given. Default 1. */
  burstRequests?: number;
  /** A limiter shared by several clients of the same workspace. */
  rateLimiter?: TokenBucket;
  /** Requests in flight at once, across people. Default 4. */
  maxConcurrentRequests?: number;
  /**
   * Timeout for the response headers and between body chunks. Default 10,000 ms. undici checks
   * it on a coarse timer, so a short timeout can fire up to about a second late.
   */
  requestTimeoutMs?: number;
  /** Timeout for opening a connection. Default 10,000 ms. */
  connectTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open. Default 30,000 ms. */
  keepAliveTimeoutMs?: number;
  clock?: Clock;
  /** Source of jitter, in [0, 1). */
  random?: () => number;
  /** Retries log at debug, give-ups at info. Silent when absent. */
  logger?: Logger;
  /** Dispatcher to use instead of the client's own keep-alive Pool; the caller closes it. */
  dispatcher?: Dispatcher;
  /** User-Agent header. */
  userAgent?: string;
}

export interface DeliveredResult {
  status: 'delivered';
  index: number;
  customerId: string;
  attempts: number;
  statusCode: number;
}

export interface RejectedResult {
  status: 'rejected';
  index: number;
  customerId: string;
  attempts: number;
  error: ValidationError | TrackRejectedError;
}

export interface RetriableResult {
  status: 'retriable';
  index: number;
  customerId: string;
  attempts: number;
  error: TrackRetriableError;
}

export type ItemResult = DeliveredResult | RejectedResult | RetriableResult;

export interface SendReport {
  /** One result per input record, at the record's index. */
  results: ItemResult[];
  /** HTTP requests made, retries included. */
  httpRequests: number;
}

export interface RetryEvent {
  /** Attempts made so far for the request about to be retried. */
  attempt: number;
  delayMs: number;
  statusCode: number | undefined;
  code: string;
  /** Input indexes of the records in the request. */
  indexes: number[];
}

export interface SendOptions {
  /** Aborting ends waits and requests; unfinished records come back retriable (CIO_ABORTED). */
  signal?: AbortSignal;
  /** Retry options for this call only, over the client's. */
  retry?: Partial<RetryOptions>;
  /** Called before each wait for a retry, for example to heartbeat the consumer group. */
  onRetry?: (event: RetryEvent) => void;
}

export interface RegionInfo {
  url: string;
  region: string;
  environmentId: number | string | undefined;
}

const DEFAULT_MAX_CONCURRENT_REQUESTS = 4;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 30_000;
const DEFAULT_USER_AGENT = 'cio-cdc';

/** Socket and undici error codes that mean "the request may pass if tried again". */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);
const TIMEOUT_ERROR_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

type AttemptOutcome =
  | { kind: 'accepted'; statusCode: number; itemErrors: ApiErrorDetail[] }
  | { kind: 'retry'; statusCode: number | undefined; retryAfterMs: number | undefined; code: string; message: string; cause?: unknown }
  | { kind: 'rejected'; statusCode: number; details: ApiErrorDetail[]; splittable: boolean }
  | { kind: 'fatal'; error: TrackFatalError }
  | { kind: 'aborted' };

/** State shared by the requests of one send() call. */
interface SendContext {
  results: (ItemResult | undefined)[];
  /** Attempts per input index so far. */
  attempts: Map<number, number>;
  /** People with an operation that was not delivered; their later operations are held back. */
  heldPeople: Set<string>;
  retry: Readonly<RetryOptions>;
  signal: AbortSignal;
  abort: (reason: unknown) => void;
  onRetry: ((event: RetryEvent) => void) | undefined;
  fatal: TrackFatalError | undefined;
  httpRequests: number;
}

export class TrackClient {
  readonly baseUrl: string;
  readonly apiVersion: ApiVersion;
  readonly siteId: string;
  readonly #expectedRegion: Region | undefined;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #authorization: string;
  readonly #userAgent: string;
  readonly #limits: Readonly<TrackLimits>;
  readonly #batch: Readonly<BatchLimits>;
  readonly #retry: Readonly<RetryOptions>;
  readonly #limiter: TokenBucket;
  readonly #maxConcurrentRequests: number;
  readonly #requestTimeoutMs: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: Logger | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(options: TrackClientOptions) {
    if (typeof options.siteId !== 'string' || options.siteId === '') throw new TrackConfigError('Customer.io siteId is missing; set the workspace site id');
    if (typeof options.apiKey !== 'string' || options.apiKey === '') throw new TrackConfigError('Customer.io apiKey is missing; set the Track API key');
    if (options.region !== undefined && !(options.region in REGION_BASE_URLS)) {
      throw new TrackConfigError(`Customer.io region must be us or eu, got ${String(options.region)}`);
    }
    const apiVersion = options.apiVersion ?? 'v2';
    if (!API_VERSIONS.includes(apiVersion)) throw new TrackConfigError(`Track API version must be v1 or v2, got ${String(apiVersion)}`);

    const base = parseBaseUrl(options.baseUrl ?? REGION_BASE_URLS[options.region ?? 'us']);
    this.baseUrl = base.href;
    this.#origin = base.origin;
    this.#basePath = base.pathname.replace(/\/+$/, '');
    // With an explicit base URL the region is only checked when it was also given.
    this.#expectedRegion = options.baseUrl === undefined ? (options.region ?? 'us') : options.region;
    this.apiVersion = apiVersion;
    this.siteId = options.siteId;
    this.#authorization = `Basic ${Buffer.from(`${options.siteId}:${options.apiKey}`, 'utf8').toString('base64')}`;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;

    this.#limits = Object.freeze({ ...DEFAULT_TRACK_LIMITS, ...options.limits });
    this.#batch = Object.freeze({ ...DEFAULT_BATCH_LIMITS, ...options.batch });
    if (this.#batch.maxItemBytes > this.#batch.maxBatchBytes) {
      throw new TrackConfigError(`batch.maxItemBytes (${this.#batch.maxItemBytes}) must not exceed batch.maxBatchBytes (${this.#batch.maxBatchBytes})`);
    }
    try {
      this.#retry = resolveRetryOptions(options.retry);
    } catch (err) {
      throw new TrackConfigError((err as Error).message);
    }

    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#limiter =
      options.rateLimiter ??
      new TokenBucket({
        requestsPerSecond: options.requestsPerSecond ?? DEFAULT_REQUESTS_PER_SECOND,
        burstRequests: options.burstRequests ?? DEFAULT_BURST_REQUESTS,
        clock: this.#clock,
      });

    this.#maxConcurrentRequests = options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
    if (!Number.isInteger(this.#maxConcurrentRequests) || this.#maxConcurrentRequests < 1) {
      throw new TrackConfigError(`maxConcurrentRequests must be an integer of at least 1, got ${this.#maxConcurrentRequests}`);
    }
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#logger = options.logger;

    if (options.dispatcher !== undefined) {
      this.#dispatcher = options.dispatcher;
      this.#ownsDispatcher = false;
    } else {
      this.#dispatcher = new Pool(this.#origin, {
        connections: this.#maxConcurrentRequests,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
        connect: { timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS },
      });
      this.#ownsDispatcher = true;
    }
  }

  /**
   * Checks credentials and region with GET /api/v1/accounts/region. Throws TrackAuthError on 401
   * or 403, TrackRegionError when the workspace is in another region than configured, and
   * TrackRetriableError when Customer.io cannot be reached.
   */
  async checkRegion(signal?: AbortSignal): Promise<RegionInfo> {
    const path = `${this.#basePath}/api/v1/accounts/region`;
    let statusCode: number;
    let headers: Dispatcher.ResponseData['headers'];
    let bodyText: string;
    try {
      const response = await this.#dispatcher.request({
        origin: this.#origin,
        path,
        method: 'GET',
        headers: this.#headers(),
        headersTimeout: this.#requestTimeoutMs,
        bodyTimeout: this.#requestTimeoutMs,
        signal,
      });
      statusCode = response.statusCode;
      headers = response.headers;
      bodyText = await response.body.text();
    } catch (err) {
      const code = errorCode(err);
      throw new TrackRetriableError(`could not reach Customer.io at ${this.baseUrl} to check the region (${code ?? (err as Error).message}); check the base URL and the network`, {
        code: 'CIO_NETWORK_ERROR',
        attempts: 1,
        cause: err,
      });
    }

    if (statusCode === 401 || statusCode === 403) throw this.#authError(statusCode, 1);
    if (statusCode >= 300 && statusCode < 400) throw this.#redirectError(statusCode, headers.location, 1);
    if (statusCode !== 200) {
      const detail = parseErrorBody(bodyText)[0]?.message ?? '';
      const options = { statusCode, attempts: 1, reason: 'region_check_failed' };
      if (this.#retry.retryStatusCodes.includes(statusCode)) {
        throw new TrackRetriableError(`Customer.io region check at ${this.baseUrl} failed with HTTP ${statusCode} ${detail}; try again later`, {
          ...options,
          code: 'CIO_SERVER_ERROR',
        });
      }
      throw new TrackRejectedError(`Customer.io region check at ${this.baseUrl} failed with HTTP ${statusCode} ${detail}; check the base URL`, options);
    }

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(bodyText) as Record<string, unknown>;
    } catch (err) {
      throw new TrackRejectedError(`Customer.io region check at ${this.baseUrl} returned a body that is not JSON; check the base URL`, { statusCode, attempts: 1, cause: err });
    }
    const info: RegionInfo = {
      url: String(body['url'] ?? ''),
      region: String(body['region'] ?? ''),
      environmentId: body['environment_id'] as number | string | undefined,
    };
    if (this.#expectedRegion !== undefined && info.region.toLowerCase() !== this.#expectedRegion) {
      throw new TrackRegionError(
        `Customer.io workspace of site id ${this.siteId} is in region ${info.region || '(none given)'}, but the client is configured for ${this.#expectedRegion}; set the region to ${info.region || 'the workspace region'}`,
        { statusCode, attempts: 1, reason: 'region_mismatch' },
      );
    }
    return info;
  }

  /**
   * Sends `records` and returns one result per record. Throws TrackFatalError on 401, 403 or a
   * redirect; every other failure is a per-record result.
   */
  async send(records: readonly OutboxRecord[], options: SendOptions = {}): Promise<SendReport> {
    const controller = new AbortController();
    const onCallerAbort = (): void => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) controller.abort(options.signal.reason);
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });

    const context: SendContext = {
      results: new Array<ItemResult | undefined>(records.length),
      attempts: new Map(),
      heldPeople: new Set(),
      retry: resolveRetryOptions(options.retry, this.#retry),
      signal: controller.signal,
      abort: (reason) => controller.abort(reason),
      onRetry: options.onRetry,
      fatal: undefined,
      httpRequests: 0,
    };

    try {
      // Step 1: validate; invalid records are rejected without a request.
      const sendable: PlannedItem[] = [];
      records.forEach((record, index) => {
        const issues = validateRecord(record, this.#limits);
        if (issues.length === 0) {
          sendable.push({ index, record });
        } else {
          const error = new ValidationError(issues, { key: record.customerId });
          context.results[index] = { status: 'rejected', index, customerId: record.customerId, attempts: 0, error };
        }
      });

      // Step 2: plan v1 calls or v2 batches.
      const plan = planRequests(sendable, this.apiVersion, this.#batch);
      for (const rejection of plan.rejections) {
        const record = records[rejection.index] as OutboxRecord;
        const error = new TrackRejectedError(rejection.message, { reason: 'item_too_large', field: '(item)', key: record.customerId });
        context.results[rejection.index] = { status: 'rejected', index: rejection.index, customerId: record.customerId, attempts: 0, error };
      }

      // Step 3: run the requests, one person at a time and several people at once.
      await this.#runAll(plan.requests, context);
    } finally {
      options.signal?.removeEventListener('abort', onCallerAbort);
    }

    if (context.fatal !== undefined) throw context.fatal;

    const results = context.results.map((result, index) => {
      if (result === undefined) throw new Error(`internal error: no delivery result for record ${index}`);
      return result;
    });
    return { results, httpRequests: context.httpRequests };
  }

  /** Closes the client's own connection pool; a dispatcher given in the options stays open. */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  async #runAll(requests: readonly PlannedRequest[], context: SendContext): Promise<void> {
    const slots = new Semaphore(this.#maxConcurrentRequests);
    const lastRunOfPerson = new Map<string, Promise<void>>();

    const runs = requests.map((request) => {
      const people = [...new Set(request.items.map((item) => item.record.customerId))];
      const earlier = people.flatMap((person) => {
        const run = lastRunOfPerson.get(person);
        return run === undefined ? [] : [run];
      });

      // Slots go out in input order, and a request waits for its people's earlier requests
      // while it keeps its slot. The lowest unfinished request always has a slot and nothing to
      // wait for, so this cannot deadlock. With one slot, requests run in input order.
      const run = (async () => {
        await slots.acquire();
        try {
          await Promise.all(earlier);
          await this.#runRequest(request, context);
        } finally {
          slots.release();
        }
      })();

      // Later requests wait for this one to settle, whatever its outcome.
      const settled = run.then(
        () => undefined,
        () => undefined,
      );
      for (const person of people) lastRunOfPerson.set(person, settled);
      return run;
    });

    const outcomes = await Promise.allSettled(runs);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') throw outcome.reason;
    }
  }

  async #runRequest(request: PlannedRequest, context: SendContext): Promise<void> {
    const ready = withItems(request, (item) => {
      if (context.signal.aborted) {
        this.#setRetriable(item, context, 'CIO_ABORTED', 'send was aborted before the record was sent', undefined);
        return false;
      }
      if (context.heldPeople.has(item.record.customerId)) {
        this.#setRetriable(item, context, 'CIO_HELD', 'not sent because an earlier operation for the same person was not delivered', undefined);
        return false;
      }
      return true;
    });
    if (ready.items.length > 0) await this.#deliver(ready, context);
  }

  /** Sends one request with retries and records the result of each of its items. */
  async #deliver(request: PlannedRequest, context: SendContext): Promise<void> {
    const startedAtMs = this.#clock.now();
    let attempts = 0;

    for (;;) {
      try {
        await this.#limiter.acquire(context.signal);
      } catch {
        this.#setAllRetriable(request, context, 'CIO_ABORTED', 'send was aborted while waiting for the rate limit', undefined);
        return;
      }

      attempts += 1;
      for (const item of request.items) context.attempts.set(item.index, (context.attempts.get(item.index) ?? 0) + 1);
      const outcome = await this.#attempt(request, attempts, context);

      switch (outcome.kind) {
        case 'accepted':
          this.#settleAccepted(request, outcome.statusCode, outcome.itemErrors, context);
          return;

        case 'rejected':
          if (outcome.splittable && request.items.length > 1) {
            // A 400 or 413 for a whole batch: halve it until the bad items stand alone.
            const [first, second] = splitRequest(request);
            this.#logger?.debug({ statusCode: outcome.statusCode, items: request.items.length }, 'splitting rejected batch');
            await this.#runRequest(first, context);
            await this.#runRequest(second, context);
            return;
          }
          this.#settleRejected(request, outcome.statusCode, outcome.details, context);
          return;

        case 'fatal':
          context.fatal ??= outcome.error;
          context.abort(outcome.error);
          this.#setAllRetriable(request, context, 'CIO_ABORTED', outcome.error.message, outcome.error.statusCode);
          return;

        case 'aborted':
          this.#setAllRetriable(request, context, 'CIO_ABORTED', 'send was aborted during the request', undefined);
          return;

        case 'retry': {
          const decision = decideRetry(
            { attempts, elapsedMs: this.#clock.now() - startedAtMs, retryAfterMs: outcome.retryAfterMs },
            context.retry,
            this.#random,
          );
          const indexes = request.items.map((item) => item.index);
          if (!decision.retry) {
            const message = `${outcome.message}; gave up after ${attempts} attempts (${decision.reason.replaceAll('_', ' ')}), send again in ${decision.retryAfterMs} ms`;
            this.#logger?.info({ statusCode: outcome.statusCode, code: outcome.code, attempts, retryAfterMs: decision.retryAfterMs, indexes }, 'track request not delivered');
            this.#setAllRetriable(request, context, outcome.code, message, outcome.statusCode, decision.retryAfterMs, outcome.cause);
            return;
          }

          this.#logger?.debug({ statusCode: outcome.statusCode, code: outcome.code, attempt: attempts, delayMs: decision.delayMs, indexes }, 'retrying track request');
          context.onRetry?.({ attempt: attempts, delayMs: decision.delayMs, statusCode: outcome.statusCode, code: outcome.code, indexes });
          try {
            await this.#clock.sleep(decision.delayMs, context.signal);
          } catch {
            this.#setAllRetriable(request, context, 'CIO_ABORTED', 'send was aborted while waiting to retry', outcome.statusCode, decision.delayMs);
            return;
          }
        }
      }
    }
  }

  /** Makes one HTTP attempt and classifies its outcome. */
  async #attempt(request: PlannedRequest, attempt: number, context: SendContext): Promise<AttemptOutcome> {
    const headers = this.#headers();
    if (attempt > 1) headers['x-retry-count'] = String(attempt - 1);
    context.httpRequests += 1;

    let statusCode: number;
    let responseHeaders: Dispatcher.ResponseData['headers'];
    let bodyText: string;
    try {
      const response = await this.#dispatcher.request({
        origin: this.#origin,
        path: this.#basePath + request.path,
        method: request.method,
        headers,
        body: requestBody(request),
        headersTimeout: this.#requestTimeoutMs,
        bodyTimeout: this.#requestTimeoutMs,
        signal: context.signal,
      });
      statusCode = response.statusCode;
      responseHeaders = response.headers;
      bodyText = await response.body.text();
    } catch (err) {
      if (context.signal.aborted) return { kind: 'aborted' };
      const code = errorCode(err);
      if (code !== undefined && TIMEOUT_ERROR_CODES.has(code)) {
        return { kind: 'retry', statusCode: undefined, retryAfterMs: undefined, code: 'CIO_TIMEOUT', message: `request timed out (${code})`, cause: err };
      }
      if (code !== undefined && (NETWORK_ERROR_CODES.has(code) || /^E[A-Z]+$/.test(code))) {
        return { kind: 'retry', statusCode: undefined, retryAfterMs: undefined, code: 'CIO_NETWORK_ERROR', message: `network error (${code})`, cause: err };
      }
      throw err;
    }

    const classified = classifyResponse(statusCode, responseHeaders, bodyText, {
      retryStatusCodes: context.retry.retryStatusCodes,
      nowMs: this.#clock.now(),
    });
    switch (classified.kind) {
      case 'accepted':
      case 'rejected':
      case 'retry':
        return classified;
      case 'auth':
        return { kind: 'fatal', error: this.#authError(statusCode, attempt) };
      case 'redirect':
        return { kind: 'fatal', error: this.#redirectError(statusCode, classified.location, attempt) };
    }
  }

  #settleAccepted(request: PlannedRequest, statusCode: number, itemErrors: readonly ApiErrorDetail[], context: SendContext): void {
    const errorsByPosition = new Map<number, ApiErrorDetail>();
    for (const detail of itemErrors) {
      if (detail.batchIndex !== undefined && detail.batchIndex >= 0 && detail.batchIndex < request.items.length) {
        errorsByPosition.set(detail.batchIndex, detail);
      } else {
        this.#logger?.warn({ statusCode, batchIndex: detail.batchIndex, reason: detail.reason, field: detail.field }, 'item error without a matching batch index');
      }
    }

    request.items.forEach((item, position) => {
      const attempts = context.attempts.get(item.index) ?? 0;
      const customerId = item.record.customerId;
      const detail = errorsByPosition.get(position);
      if (detail === undefined) {
        context.results[item.index] = { status: 'delivered', index: item.index, customerId, attempts, statusCode };
        return;
      }
      const error = new TrackRejectedError(rejectionMessage(statusCode, detail, item), {
        statusCode,
        attempts,
        reason: detail.reason,
        field: detail.field,
        batchIndex: position,
        key: customerId,
      });
      context.results[item.index] = { status: 'rejected', index: item.index, customerId, attempts, error };
    });
  }

  #settleRejected(request: PlannedRequest, statusCode: number, details: readonly ApiErrorDetail[], context: SendContext): void {
    const detail = details[0] ?? { message: '' };
    for (const item of request.items) {
      const attempts = context.attempts.get(item.index) ?? 0;
      const error = new TrackRejectedError(rejectionMessage(statusCode, detail, item), {
        statusCode,
        attempts,
        reason: detail.reason,
        field: detail.field,
        key: item.record.customerId,
      });
      context.results[item.index] = { status: 'rejected', index: item.index, customerId: item.record.customerId, attempts, error };
    }
  }

  #setAllRetriable(
    request: PlannedRequest,
    context: SendContext,
    code: string,
    message: string,
    statusCode: number | undefined,
    retryAfterMs?: number,
    cause?: unknown,
  ): void {
    for (const item of request.items) this.#setRetriable(item, context, code, message, statusCode, retryAfterMs, cause);
  }

  #setRetriable(
    item: PlannedItem,
    context: SendContext,
    code: string,
    message: string,
    statusCode: number | undefined,
    retryAfterMs?: number,
    cause?: unknown,
  ): void {
    const attempts = context.attempts.get(item.index) ?? 0;
    const customerId = item.record.customerId;
    const error = new TrackRetriableError(`${describeItem(item)} not delivered: ${message}`, { code, statusCode, retryAfterMs, attempts, key: customerId, cause });
    context.results[item.index] = { status: 'retriable', index: item.index, customerId, attempts, error };
    context.heldPeople.add(customerId);
  }

  #headers(): Record<string, string> {
    return {
      authorization: this.#authorization,
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
  }

  #authError(statusCode: number, attempts: number): TrackAuthError {
    const problem =
      statusCode === 401
        ? 'rejected the credentials'
        : 'refused access with these credentials';
    return new TrackAuthError(
      `Customer.io ${problem} for site id ${this.siteId} (HTTP ${statusCode}); check the site id and the Track API key (not an App API key) of the workspace, and its region`,
      { statusCode, attempts, reason: 'unauthorized' },
    );
  }

  #redirectError(statusCode: number, location: string | string[] | undefined, attempts: number): TrackRegionError {
    const target = typeof location === 'string' ? location : '(no Location header)';
    return new TrackRegionError(
      `Customer.io redirected ${this.baseUrl} to ${target} (HTTP ${statusCode}); the workspace is probably in the other region, so set the region or base URL to match it`,
      { statusCode, attempts, reason: 'redirect' },
    );
  }
}

function rejectionMessage(statusCode: number, detail: ApiErrorDetail, item: PlannedItem): string {
  const field = detail.field === undefined ? '' : ` (field ${detail.field})`;
  const text = detail.message === '' ? 'no reason given' : detail.message;
  return `Customer.io rejected ${describeItem(item)} with HTTP ${statusCode}: ${text}${field}; it is not retried`;
}

function describeItem(item: PlannedItem): string {
  const { record } = item;
  const what = record.kind === 'identify' ? 'identify' : `event ${record.name} ${record.id}`;
  return `${what} for person ${record.customerId}`;
}

function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TrackConfigError(`Customer.io base URL ${JSON.stringify(text)} is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TrackConfigError(`Customer.io base URL must use http or https, got ${url.protocol}`);
  }
  return url;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause === undefined ? undefined : errorCode(cause);
}

/** Counting semaphore with first-come, first-served waiters. */
class Semaphore {
  #available: number;
  readonly #waiters: (() => void)[] = [];

  constructor(permits: number) {
    this.#available = permits;
  }

  async acquire(): Promise<void> {
    if (this.#available > 0) {
      this.#available -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#available += 1;
    else next();
  }
}
