// Restore time of each processor's stores against the raw consume rate of the same changelogs.
//
// Restore side: the processor is stopped with SIGTERM and started again with the same application
// id, so the new process starts without state and restores every store from its changelog. Its log
// lines `store restore started` and `store restore finished` (one pair per store and task) give
// the span from the first start to the last finish and the records restored. /metrics adds the
// runtime's own cio_cdc_restore_duration_seconds per store, summed over tasks that may overlap.
//
// Raw side: a plain kafkajs consumer in a new group reads the same changelog topics from the
// beginning up to their end offsets at its start, read_committed as the restore reads them (with
// the runtime's read_committed fix). The restarted processor may append to its changelogs
// meanwhile, when other traffic reaches its inputs, and those records are not counted. The span
// runs from the group join to the last counted record. Group joins are left out on both sides: the
// restore span starts after the assignment as well.
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

import type { Admin, Kafka } from 'kafkajs';

import type { ChildName, DemoPipeline } from '../../processors/demo/demo.ts';
import { installReadCommittedFix } from '../../processors/runtime/index.ts';

export interface RestoreMeasurement {
  readonly processor: string;
  readonly changelogTopics: readonly string[];
  /** From the SIGTERM until the new process's /readyz returns 200, ms. */
  readonly readyAfterMs: number;
  readonly restoredRecords: number;
  /** First `store restore started` to last `store restore finished`, ms; null when no store restored. */
  readonly restoreSpanMs: number | null;
  /** cio_cdc_restore_duration_seconds_sum per store, seconds. */
  readonly restoreSecondsByStore: Readonly<Record<string, number>>;
  readonly rawRecords: number;
  /** Group join to the last record the raw consumer received, ms; null when it received none. */
  readonly rawSpanMs: number | null;
  readonly restoreRecordsPerSecond: number | null;
  readonly rawRecordsPerSecond: number | null;
  /** Restore rate divided by raw rate; the target is at least 0.5. */
  readonly ratio: number | null;
}

const READY_WAIT_MS = 15 * 60_000;
/** The raw consumer stops once no record below the end offsets arrived for this long after its last one. */
const RAW_QUIET_MS = 5_000;
/** The raw consumer stops when nothing arrived this long after joining (every changelog empty). */
const RAW_EMPTY_MS = 20_000;
/** Bound on the whole raw read, group join included. */
const RAW_READ_MAX_MS = 30 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface LogLine {
  readonly msg?: string;
  readonly time?: number;
  readonly port?: number;
  readonly restoredRecords?: number;
}

/** JSON log lines written to `file` after byte `from`; lines that are not JSON are skipped. */
function logLinesSince(file: string, from: number): LogLine[] {
  const size = statSync(file).size;
  if (size <= from) return [];
  const buffer = Buffer.alloc(size - from);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, from);
  } finally {
    closeSync(fd);
  }
  const lines: LogLine[] = [];
  for (const text of buffer.toString('utf8').split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      // A line cut by a concurrent write; the next read gets it whole.
    }
  }
  return lines;
}

/** Sums of a Prometheus sample per value of its `store` label. */
function sumByStore(metrics: string, name: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const store = /store="([^"]*)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (store !== undefined && Number.isFinite(value)) sums[store] = (sums[store] ?? 0) + value;
  }
  return sums;
}

async function waitForReady(logFile: string, from: number, name: string): Promise<number> {
  const deadline = Date.now() + READY_WAIT_MS;
  let port: number | undefined;
  while (Date.now() < deadline) {
    port ??= logLinesSince(logFile, from).find((line) => line.msg === 'http server listening' && typeof line.port === 'number')?.port;
    if (port !== undefined) {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (response !== null) await response.arrayBuffer();
      if (response?.status === 200) return port;
    }
    await sleep(250);
  }
  throw new Error(`${name} was not ready within ${READY_WAIT_MS} ms after its restart; see ${logFile}`);
}

/** Reads `topics` from the beginning with a new consumer group; resolves with the count and the span. */
export async function consumeRaw(kafka: Kafka, admin: Admin, groupPrefix: string, topics: readonly string[]): Promise<{ records: number; spanMs: number | null }> {
  if (topics.length === 0) return { records: 0, spanMs: null };
  installReadCommittedFix();
  const groupId = `${groupPrefix}-raw-read-${randomBytes(3).toString('hex')}`;

  const ends = new Map<string, bigint>();
  for (const topic of topics) {
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}:${partition}`, BigInt(high));
  }
  const consumer = kafka.consumer({ groupId, readUncommitted: false });

  let joinedMs: number | null = null;
  let lastRecordMs: number | null = null;
  let records = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedMs ??= Date.now();
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const end = ends.get(`${batch.topic}:${batch.partition}`) ?? 0n;
        const counted = batch.messages.filter((message) => BigInt(message.offset) < end).length;
        records += counted;
        if (counted > 0) lastRecordMs = Date.now();
      },
    });
    const deadline = Date.now() + RAW_READ_MAX_MS;
    for (;;) {
      await sleep(200);
      const now = Date.now();
      if (now > deadline) throw new Error(`the raw read of ${topics.join(', ')} did not finish within ${RAW_READ_MAX_MS} ms`);
      if (lastRecordMs !== null && now - lastRecordMs >= RAW_QUIET_MS) break;
      if (lastRecordMs === null && joinedMs !== null && now - joinedMs >= RAW_EMPTY_MS) break;
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return { records, spanMs: joinedMs !== null && lastRecordMs !== null ? lastRecordMs - joinedMs : null };
}

const perSecond = (records: number, ms: number | null) => (ms === null || ms <= 0 || records === 0 ? null : (records * 1000) / ms);

/** Restarts one processor with its state gone, measures its restore, then reads its changelogs raw. */
export async function measureRestore(pipeline: DemoPipeline, kafka: Kafka, admin: Admin, name: ChildName): Promise<RestoreMeasurement> {
  const applicationId = pipeline.applicationId(name);
  const changelogTopics = (await admin.listTopics()).filter((topic) => topic.startsWith(`${applicationId}-`) && topic.endsWith('-changelog')).sort();
  const child = pipeline.children().find((candidate) => candidate.name === name);
  if (child === undefined) throw new Error(`the pipeline has no child named ${name}`);
  const from = statSync(child.logFile).size;

  const stoppedMs = Date.now();
  await pipeline.restartChild(name, 'SIGTERM');
  const port = await waitForReady(child.logFile, from, name);
  const readyAfterMs = Date.now() - stoppedMs;

  const lines = logLinesSince(child.logFile, from);
  const started = lines.filter((line) => line.msg === 'store restore started' && typeof line.time === 'number').map((line) => line.time!);
  const finished = lines.filter((line) => line.msg === 'store restore finished' && typeof line.time === 'number');
  const restoredRecords = finished.reduce((sum, line) => sum + (line.restoredRecords ?? 0), 0);
  const restoreSpanMs = started.length === 0 || finished.length === 0 ? null : Math.max(...finished.map((line) => line.time!)) - Math.min(...started);
  const metricsResponse = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const restoreSecondsByStore = sumByStore(await metricsResponse.text(), 'cio_cdc_restore_duration_seconds_sum');

  const raw = await consumeRaw(kafka, admin, applicationId, changelogTopics);
  const restoreRecordsPerSecond = perSecond(restoredRecords, restoreSpanMs);
  const rawRecordsPerSecond = perSecond(raw.records, raw.spanMs);
  return {
    processor: name,
    changelogTopics,
    readyAfterMs,
    restoredRecords,
    restoreSpanMs,
    restoreSecondsByStore,
    rawRecords: raw.records,
    rawSpanMs: raw.spanMs,
    restoreRecordsPerSecond,
    rawRecordsPerSecond,
    ratio: restoreRecordsPerSecond === null || rawRecordsPerSecond === null ? null : restoreRecordsPerSecond / rawRecordsPerSecond,
  };
}
