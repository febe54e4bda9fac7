/**
 * Summary of a demo run, computed from the stand-in's people and calls, the suppression
 * decisions and the dead-letter topics. The functions are pure, so the arithmetic is testable alone.
 *
 * Latency is measured from the MySQL COMMIT of an order (Date.now() right after the generator's
 * COMMIT returned) to the stand-in's receipt of the first accepted call that carried that
 * order's order_placed (CallRecord.receivedAtMs). Both clocks are this machine's.
 */
import type { CallRecord, Person } from '../standin/store.ts';

/** Nearest-rank percentile of `values` (p in 0..100); null for an empty list. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100, got ${p}`);
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

export function latencySummary(latenciesMs: readonly number[]): LatencySummary {
  return {
    count: latenciesMs.length,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    maxMs: latenciesMs.length === 0 ? null : Math.max(...latenciesMs),
  };
}

interface SentEvent {
  readonly name: string;
  readonly data: Record<string, unknown>;
}

/** Events a Track API call carried: v2 batch items, a v2 entity call, or a v1 event call. */
export function eventsOfCall(call: Pick<CallRecord, 'path' | 'requestBody'>): SentEvent[] {
  const body = call.requestBody;
  if (body === null || typeof body !== 'object') return [];
  const asEvent = (item: unknown): SentEvent | null => {
    if (item === null || typeof item !== 'object') return null;
    const record = item as Record<string, unknown>;
    if (typeof record['name'] !== 'string') return null;
    if (call.path.startsWith('/api/v2/')) {
      if (record['action'] !== 'event') return null;
      return { name: record['name'], data: (record['attributes'] as Record<string, unknown> | undefined) ?? {} };
    }
    return { name: record['name'], data: (record['data'] as Record<string, unknown> | undefined) ?? {} };
  };
  if (call.path === '/api/v2/batch') {
    const batch = (body as Record<string, unknown>)['batch'];
    return Array.isArray(batch) ? batch.map(asEvent).filter((event): event is SentEvent => event !== null) : [];
  }
  if (call.path === '/api/v2/entity' || /^\/api\/v1\/customers\/[^/]+\/events$/.test(call.path)) {
    const event = asEvent(body);
    return event === null ? [] : [event];
  }
  return [];
}

/** Receipt time (epoch ms) of the first accepted call carrying each order's order_placed. */
export function orderPlacedReceipts(calls: readonly Pick<CallRecord, 'path' | 'requestBody' | 'status' | 'receivedAtMs'>[], eventName = 'order_placed'): Map<string, number> {
  const receipts = new Map<string, number>();
  for (const call of calls) {
    if (call.status < 200 || call.status >= 300) continue;
    for (const event of eventsOfCall(call)) {
      if (event.name !== eventName) continue;
      const orderId = event.data['order_id'];
      if (orderId === undefined || orderId === null) continue;
      const key = String(orderId);
      if (!receipts.has(key)) receipts.set(key, call.receivedAtMs);
    }
  }
  return receipts;
}

/** Latencies, ms, of the orders whose commit time is known and whose order_placed arrived. */
export function commitToReceiptLatencies(commitTimes: ReadonlyMap<string, number>, receipts: ReadonlyMap<string, number>): number[] {
  const latencies: number[] = [];
  for (const [orderId, committedAtMs] of commitTimes) {
    const receivedAtMs = receipts.get(orderId);
    if (receivedAtMs !== undefined) latencies.push(receivedAtMs - committedAtMs);
  }
  return latencies;
}

/** Stored (deduplicated) events by name, over every person. */
export function eventsByName(people: readonly Pick<Person, 'events'>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const person of people) {
    for (const event of person.events) counts[event.name] = (counts[event.name] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** Distinct order ids among the stored order_placed events. */
export function orderIdsPlaced(people: readonly Pick<Person, 'events'>[], eventName = 'order_placed'): Set<string> {
  const ids = new Set<string>();
  for (const person of people) {
    for (const event of person.events) {
      const orderId = event.data['order_id'];
      if (event.name === eventName && orderId !== undefined && orderId !== null) ids.add(String(orderId));
    }
  }
  return ids;
}

export function countBy<T>(items: readonly T[], keyOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) {
    const key = keyOf(item);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export interface DemoSummary {
  readonly runId: string;
  readonly source: string;
  /** What was written: generated action counts or the loader's own summary. */
  readonly load: Readonly<Record<string, unknown>>;
  /** Orders the load wrote, when known. */
  readonly ordersWritten: number | null;
  readonly peopleIdentified: number;
  readonly eventsByName: Readonly<Record<string, number>>;
  /** Orders of this run whose order_placed the stand-in stored (null when the run's order ids are unknown). */
  readonly ordersPlacedOfRun: number | null;
  /** Suppression decisions by kind (held, coalesced, released, suppressed, passed) made during the run. */
  readonly decisions: Readonly<Record<string, number>>;
  readonly deadLetters: { readonly total: number; readonly byTopic: Readonly<Record<string, number>> };
  readonly latency: LatencySummary | null;
  readonly drained: boolean;
  readonly drainMs: number;
  readonly standinUrl: string;
  readonly logsDir: string;
}

export function formatSummary(summary: DemoSummary): string {
  const rows: [string, string][] = [
    ['source', summary.source],
    ['written', Object.entries(summary.load).map(([key, value]) => `${key} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`).join(', ')],
    ['people identified', String(summary.peopleIdentified)],
    ['events by name', Object.entries(summary.eventsByName).map(([name, count]) => `${name} ${count}`).join(', ') || 'none'],
  ];
  if (summary.ordersPlacedOfRun !== null && summary.ordersWritten !== null) {
    rows.push(['orders delivered', `${summary.ordersPlacedOfRun} of ${summary.ordersWritten} order_placed`]);
  }
  const decision = (kind: string) => String(summary.decisions[kind] ?? 0);
  rows.push(['cart events', `held ${decision('held')}, coalesced ${decision('coalesced')}, released ${decision('released')}, suppressed ${decision('suppressed')} (order events passed ${decision('passed')})`]);
  rows.push([
    'dead letters',
    summary.deadLetters.total === 0 ? '0' : `${summary.deadLetters.total} (${Object.entries(summary.deadLetters.byTopic).map(([topic, count]) => `${topic} ${count}`).join(', ')})`,
  ]);
  const latency = summary.latency;
  rows.push([
    'commit → stand-in',
    latency === null || latency.count === 0
      ? 'not measured (commit times are known for generated traffic only)'
      : `p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms over ${latency.count} orders`,
  ]);
  rows.push(['drained', `${summary.drained ? 'yes' : 'NO (timed out)'} after ${(summary.drainMs / 1000).toFixed(1)} s`]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    `cio-cdc demo ${summary.runId}`,
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
    '',
    'look closer:',
    `  ${summary.standinUrl}/_admin/people   people with attributes and events`,
    `  ${summary.standinUrl}/_admin/calls    every Track API call`,
    `  ${summary.standinUrl}/_admin/stats    counters`,
    `  logs: ${summary.logsDir}`,
    '  trace one customer: npm run -s cio-cdc -- trace CUSTOMER_ID   (--json for scripts)',
    '',
  ].join('\n');
}
