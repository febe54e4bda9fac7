// Checks what a pipeline run delivered to the Customer.io stand-in for rows of the UCI Online
// Retail file, against expectations computed from the CSV alone (test/support/online-retail-expected.ts).
//
//   node bench/verify-online-retail.ts --standin URL --id-offset N [--file FILE] [--limit N]
//        [--dlq TOPIC[:PARTITION=OFFSET,...]]... [--brokers 127.0.0.1:9092] [--json]
//
// Checks:
// - people: every customer of the file is a person (id + offset), identified, with every
//   attribute exact (total_orders, lifetime_value, first and last order time, last_category and
//   the rest of the profile). People with other ids are not checked, because other traffic on
//   the shared stack creates people with ids next to the run's;
// - events: one order_placed (with the file's total, time and item count) and one order_paid per
//   order, one refund_created per refund (its amount exact);
// - event ids: no id is stored twice at the stand-in. An event id of the run's people that accepted
//   calls carried more than once carried the same event each time, and the stand-in's duplicate
//   counter equals the repeats;
// - dead letters: every record in the given topics from the given offsets, with its reason. A
//   record whose key (or, without digits in the key, whose value) contains a customer, order or
//   refund id of the run fails the check. Records with other ids come from other traffic on the
//   shared topics and are only listed. A record without any id fails too, because nothing shows
//   that it is not the run's.
//
// The expectations never use the processors' code. Dead-letter topics are read with the runtime's
// partition reader, read_committed, because kafkajs's own consumer lets aborted records through.
//
// Exit codes: 0 every check passed, 1 a check failed, 2 bad usage.
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { join } from 'node:path';

import kafkajs from 'kafkajs';
import type { IHeaders } from 'kafkajs';

import { PartitionReader } from '../processors/runtime/partition-reader.ts';
import { readCsvRows } from '../test/e2e/support.ts';
import type { StoredPerson } from '../test/e2e/support.ts';
import { expectedAttributes, expectedCustomers, expectedOrderPlaced, orderPlacedShape } from '../test/support/online-retail-expected.ts';
import type { ExpectedCustomer } from '../test/support/online-retail-expected.ts';

const { Kafka, logLevel } = kafkajs;

export const DEFAULT_ONLINE_RETAIL_FILE = join(import.meta.dirname, '..', '..', 'shared', 'data', 'online_retail', 'online_retail.csv');

/** Problems listed per check in the text output; the JSON output carries them all. */
const PROBLEMS_SHOWN = 15;

interface CallRecord {
  path: string;
  status: number;
  requestBody: unknown;
  responseBody: unknown;
}

interface StandinStats {
  calls: number;
  duplicateEventIds: number;
}

export interface VerifyCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly problems: readonly string[];
}

export interface DeadLetter {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string;
  readonly reason: string;
  /** `run`: contains an id of the run; `other`: contains only other ids; `unattributed`: contains no id. */
  readonly verdict: 'run' | 'other' | 'unattributed';
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly checks: readonly VerifyCheck[];
  readonly counts: {
    readonly customers: number;
    readonly orders: number;
    readonly refunds: number;
    readonly peopleOfRun: number;
    readonly storedEvents: number;
    readonly acceptedEventOccurrences: number;
    readonly repeatedEventIds: number;
    readonly repeatedOccurrences: number;
    readonly standinDuplicateCounter: number;
    /** Sizes of the /_admin/people and /_admin/calls responses, bytes of JSON text. */
    readonly peopleJsonBytes: number;
    readonly callsJsonBytes: number;
  };
  readonly deadLetters: readonly DeadLetter[];
}

export interface OnlineRetailExpectation {
  readonly customers: Map<string, ExpectedCustomer>;
  readonly orders: number;
  readonly refunds: number;
  /** Ids the loader writes, before the offset: customer ids, sale invoice numbers and cancellation numbers without the C. */
  readonly fileIds: ReadonlySet<string>;
}

/** Reads the first `limitRows` rows of the file and computes what the stand-in must hold. */
export function expectOnlineRetail(file: string, limitRows: number | null): OnlineRetailExpectation {
  const customers = expectedCustomers(readCsvRows(file, limitRows));
  const fileIds = new Set<string>();
  for (const customer of customers.values()) {
    fileIds.add(customer.customerId);
    for (const order of customer.orders) fileIds.add(order.invoiceNo);
    for (const refund of customer.refunds) fileIds.add(refund.invoiceNo.replace(/^C/, ''));
  }
  const orders = [...customers.values()].reduce((sum, customer) => sum + customer.orders.length, 0);
  const refunds = [...customers.values()].reduce((sum, customer) => sum + customer.refunds.length, 0);
  return { customers, orders, refunds, fileIds };
}

/** True when `id` is a customer, order or refund id that the run wrote. */
function isRunId(id: string, idOffset: bigint, fileIds: ReadonlySet<string>): boolean {
  if (!/^\d+$/.test(id)) return false;
  const value = BigInt(id);
  return value > idOffset && fileIds.has((value - idOffset).toString());
}

function sortedText(values: readonly unknown[]): string[] {
  return values.map(String).sort();
}

/**
 * Compares the stand-in's people of the run with the expectation. Returns the people problems and
 * the event problems separately; both empty means every customer is exact.
 */
export function comparePeople(expectation: OnlineRetailExpectation, people: readonly StoredPerson[], idOffset: bigint): { people: string[]; events: string[]; peopleOfRun: number } {
  const idOf = (fileId: string) => (BigInt(fileId) + idOffset).toString();
  const expectedIds = new Set([...expectation.customers.keys()].map(idOf));
  const ofRun = new Map(people.filter((person) => person.id !== null && expectedIds.has(person.id)).map((person) => [person.id!, person]));
  const peopleProblems: string[] = [];
  const eventProblems: string[] = [];
  for (const customer of expectation.customers.values()) {
    const id = idOf(customer.customerId);
    const person = ofRun.get(id);
    if (person === undefined) {
      peopleProblems.push(`file customer ${customer.customerId}: no person ${id} at the stand-in`);
      continue;
    }
    if (!person.identified) peopleProblems.push(`file customer ${customer.customerId}: person ${id} has events but was never identified`);
    const want = expectedAttributes(customer);
    if (!isDeepStrictEqual(person.attributes, want)) {
      const differing = Object.keys({ ...want, ...person.attributes }).filter((name) => !isDeepStrictEqual(person.attributes[name], want[name]));
      peopleProblems.push(
        `file customer ${customer.customerId}: ${differing.map((name) => `${name} is ${JSON.stringify(person.attributes[name])}, expected ${JSON.stringify(want[name])}`).join('; ')}`,
      );
    }

    const named = (name: string) => person.events.filter((event) => event.name === name);
    const placed = named('order_placed')
      .map(orderPlacedShape)
      .sort((a, b) => String(a.orderId).localeCompare(String(b.orderId)));
    if (!isDeepStrictEqual(placed, expectedOrderPlaced(customer, idOf))) {
      eventProblems.push(`file customer ${customer.customerId}: order_placed events ${JSON.stringify(placed)} differ from ${JSON.stringify(expectedOrderPlaced(customer, idOf))}`);
    }
    const orderIds = customer.orders.map((order) => idOf(order.invoiceNo)).sort();
    const paid = sortedText(named('order_paid').map((event) => event.data['order_id']));
    if (!isDeepStrictEqual(paid, orderIds)) {
      eventProblems.push(`file customer ${customer.customerId}: order_paid for orders [${paid.join(', ')}], expected one for each of [${orderIds.join(', ')}]`);
    }
    const refunds = named('refund_created')
      .map((event) => `${String(event.data['refund_id'])} ${Number(event.data['amount'])}`)
      .sort();
    const wantRefunds = customer.refunds.map((refund) => `${idOf(refund.invoiceNo.replace(/^C/, ''))} ${refund.amount.toNumber()}`).sort();
    if (!isDeepStrictEqual(refunds, wantRefunds)) {
      eventProblems.push(`file customer ${customer.customerId}: refund_created (id amount) [${refunds.join(', ')}], expected [${wantRefunds.join(', ')}]`);
    }
  }
  return { people: peopleProblems, events: eventProblems, peopleOfRun: ofRun.size };
}

interface AppliedEvent {
  /** The person's id as the call named it; null when the call named the person another way. */
  readonly personId: string | null;
  readonly event: Record<string, unknown>;
}

function v2Event(item: Record<string, unknown>): AppliedEvent {
  const id = (item['identifiers'] as { id?: unknown } | undefined)?.id;
  return { personId: typeof id === 'string' ? id : null, event: item };
}

/** Events that an accepted call applied: every event of a 200 call, and the items of a 207 batch without an error. */
function appliedEvents(call: CallRecord): AppliedEvent[] {
  if (call.status !== 200 && call.status !== 207) return [];
  const body = call.requestBody;
  if (body === null || typeof body !== 'object') return [];
  const record = body as Record<string, unknown>;
  if (call.path === '/api/v2/batch' && Array.isArray(record['batch'])) {
    const failed = new Set<number>();
    const errors = (call.responseBody as { errors?: { batch_index?: number }[] } | null)?.errors ?? [];
    for (const error of errors) if (typeof error.batch_index === 'number') failed.add(error.batch_index);
    return (record['batch'] as unknown[])
      .filter((item, index): item is Record<string, unknown> => !failed.has(index) && item !== null && typeof item === 'object')
      .filter((item) => item['action'] === 'event')
      .map(v2Event);
  }
  if (call.status !== 200) return [];
  if (call.path === '/api/v2/entity' && record['action'] === 'event') return [v2Event(record)];
  const v1 = /^\/api\/v1\/customers\/([^/]+)\/events$/.exec(call.path);
  if (v1 !== null) return [{ personId: decodeURIComponent(v1[1]!), event: { ...record, person: v1[1] } }];
  return [];
}

/**
 * Checks that no event id is stored twice and that every repeated id of the run's people carried
 * the same event. Repeats of other people's events that differ come from other pipelines sharing
 * the topics between the processors; they are counted in the detail only.
 */
export function checkEventIds(people: readonly StoredPerson[], calls: readonly CallRecord[], stats: StandinStats, isRunPerson: (personId: string) => boolean): { checks: VerifyCheck[]; storedEvents: number; occurrences: number; repeatedIds: number; repeatedOccurrences: number } {
  const stored = new Map<string, number>();
  for (const person of people) for (const event of person.events) stored.set(event.id, (stored.get(event.id) ?? 0) + 1);
  const storedTwice = [...stored].filter(([, count]) => count > 1).map(([id, count]) => `event id ${id} is stored ${count} times`);

  const seen = new Map<string, { event: Record<string, unknown>; count: number }>();
  const differing: string[] = [];
  const reported = new Set<string>();
  let otherDiffering = 0;
  let occurrences = 0;
  for (const call of calls) {
    for (const { personId, event } of appliedEvents(call)) {
      const id = String(event['id']);
      occurrences += 1;
      const before = seen.get(id);
      if (before === undefined) {
        seen.set(id, { event, count: 1 });
        continue;
      }
      before.count += 1;
      // Key order may differ between senders; the content may not.
      if (!isDeepStrictEqual(before.event, event) && !reported.has(id)) {
        reported.add(id);
        if (personId === null || !isRunPerson(personId)) {
          otherDiffering += 1;
          continue;
        }
        differing.push(`event id ${id} was sent as ${JSON.stringify(before.event).slice(0, 400)} and later as ${JSON.stringify(event).slice(0, 400)}`);
      }
    }
  }
  const repeated = [...seen.values()].filter((entry) => entry.count > 1);
  const repeatedOccurrences = repeated.reduce((sum, entry) => sum + entry.count - 1, 0);
  const checks: VerifyCheck[] = [
    { name: 'no event id stored twice', ok: storedTwice.length === 0, detail: `${stored.size} distinct ids over ${[...stored.values()].reduce((a, b) => a + b, 0)} stored events`, problems: storedTwice },
    {
      name: 'repeated event ids carry the same event',
      ok: differing.length === 0,
      detail:
        `${occurrences} events in accepted calls, ${repeated.length} ids sent more than once (${repeatedOccurrences} repeats: redelivery after a crash or a retry, or copies from other pipelines)` +
        (otherDiffering === 0 ? '' : `; ${otherDiffering} ids of other people's events were sent with differing content (other traffic)`),
      problems: differing,
    },
    {
      name: "stand-in's duplicate counter equals the repeats",
      ok: stats.duplicateEventIds === repeatedOccurrences,
      detail: `duplicateEventIds ${stats.duplicateEventIds}, repeats in the calls ${repeatedOccurrences}`,
      problems: stats.duplicateEventIds === repeatedOccurrences ? [] : [`the stand-in counted ${stats.duplicateEventIds} dropped duplicates, the calls hold ${repeatedOccurrences} repeats`],
    },
  ];
  return { checks, storedEvents: [...stored.values()].reduce((a, b) => a + b, 0), occurrences, repeatedIds: repeated.length, repeatedOccurrences };
}

function headerText(headers: IHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

/** Describes why a record was dead-lettered, from its headers (runtime: stage and error; sink: reason, field and status). */
function deadLetterReason(headers: IHeaders): string {
  const parts = [
    ['stage', 'cio-cdc-dlq-stage'],
    ['reason', 'cio-cdc-dlq-reason'],
    ['class', 'cio-cdc-dlq-error-class'],
    ['code', 'cio-cdc-dlq-error-code'],
    ['field', 'cio-cdc-dlq-field'],
    ['status', 'cio-cdc-dlq-status'],
    ['message', 'cio-cdc-dlq-error-message'],
    ['source', 'cio-cdc-dlq-source-topic'],
  ]
    .map(([label, header]) => [label, headerText(headers, header!)] as const)
    .filter(([, value]) => value !== undefined)
    .map(([label, value]) => `${label} ${label === 'message' ? JSON.stringify(value!.slice(0, 300)) : value}`);
  return parts.length === 0 ? 'no dead-letter headers' : parts.join(', ');
}

function attribute(key: string, value: string, idOffset: bigint, fileIds: ReadonlySet<string>): DeadLetter['verdict'] {
  const fromKey = key.match(/\d+/g) ?? [];
  const numbers = fromKey.length > 0 ? fromKey : (value.slice(0, 4000).match(/\d+/g) ?? []);
  if (numbers.length === 0) return 'unattributed';
  return numbers.some((number) => isRunId(number, idOffset, fileIds)) ? 'run' : 'other';
}

/** Reads every committed record of the dead-letter topics from the given offsets (the earliest offset for a partition not listed). */
export async function readDeadLetters(kafkaBrokers: readonly string[], topics: ReadonlyMap<string, ReadonlyMap<number, string>>, idOffset: bigint, fileIds: ReadonlySet<string>): Promise<DeadLetter[]> {
  const kafka = new Kafka({ clientId: 'cio-cdc-verify-online-retail', brokers: [...kafkaBrokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const reader = new PartitionReader(kafka, { maxWaitMs: 500, maxBytes: 4 * 1024 * 1024 });
  const letters: DeadLetter[] = [];
  await admin.connect();
  await reader.connect();
  try {
    const existing = new Set(await admin.listTopics());
    for (const [topic, from] of topics) {
      if (!existing.has(topic)) continue;
      const partitions = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.map((entry) => entry.partitionId) ?? [];
      const ranges = await reader.offsetRanges(topic, partitions);
      for (const [partition, range] of ranges) {
        const start = from.get(partition) ?? range.earliest;
        if (BigInt(start) >= BigInt(range.end)) continue;
        await reader.read(topic, partition, {
          from: BigInt(start) > BigInt(range.earliest) ? start : range.earliest,
          to: range.end,
          onRecords: (records) => {
            for (const record of records) {
              const key = record.key?.toString() ?? '';
              letters.push({
                topic,
                partition,
                offset: record.offset,
                key: key.slice(0, 200),
                reason: deadLetterReason(record.headers),
                verdict: attribute(key, record.value?.toString() ?? '', idOffset, fileIds),
              });
            }
          },
        });
      }
    }
  } finally {
    await reader.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  return letters;
}

/** Fetches and parses a JSON admin route; resolves with the value and the length of the text. */
async function getJson<T>(url: string): Promise<{ value: T; bytes: number }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(300_000) });
  if (!response.ok) throw new Error(`GET ${url} returned ${response.status}`);
  const text = await response.text();
  return { value: JSON.parse(text) as T, bytes: Buffer.byteLength(text) };
}

export interface VerifyOptions {
  readonly standinUrl: string;
  readonly idOffset: bigint;
  readonly expectation: OnlineRetailExpectation;
  readonly deadLetterTopics: ReadonlyMap<string, ReadonlyMap<number, string>>;
  readonly kafkaBrokers: readonly string[];
}

/** Runs every check against the stand-in and the dead-letter topics. */
export async function verifyOnlineRetail(options: VerifyOptions): Promise<VerifyReport> {
  const { standinUrl, idOffset, expectation } = options;
  const peopleResponse = await getJson<{ people: StoredPerson[] }>(`${standinUrl}/_admin/people`);
  const people = peopleResponse.value.people;
  const callsResponse = await getJson<{ calls: CallRecord[] }>(`${standinUrl}/_admin/calls`);
  const calls = callsResponse.value.calls;
  const stats = (await getJson<StandinStats>(`${standinUrl}/_admin/stats`)).value;

  const compared = comparePeople(expectation, people, idOffset);
  const runPeople = new Set([...expectation.customers.keys()].map((fileId) => (BigInt(fileId) + idOffset).toString()));
  const ids = checkEventIds(people, calls, stats, (personId) => runPeople.has(personId));
  const deadLetters = await readDeadLetters(options.kafkaBrokers, options.deadLetterTopics, idOffset, expectation.fileIds);
  const unexpected = deadLetters.filter((letter) => letter.verdict !== 'other');

  const checks: VerifyCheck[] = [
    {
      name: 'people exact',
      ok: compared.people.length === 0,
      detail: `${compared.peopleOfRun} of the file's ${expectation.customers.size} customers are people at the stand-in`,
      problems: compared.people,
    },
    {
      name: 'one order_placed and order_paid per order, one refund_created per refund',
      ok: compared.events.length === 0,
      detail: `${expectation.orders} orders, ${expectation.refunds} refunds`,
      problems: compared.events,
    },
    ...ids.checks,
    {
      name: 'no dead letter of the run',
      ok: unexpected.length === 0,
      detail: `${deadLetters.length} dead letters in ${[...options.deadLetterTopics.keys()].join(', ')}; ${unexpected.length} contain an id of the run or no id`,
      problems: unexpected.map((letter) => `${letter.topic}[${letter.partition}]@${letter.offset} key ${JSON.stringify(letter.key)} (${letter.verdict}): ${letter.reason}`),
    },
  ];
  return {
    ok: checks.every((check) => check.ok),
    checks,
    counts: {
      customers: expectation.customers.size,
      orders: expectation.orders,
      refunds: expectation.refunds,
      peopleOfRun: compared.peopleOfRun,
      storedEvents: ids.storedEvents,
      acceptedEventOccurrences: ids.occurrences,
      repeatedEventIds: ids.repeatedIds,
      repeatedOccurrences: ids.repeatedOccurrences,
      standinDuplicateCounter: stats.duplicateEventIds,
      peopleJsonBytes: peopleResponse.bytes,
      callsJsonBytes: callsResponse.bytes,
    },
    deadLetters,
  };
}

/** Formats the report as text: one line per check, its first problems, then every dead letter. */
export function formatVerifyReport(report: VerifyReport): string {
  const lines = [`verification: ${report.ok ? 'passed' : 'FAILED'}`];
  for (const check of report.checks) {
    lines.push(`  [${check.ok ? 'ok' : 'FAIL'}] ${check.name}: ${check.detail}`);
    for (const problem of check.problems.slice(0, PROBLEMS_SHOWN)) lines.push(`         ${problem}`);
    if (check.problems.length > PROBLEMS_SHOWN) lines.push(`         ... and ${check.problems.length - PROBLEMS_SHOWN} more (--json lists all)`);
  }
  lines.push(`  stand-in responses read: /_admin/people ${(report.counts.peopleJsonBytes / 1e6).toFixed(1)} MB, /_admin/calls ${(report.counts.callsJsonBytes / 1e6).toFixed(1)} MB`);
  lines.push(`  dead letters: ${report.deadLetters.length}`);
  for (const letter of report.deadLetters) {
    lines.push(`    ${letter.topic}[${letter.partition}]@${letter.offset} ${letter.verdict} key ${JSON.stringify(letter.key)}: ${letter.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Parses `TOPIC` or `TOPIC:PARTITION=OFFSET,...`. */
function parseDeadLetterTopic(text: string): [string, Map<number, string>] {
  const [topic, positions] = text.split(':', 2) as [string, string | undefined];
  const from = new Map<number, string>();
  for (const entry of positions === undefined || positions === '' ? [] : positions.split(',')) {
    const match = /^(\d+)=(\d+)$/.exec(entry);
    if (match === null) throw new Error(`--dlq ${text}: each position must be PARTITION=OFFSET, got ${JSON.stringify(entry)}`);
    from.set(Number(match[1]), match[2]!);
  }
  return [topic, from];
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        standin: { type: 'string' },
        'id-offset': { type: 'string' },
        file: { type: 'string', default: DEFAULT_ONLINE_RETAIL_FILE },
        limit: { type: 'string' },
        dlq: { type: 'string', multiple: true, default: [] },
        brokers: { type: 'string', default: process.env['KAFKA_BROKERS'] || '127.0.0.1:9092' },
        json: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`verify-online-retail: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.standin === undefined || values['id-offset'] === undefined || !/^\d+$/.test(values['id-offset'])) {
    process.stderr.write('verify-online-retail: --standin URL and --id-offset N (the loader\'s offset, a whole number) are required\n');
    return 2;
  }
  if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) {
    process.stderr.write(`verify-online-retail: --limit must be a whole number above 0, got ${JSON.stringify(values.limit)}\n`);
    return 2;
  }
  const report = await verifyOnlineRetail({
    standinUrl: values.standin.replace(/\/$/, ''),
    idOffset: BigInt(values['id-offset']),
    expectation: expectOnlineRetail(values.file, values.limit === undefined ? null : Number(values.limit)),
    deadLetterTopics: new Map(values.dlq.map(parseDeadLetterTopic)),
    kafkaBrokers: values.brokers.split(','),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : formatVerifyReport(report));
  return report.ok ? 0 : 1;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`verify-online-retail: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
