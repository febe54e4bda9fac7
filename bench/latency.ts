// Latency of an order under steady load, split where the record reaches Kafka: Debezium's capture
// (MySQL commit → Kafka record of the orders row) and cio-cdc's added latency (Kafka record →
// the Customer.io stand-in's receipt of the order's order_placed).
//
//   node bench/latency.ts [--orders 300] [--rate 10] [--customers 20] [--warmup-s 10]
//        [--grace-ms <ORDERS_GRACE_MS, default 5000>] [--brokers 127.0.0.1:9092]
//        [--mysql-url mysql://root@127.0.0.1:3307/shop] [--timeout-s <derived>]
//        [--log-level warn] [--keep-topics] [--json]
//
// Needs the stack with its connector running. The bench starts the Customer.io stand-in in this
// process on a free 127.0.0.1 port. It starts the orders, carts, people and suppression processors
// and the sink as child processes (`cio-cdc run <name>`, `cio-cdc sink`, as the demo does), with
// application ids and topics of their own (`bench-lat-<run id>-*`). Their groups start at the
// current end of the Debezium topics, so they read the traffic of the run, which includes what
// other clients write to the shop database meanwhile. Logs go to a folder the bench prints.
//
// It inserts --customers customers and waits until the stand-in has identified them, so
// order_placed is forwarded at once (an event for a customer not yet identified waits for the
// identify). Then it inserts orders with 1 to 3 items, one MySQL transaction each, at --rate
// orders per second: warm-up orders for --warmup-s, then the --orders measured orders, then tail
// orders for the grace period plus 5 s. The tail moves stream time past the grace period of the
// last measured order. Only measured orders count. Customer and order ids are taken from the range
// 900000000 to 999999999, above the largest id already there; the rows stay in the database.
//
// Per measured order:
//   commit     Date.now() right after COMMIT returned
//   source     source.ts_ms of its change event (MariaDB's binlog has whole seconds)
//   envelope   ts_ms of its change event: when Debezium handled the binlog event
//   record     the Kafka timestamp of its change event on the orders topic
//   observed   when a consumer of this bench (100 ms fetch wait) received the record
//   receipt    when the stand-in received the first accepted call carrying its order_placed
// The stack's topics use CreateTime (the bench prints the type it finds), so the broker keeps the
// timestamp the producer set. On the stack the record timestamp comes a few hundred ms after the
// event's ts_ms (the `Debezium ts_ms → Kafka record` row), so it is neither ts_ms field: Kafka
// Connect's producer stamped the record with its clock when it sent it, as a Kafka producer does
// with a record that has no timestamp (ProducerRecord's documentation), and the broker appended
// it after that. A LogAppendTime timestamp would need another message.timestamp.type on
// the connector's topics, a change to the stack, so the bench splits at the record timestamp: the
// time from the stamp to the append counts on cio-cdc's side, and `record → observed` bounds it.
// A measured order's order_placed waits for the orders grace period (ORDERS_GRACE_MS of event
// time after its last change), which is part of cio-cdc's latency; the bench also prints that
// latency minus the configured grace. Event time is source.ts_ms, which is cut to the second, so
// the grace counts from the start of the commit's second and the figure minus grace can be below
// what processing alone takes.
//
// Target: cio-cdc's added p99 at most Debezium's capture p99. Prints a table, the ratio and one
// JSON line with the machine (only the JSON line with --json). At the end it stops the children,
// deletes its topics and consumer groups (unless --keep-topics), and exits 1 when a measured order
// did not arrive within --timeout-s after the load.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';

import kafkajs from 'kafkajs';
import type { Admin, Consumer } from 'kafkajs';
import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';

import { parseCartsConfig } from '../processors/carts/config.ts';
import { cartsTopology } from '../processors/carts/topology.ts';
import { latencySummary, orderPlacedReceipts } from '../processors/demo/summary.ts';
import type { LatencySummary } from '../processors/demo/summary.ts';
import { orderTotal } from '../processors/demo/generator.ts';
import { DEFAULT_MYSQL_URL, parseMysqlUrl } from '../processors/loaders/mysql.ts';
import { loadMapping, topicOf } from '../processors/mapping/mapping.ts';
import { loadOrdersConfig } from '../processors/orders/config.ts';
import { ordersTopology } from '../processors/orders/topology.ts';
import { parsePeopleConfig } from '../processors/people/config.ts';
import { peopleTopology } from '../processors/people/topology.ts';
import { startStandin } from '../processors/standin/server.ts';
import type { Standin } from '../processors/standin/server.ts';
import { parseSuppressionConfig } from '../processors/suppression/config.ts';
import { suppressionTopology } from '../processors/suppression/topology.ts';
import { createTopics, inputTopicsOf, machine } from './measure.ts';
import { PRODUCTS } from './shop-input.ts';

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;

const { values: args } = parseArgs({
  options: {
    orders: { type: 'string', default: '300' },
    rate: { type: 'string', default: '10' },
    customers: { type: 'string', default: '20' },
    'warmup-s': { type: 'string', default: '10' },
    'grace-ms': { type: 'string' },
    brokers: { type: 'string', default: '127.0.0.1:9092' },
    'mysql-url': { type: 'string', default: process.env['CIO_CDC_MYSQL_URL'] ?? DEFAULT_MYSQL_URL },
    'timeout-s': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    'keep-topics': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

function positiveNumber(flag: string, text: string, integer: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isSafeInteger(value))) {
    throw new Error(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
  }
  return value;
}

const measuredOrders = positiveNumber('orders', args.orders, true);
const rate = positiveNumber('rate', args.rate, false);
const customerCount = positiveNumber('customers', args.customers, true);
const warmupSeconds = positiveNumber('warmup-s', args['warmup-s'], false);
const timeoutSeconds = args['timeout-s'] === undefined ? undefined : positiveNumber('timeout-s', args['timeout-s'], true);
const brokers = args.brokers.split(',');
const mysqlTarget = parseMysqlUrl(args['mysql-url']);
const runId = randomUUID().slice(0, 8);
const prefix = `bench-lat-${runId}`;
const REPO_DIR = join(import.meta.dirname, '..');
const CLI = join(REPO_DIR, 'processors', 'cli', 'main.ts');
const SITE_ID = 'bench-site';
const API_KEY = 'bench-key';
/** Ids of this bench's customers and orders lie in [ID_FLOOR, ID_CEILING). */
const ID_FLOOR = 900_000_000n;
const ID_CEILING = 1_000_000_000n;
const TOPIC_PARTITIONS = 3;
/** A processor whose runtime exits while the bench waits for the groups is started again, up to this many starts. */
const MAX_STARTS = 3;
const STARTUP_TIMEOUT_MS = 120_000;
const RUNTIME_PROCESSORS = ['orders', 'carts', 'people', 'suppression'] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

interface Topics {
  readonly orderEvents: string;
  readonly cartEvents: string;
  readonly cartSnapshots: string;
  readonly customerEvents: string;
  readonly decisions: string;
  readonly outbox: string;
  readonly outboxDlq: string;
  readonly deliveryLog: string;
}

const topics: Topics = {
  orderEvents: `${prefix}-order-events`,
  cartEvents: `${prefix}-cart-events`,
  cartSnapshots: `${prefix}-cart-snapshots`,
  customerEvents: `${prefix}-customer-events`,
  decisions: `${prefix}-decisions`,
  outbox: `${prefix}-outbox`,
  outboxDlq: `${prefix}-outbox-dlq`,
  deliveryLog: `${prefix}-delivery-log`,
};

/** Environment every child gets: the bench's topics, the stand-in, one replica, free HTTP ports. */
function childEnvironment(standinUrl: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_REPLICATION_FACTOR: '1',
    LOG_LEVEL: args['log-level'],
    CIO_CDC_HTTP_PORT: '0',
    ORDERS_OUTPUT_TOPIC: topics.orderEvents,
    CIO_CDC_ORDER_EVENTS_TOPIC: topics.orderEvents,
    CIO_CDC_CART_EVENTS_TOPIC: topics.cartEvents,
    CIO_CDC_CART_SNAPSHOTS_TOPIC: topics.cartSnapshots,
    CIO_CDC_CUSTOMER_EVENTS_TOPIC: topics.customerEvents,
    CIO_CDC_SUPPRESSION_DECISIONS_TOPIC: topics.decisions,
    CIO_CDC_OUTBOX_TOPIC: topics.outbox,
    SINK_OUTBOX_TOPIC: topics.outbox,
    SINK_DLQ_TOPIC: topics.outboxDlq,
    SINK_DELIVERY_LOG_TOPIC: topics.deliveryLog,
    SINK_HTTP_PORT: '0',
    CIO_SITE_ID: SITE_ID,
    CIO_TRACK_API_KEY: API_KEY,
    CIO_TRACK_BASE_URL: standinUrl,
    ...(args['grace-ms'] === undefined ? {} : { ORDERS_GRACE_MS: args['grace-ms'] }),
  };
}

/**
 * Source topics of each processor, from its topology built with the children's environment, so
 * an input added to a processor is pointed at its end too.
 */
function sourceTopics(env: NodeJS.ProcessEnv): Record<(typeof RUNTIME_PROCESSORS)[number], string[]> {
  const orders = loadOrdersConfig(env);
  const carts = parseCartsConfig(env);
  const people = parsePeopleConfig(env);
  return {
    orders: inputTopicsOf(ordersTopology({ config: orders, mapping: loadMapping(orders.mappingFile) })),
    carts: inputTopicsOf(cartsTopology(carts, loadMapping(carts.mappingFile))),
    people: inputTopicsOf(peopleTopology(people, loadMapping(people.mappingFile))),
    suppression: inputTopicsOf(suppressionTopology(parseSuppressionConfig(env))),
  };
}

/** Commits the current end of each existing topic for a group that has no offsets yet. */
async function pointGroupAtEnd(admin: Admin, groupId: string, sources: readonly string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  for (const topic of sources) {
    if (!existing.has(topic)) continue;
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: offsets.map(({ partition, high }) => ({ partition, offset: high })) });
  }
}

async function timestampType(admin: Admin, topic: string): Promise<string> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['message.timestamp.type'] }],
  });
  return described.resources[0]?.configEntries.find((entry) => entry.configName === 'message.timestamp.type')?.configValue ?? 'unknown';
}

// --- children ---

interface Child {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly logFile: string;
  process: ChildProcess;
  starts: number;
}

function spawnLogged(args: readonly string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [CLI, ...args], { cwd: REPO_DIR, env, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

function startChild(name: string, childArgs: readonly string[], env: NodeJS.ProcessEnv, logsDir: string): Child {
  const logFile = join(logsDir, `${name}.log`);
  return { name, args: childArgs, env, logFile, process: spawnLogged(childArgs, env, logFile), starts: 1 };
}

function hasExited(child: Child): boolean {
  return child.process.exitCode !== null || child.process.signalCode !== null;
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

function exitError(child: Child): Error {
  const how = child.process.exitCode !== null ? `exit code ${child.process.exitCode}` : `signal ${child.process.signalCode}`;
  return new Error(`${child.name} exited (${how}); last lines of ${child.logFile}:\n${logTail(child.logFile)}`);
}

/**
 * Starts a child again that exited during start-up. A runtime stops on its first start-up error,
 * and a KRaft broker can reject a request for a topic created a moment ago with "This server does
 * not host this topic-partition".
 */
function restartExited(children: readonly Child[]): void {
  for (const child of children) {
    if (!hasExited(child)) continue;
    if (child.starts >= MAX_STARTS) throw exitError(child);
    progress(`${child.name} exited during start-up (see ${child.logFile}); starting it again`);
    child.process = spawnLogged(child.args, child.env, child.logFile);
    child.starts += 1;
  }
}

function assertRunning(children: readonly Child[]): void {
  const exited = children.find(hasExited);
  if (exited !== undefined) throw exitError(exited);
}

async function stopChildren(children: readonly Child[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (hasExited(child)) return;
      child.process.kill('SIGTERM');
      const deadline = Date.now() + 20_000;
      while (!hasExited(child) && Date.now() < deadline) await sleep(100);
      if (!hasExited(child)) child.process.kill('SIGKILL');
    }),
  );
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, onPoll: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    onPoll();
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(500);
  }
}

/**
 * Starts the processors and the sink as children (into `children`, so the caller stops them) and
 * waits until each consumer group is stable with a member.
 */
async function startPipeline(admin: Admin, env: NodeJS.ProcessEnv, logsDir: string, children: Child[], groupIds: readonly string[]): Promise<void> {
  for (const name of RUNTIME_PROCESSORS) {
    children.push(startChild(name, ['run', name], { ...env, CIO_CDC_APPLICATION_ID: `${prefix}-${name}` }, logsDir));
  }
  children.push(startChild('sink', ['sink'], { ...env, SINK_GROUP_ID: `${prefix}-sink`, KAFKA_CLIENT_ID: `${prefix}-sink` }, logsDir));
  progress(`started ${children.map((child) => `${child.name} (pid ${child.process.pid})`).join(', ')}`);
  await waitUntil(
    'every consumer group of the processors and the sink joining',
    async () => (await admin.describeGroups([...groupIds])).groups.every((group) => group.state === 'Stable' && group.members.length > 0),
    STARTUP_TIMEOUT_MS,
    () => restartExited(children),
  );
}

// --- the observer of the orders topic ---

interface Observed {
  /** Kafka record timestamp, epoch ms. */
  readonly recordMs: number;
  /** Receipt by the observer, epoch ms. */
  readonly observedMs: number;
  /** source.ts_ms of the change event. */
  readonly sourceMs: number;
  /** The envelope's ts_ms: when Debezium handled the binlog event. */
  readonly envelopeMs: number;
}

interface ChangePayload {
  readonly op?: string;
  readonly after?: { readonly id?: unknown } | null;
  readonly source?: { readonly ts_ms?: unknown };
  readonly ts_ms?: unknown;
}

/** Reads the orders topic from its current end and keeps the create events of `tracked` order ids. */
async function startObserver(kafka: kafkajs.Kafka, admin: Admin, topic: string, tracked: ReadonlySet<string>, observed: Map<string, Observed>): Promise<Consumer> {
  const groupId = `${prefix}-observer`;
  await pointGroupAtEnd(admin, groupId, [topic]);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic] });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const observedMs = Date.now();
      if (message.value === null) return;
      const envelope = JSON.parse(message.value.toString('utf8')) as { payload?: ChangePayload } & ChangePayload;
      const payload = envelope.payload ?? envelope;
      const id = String(payload.after?.id ?? '');
      if (payload.op !== 'c' || !tracked.has(id) || observed.has(id)) return;
      observed.set(id, { recordMs: Number(message.timestamp), observedMs, sourceMs: Number(payload.source?.ts_ms), envelopeMs: Number(payload.ts_ms) });
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the observer of ${topic} did not join its group within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
  });
  try {
    await Promise.race([joined, timedOut]);
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return consumer;
}

// --- MySQL ---

/** First free id of `table` in [ID_FLOOR, ID_CEILING), with room for `count` ids. */
async function firstFreeId(connection: Connection, table: 'customers' | 'orders', count: number): Promise<bigint> {
  const [rows] = await connection.query(`SELECT CAST(MAX(id) AS CHAR) AS id FROM ${table} WHERE id >= ? AND id < ?`, [ID_FLOOR.toString(), ID_CEILING.toString()]);
  const largest = (rows as { id: string | null }[])[0]?.id ?? null;
  const first = largest === null ? ID_FLOOR : BigInt(largest) + 1n;
  if (first + BigInt(count) > ID_CEILING) {
    throw new Error(`${table} has no room for ${count} more ids below ${ID_CEILING}; delete rows with ids from ${ID_FLOOR} that earlier bench runs left`);
  }
  return first;
}

async function insertCustomers(connection: Connection, ids: readonly string[]): Promise<void> {
  await connection.beginTransaction();
  for (const id of ids) {
    await connection.execute('INSERT INTO customers (id, email, first_name, last_name, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))', [
      id,
      `bench${id}@example.com`,
      'Bench',
      `Customer ${id}`,
    ]);
  }
  await connection.commit();
}

/** Inserts one order with 1 to 3 items in one transaction; resolves with Date.now() after COMMIT. */
async function insertOrder(connection: Connection, index: number, orderId: string, customerId: string): Promise<number> {
  const lines = Array.from({ length: 1 + (index % 3) }, (_, line) => ({ product: PRODUCTS[(index + line) % PRODUCTS.length]!, quantity: 1 + ((index + line) % 2) }));
  const total = orderTotal(lines.map((line) => ({ quantity: line.quantity, unitPrice: line.product.unitPrice })));
  await connection.beginTransaction();
  await connection.execute(
    "INSERT INTO orders (id, customer_id, status, currency, total, placed_at) VALUES (?, ?, 'pending', 'USD', ?, UTC_TIMESTAMP())",
    [orderId, customerId, total],
  );
  for (const { product, quantity } of lines) {
    await connection.execute('INSERT INTO order_items (order_id, sku, variant_id, name, category, quantity, unit_price) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      orderId,
      product.sku,
      `${product.sku}-std`,
      product.name,
      product.category,
      quantity,
      product.unitPrice,
    ]);
  }
  await connection.commit();
  return Date.now();
}

interface Load {
  /** Date.now() right after each order's COMMIT returned, by order id. */
  readonly commits: Map<string, number>;
  readonly seconds: number;
  /** How late the most delayed insert started against its schedule, in ms. */
  readonly maxBehindMs: number;
}

/** Inserts the orders at --rate per second, round-robin over the customers, calling `check` every 10 s of load. */
async function insertOrders(connection: Connection, orderIds: readonly string[], customerIds: readonly string[], check: () => void): Promise<Load> {
  const commits = new Map<string, number>();
  let maxBehindMs = 0;
  const startMs = Date.now();
  for (const [index, orderId] of orderIds.entries()) {
    const dueMs = startMs + (index * 1000) / rate;
    if (dueMs > Date.now()) await sleep(dueMs - Date.now());
    maxBehindMs = Math.max(maxBehindMs, Date.now() - dueMs);
    commits.set(orderId, await insertOrder(connection, index, orderId, customerIds[index % customerIds.length]!));
    if (index % Math.max(1, Math.round(rate * 10)) === 0) check();
  }
  return { commits, seconds: (Date.now() - startMs) / 1000, maxBehindMs };
}

// --- report ---

interface Segment {
  readonly segment: string;
  readonly summary: LatencySummary;
}

function row({ segment, summary }: Segment) {
  return { segment, orders: summary.count, 'p50 ms': summary.p50Ms, 'p99 ms': summary.p99Ms, 'max ms': summary.maxMs };
}

function ratio(numerator: number | null, denominator: number | null): number | null {
  return numerator === null || denominator === null || denominator === 0 ? null : Number((numerator / denominator).toFixed(2));
}

interface Target {
  readonly debeziumCaptureP99Ms: number | null;
  readonly cioCdcAddedP99Ms: number | null;
  readonly ratio: number | null;
  readonly cioCdcAddedMinusGraceP99Ms: number | null;
  readonly ratioMinusGrace: number | null;
}

/** Splits each measured order's latency into segments. An order without a time is left out of the segments that need it. */
function report(
  measuredIds: readonly string[],
  commits: ReadonlyMap<string, number>,
  observed: ReadonlyMap<string, Observed>,
  receipts: ReadonlyMap<string, number>,
  graceMs: number,
): { segments: Segment[]; target: Target } {
  const capture: number[] = [];
  const captureFromSource: number[] = [];
  const envelopeToRecord: number[] = [];
  const recordToObserved: number[] = [];
  const added: number[] = [];
  const addedMinusGrace: number[] = [];
  const endToEnd: number[] = [];
  for (const id of measuredIds) {
    const committedMs = commits.get(id)!;
    const seen = observed.get(id);
    const receiptMs = receipts.get(id);
    if (seen !== undefined) {
      capture.push(seen.recordMs - committedMs);
      captureFromSource.push(seen.recordMs - seen.sourceMs);
      envelopeToRecord.push(seen.recordMs - seen.envelopeMs);
      recordToObserved.push(seen.observedMs - seen.recordMs);
    }
    if (seen !== undefined && receiptMs !== undefined) {
      added.push(receiptMs - seen.recordMs);
      addedMinusGrace.push(receiptMs - seen.recordMs - graceMs);
    }
    if (receiptMs !== undefined) endToEnd.push(receiptMs - committedMs);
  }

  const debezium = latencySummary(capture);
  const cioCdc = latencySummary(added);
  const cioCdcMinusGrace = latencySummary(addedMinusGrace);
  const segments: Segment[] = [
    { segment: 'Debezium capture: commit → Kafka record', summary: debezium },
    { segment: 'Debezium capture: source.ts_ms → Kafka record', summary: latencySummary(captureFromSource) },
    { segment: 'Debezium ts_ms → Kafka record', summary: latencySummary(envelopeToRecord) },
    { segment: 'Kafka record → observer receipt', summary: latencySummary(recordToObserved) },
    { segment: 'cio-cdc added: Kafka record → stand-in', summary: cioCdc },
    { segment: `cio-cdc added minus grace (${graceMs} ms)`, summary: cioCdcMinusGrace },
    { segment: 'end to end: commit → stand-in', summary: latencySummary(endToEnd) },
  ];
  const target: Target = {
    debeziumCaptureP99Ms: debezium.p99Ms,
    cioCdcAddedP99Ms: cioCdc.p99Ms,
    ratio: ratio(cioCdc.p99Ms, debezium.p99Ms),
    cioCdcAddedMinusGraceP99Ms: cioCdcMinusGrace.p99Ms,
    ratioMinusGrace: ratio(cioCdcMinusGrace.p99Ms, debezium.p99Ms),
  };
  return { segments, target };
}

async function removeTopicsAndGroups(admin: Admin, groups: readonly string[]): Promise<void> {
  try {
    await admin.deleteGroups([...groups]);
  } catch (error) {
    progress(`failed to delete consumer groups ${groups.join(', ')}: ${(error as Error).message}`);
  }
  const owned = (await admin.listTopics()).filter((topic) => topic.startsWith(`${prefix}-`));
  try {
    await admin.deleteTopics({ topics: owned, timeout: 60_000 });
  } catch (error) {
    progress(`failed to delete ${owned.length} topics named ${prefix}-*: ${(error as Error).message}`);
  }
}

async function main(): Promise<void> {
  const logsDir = mkdtempSync(join(tmpdir(), `cio-cdc-${prefix}-`));
  progress(`bench ${prefix}: child logs in ${logsDir}`);
  const kafka = new Kafka({ clientId: prefix, brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const children: Child[] = [];
  const pipelineGroups = [...RUNTIME_PROCESSORS.map((name) => `${prefix}-${name}`), `${prefix}-sink`];
  const groups = [...pipelineGroups, `${prefix}-observer`];
  let standin: Standin | undefined;
  let observer: Consumer | undefined;
  let connection: Connection | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the children`);
    void stopChildren(children).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY });
    progress(`stand-in at ${standin.url}`);
    const env = childEnvironment(standin.url);
    const orders = loadOrdersConfig(env);
    const ordersTopic = topicOf(loadMapping(orders.mappingFile), 'orders');
    const recordTimestampType = await timestampType(admin, ordersTopic);

    await createTopics(
      admin,
      Object.values(topics).map((topic) => ({
        topic,
        numPartitions: TOPIC_PARTITIONS,
        replicationFactor: 1,
        configEntries: topic === topics.cartSnapshots ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      })),
    );
    const sources = sourceTopics(env);
    for (const name of RUNTIME_PROCESSORS) await pointGroupAtEnd(admin, `${prefix}-${name}`, sources[name]);

    await startPipeline(admin, env, logsDir, children, pipelineGroups);

    // The observer joins before the first insert, so it receives every measured order's record.
    connection = await createConnection({ ...mysqlTarget, supportBigNumbers: true, bigNumberStrings: true });
    await connection.query("SET time_zone = '+00:00'");
    const warmupOrders = Math.ceil(rate * warmupSeconds);
    const tailOrders = Math.ceil((rate * (orders.graceMs + 5_000)) / 1000);
    const totalOrders = warmupOrders + measuredOrders + tailOrders;
    const firstCustomer = await firstFreeId(connection, 'customers', customerCount);
    const firstOrder = await firstFreeId(connection, 'orders', totalOrders);
    const customerIds = Array.from({ length: customerCount }, (_, index) => (firstCustomer + BigInt(index)).toString());
    const orderIds = Array.from({ length: totalOrders }, (_, index) => (firstOrder + BigInt(index)).toString());
    const measuredIds = orderIds.slice(warmupOrders, warmupOrders + measuredOrders);
    const observed = new Map<string, Observed>();
    observer = await startObserver(kafka, admin, ordersTopic, new Set(measuredIds), observed);

    progress(`inserting customers ${customerIds[0]} to ${customerIds.at(-1)} and waiting for their identify at the stand-in`);
    await insertCustomers(connection, customerIds);
    await waitUntil(
      `the identify of customers ${customerIds[0]} to ${customerIds.at(-1)} reaching the stand-in`,
      () => customerIds.every((id) => standin!.person(id)?.identified === true),
      STARTUP_TIMEOUT_MS,
      () => assertRunning(children),
    );

    progress(`inserting ${totalOrders} orders (${warmupOrders} warm-up, ${measuredOrders} measured, ${tailOrders} tail) at ${rate}/s, ids ${orderIds[0]} to ${orderIds.at(-1)}`);
    const load = await insertOrders(connection, orderIds, customerIds, () => assertRunning(children));
    const measuredSet = new Set(measuredIds);
    const commits = new Map([...load.commits].filter(([id]) => measuredSet.has(id)));

    // Twice the grace period plus a minute, unless --timeout-s is given.
    const timeoutMs = timeoutSeconds === undefined ? 60_000 + 2 * orders.graceMs : timeoutSeconds * 1000;
    let receipts = orderPlacedReceipts(standin.calls());
    const complete = () => measuredIds.every((id) => observed.has(id) && receipts.has(id));
    const deadline = Date.now() + timeoutMs;
    while (!complete() && Date.now() < deadline) {
      assertRunning(children);
      await sleep(500);
      receipts = orderPlacedReceipts(standin.calls());
    }

    const { segments, target } = report(measuredIds, commits, observed, receipts, orders.graceMs);
    const debeziumP99 = target.debeziumCaptureP99Ms;
    const missing = measuredIds.filter((id) => !observed.has(id) || !receipts.has(id));
    const settings = { measuredOrders, rate, customers: customerCount, warmupSeconds, graceMs: orders.graceMs, recordTimestampType, ordersTopic, timeoutMs };
    const loadSummary = {
      orders: totalOrders,
      seconds: Number(load.seconds.toFixed(1)),
      ordersPerSecond: Number((totalOrders / load.seconds).toFixed(2)),
      maxBehindScheduleMs: Math.round(load.maxBehindMs),
    };
    const line = JSON.stringify({ bench: 'latency', settings, load: loadSummary, segments: segments.map(row), target, missing: missing.length, machine: machine() });

    if (!args.json) {
      console.table(segments.map(row));
      process.stdout.write(`Kafka record timestamps of ${ordersTopic}: ${recordTimestampType}\n`);
      process.stdout.write(
        `load: ${loadSummary.orders} orders in ${loadSummary.seconds} s (${loadSummary.ordersPerSecond}/s), at most ${loadSummary.maxBehindScheduleMs} ms behind schedule\n`,
      );
      process.stdout.write(
        `target: cio-cdc added p99 ${target.cioCdcAddedP99Ms} ms ≤ Debezium capture p99 ${debeziumP99} ms: ratio ${target.ratio}` +
          ` (minus the grace period: ${target.cioCdcAddedMinusGraceP99Ms} ms, ratio ${target.ratioMinusGrace})\n`,
      );
    }
    process.stdout.write(`${line}\n`);
    if (missing.length > 0) {
      progress(`${missing.length} of ${measuredOrders} measured orders did not arrive within ${timeoutMs} ms, for example ${missing.slice(0, 5).join(', ')}; see the logs in ${logsDir}`);
      process.exitCode = 1;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await connection?.end().catch(() => undefined);
    await observer?.disconnect().catch(() => undefined);
    await stopChildren(children);
    await standin?.close();
    if (!args['keep-topics']) await removeTopicsAndGroups(admin, groups);
    await admin.disconnect();
  }
}

try {
  await main();
} catch (error) {
  progress(`bench failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  // A client handle left open must not keep the bench alive after its report.
  setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
}
