// The UCI Online Retail year end to end: MySQL, Debezium, Kafka, every processor, the sink and
// the Customer.io stand-in, with optional faults, then an independent check of what arrived.
//
//   node bench/full-year.ts [--file FILE] [--limit N] [--faults [--kills 20] [--outage-ms 600000]
//        [--skip-stack-restarts]] [--seed 1] [--drain-timeout-ms 21600000]
//        [--settle-timeout-ms 300000] [--standin-port N] [--keep] [--json]
//
// The run is `npm run demo -- --online-retail FILE` driven through runDemo's hooks
// (processors/demo/demo.ts). The demo starts the stand-in, the processors of its own list and the
// sink. It loads the file with an id offset above every existing id and waits for the pipeline to
// drain. On top of it this script:
// - measures wall time from the start of the load until every group has no records left to
//   read and every group is Stable with a member. The stand-in must also store exactly the
//   expected people, which bench/verify-online-retail.ts computes from the CSV alone. The check runs
//   at most every 2 s, or every three times the duration of the last check, so the end can be late
//   by that much. rows/s is rows read over that time;
// - samples peak memory (VmHWM, VmRSS) of the children and of the stack's servers every 2 s;
// - with --faults, SIGKILLs a random processor or the sink --kills times, restarts the Kafka broker
//   and Kafka Connect once each through deploy/native (unless --skip-stack-restarts), and takes
//   the stand-in down for --outage-ms while the sink retries (bench/full-year/faults.ts);
// - after the drain, runs the verification, then restarts each processor with its state gone and
//   compares its restore rate with a plain consumer reading the same changelogs
//   (bench/full-year/restore.ts).
//
// The load writes into the stack's `shop` database and adds rows. Its ids start above the largest
// existing customer, order and refund id, as the demo and the end-to-end tests do. --faults
// restarts the Kafka broker: on a machine whose stack other people use, pass
// --skip-stack-restarts. Other pipelines running at the same time share the topics between the
// processors (see OtherPipelines); the report warns when it saw one. Prints a report (or one JSON line with --json) and writes the JSON to
// full-year-report.json in the run's folder. Exit codes: 0 drained and verified, 1 not drained,
// verification failed or a fault action failed, 2 bad usage.
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import kafkajs from 'kafkajs';
import type { Admin, Kafka as KafkaClient } from 'kafkajs';

import { parseStackConfig } from '../deploy/native/config.ts';
import { parseDemoConfig } from '../processors/demo/config.ts';
import { runDemo } from '../processors/demo/demo.ts';
import type { ChildExit, ChildName, DemoPipeline } from '../processors/demo/demo.ts';
import type { DemoSummary } from '../processors/demo/summary.ts';
import { seededRandom } from '../processors/demo/generator.ts';
import { kafkaClientSecurity } from '../processors/runtime/index.ts';
import { FaultInjector } from './full-year/faults.ts';
import type { FaultRecord } from './full-year/faults.ts';
import { MemorySampler, stackPids } from './full-year/memory.ts';
import type { MemoryPeak } from './full-year/memory.ts';
import { measureRestore } from './full-year/restore.ts';
import type { RestoreMeasurement } from './full-year/restore.ts';
import { comparePeople, DEFAULT_ONLINE_RETAIL_FILE, expectOnlineRetail, formatVerifyReport, verifyOnlineRetail } from './verify-online-retail.ts';
import type { StoredPerson } from '../test/e2e/support.ts';
import type { OnlineRetailExpectation, VerifyReport } from './verify-online-retail.ts';

const { Kafka, logLevel } = kafkajs;

const MEMORY_SAMPLE_MS = 2_000;

interface Options {
  readonly file: string;
  readonly limit: number | null;
  readonly faults: boolean;
  readonly kills: number;
  readonly outageMs: number;
  readonly stackRestarts: boolean;
  readonly seed: number;
  readonly drainTimeoutMs: number;
  readonly settleTimeoutMs: number;
  readonly standinPort: number | null;
  readonly keep: boolean;
  readonly json: boolean;
}

const USAGE = `usage: node bench/full-year.ts [options]

Runs the UCI Online Retail file through the whole pipeline and reports wall time, rows/s, peak
memory per process and restore rates, then verifies what reached the stand-in.

options:
  --file FILE              Online Retail CSV (default ${DEFAULT_ONLINE_RETAIL_FILE})
  --limit N                read only the first N data rows (smoke runs)
  --faults                 inject faults during the run
  --kills N                SIGKILLs of a random processor or the sink with --faults (default 20)
  --outage-ms N            stand-in outage with --faults, ms; 0 for none (default 600000)
  --skip-stack-restarts    with --faults, leave the Kafka broker and Kafka Connect running
  --seed N                 seed of the fault schedule (default 1)
  --drain-timeout-ms N     bound on waiting for the pipeline after the load, ms (default 21600000)
  --settle-timeout-ms N    go on to the verification when no group has records left to read and
                           the same differences from the expected people remained this long, ms
                           (default 300000)
  --standin-port N         stand-in port on 127.0.0.1 (default: a free port)
  --keep                   leave the stand-in, processors and sink running (stop: npm run demo -- --stop)
  --json                   print the report as one JSON line
  -h, --help               show this help
`;

class UsageError extends Error {}

function wholeNumber(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) throw new UsageError(`--${flag} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

function parseOptions(argv: string[]): Options | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string', default: DEFAULT_ONLINE_RETAIL_FILE },
        limit: { type: 'string' },
        faults: { type: 'boolean', default: false },
        kills: { type: 'string' },
        'outage-ms': { type: 'string' },
        'skip-stack-restarts': { type: 'boolean', default: false },
        seed: { type: 'string' },
        'drain-timeout-ms': { type: 'string' },
        'settle-timeout-ms': { type: 'string' },
        'standin-port': { type: 'string' },
        keep: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return null;
  const file = resolve(values.file);
  if (!existsSync(file)) throw new UsageError(`--file ${file} does not exist`);
  if (!values.faults && (values.kills !== undefined || values['outage-ms'] !== undefined || values['skip-stack-restarts'])) {
    throw new UsageError('--kills, --outage-ms and --skip-stack-restarts apply only with --faults');
  }
  const standinPort = values['standin-port'] === undefined ? null : wholeNumber('standin-port', values['standin-port'], 0, 1);
  if (standinPort !== null && standinPort > 65_535) throw new UsageError(`--standin-port must be at most 65535, got ${standinPort}`);
  return {
    file,
    limit: values.limit === undefined ? null : wholeNumber('limit', values.limit, 0, 1),
    faults: values.faults,
    kills: wholeNumber('kills', values.kills, 20, 0),
    outageMs: wholeNumber('outage-ms', values['outage-ms'], 600_000, 0),
    stackRestarts: !values['skip-stack-restarts'],
    seed: wholeNumber('seed', values.seed, 1, 0),
    drainTimeoutMs: wholeNumber('drain-timeout-ms', values['drain-timeout-ms'], 6 * 3_600_000, 1_000),
    settleTimeoutMs: wholeNumber('settle-timeout-ms', values['settle-timeout-ms'], 300_000, 1_000),
    standinPort,
    keep: values.keep,
    json: values.json,
  };
}

/** Finds a TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(new Error('the probe server returned no port'))));
    });
  });
}

async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url} returned ${response.status}`);
  return (await response.json()) as T;
}

/**
 * The bench's extra caught-up condition: no fault action left, every group Stable with a member,
 * and the stand-in holding exactly the expected people. Records since when it has held. When the
 * same people problems remain for `settleTimeoutMs`, the pipeline counts as settled, so the run
 * goes on to the verification instead of waiting for the drain timeout. Other traffic on the
 * shared stack may keep the stand-in busy meanwhile, so its call count cannot show this.
 */
class CaughtUpCheck {
  /** Epoch ms of the first check of the current run of passing checks; null while failing. */
  sinceMs: number | null = null;
  /** Epoch ms at which the pipeline counted as settled without the expected people. */
  settledAtMs: number | null = null;
  lastProblems: string[] = [];
  readonly #admin: Admin;
  readonly #expectation: OnlineRetailExpectation;
  readonly #settleTimeoutMs: number;
  readonly #log: (text: string) => void;
  #pipeline: DemoPipeline | null = null;
  #idOffset: bigint | null = null;
  #lastCheckMs = 0;
  #checkCostMs = 0;
  #callsAtPass = -1;
  #problemsKey = '';
  #problemsSinceMs = Date.now();
  #lastLogMs = 0;

  constructor(admin: Admin, expectation: OnlineRetailExpectation, settleTimeoutMs: number, log: (text: string) => void) {
    this.#admin = admin;
    this.#expectation = expectation;
    this.#settleTimeoutMs = settleTimeoutMs;
    this.#log = log;
  }

  attach(pipeline: DemoPipeline, idOffset: bigint): void {
    this.#pipeline = pipeline;
    this.#idOffset = idOffset;
  }

  #fail(problems: string[]): boolean {
    this.sinceMs = null;
    this.lastProblems = problems;
    if (Date.now() - this.#lastLogMs >= 30_000) {
      this.#lastLogMs = Date.now();
      this.#log(`caught-up check: ${problems.length} problems, first: ${(problems[0] ?? '').slice(0, 300)}`);
    }
    return false;
  }

  async check(faultsPending: boolean): Promise<boolean> {
    const pipeline = this.#pipeline;
    if (pipeline === null || this.#idOffset === null) return this.#fail(['the load has not started']);
    if (faultsPending) return this.#fail(['fault actions are still running']);
    const startedMs = Date.now();
    // Fetching every person is costly on a full run: check again only after three times the last cost.
    if (this.sinceMs === null && startedMs - this.#lastCheckMs < Math.max(2_000, 3 * this.#checkCostMs)) return false;
    try {
      const stats = await getJson<{ calls: number }>(`${pipeline.standinUrl}/_admin/stats`, 10_000);
      if (this.sinceMs !== null && stats.calls === this.#callsAtPass) return true;
      const groupIds = [...pipeline.processors, 'sink' as const].map((name) => pipeline.applicationId(name));
      const { groups } = await this.#admin.describeGroups(groupIds);
      const unstable = groups.filter((group) => group.state !== 'Stable' || group.members.length === 0);
      if (unstable.length > 0) return this.#fail(unstable.map((group) => `group ${group.groupId} is ${group.state} with ${group.members.length} members`));
      const { people } = await getJson<{ people: StoredPerson[] }>(`${pipeline.standinUrl}/_admin/people`, 300_000);
      const compared = comparePeople(this.#expectation, people, this.#idOffset);
      if (compared.people.length > 0 || compared.events.length > 0) {
        const problems = [...compared.people, ...compared.events];
        const key = problems.join('\n');
        if (key !== this.#problemsKey) {
          this.#problemsKey = key;
          this.#problemsSinceMs = startedMs;
        }
        if (startedMs - this.#problemsSinceMs >= this.#settleTimeoutMs) {
          this.lastProblems = problems;
          this.settledAtMs ??= startedMs;
          this.#log(`caught-up check: the same ${problems.length} problems remained for ${this.#settleTimeoutMs} ms; going on to the verification`);
          return true;
        }
        return this.#fail(problems);
      }
      this.#callsAtPass = stats.calls;
      this.sinceMs ??= startedMs;
      this.lastProblems = [];
      return true;
    } catch (err) {
      return this.#fail([`check failed: ${(err as Error).message}`]);
    } finally {
      this.#lastCheckMs = Date.now();
      this.#checkCostMs = this.#lastCheckMs - startedMs;
    }
  }
}

/**
 * Other demo pipelines (consumer groups `cio-cdc-demo-<run id>-<name>` with members) seen while
 * this run is going on, polled every 30 s.
 */
class OtherPipelines {
  readonly #admin: Admin;
  readonly #seen = new Set<string>();
  #ownRunId = '';
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> = Promise.resolve();

  constructor(admin: Admin) {
    this.#admin = admin;
  }

  start(ownRunId: string): void {
    this.#ownRunId = ownRunId;
    this.#poll();
    this.#timer = setInterval(() => this.#poll(), 30_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }

  runIds(): string[] {
    return [...this.#seen].sort();
  }

  #poll(): void {
    this.#polling = this.#polling.then(async () => {
      try {
        const { groups } = await this.#admin.listGroups();
        const candidates = groups.map((group) => group.groupId).filter((id) => id.startsWith('cio-cdc-demo-') && !id.startsWith(`cio-cdc-demo-${this.#ownRunId}-`));
        if (candidates.length === 0) return;
        const described = await this.#admin.describeGroups(candidates);
        for (const group of described.groups) {
          const runId = /^cio-cdc-demo-(\d{8}-\d{6}-[0-9a-f]+)-/.exec(group.groupId)?.[1];
          if (group.members.length > 0 && runId !== undefined) this.#seen.add(runId);
        }
      } catch {
        // The broker may be restarting; the next poll tries again.
      }
    });
  }
}

interface Report {
  readonly runId: string;
  readonly file: string;
  readonly limit: number | null;
  readonly idOffset: string | null;
  readonly load: Readonly<Record<string, unknown>>;
  readonly rowsRead: number | null;
  /** Load start to caught up, ms; null when the pipeline did not catch up. */
  readonly wallMs: number | null;
  /** Load start to the moment the pipeline counted as settled without the expected people, ms. */
  readonly settledWithoutExpectedMs: number | null;
  /** Run ids of other demo pipelines whose groups had members during the run; they share the topics between the processors. */
  readonly otherPipelines: readonly string[];
  readonly rowsPerSecond: number | null;
  readonly drained: boolean;
  readonly faults: { readonly enabled: boolean; readonly actions: readonly FaultRecord[]; readonly unplannedExits: readonly ChildExit[]; readonly error: string | null; readonly outageMs: number; readonly kills: number; readonly stackRestarts: boolean };
  readonly memory: Readonly<Record<string, MemoryPeak>>;
  readonly benchMaxRssBytes: number;
  readonly restore: readonly RestoreMeasurement[];
  readonly restoreError: string | null;
  readonly verification: VerifyReport | null;
  readonly verificationError: string | null;
  /** Dead-letter topics the verification read, with the offset per partition where the run's records start. */
  readonly deadLetterTopics: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly eventsByName: Readonly<Record<string, number>>;
  readonly logsDir: string;
  readonly machine: string;
  readonly command: string;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const rate = (value: number | null) => (value === null ? 'n/a' : value.toFixed(0));
const seconds = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

function formatReport(report: Report): string {
  const lines = [
    `full-year run ${report.runId}`,
    `  file            ${report.file}${report.limit === null ? '' : ` (first ${report.limit} rows)`}`,
    `  loaded          ${Object.entries(report.load).filter(([, value]) => typeof value === 'number').map(([key, value]) => `${key} ${String(value)}`).join(', ')} (id offset ${report.idOffset})`,
    `  wall time       ${seconds(report.wallMs)} from load start to caught up${report.drained ? '' : ' (NOT drained)'}` +
      (report.settledWithoutExpectedMs === null ? '' : `; idle without the expected people ${seconds(report.settledWithoutExpectedMs)} after the load started`),
    `  rows/s          ${rate(report.rowsPerSecond)}`,
    ...(report.otherPipelines.length === 0
      ? []
      : [
          `  WARNING         other demo pipelines ran during this run (${report.otherPipelines.join(', ')}). They write to the same cio.order-events, ` +
            'cio.customer-events and cio.outbox, so their copies of events and their own people reach this stand-in too.',
        ]),
    `  events          ${Object.entries(report.eventsByName).map(([name, count]) => `${name} ${count}`).join(', ') || 'none'}`,
    '',
    'peak memory (VmHWM: peak of the process since it started, largest over restarts; VmRSS: largest sampled during the run)',
    ...Object.entries(report.memory).map(([name, peak]) => `  ${name.padEnd(12)} VmHWM ${mb(peak.hwmBytes).padStart(8)}  VmRSS ${mb(peak.rssBytes).padStart(8)}  (${peak.pids.length} process${peak.pids.length === 1 ? '' : 'es'})`),
    `  ${'bench'.padEnd(12)} max RSS ${mb(report.benchMaxRssBytes)}`,
    '',
  ];
  if (report.faults.enabled) {
    lines.push(
      `faults: ${report.faults.kills} kills, stand-in outage ${seconds(report.faults.outageMs)}${report.faults.outageMs === 600_000 ? '' : ' (not the default 10 minutes)'}, ` +
        `broker and Connect restarts ${report.faults.stackRestarts ? 'on' : 'skipped (--skip-stack-restarts)'}`,
    );
    for (const action of report.faults.actions) lines.push(`  ${seconds(action.atMs).padStart(9)}  ${action.kind} ${action.target} (${action.durationMs} ms): ${action.detail}`);
    for (const exit of report.faults.unplannedExits) lines.push(`  unplanned exit: ${exit.name} pid ${exit.pid} exit code ${exit.exitCode} signal ${exit.signal}`);
    if (report.faults.error !== null) lines.push(`  FAILED: ${report.faults.error}`);
    lines.push('');
  }
  lines.push('restore from changelogs (fresh process, same application id) against a plain kafkajs consumer on the same topics; target ratio >= 0.5');
  lines.push(`  ${'processor'.padEnd(12)} ${'records'.padStart(9)} ${'span'.padStart(9)} ${'rec/s'.padStart(8)} | ${'raw rec'.padStart(9)} ${'raw span'.padStart(9)} ${'raw rec/s'.padStart(9)} | ${'ratio'.padStart(6)} | ready after`);
  for (const entry of report.restore) {
    lines.push(
      `  ${entry.processor.padEnd(12)} ${String(entry.restoredRecords).padStart(9)} ${seconds(entry.restoreSpanMs).padStart(9)} ${rate(entry.restoreRecordsPerSecond).padStart(8)} | ` +
        `${String(entry.rawRecords).padStart(9)} ${seconds(entry.rawSpanMs).padStart(9)} ${rate(entry.rawRecordsPerSecond).padStart(9)} | ${(entry.ratio === null ? 'n/a' : entry.ratio.toFixed(2)).padStart(6)} | ${seconds(entry.readyAfterMs)}`,
    );
    const stores = Object.entries(entry.restoreSecondsByStore).map(([store, value]) => `${store} ${value.toFixed(2)} s`);
    if (stores.length > 0) lines.push(`  ${''.padEnd(12)} cio_cdc_restore_duration_seconds_sum: ${stores.join(', ')}`);
  }
  if (report.restoreError !== null) lines.push(`  FAILED: ${report.restoreError}`);
  lines.push('');
  if (report.verification !== null) lines.push(formatVerifyReport(report.verification).trimEnd());
  if (report.verificationError !== null) lines.push(`verification FAILED to run: ${report.verificationError}`);
  lines.push('', `logs: ${report.logsDir}`, `machine: ${report.machine}`, `command: ${report.command}`, '');
  return lines.join('\n');
}

async function run(options: Options): Promise<number> {
  const log = (text: string) => process.stderr.write(`${text}\n`);
  const stack = parseStackConfig(process.env);
  const expectStartedMs = Date.now();
  const expectation = expectOnlineRetail(options.file, options.limit);
  log(`expected from the file: ${expectation.customers.size} customers, ${expectation.orders} orders, ${expectation.refunds} refunds (${Date.now() - expectStartedMs} ms)`);

  const demoArgs = ['--online-retail', options.file, '--drain-timeout-ms', String(options.drainTimeoutMs), '--standin-port', String(options.standinPort ?? (await freePort()))];
  if (options.limit !== null) demoArgs.push('--limit', String(options.limit));
  if (options.keep) demoArgs.push('--keep');
  const demoConfig = parseDemoConfig(demoArgs, process.env);
  if (demoConfig === null) throw new UsageError('the demo options were not accepted');

  const kafka: KafkaClient = new Kafka({ clientId: 'cio-cdc-bench-full-year', brokers: [...demoConfig.kafkaBrokers], ...kafkaClientSecurity(demoConfig.kafkaSecurity), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();

  const random = seededRandom(options.seed);
  let pipeline: DemoPipeline | null = null;
  let loadStartedMs: number | null = null;
  let idOffset: bigint | null = null;
  const sampler = new MemorySampler(() => [...(pipeline?.children().map((child) => ({ name: child.name as string, pid: child.pid })) ?? []), ...stackPids(stack.runDir)]);
  const caughtUp = new CaughtUpCheck(admin, expectation, options.settleTimeoutMs, log);
  const others = new OtherPipelines(admin);
  const expectedEvents = 2 * expectation.orders + expectation.refunds;
  let injector: FaultInjector | null = null;
  let faultRun: Promise<void> | null = null;
  let faultsPending = false;
  let faultError: Error | null = null;
  let lastProgress: number | null = null;
  let verification: VerifyReport | null = null;
  let verificationError: string | null = null;
  const restore: RestoreMeasurement[] = [];
  let restoreError: string | null = null;

  let summary: DemoSummary;
  try {
    ({ summary } = await runDemo(demoConfig, { out: process.stderr, err: process.stderr }, {
      supervise: options.faults,
      onStarted: (started) => {
        pipeline = started;
        sampler.start(MEMORY_SAMPLE_MS);
        others.start(started.runId);
      },
      onLoadStarted: ({ idOffset: offset }) => {
        loadStartedMs = Date.now();
        idOffset = offset;
        if (pipeline === null || offset === null) return;
        const running = pipeline;
        caughtUp.attach(running, offset);
        if (!options.faults) return;
        injector = new FaultInjector(
          { kills: options.kills, outageMs: options.outageMs, stackRestarts: options.stackRestarts },
          {
            pipeline: running,
            stack,
            random,
            loadStartedMs,
            // Share of the expected order_placed, order_paid and refund_created events the stand-in stores.
            progress: async () => {
              try {
                const stats = await getJson<{ events: number }>(`${running.standinUrl}/_admin/stats`, 2_000);
                lastProgress = expectedEvents === 0 ? 1 : Math.min(1, stats.events / expectedEvents);
              } catch {
                // The stand-in is in its outage, so the last share is kept.
              }
              return lastProgress;
            },
            beforeKill: (name, pid) => sampler.sample(name, pid),
            log,
          },
        );
        faultsPending = true;
        faultRun = injector.run().then(
          () => {
            faultsPending = false;
          },
          (err: unknown) => {
            faultsPending = false;
            faultError = err instanceof Error ? err : new Error(String(err));
          },
        );
      },
      caughtUp: async () => {
        if (faultError !== null) throw faultError;
        return caughtUp.check(faultsPending);
      },
      afterDrain: async (drainedPipeline) => {
        await faultRun;
        sampler.stop();
        await others.stop();
        if (idOffset === null) return;
        log('verifying what reached the stand-in');
        try {
          verification = await verifyOnlineRetail({ standinUrl: drainedPipeline.standinUrl, idOffset, expectation, deadLetterTopics: drainedPipeline.deadLetterTopics, kafkaBrokers: demoConfig.kafkaBrokers });
        } catch (err) {
          verificationError = (err as Error).stack ?? (err as Error).message;
        }
        try {
          for (const name of drainedPipeline.processors as readonly ChildName[]) {
            log(`restore: restarting ${name} without state`);
            restore.push(await measureRestore(drainedPipeline, kafka, admin, name));
          }
        } catch (err) {
          restoreError = (err as Error).stack ?? (err as Error).message;
        }
      },
    }));
  } catch (err) {
    // The demo stopped its children already; show what the faults did before the failure.
    log(`full-year: the run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    for (const action of (injector as FaultInjector | null)?.records ?? []) log(`  fault before the failure: ${action.kind} ${action.target} at ${seconds(action.atMs)}: ${action.detail}`);
    return 1;
  } finally {
    sampler.stop();
    await others.stop();
    await admin.disconnect().catch(() => undefined);
  }

  const drained = summary.drained && caughtUp.sinceMs !== null;
  const wallMs = drained && loadStartedMs !== null ? caughtUp.sinceMs! - loadStartedMs : null;
  const rowsRead = typeof summary.load['rowsRead'] === 'number' ? summary.load['rowsRead'] : null;
  const faultsInjected = injector as FaultInjector | null;
  const report: Report = {
    runId: summary.runId,
    file: options.file,
    limit: options.limit,
    idOffset: idOffset === null ? null : String(idOffset),
    load: summary.load,
    rowsRead,
    wallMs,
    settledWithoutExpectedMs: caughtUp.settledAtMs === null || loadStartedMs === null ? null : caughtUp.settledAtMs - loadStartedMs,
    otherPipelines: others.runIds(),
    rowsPerSecond: wallMs === null || rowsRead === null ? null : (rowsRead * 1000) / wallMs,
    drained,
    faults: {
      enabled: options.faults,
      actions: faultsInjected?.records ?? [],
      unplannedExits: (pipeline as DemoPipeline | null)?.unplannedExits() ?? [],
      error: (faultError as Error | null)?.message ?? null,
      outageMs: options.outageMs,
      kills: options.kills,
      stackRestarts: options.stackRestarts,
    },
    memory: sampler.peaks(),
    benchMaxRssBytes: process.resourceUsage().maxRSS * 1024,
    restore,
    restoreError,
    verification,
    verificationError,
    deadLetterTopics: Object.fromEntries(
      [...((pipeline as DemoPipeline | null)?.deadLetterTopics ?? new Map<string, ReadonlyMap<number, string>>())].map(([topic, from]) => [topic, Object.fromEntries([...from].map(([partition, offset]) => [String(partition), offset]))]),
    ),
    eventsByName: summary.eventsByName,
    logsDir: summary.logsDir,
    machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`,
    command: ['node', 'bench/full-year.ts', ...process.argv.slice(2)].join(' '),
  };
  if (!drained && caughtUp.lastProblems.length > 0) log(`not caught up; last problems:\n  ${caughtUp.lastProblems.slice(0, 10).join('\n  ')}`);
  writeFileSync(join(dirname(summary.logsDir), 'full-year-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : formatReport(report));
  const ok = drained && faultError === null && verificationError === null && (verification as VerifyReport | null)?.ok === true && restoreError === null;
  return ok ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`full-year: ${err.message}; run with --help for the options\n`);
    return 2;
  }
  if (options === null) {
    process.stdout.write(USAGE);
    return 0;
  }
  return run(options);
}

main(process.argv.slice(2)).then(
  (code) => {
    // A kept child (--keep) must not hold this process open.
    setTimeout(() => process.exit(code), 500).unref();
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`full-year: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
