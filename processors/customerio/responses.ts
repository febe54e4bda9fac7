/**
 * Parsing of Track API responses: the error bodies of v1 and v2, and the class of a status code.
 *
 * v1 errors come as `{"meta":{"error":"…"}}` or `{"meta":{"errors":["…"]}}`. v2 errors come as
 * `{"errors":[{"batch_index":0,"reason":"…","field":"…","message":"…"}]}`, and a 207 lists there
 * the rejected items of a batch that was otherwise accepted.
 */

import type { IncomingHttpHeaders } from 'node:http';

import { parseRetryAfterMs } from './retry.ts';

export interface ApiErrorDetail {
  /** 0-based position in the v2 batch, when the error is about one item. */
  batchIndex?: number;
  reason?: string;
  field?: string;
  message: string;
}

export type ResponseClass =
  /** 2xx; `itemErrors` lists the rejected items of a 207. */
  | { kind: 'accepted'; statusCode: number; itemErrors: ApiErrorDetail[] }
  /** Worth another attempt. */
  | { kind: 'retry'; statusCode: number; retryAfterMs: number | undefined; code: string; message: string }
  /** Not worth another attempt. `splittable` when a smaller batch could pass (400, 413). */
  | { kind: 'rejected'; statusCode: number; details: ApiErrorDetail[]; splittable: boolean }
  /** Wrong credentials or region: stop sending. */
  | { kind: 'auth'; statusCode: number; message: string }
  | { kind: 'redirect'; statusCode: number; location: string | undefined };

export interface ClassifyOptions {
  retryStatusCodes: readonly number[];
  /** For Retry-After given as an HTTP date. */
  nowMs: number;
}

/** Classifies one HTTP response of the Track API. */
export function classifyResponse(statusCode: number, headers: IncomingHttpHeaders, bodyText: string, options: ClassifyOptions): ResponseClass {
  if (statusCode >= 200 && statusCode < 300) {
    const itemErrors = statusCode === 207 ? parseErrorBody(bodyText) : [];
    return { kind: 'accepted', statusCode, itemErrors };
  }
  if (statusCode >= 300 && statusCode < 400) {
    const location = headers.location;
    return { kind: 'redirect', statusCode, location: typeof location === 'string' ? location : undefined };
  }
  if (statusCode === 401 || statusCode === 403) {
    return { kind: 'auth', statusCode, message: firstMessage(parseErrorBody(bodyText)) ?? '' };
  }
  if (options.retryStatusCodes.includes(statusCode)) {
    const retryAfterMs = parseRetryAfterMs(headers['retry-after'], options.nowMs);
    let code = 'CIO_SERVER_ERROR';
    if (statusCode === 429) code = 'CIO_RATE_LIMITED';
    if (statusCode === 408) code = 'CIO_TIMEOUT';
    const detail = firstMessage(parseErrorBody(bodyText));
    const message = detail === undefined ? `HTTP ${statusCode}` : `HTTP ${statusCode}: ${detail}`;
    return { kind: 'retry', statusCode, retryAfterMs, code, message };
  }
  const details = parseErrorBody(bodyText);
  return { kind: 'rejected', statusCode, details, splittable: statusCode === 400 || statusCode === 413 };
}

/** Parses a v1 or v2 error body; unreadable text becomes one detail holding its start. */
export function parseErrorBody(bodyText: string): ApiErrorDetail[] {
  if (bodyText.trim() === '') return [];
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return [{ message: bodyText.slice(0, 200) }];
  }
  if (typeof body !== 'object' || body === null) return [{ message: String(body) }];

  const record = body as Record<string, unknown>;
  if (Array.isArray(record['errors'])) return record['errors'].map(toDetail);

  const meta = record['meta'];
  if (typeof meta === 'object' && meta !== null) {
    const metaRecord = meta as Record<string, unknown>;
    if (typeof metaRecord['error'] === 'string') return [{ message: metaRecord['error'] }];
    if (Array.isArray(metaRecord['errors'])) return metaRecord['errors'].map(toDetail);
  }
  return [];
}

function toDetail(entry: unknown): ApiErrorDetail {
  if (typeof entry === 'string') return { message: entry };
  if (typeof entry !== 'object' || entry === null) return { message: String(entry) };

  const record = entry as Record<string, unknown>;
  const detail: ApiErrorDetail = { message: typeof record['message'] === 'string' ? record['message'] : JSON.stringify(entry) };
  if (Number.isInteger(record['batch_index'])) detail.batchIndex = record['batch_index'] as number;
  if (typeof record['reason'] === 'string') detail.reason = record['reason'];
  if (typeof record['field'] === 'string') detail.field = record['field'];
  return detail;
}

function firstMessage(details: readonly ApiErrorDetail[]): string | undefined {
  return details[0]?.message;
}
