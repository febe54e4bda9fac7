/**
 * Track API routes of the stand-in. Each handler validates like Customer.io, updates the store,
 * and returns the status and body Customer.io would send, plus flags for what Customer.io would
 * only show in its activity log (a replaced timestamp, a dropped duplicate, a failed update).
 *
 *   GET    /api/v1/accounts/region
 *   PUT    /api/v1/customers/{identifier}          identify
 *   DELETE /api/v1/customers/{identifier}          delete
 *   POST   /api/v1/customers/{identifier}/events   event
 *   POST   /api/v2/batch                           {"batch":[operation, …]}: 200, 207 or 400
 *   POST   /api/v2/entity                          one operation: 200 or 400
 */

import { checkAttributes, checkEvent, checkPersonId, isUnixSeconds, LIMITS, utf8Bytes, type LimitViolation } from './limits.ts';
import { inferIdentifier, type CallFlag, type Identifier, type StandinStore } from './store.ts';

export interface TrackRouteContext {
  store: StandinStore;
  /** Stand-in clock, epoch milliseconds. */
  nowMs: () => number;
  baseUrl: string;
  region: string;
  environmentId: number;
}

export interface RouteResult {
  status: number;
  body: unknown;
  identifier?: Identifier;
  flags: CallFlag[];
}

interface V2ItemError {
  batch_index?: number;
  reason: string;
  field: string;
  message: string;
}

const CUSTOMER_PATH = /^\/api\/v1\/customers\/([^/]+)$/;
const CUSTOMER_EVENTS_PATH = /^\/api\/v1\/customers\/([^/]+)\/events$/;

/** Serves one authenticated Track API request. */
export function handleTrackRequest(method: string, pathname: string, rawBody: string, context: TrackRouteContext): RouteResult {
  if (method === 'GET' && pathname === '/api/v1/accounts/region') {
    return { status: 200, body: { url: context.baseUrl, region: context.region, environment_id: context.environmentId }, flags: [] };
  }

  const customer = CUSTOMER_PATH.exec(pathname);
  if (customer !== null && (method === 'PUT' || method === 'DELETE')) {
    const identifier = decodeIdentifier(customer[1] ?? '');
    if (identifier === undefined) return v1Error([{ field: 'id', reason: 'invalid', message: 'identifier in the path is not valid percent-encoding' }]);
    return method === 'PUT' ? identifyV1(identifier, rawBody, context) : deleteV1(identifier, context);
  }

  const events = CUSTOMER_EVENTS_PATH.exec(pathname);
  if (events !== null && method === 'POST') {
    const identifier = decodeIdentifier(events[1] ?? '');
    if (identifier === undefined) return v1Error([{ field: 'id', reason: 'invalid', message: 'identifier in the path is not valid percent-encoding' }]);
    return eventV1(identifier, rawBody, context);
  }

  if (method === 'POST' && pathname === '/api/v2/batch') return batchV2(rawBody, context);
  if (method === 'POST' && pathname === '/api/v2/entity') return entityV2(rawBody, context);

  return { status: 404, body: { meta: { error: `no route for ${method} ${pathname}` } }, flags: [] };
}

function identifyV1(identifier: Identifier, rawBody: string, context: TrackRouteContext): RouteResult {
  const idProblems = identifier.type === 'id' ? checkPersonId(identifier.value) : [];
  if (idProblems.length > 0) return { ...v1Error(idProblems), identifier };

  const body = parseObject(rawBody, true);
  if (body === undefined) return { ...v1Error([{ field: '(body)', reason: 'invalid', message: 'request body must be a JSON object' }]), identifier };

  const violations = checkAttributes(body);
  if (violations.length > 0) return { ...v1Error(violations), identifier };

  const flags: CallFlag[] = [];
  const sentTimestamp = body['_timestamp'];
  if (sentTimestamp !== undefined && !isUnixSeconds(sentTimestamp)) {
    flags.push({ flag: 'timestamp_replaced', field: '_timestamp', detail: 'not unix seconds; the receipt time orders this update' });
  }
  flags.push(...context.store.identify(identifier, body, nowSeconds(context)).flags);
  return { status: 200, body: {}, identifier, flags };
}

function deleteV1(identifier: Identifier, context: TrackRouteContext): RouteResult {
  context.store.delete(identifier);
  return { status: 200, body: {}, identifier, flags: [] };
}

function eventV1(identifier: Identifier, rawBody: string, context: TrackRouteContext): RouteResult {
  const idProblems = identifier.type === 'id' ? checkPersonId(identifier.value) : [];
  if (idProblems.length > 0) return { ...v1Error(idProblems), identifier };

  const body = parseObject(rawBody, false);
  if (body === undefined) return { ...v1Error([{ field: '(body)', reason: 'invalid', message: 'request body must be a JSON object' }]), identifier };

  const { violations, name } = checkEvent(body, 'data');
  if (violations.length > 0) return { ...v1Error(violations), identifier };

  const flags = storeEvent(identifier, name, body['id'] as string, body['timestamp'], (body['data'] ?? {}) as Record<string, unknown>, 'v1', context);
  return { status: 200, body: {}, identifier, flags };
}

function batchV2(rawBody: string, context: TrackRouteContext): RouteResult {
  const bytes = utf8Bytes(rawBody);
  if (bytes > LIMITS.batchBytes) {
    return v2Error(400, [{ reason: 'too_large', field: 'batch', message: `batch request is ${bytes} bytes; it must be under ${LIMITS.batchBytes} bytes` }]);
  }
  const body = parseObject(rawBody, false);
  const batch = body?.['batch'];
  if (!Array.isArray(batch)) return v2Error(400, [{ reason: 'invalid', field: 'batch', message: 'request body must be {"batch": [ … ]}' }]);

  const errors: V2ItemError[] = [];
  const flags: CallFlag[] = [];
  batch.forEach((item: unknown, batchIndex: number) => {
    const outcome = applyOperation(item, context);
    for (const violation of outcome.violations) errors.push({ batch_index: batchIndex, ...violation });
    for (const flag of outcome.flags) flags.push({ ...flag, batchIndex });
  });

  if (errors.length > 0) return { status: 207, body: { errors }, flags };
  return { status: 200, body: {}, flags };
}

function entityV2(rawBody: string, context: TrackRouteContext): RouteResult {
  const bytes = utf8Bytes(rawBody);
  if (bytes > LIMITS.entityBytes) {
    return v2Error(400, [{ reason: 'too_large', field: '(body)', message: `entity request is ${bytes} bytes; it must be at most ${LIMITS.entityBytes} bytes` }]);
  }
  const body = parseObject(rawBody, false);
  if (body === undefined) return v2Error(400, [{ reason: 'invalid', field: '(body)', message: 'request body must be a JSON object' }]);

  const outcome = applyOperation(body, context);
  if (outcome.violations.length > 0) return { ...v2Error(400, outcome.violations), flags: outcome.flags };
  return { status: 200, body: {}, flags: outcome.flags };
}

/** Validates one v2 operation and, when it is valid, applies it. */
function applyOperation(item: unknown, context: TrackRouteContext): { violations: LimitViolation[]; flags: CallFlag[] } {
  if (!isObject(item)) return { violations: [{ field: '(item)', reason: 'invalid', message: 'batch item must be an object' }], flags: [] };

  const itemBytes = utf8Bytes(JSON.stringify(item));
  if (itemBytes > LIMITS.itemBytes) {
    return { violations: [{ field: '(item)', reason: 'too_large', message: `batch item is ${itemBytes} bytes; it must be at most ${LIMITS.itemBytes} bytes` }], flags: [] };
  }
  if (item['type'] !== 'person') {
    return { violations: [{ field: 'type', reason: 'unsupported', message: 'the stand-in implements only type "person"' }], flags: [] };
  }

  const identifier = readIdentifiers(item['identifiers']);
  if ('violation' in identifier) return { violations: [identifier.violation], flags: [] };

  const attributes = item['attributes'] ?? {};
  if (!isObject(attributes)) return { violations: [{ field: 'attributes', reason: 'invalid', message: 'attributes must be an object' }], flags: [] };

  switch (item['action']) {
    case 'identify': {
      const violations = checkAttributes(attributes, 'attributes.');
      if (violations.length > 0) return { violations, flags: [] };
      const flags: CallFlag[] = [];
      if (item['timestamp'] !== undefined && !isUnixSeconds(item['timestamp'])) {
        flags.push({ flag: 'timestamp_replaced', field: 'timestamp', detail: 'not unix seconds; the receipt time orders this update' });
      }
      flags.push(...context.store.identify(identifier, attributes, nowSeconds(context)).flags);
      return { violations: [], flags };
    }
    case 'event': {
      const { violations, name } = checkEvent({ name: item['name'], id: item['id'], data: attributes }, 'attributes');
      if (violations.length > 0) return { violations, flags: [] };
      return { violations: [], flags: storeEvent(identifier, name, item['id'] as string, item['timestamp'], attributes, 'v2', context) };
    }
    case 'delete':
      context.store.delete(identifier);
      return { violations: [], flags: [] };
    default:
      return { violations: [{ field: 'action', reason: 'unsupported', message: 'the stand-in implements only the actions identify, event and delete' }], flags: [] };
  }
}

/**
 * Stores an event. As Customer.io does, the receipt time replaces a missing timestamp or one that
 * is not unix seconds (milliseconds, an ISO string). The call is flagged.
 */
function storeEvent(
  identifier: Identifier,
  name: string,
  id: string,
  sentTimestamp: unknown,
  data: Record<string, unknown>,
  api: 'v1' | 'v2',
  context: TrackRouteContext,
): CallFlag[] {
  const receivedAt = nowSeconds(context);
  const valid = isUnixSeconds(sentTimestamp);
  const event = {
    name,
    id,
    timestamp: valid ? sentTimestamp : receivedAt,
    receivedAt,
    timestampReplaced: !valid,
    data,
    api,
    ...(valid || sentTimestamp === undefined ? {} : { sentTimestamp }),
  };
  return context.store.addEvent(identifier, event).flags;
}

function readIdentifiers(value: unknown): Identifier | { violation: LimitViolation } {
  const invalid = { violation: { field: 'identifiers', reason: 'invalid', message: 'identifiers must contain exactly one of id, email, cio_id or phone' } };
  if (!isObject(value)) return invalid;
  const keys = Object.keys(value);
  const key = keys[0];
  if (keys.length !== 1 || (key !== 'id' && key !== 'email' && key !== 'cio_id' && key !== 'phone')) return invalid;

  const identifierValue = value[key];
  if (key === 'id') {
    const problems = checkPersonId(identifierValue);
    if (problems[0] !== undefined) return { violation: { ...problems[0], field: 'identifiers.id' } };
  }
  if (typeof identifierValue !== 'string' || identifierValue === '') {
    return { violation: { field: `identifiers.${key}`, reason: 'invalid', message: `identifiers.${key} must be a non-empty string` } };
  }
  return { type: key, value: identifierValue };
}

function decodeIdentifier(segment: string): Identifier | undefined {
  try {
    return inferIdentifier(decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

function v1Error(violations: readonly LimitViolation[]): RouteResult {
  const messages = violations.map((violation) => violation.message);
  const body = messages.length === 1 ? { meta: { error: messages[0] } } : { meta: { errors: messages } };
  return { status: 400, body, flags: [] };
}

function v2Error(status: number, violations: readonly LimitViolation[]): RouteResult {
  return { status, body: { errors: violations.map(({ reason, field, message }) => ({ reason, field, message })) }, flags: [] };
}

function parseObject(rawBody: string, emptyIsObject: boolean): Record<string, unknown> | undefined {
  if (rawBody.trim() === '') return emptyIsObject ? {} : undefined;
  try {
    const parsed: unknown = JSON.parse(rawBody);
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nowSeconds(context: TrackRouteContext): number {
  return Math.floor(context.nowMs() / 1000);
}
