/**
 * `cio-cdc demo`: the whole pipeline on one machine, end to end.
 *
 * Steps, in order:
 *  1. Reuse a healthy stack, or start it (and remember that the demo started it).
 *  2. Create the topics between the processors when missing.
 *  3. Note where the decision and dead-letter topics end, so only this run's records count.
 *  4. Point the consumer groups of this run at the current end of their source topics, so the
 *     processors see this run's traffic and not the history other runs and tests left behind.
 *  5. Start the Customer.io stand-in, the processors and the sink as child processes.
 *  6. Write the traffic: generated actions, or a dataset through `cio-cdc load`.
 *  7. Wait until every group has caught up and the stand-in has stopped receiving calls.
 *  8. Summarize, then stop what the demo started (unless --keep).
 *
 * Each run has its own application ids (`cio-cdc-demo-<run id>-<processor>`), so the groups, the
 * repartition and changelog topics and the dead-letter topics of one run are its own.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient } from 'kafkajs';
import { createConnection } from 'mysql2/promise';
import { parseDocument } from 'yaml';

import type { CallRecord, Person } from '../standin/store.ts';
import { installReadCommittedFix, kafkaClientSecurity } from '../runtime/index.ts';
import type { DemoConfig } from './config.ts';
import { DemoDrainTimeoutError, DemoLoadError, DemoStartError } from './errors.ts';
import { firstFreeIds, planTraffic, writePlan } from './generator.ts';
import { commitToReceiptLatencies, countBy, eventsByName, latencySummary, orderIdsPlaced, orderPlacedReceipts } from './summary.ts';
import type { DemoSummary } from './summary.ts';

const { Kafka, logLevel } = kafkajs;

/** Topics between the processors; cio.cart-snapshots is compacted. */
export const DEMO_TOPICS: readonly { readonly topic: string; readonly compact: boolean }[] = [
  { topic: 'cio.order-events', compact: false },
  { topic: 'cio.order-transactions', compact: false },
  { topic: 'cio.cart-events', compact: false },
  { topic: 'cio.cart-snapshots', compact: true },
  { topic: 'cio.customer-events', compact: false },
  { topic: 'cio.outbox', compact: false },
  { topic: 'cio.outbox.dlq', compact: false },
  { topic: 'cio.delivery-log', compact: false },
  { topic: 'cio.suppression-decisions', compact: false },
];
const TOPIC_PARTITIONS = 3;
const DECISIONS_TOPIC = 'cio.suppression-decisions';
const SINK_DLQ_TOPIC = 'cio.outbox.dlq';

export type ChildName = 'standin' | (typeof RUNTIME_PROCESSORS)[number] | 'sink';
/** Stream processors the demo runs with `cio-cdc run NAME`, in start order. It also starts the sink and the stand-in. */
export const RUNTIME_PROCESSORS = ['orders', 'transactions', 'carts', 'people', 'suppression'] as const;

/** Source topics of each group: pointed at their current end before the run starts. */
function sourceTopicsOf(name: (typeof RUNTIME_PROCESSORS)[number] | 'sink'): string[] {
  const shop = (table: string) => `shop.shop.${table}`;
  switch (name) {
    case 'orders':
      return [...['orders', 'order_items', 'fulfillments', 'refunds', 'subscriptions'].map(shop), 'cio.order-transactions'];
    case 'transactions':
      return [shop('orders'), shop('order_items'), 'shop.transaction'];
    case 'carts':
      return ['carts', 'cart_items'].map(shop);
    case 'people':
      return [shop('customers'), 'cio.customer-events'];
    case 'suppression':
      return ['cio.cart-events', 'cio.order-events'];
    case 'sink':
      return ['cio.outbox'];
  }
}

export interface DemoIo {
  /** Progress and notes for people; the summary goes to `out`. */
  readonly err: { write(text: string): unknown };
  readonly out: { write(text: string): unknown };
}

interface RunningChild {
  readonly name: ChildName;
  process: ChildProcess;
  /** Arguments after processors/cli/main.ts, and the environment, kept for a restart. */
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  starts: number;
  /** True while restartChild stops and starts it again, so the exit is not taken for a failure. */
  restarting: boolean;
  readonly logFile: string;
  readonly pidFile: string;
  /** Text the process's command line contains, checked before a pid file is trusted. */
  readonly marker: string;
}

export interface DemoResult {
  readonly summary: DemoSummary;
  /** Children left running with --keep. */
  readonly keptPids: Readonly<Record<string, number>>;
}

function runIdNow(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return `${stamp}-${randomBytes(2).toString('hex')}`.toLowerCase();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs `node deploy/native/stack.ts <command>`; resolves with its exit code and output. */
function stackCommand(config: DemoConfig, command: 'status' | 'up' | 'down', echo?: DemoIo['err']): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(config.repoDir, 'deploy', 'native', 'stack.ts'), command], { cwd: config.repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      echo?.write(chunk.toString());
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Step 1: reuse a healthy stack or start one. Resolves true when this call started it. */
async function ensureStack(config: DemoConfig, io: DemoIo): Promise<boolean> {
  const status = await stackCommand(config, 'status');
  if (status.code === 0) {
    io.err.write('stack: healthy, reusing it\n');
    return false;
  }
  io.err.write('stack: not healthy, starting it (npm run stack:up)\n');
  const up = await stackCommand(config, 'up', io.err);
  if (up.code !== 0) throw new DemoStartError(`the stack did not come up (stack.ts up exited ${up.code}); see its output above and the logs under ${join(config.homeDir, 'run', 'logs')}`);
  return true;
}

/** Step 2: creates the topics between the processors that are missing. */
async function ensureTopics(admin: Admin, io: DemoIo): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = DEMO_TOPICS.filter(({ topic }) => !existing.has(topic));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map(({ topic, compact }) => ({
      topic,
      numPartitions: TOPIC_PARTITIONS,
      replicationFactor: 1,
      configEntries: compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
    })),
  });
  io.err.write(`topics: created ${missing.map(({ topic }) => topic).join(', ')}\n`);
}

/** Bound on retrying an admin call that a broker refused with a retriable error. */
const ADMIN_RETRY_MS = 30_000;

/**
 * Repeats an admin call while the broker returns a retriable error. A KRaft broker can
 * return "not the leader" or "does not host this topic-partition" for a topic created a moment ago.
 */
async function retryAdmin<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ADMIN_RETRY_MS;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const retriable = (error as { retriable?: unknown }).retriable === true;
      if (!retriable || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** End offset of each partition of `topic`, or an empty map when the topic does not exist. */
async function endOffsets(admin: Admin, topic: string, existing: ReadonlySet<string>): Promise<Map<number, string>> {
  if (!existing.has(topic)) return new Map();
  const offsets = await retryAdmin(() => admin.fetchTopicOffsets(topic));
  return new Map(offsets.map(({ partition, high }) => [partition, high]));
}

/** Step 4: commits the current end of each source topic for a group that has no offsets yet. */
export async function pointGroupAtEnd(admin: Admin, groupId: string, topics: readonly string[], existing: ReadonlySet<string>): Promise<void> {
  for (const topic of topics) {
    if (!existing.has(topic)) continue;
    const offsets = await retryAdmin(() => admin.fetchTopicOffsets(topic));
    await retryAdmin(() => admin.setOffsets({ groupId, topic, partitions: offsets.map(({ partition, high }) => ({ partition, offset: high })) }));
  }
}

/** Writes the default mapping with the zone the dataset's DATETIME columns were written in. */
function writeMapping(config: DemoConfig, runDir: string): string {
  const zone = config.source.kind === 'online-retail' ? 'Europe/London' : 'UTC';
  const document = parseDocument(readFileSync(join(config.repoDir, 'schemas', 'mapping.default.yaml'), 'utf8'));
  document.set('datetimeZone', zone);
  const file = join(runDir, 'mapping.yaml');
  writeFileSync(file, document.toString());
  return file;
}

function pidDir(config: DemoConfig): string {
  return join(config.homeDir, 'run', 'pids');
}

function spawnLogged(config: DemoConfig, args: readonly string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [join(config.repoDir, 'processors', 'cli', 'main.ts'), ...args], { cwd: config.repoDir, env, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
}

function writePidFile(child: RunningChild): void {
  writeFileSync(child.pidFile, `${child.process.pid}\n${child.marker}\n`);
}

function startChild(name: ChildName, args: string[], env: NodeJS.ProcessEnv, config: DemoConfig, logsDir: string): RunningChild {
  const logFile = join(logsDir, `${name}.log`);
  const cli = join(config.repoDir, 'processors', 'cli', 'main.ts');
  // The command line itself is the marker: `--stop` signals a recorded pid only while
  // /proc/<pid>/cmdline still shows this command, never a process that reused the pid.
  const marker = [cli, ...args].join(' ');
  const child = spawnLogged(config, args, env, logFile);
  if (child.pid === undefined) throw new DemoStartError(`could not start ${name}; see ${logFile}`);
  mkdirSync(pidDir(config), { recursive: true });
  const running: RunningChild = { name, process: child, args, env, starts: 1, restarting: false, logFile, pidFile: join(pidDir(config), `demo-${name}.pid`), marker };
  writePidFile(running);
  return running;
}

/** Start attempts of a processor whose runtime failed to start; the runtime retries no start-up error itself. */
const MAX_STARTS = 3;

/**
 * Starts again a processor whose runtime gave up during start-up. Creating a topic and reading
 * its metadata right away can fail once with "This server does not host this topic-partition"
 * on a KRaft broker, and the runtime exits on it instead of retrying.
 * Returns true when it restarted one.
 */
function restartFailedStart(children: readonly RunningChild[], config: DemoConfig, io: DemoIo): boolean {
  let restarted = false;
  for (const child of children) {
    if (child.process.exitCode === null || child.starts >= MAX_STARTS) continue;
    if (!/runtime failed to start|runtime start failed/.test(tail(child.logFile, 40))) continue;
    io.err.write(`${child.name}: its runtime failed to start (see ${child.logFile}); starting it again\n`);
    respawn(child, config);
    restarted = true;
  }
  return restarted;
}

/** Starts a child again with its arguments and environment, appending to the same log file. */
function respawn(child: RunningChild, config: DemoConfig): void {
  child.process = spawnLogged(config, child.args, child.env, child.logFile);
  child.starts += 1;
  writePidFile(child);
}

function hasExited(child: RunningChild): boolean {
  return child.process.exitCode !== null || child.process.signalCode !== null;
}

function exitedEarly(children: readonly RunningChild[]): RunningChild | undefined {
  return children.find((child) => !child.restarting && hasExited(child));
}

function assertAlive(children: readonly RunningChild[]): void {
  const dead = exitedEarly(children);
  if (dead !== undefined) {
    const how = dead.process.exitCode !== null ? `exit code ${dead.process.exitCode}` : `signal ${dead.process.signalCode}`;
    throw new DemoStartError(`${dead.name} exited early (${how}); last lines of ${dead.logFile}:\n${tail(dead.logFile)}`);
  }
}

async function stopChildren(children: readonly RunningChild[], graceMs: number): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      const running = () => child.process.exitCode === null && child.process.signalCode === null;
      if (running()) {
        child.process.kill('SIGTERM');
        const deadline = Date.now() + graceMs;
        while (running() && Date.now() < deadline) await sleep(100);
        if (running()) child.process.kill('SIGKILL');
      }
      rmSync(child.pidFile, { force: true });
    }),
  );
}

/** A child process of a running demo, as hooks see it. */
export interface DemoChild {
  readonly name: ChildName;
  /** Pid of the current process; a restart changes it. */
  readonly pid: number;
  readonly logFile: string;
  /** Processes started for this child so far, the first one included. */
  readonly starts: number;
}

/** A child that exited without being asked to and was started again (DemoHooks.supervise). */
export interface ChildExit {
  readonly name: ChildName;
  readonly pid: number;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly atMs: number;
}

/** Handle on a running demo for hooks: its names and addresses, and control over its children. */
export interface DemoPipeline {
  readonly runId: string;
  readonly standinUrl: string;
  readonly logsDir: string;
  /** Processors started with `cio-cdc run`, in start order. */
  readonly processors: readonly (typeof RUNTIME_PROCESSORS)[number][];
  /** Application id (consumer group, prefix of internal topics) of a processor or the sink. */
  applicationId(name: ChildName): string;
  /** Dead-letter topics of the run, each with the offset per partition where the run's records start. */
  readonly deadLetterTopics: ReadonlyMap<string, ReadonlyMap<number, string>>;
  children(): DemoChild[];
  /** Children that exited on their own and were started again, in order. */
  unplannedExits(): ChildExit[];
  /**
   * Sends `signal` to a child, waits until it has exited and starts it again with the same
   * arguments and environment. SIGKILL simulates a crash, SIGTERM a graceful restart.
   */
  restartChild(name: ChildName, signal: 'SIGKILL' | 'SIGTERM'): Promise<DemoChild>;
}

/** Options and callbacks of runDemo for programs built on the demo, such as bench/full-year.ts. */
export interface DemoHooks {
  /**
   * When true, a child that exits on its own is started again and recorded instead of failing
   * the run, and a drain poll that fails (broker or stand-in unreachable) is retried until the
   * drain timeout.
   */
  readonly supervise?: boolean;
  /** Called once every consumer group has joined, before any traffic is written. */
  onStarted?(pipeline: DemoPipeline): void | Promise<void>;
  /** Called right before the traffic is written; `idOffset` is the loader's --id-offset, null for generated traffic. */
  onLoadStarted?(load: { readonly idOffset: bigint | null }): void;
  /** Extra condition for caught up, checked in the drain loop whenever no group has records left to read. */
  caughtUp?(): Promise<boolean>;
  /** Called after the drain and before the summary, while every child still runs. */
  afterDrain?(pipeline: DemoPipeline): Promise<void>;
}

/** Unplanned exits after which a supervised child is no longer started again and the run fails. */
const MAX_UNPLANNED_EXITS = 20;
/** How long a child gets to exit after SIGTERM in restartChild before it is killed. */
const RESTART_STOP_GRACE_MS = 45_000;

/** Stops a child with `signal` and starts it again, unless `isStopping()` turned true meanwhile. */
async function restartChild(child: RunningChild, signal: NodeJS.Signals, config: DemoConfig, isStopping: () => boolean): Promise<void> {
  child.restarting = true;
  try {
    if (!hasExited(child)) {
      const exited = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
      child.process.kill(signal);
      const timer = setTimeout(() => child.process.kill('SIGKILL'), RESTART_STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    if (!isStopping()) respawn(child, config);
  } finally {
    child.restarting = false;
  }
}

/** Starts again each child that exited on its own, up to MAX_UNPLANNED_EXITS times per child. */
function superviseChildren(children: readonly RunningChild[], config: DemoConfig, io: DemoIo, exits: ChildExit[]): void {
  for (const child of children) {
    if (child.restarting || !hasExited(child)) continue;
    if (exits.filter((exit) => exit.name === child.name).length >= MAX_UNPLANNED_EXITS) continue;
    const { pid, exitCode, signalCode } = child.process;
    exits.push({ name: child.name, pid: pid ?? 0, exitCode, signal: signalCode, atMs: Date.now() });
    io.err.write(`${child.name} (pid ${pid}) exited on its own (exit code ${exitCode}, signal ${signalCode}); starting it again, see ${child.logFile}\n`);
    respawn(child, config);
  }
}

function describeChild(child: RunningChild): DemoChild {
  return { name: child.name, pid: child.process.pid ?? 0, logFile: child.logFile, starts: child.starts };
}

async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

async function standinAnswers(url: string): Promise<boolean> {
  try {
    await fetchJson(`${url}/_admin/stats`);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, children: readonly RunningChild[], check: () => Promise<boolean>, timeoutMs: number, restart?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    restart?.();
    assertAlive(children);
    if (Date.now() > deadline) throw new DemoStartError(`${what} did not happen within ${timeoutMs} ms; see the logs of the processes`);
    await sleep(500);
  }
}

/** One input partition of a group: its committed position and the partition's high watermark. */
export interface PartitionPosition {
  readonly key: string;
  readonly committed: bigint;
  readonly high: bigint;
}

/**
 * Input partitions of a group: its source topics and its own repartition topics. The position is
 * the committed offset, or the low watermark when nothing is committed.
 */
async function groupPositions(admin: Admin, groupId: string, sources: readonly string[], allTopics: readonly string[], highs: Map<string, Map<number, { high: bigint; low: bigint }>>): Promise<PartitionPosition[]> {
  const topics = [...new Set([...sources, ...allTopics.filter((topic) => topic.startsWith(`${groupId}-`) && topic.endsWith('-repartition'))])].filter((topic) => allTopics.includes(topic));
  const committed = await admin.fetchOffsets({ groupId, topics });
  const positions: PartitionPosition[] = [];
  for (const { topic, partitions } of committed) {
    let topicHighs = highs.get(topic);
    if (topicHighs === undefined) {
      topicHighs = new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high, low }) => [partition, { high: BigInt(high), low: BigInt(low) }]));
      highs.set(topic, topicHighs);
    }
    for (const { partition, offset } of partitions) {
      const range = topicHighs.get(partition);
      if (range === undefined) continue;
      positions.push({ key: `${groupId} ${topic}[${partition}]`, committed: offset === '-1' ? range.low : BigInt(offset), high: range.high });
    }
  }
  return positions;
}

/** A partition's position and since when (epoch ms) it has not moved. */
export interface TrackedPosition extends PartitionPosition {
  readonly unchangedSinceMs: number;
}

/**
 * Records a group still has to read. A gap between the committed offset and the high watermark
 * is not always readable: a transactional producer ends each transaction with a commit marker
 * that takes an offset and is never delivered, and an aborted transaction leaves records a
 * read_committed consumer skips. So a gap that has not moved (same committed offset, same high
 * watermark) for `settleMs` counts as read; a live processor with readable records commits
 * within a fetch wait (500 ms by default), far below that.
 * NOTE: a processor stuck without exiting would pass this check too; the summary then shows
 * the events it did not deliver.
 */
export function pendingRecords(
  current: readonly PartitionPosition[],
  previous: ReadonlyMap<string, TrackedPosition>,
  nowMs: number,
  settleMs: number,
): { pending: bigint; tracked: TrackedPosition[] } {
  let pending = 0n;
  const tracked: TrackedPosition[] = [];
  for (const position of current) {
    const before = previous.get(position.key);
    const unchanged = before !== undefined && before.committed === position.committed && before.high === position.high;
    const unchangedSinceMs = unchanged ? before.unchangedSinceMs : nowMs;
    tracked.push({ ...position, unchangedSinceMs });
    const gap = position.high - position.committed;
    if (gap > 0n && nowMs - unchangedSinceMs < settleMs) pending += gap;
  }
  return { pending, tracked };
}

/** Reads every committed record of `topics` from `from` (per topic and partition) to the current end. */
async function readSince(kafka: KafkaClient, admin: Admin, from: ReadonlyMap<string, ReadonlyMap<number, string>>, runId: string): Promise<{ topic: string; value: Buffer | null }[]> {
  const existing = new Set(await admin.listTopics());
  const topics = [...from.keys()].filter((topic) => existing.has(topic));
  const pending = new Map<string, bigint>();
  const starts: { topic: string; partition: number; offset: string }[] = [];
  for (const topic of topics) {
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
      const start = from.get(topic)?.get(partition) ?? '0';
      if (BigInt(high) > BigInt(start)) {
        pending.set(`${topic}:${partition}`, BigInt(high));
        starts.push({ topic, partition, offset: start });
      }
    }
  }
  if (starts.length === 0) return [];
  const groupId = `cio-cdc-demo-${runId}-reader-${randomBytes(3).toString('hex')}`;
  for (const topic of new Set(starts.map((start) => start.topic))) {
    await admin.setOffsets({ groupId, topic, partitions: starts.filter((start) => start.topic === topic).map(({ partition, offset }) => ({ partition, offset })) });
  }
  installReadCommittedFix();
  const consumer = kafka.consumer({ groupId, readUncommitted: false, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
  const records: { topic: string; value: Buffer | null }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...new Set(starts.map((start) => start.topic))], fromBeginning: true });
    // Transaction markers take offsets too, so a partition may end without a record at high - 1:
    // it counts as read once a batch reaches its high watermark or once reading goes quiet.
    let lastProgressMs = Date.now();
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) records.push({ topic: batch.topic, value: message.value });
        lastProgressMs = Date.now();
        const key = `${batch.topic}:${batch.partition}`;
        const end = pending.get(key);
        if (end !== undefined && (BigInt(batch.lastOffset()) + 2n >= end || BigInt(batch.highWatermark) <= BigInt(batch.lastOffset()) + 1n)) pending.delete(key);
      },
    });
    const deadline = Date.now() + 30_000;
    while (pending.size > 0 && Date.now() < deadline && !(Date.now() - lastProgressMs > 5_000 && records.length > 0)) await sleep(200);
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return records;
}

/** Writes a progress line at most once per `intervalMs`, unless forced. */
function progressWriter(io: DemoIo, intervalMs = 2_000) {
  let lastMs = 0;
  return (text: string, force = false) => {
    const now = Date.now();
    if (!force && now - lastMs < intervalMs) return;
    lastMs = now;
    io.err.write(`${text}\n`);
  };
}

/** Runs the loader as a child process; resolves with its JSON summary. */
async function runLoader(config: DemoConfig, dataset: 'online-retail' | 'rees46', file: string, idOffset: bigint, logsDir: string, io: DemoIo): Promise<Record<string, unknown>> {
  const args = [join(config.repoDir, 'processors', 'cli', 'main.ts'), 'load', dataset, file, '--id-offset', idOffset.toString(), '--json'];
  if (config.limitRows !== null) args.push('--limit', String(config.limitRows));
  const logFile = join(logsDir, 'load.log');
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: config.repoDir, env: { ...process.env, CIO_CDC_MYSQL_URL: config.mysqlUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let partial = '';
  const progress = progressWriter(io);
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    writeFileSync(log, chunk);
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        const entry = JSON.parse(line) as { msg?: string; progress?: Record<string, number> };
        if (entry.msg === 'load progress' && entry.progress) {
          progress(`loading: ${Object.entries(entry.progress).map(([key, value]) => `${key} ${value}`).join(', ')}`);
        }
      } catch {
        // Not a log line; it stays in the log file.
      }
    }
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exit) => resolve(exit ?? 1));
  });
  closeSync(log);
  if (code !== 0) throw new DemoLoadError(`cio-cdc load ${dataset} exited ${code}; last lines of ${logFile}:\n${tail(logFile)}`);
  const last = stdout.trim().split('\n').pop() ?? '{}';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch (err) {
    throw new DemoLoadError(`cio-cdc load ${dataset} printed no JSON summary (got ${JSON.stringify(last.slice(0, 200))})`, err);
  }
}

/** Stops what an earlier `demo --keep` left running, by the pid files it recorded. */
export async function stopKeptDemo(config: DemoConfig, io: DemoIo): Promise<number> {
  const dir = pidDir(config);
  const files = existsSync(dir) ? readdirSync(dir).filter((file) => file.startsWith('demo-') && file.endsWith('.pid')) : [];
  let stopped = 0;
  for (const file of files) {
    const [pidText, marker] = readFileSync(join(dir, file), 'utf8').split('\n');
    const pid = Number(pidText);
    let commandLine = '';
    try {
      commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      // Not running any more.
    }
    if (Number.isInteger(pid) && pid > 0 && marker !== undefined && marker !== '' && commandLine.includes(marker)) {
      process.kill(pid, 'SIGTERM');
      stopped += 1;
      io.err.write(`stopped ${file.replace(/^demo-|\.pid$/g, '')} (pid ${pid})\n`);
    }
    rmSync(join(dir, file), { force: true });
  }
  io.err.write(stopped === 0 ? 'no demo process was running\n' : `sent SIGTERM to ${stopped} demo processes\n`);
  return 0;
}

export async function runDemo(config: DemoConfig, io: DemoIo, hooks: DemoHooks = {}): Promise<DemoResult> {
  const startedAtMs = Date.now();
  const runId = runIdNow();
  const runDir = join(config.runsDir, runId);
  const logsDir = join(runDir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  io.err.write(`demo ${runId}: logs in ${logsDir}\n`);

  // Step 1
  const startedStack = await ensureStack(config, io);

  const kafka = new Kafka({ clientId: `cio-cdc-demo-${runId}`, brokers: [...config.kafkaBrokers], ...kafkaClientSecurity(config.kafkaSecurity), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const children: RunningChild[] = [];
  let keptPids: Record<string, number> = {};
  let succeeded = false;
  const exits: ChildExit[] = [];
  let supervisor: NodeJS.Timeout | undefined;
  // Set once the demo stops its children, so that supervision does not start them again.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    io.err.write(`demo: ${signal}, stopping the processes it started\n`);
    stopping = true;
    clearInterval(supervisor);
    void stopChildren(children, 10_000).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // Step 2
    await ensureTopics(admin, io);
    const appId = (name: string) => `cio-cdc-demo-${runId}-${name}`;
    const groups = [...RUNTIME_PROCESSORS.map((name) => ({ name, groupId: appId(name), sources: sourceTopicsOf(name) })), { name: 'sink' as const, groupId: appId('sink'), sources: sourceTopicsOf('sink') }];

    // Step 3: where the decision and dead-letter topics end now. The runtime's dead-letter
    // topics are new for this run's application ids, so they start at 0.
    const existing = new Set(await admin.listTopics());
    const readFrom = new Map<string, Map<number, string>>([
      [DECISIONS_TOPIC, await endOffsets(admin, DECISIONS_TOPIC, existing)],
      [SINK_DLQ_TOPIC, await endOffsets(admin, SINK_DLQ_TOPIC, existing)],
      ...RUNTIME_PROCESSORS.map((name) => [`${appId(name)}-dlq`, new Map<number, string>()] as [string, Map<number, string>]),
    ]);

    // Step 4
    for (const group of groups) await pointGroupAtEnd(admin, group.groupId, group.sources, existing);

    // Step 5
    const standinUrl = `http://127.0.0.1:${config.standinPort}`;
    if (await standinAnswers(standinUrl)) {
      throw new DemoStartError(`something already answers on ${standinUrl} (a demo left running with --keep?); stop it with 'npm run demo -- --stop' or pick another --standin-port`);
    }
    const mappingFile = writeMapping(config, runDir);
    const siteId = 'standin-site';
    const apiKey = 'standin-key';
    children.push(startChild('standin', ['standin', '--port', String(config.standinPort), '--site-id', siteId, '--api-key', apiKey], { ...process.env }, config, logsDir));
    await waitUntil('the stand-in answering', children, () => standinAnswers(standinUrl), 30_000);

    const common: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_BROKERS: config.kafkaBrokers.join(','),
      KAFKA_TOPIC_REPLICATION_FACTOR: '1',
      CIO_TRACK_BASE_URL: standinUrl,
      CIO_SITE_ID: siteId,
      CIO_TRACK_API_KEY: apiKey,
      CIO_CDC_MAPPING_FILE: mappingFile,
      SUPPRESSION_WINDOW_MS: String(config.suppressionWindowMs),
      // Inputs that delivered nothing stop holding the watermark back after this long.
      SUPPRESSION_IDLE_INPUT_MS: '5000',
      CIO_CDC_TIMER_LATENESS_BOUND_MS: String(config.timerLatenessBoundMs),
      // Orders complete as soon as the items of their creating transaction arrived.
      ORDERS_TRANSACTIONS_TOPIC: 'cio.order-transactions',
    };
    for (const name of RUNTIME_PROCESSORS) {
      children.push(startChild(name, ['run', name], { ...common, CIO_CDC_APPLICATION_ID: appId(name), CIO_CDC_HTTP_PORT: '0' }, config, logsDir));
    }
    children.push(startChild('sink', ['sink'], { ...common, SINK_GROUP_ID: appId('sink'), KAFKA_CLIENT_ID: appId('sink'), SINK_HTTP_PORT: '0' }, config, logsDir));
    io.err.write(`started: ${children.map((child) => `${child.name} (pid ${child.process.pid})`).join(', ')}\n`);

    await waitUntil(
      'every consumer group joining',
      children,
      async () => {
        const described = await admin.describeGroups(groups.map((group) => group.groupId));
        return described.groups.every((group) => group.state === 'Stable' && group.members.length > 0);
      },
      120_000,
      () => restartFailedStart(children, config, io),
    );
    io.err.write('processors: every consumer group has joined\n');

    const childNamed = (name: ChildName): RunningChild => {
      const child = children.find((candidate) => candidate.name === name);
      if (child === undefined) throw new DemoStartError(`the demo started no child named ${name}`);
      return child;
    };
    const pipeline: DemoPipeline = {
      runId,
      standinUrl,
      logsDir,
      processors: [...RUNTIME_PROCESSORS],
      applicationId: appId,
      deadLetterTopics: new Map([...readFrom].filter(([topic]) => topic !== DECISIONS_TOPIC)),
      children: () => children.map(describeChild),
      unplannedExits: () => [...exits],
      restartChild: async (name, signal) => {
        if (stopping) throw new DemoStartError(`the demo is stopping its children; ${name} is not started again`);
        const child = childNamed(name);
        await restartChild(child, signal, config, () => stopping);
        return describeChild(child);
      },
    };
    if (hooks.supervise === true) {
      supervisor = setInterval(() => {
        if (!stopping) superviseChildren(children, config, io, exits);
      }, 1_000);
    }
    await hooks.onStarted?.(pipeline);

    // Step 6
    const connection = await createConnection({ ...config.mysql, supportBigNumbers: true, bigNumberStrings: true });
    let load: Record<string, unknown>;
    let ordersWritten: number | null;
    let runOrderIds: Set<string> | null = null;
    const commitTimes = new Map<string, number>();
    let loadEndedMs: number;
    try {
      const ids = await firstFreeIds(connection);
      if (config.source.kind === 'generated') {
        hooks.onLoadStarted?.({ idOffset: null });
        const plan = planTraffic({ seed: config.seed, customers: config.customers, firstIds: ids, cartIdPrefix: `demo-${runId}` });
        io.err.write(`generating: ${plan.actions.length} actions for ${plan.customerIds.length} customers (seed ${config.seed}), customer ids from ${ids.customerId}, order ids from ${ids.orderId}\n`);
        const progress = progressWriter(io);
        const written = await writePlan(connection, plan, {
          pauseMs: config.pauseMs,
          onProgress: (done, total) => progress(`writing: ${done}/${total} actions`, done === total),
        });
        for (const { action, committedAtMs } of written) {
          if (action.kind === 'order_placed' && action.orderId !== undefined) commitTimes.set(action.orderId, committedAtMs);
        }
        load = { actions: plan.actions.length, ...plan.counts, abandoned_carts: plan.abandonedCarts, converted_carts: plan.convertedCarts };
        ordersWritten = plan.orderIds.length;
        runOrderIds = new Set(plan.orderIds);
      } else {
        const offset = [ids.customerId, ids.orderId, ids.refundId].reduce((max, id) => (id > max ? id : max));
        io.err.write(`loading ${config.source.kind} from ${config.source.file} with --id-offset ${offset}\n`);
        hooks.onLoadStarted?.({ idOffset: offset });
        load = await runLoader(config, config.source.kind, config.source.file, offset, logsDir, io);
        ordersWritten = typeof load['orders'] === 'number' ? load['orders'] : null;
      }
      loadEndedMs = Date.now();
    } finally {
      await connection.end().catch(() => undefined);
    }

    // A supervised child that used up its restarts fails the run like an early exit does.
    const checkChildren = () => {
      if (hooks.supervise === true && !stopping) superviseChildren(children, config, io, exits);
      assertAlive(children);
    };

    // Step 7: caught up = no lag in any group, the stand-in's call count unchanged for a while,
    // and time for the last held cart events to come out (window + lateness bound + a margin).
    const drainStartMs = Date.now();
    const releaseDueMs = loadEndedMs + config.suppressionWindowMs + config.timerLatenessBoundMs + 5_000;
    const deadline = drainStartMs + config.drainTimeoutMs;
    const progress = progressWriter(io, 5_000);
    let lastCalls = -1;
    let callsStableSinceMs = Date.now();
    let drained = false;
    let positionsBefore = new Map<string, TrackedPosition>();
    const poll = async () => {
      const topics = await admin.listTopics();
      const highs = new Map<string, Map<number, { high: bigint; low: bigint }>>();
      const lags: { name: string; lag: bigint }[] = [];
      const positionsNow = new Map<string, TrackedPosition>();
      for (const group of groups) {
        const positions = await groupPositions(admin, group.groupId, group.sources, topics, highs);
        const { pending, tracked } = pendingRecords(positions, positionsBefore, Date.now(), config.stableCallsMs);
        lags.push({ name: group.name, lag: pending });
        for (const position of tracked) positionsNow.set(position.key, position);
      }
      positionsBefore = positionsNow;
      const stats = await fetchJson<{ calls: number }>(`${standinUrl}/_admin/stats`);
      return { lags, stats };
    };
    while (Date.now() < deadline) {
      checkChildren();
      let polled: Awaited<ReturnType<typeof poll>>;
      try {
        polled = await poll();
      } catch (err) {
        if (hooks.supervise !== true) throw err;
        progress(`draining: a poll failed (${(err as Error).message}); trying again`);
        await sleep(1_000);
        continue;
      }
      const { lags, stats } = polled;
      const totalLag = lags.reduce((sum, { lag }) => sum + lag, 0n);
      if (stats.calls !== lastCalls) {
        lastCalls = stats.calls;
        callsStableSinceMs = Date.now();
      }
      const waitingForRelease = Math.max(0, releaseDueMs - Date.now());
      progress(
        `draining: lag ${lags.map(({ name, lag }) => `${name} ${lag}`).join(', ')}; stand-in calls ${stats.calls}` +
          (waitingForRelease > 0 ? `; held cart events due in ${Math.ceil(waitingForRelease / 1000)} s` : ''),
      );
      const caughtUp = totalLag === 0n && (hooks.caughtUp === undefined || (await hooks.caughtUp()));
      if (caughtUp && Date.now() - callsStableSinceMs >= config.stableCallsMs && waitingForRelease === 0) {
        drained = true;
        break;
      }
      await sleep(1_000);
    }
    const drainMs = Date.now() - drainStartMs;
    if (!drained) io.err.write(`${new DemoDrainTimeoutError(`the pipeline did not catch up within ${config.drainTimeoutMs} ms; the summary shows what arrived so far`).message}\n`);
    await hooks.afterDrain?.(pipeline);

    // Step 8
    const [{ people }, { calls }] = await Promise.all([
      fetchJson<{ people: Person[] }>(`${standinUrl}/_admin/people`),
      fetchJson<{ calls: CallRecord[] }>(`${standinUrl}/_admin/calls`),
    ]);
    const records = await readSince(kafka, admin, readFrom, runId);
    const decisions: string[] = [];
    const deadLetterTopics: string[] = [];
    for (const record of records) {
      if (record.topic === DECISIONS_TOPIC) {
        try {
          decisions.push(String((JSON.parse(record.value?.toString() ?? 'null') as { decision?: unknown } | null)?.decision ?? 'unknown'));
        } catch {
          decisions.push('unreadable');
        }
      } else {
        deadLetterTopics.push(record.topic);
      }
    }
    const placed = orderIdsPlaced(people);
    const receipts = orderPlacedReceipts(calls);
    const summary: DemoSummary = {
      runId,
      source: config.source.kind === 'generated' ? `generated (seed ${config.seed}, ${config.customers} customers)` : `${config.source.kind} ${config.source.file}`,
      load,
      ordersWritten,
      peopleIdentified: people.filter((person) => person.identified).length,
      eventsByName: eventsByName(people),
      ordersPlacedOfRun: runOrderIds === null ? null : [...runOrderIds].filter((id) => placed.has(id)).length,
      decisions: countBy(decisions, (decision) => decision),
      deadLetters: { total: deadLetterTopics.length, byTopic: countBy(deadLetterTopics, (topic) => topic) },
      latency: config.source.kind === 'generated' ? latencySummary(commitToReceiptLatencies(commitTimes, receipts)) : null,
      drained,
      drainMs,
      standinUrl,
      logsDir,
    };
    succeeded = true;
    if (config.keep) keptPids = Object.fromEntries(children.map((child) => [child.name, child.process.pid!]));
    io.err.write(`demo took ${((Date.now() - startedAtMs) / 1000).toFixed(1)} s\n`);
    return { summary, keptPids };
  } finally {
    stopping = true;
    clearInterval(supervisor);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await admin.disconnect().catch(() => undefined);
    if (config.keep && succeeded) {
      for (const child of children) child.process.unref();
    } else {
      if (children.length > 0) io.err.write('stopping the stand-in, the processors and the sink\n');
      await stopChildren(children, 20_000);
      if (startedStack && !config.keep) {
        io.err.write('stopping the stack the demo started\n');
        await stackCommand(config, 'down', io.err);
      }
    }
  }
}
