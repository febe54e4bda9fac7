/**
 * Turns outbox records into Track API requests: the v1 call per record, or v2 batches packed by
 * serialized size.
 *
 * v1: identify is `PUT /api/v1/customers/{id}` with the attributes plus `_timestamp`; an event is
 * `POST /api/v1/customers/{id}/events` with `{name, id, timestamp, data}`.
 * v2: `POST /api/v2/batch` with `{"batch":[…]}`, each item a person operation keyed by
 * `identifiers.id`; event data goes under `attributes`.
 */

import type { OutboxRecord } from './records.ts';

export type ApiVersion = 'v1' | 'v2';
export const API_VERSIONS: readonly ApiVersion[] = ['v1', 'v2'];

export interface BatchLimits {
  /** Largest v2 request body. Customer.io documents "under 500 KB"; reading KB as 1000 bytes is the stricter choice. */
  maxBatchBytes: number;
  /** Largest v2 batch item. Customer.io documents 32 KB, read as 32,000 bytes for the same reason. */
  maxItemBytes: number;
  /** Maximum items per v2 batch. Customer.io documents no count limit, but smaller batches make a 400 cheaper to isolate. */
  maxBatchItems: number;
  /**
   * Put at most one operation per person into a v2 batch. Customer.io does not document that it
   * applies the items of one batch in order, so an identify and a later event for the same person
   * go out in separate requests, one after the other.
   */
  onePersonOperationPerBatch: boolean;
  /** Send an item that is too large for a v2 batch alone through v1, whose event data limit is 100,000 bytes. */
  oversizeItemsViaV1: boolean;
}

export const DEFAULT_BATCH_LIMITS: Readonly<BatchLimits> = Object.freeze({
  maxBatchBytes: 500_000,
  maxItemBytes: 32_000,
  maxBatchItems: 100,
  onePersonOperationPerBatch: true,
  oversizeItemsViaV1: true,
});

export interface PlannedItem {
  /** Position of the record in the list given to send(). */
  index: number;
  record: OutboxRecord;
}

export interface PlannedRequest {
  version: ApiVersion;
  method: 'PUT' | 'POST';
  /** Path below the API base URL, for example `/api/v2/batch`. */
  path: string;
  items: PlannedItem[];
  /** Serialized body of each item, in `items` order (v2) or the single v1 body. */
  itemBodies: string[];
}

export interface PlanRejection {
  index: number;
  itemBytes: number;
  message: string;
}

const V2_BATCH_PREFIX = '{"batch":[';
const V2_BATCH_SUFFIX = ']}';
const V2_BATCH_OVERHEAD_BYTES = Buffer.byteLength(V2_BATCH_PREFIX + V2_BATCH_SUFFIX, 'utf8');

/** Builds the v1 request for one record. The person id is percent-encoded into the path. */
export function buildV1Request(item: PlannedItem): PlannedRequest {
  const { record } = item;
  const personPath = `/api/v1/customers/${encodeURIComponent(record.customerId)}`;
  if (record.kind === 'identify') {
    const body = JSON.stringify({ ...record.attributes, _timestamp: record.timestamp });
    return { version: 'v1', method: 'PUT', path: personPath, items: [item], itemBodies: [body] };
  }
  const body = JSON.stringify({ name: record.name, id: record.id, timestamp: record.timestamp, data: record.data });
  return { version: 'v1', method: 'POST', path: `${personPath}/events`, items: [item], itemBodies: [body] };
}

/** Serializes one record as a v2 person operation. */
export function buildV2Item(record: OutboxRecord): string {
  const identifiers = { id: record.customerId };
  if (record.kind === 'identify') {
    return JSON.stringify({ type: 'person', action: 'identify', identifiers, timestamp: record.timestamp, attributes: record.attributes });
  }
  return JSON.stringify({
    type: 'person',
    action: 'event',
    identifiers,
    name: record.name,
    id: record.id,
    timestamp: record.timestamp,
    attributes: record.data,
  });
}

/** Joins serialized v2 items into a batch request body. */
export function buildV2BatchBody(itemBodies: readonly string[]): string {
  return V2_BATCH_PREFIX + itemBodies.join(',') + V2_BATCH_SUFFIX;
}

/** Returns the body to send for a planned request. */
export function requestBody(request: PlannedRequest): string {
  if (request.version === 'v1') return request.itemBodies[0] ?? '';
  return buildV2BatchBody(request.itemBodies);
}

/** Returns a v2 request made of a subset of `request`'s items, keeping their order. */
export function withItems(request: PlannedRequest, keep: (item: PlannedItem) => boolean): PlannedRequest {
  const items: PlannedItem[] = [];
  const itemBodies: string[] = [];
  request.items.forEach((item, position) => {
    if (!keep(item)) return;
    items.push(item);
    itemBodies.push(request.itemBodies[position] ?? '');
  });
  return { ...request, items, itemBodies };
}

/** Splits a v2 request into two halves, in order, for isolating a bad item. */
export function splitRequest(request: PlannedRequest): [PlannedRequest, PlannedRequest] {
  const middle = Math.ceil(request.items.length / 2);
  const first = { ...request, items: request.items.slice(0, middle), itemBodies: request.itemBodies.slice(0, middle) };
  const second = { ...request, items: request.items.slice(middle), itemBodies: request.itemBodies.slice(middle) };
  return [first, second];
}

/**
 * Plans the requests for `items` (already validated), in their order. For v2, each batch grows
 * while the serialized body, measured before an item is added, stays within maxBatchBytes.
 * Items larger than maxItemBytes go through v1 or are returned as rejections.
 */
export function planRequests(
  items: readonly PlannedItem[],
  version: ApiVersion,
  limits: Readonly<BatchLimits> = DEFAULT_BATCH_LIMITS,
): { requests: PlannedRequest[]; rejections: PlanRejection[] } {
  if (version === 'v1') return { requests: items.map(buildV1Request), rejections: [] };

  const requests: PlannedRequest[] = [];
  const rejections: PlanRejection[] = [];
  let current: PlannedRequest | undefined;
  let currentBytes = V2_BATCH_OVERHEAD_BYTES;
  let currentPeople = new Set<string>();

  const flush = (): void => {
    if (current !== undefined) requests.push(current);
    current = undefined;
    currentBytes = V2_BATCH_OVERHEAD_BYTES;
    currentPeople = new Set();
  };

  for (const item of items) {
    const body = buildV2Item(item.record);
    const itemBytes = Buffer.byteLength(body, 'utf8');

    if (itemBytes > limits.maxItemBytes || V2_BATCH_OVERHEAD_BYTES + itemBytes > limits.maxBatchBytes) {
      if (limits.oversizeItemsViaV1) {
        requests.push(buildV1Request(item));
      } else {
        rejections.push({
          index: item.index,
          itemBytes,
          message: `batch item is ${itemBytes} bytes, more than the v2 item limit of ${limits.maxItemBytes} bytes; shrink the record or allow sending oversize items through v1`,
        });
      }
      continue;
    }

    const separatorBytes = current === undefined ? 0 : 1;
    const full =
      current !== undefined &&
      (currentBytes + separatorBytes + itemBytes > limits.maxBatchBytes ||
        current.items.length >= limits.maxBatchItems ||
        (limits.onePersonOperationPerBatch && currentPeople.has(item.record.customerId)));
    if (full) flush();

    current ??= { version: 'v2', method: 'POST', path: '/api/v2/batch', items: [], itemBodies: [] };
    currentBytes += (current.items.length === 0 ? 0 : 1) + itemBytes;
    current.items.push(item);
    current.itemBodies.push(body);
    currentPeople.add(item.record.customerId);
  }
  flush();
  return { requests, rejections };
}

/** Serialized size of a request body in bytes. */
export function requestBytes(request: PlannedRequest): number {
  return Buffer.byteLength(requestBody(request), 'utf8');
}
