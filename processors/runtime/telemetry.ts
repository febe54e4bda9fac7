/**
 * Logs, metrics and the HTTP endpoints of a processor instance.
 *
 * Logs are pino JSON lines with a constant message and fields; record-level lines
 * carry topic, partition, offset and key (see recordFields). Metrics are
 * Prometheus metrics in a registry per runtime. The HTTP server serves /metrics,
 * /healthz (the process is alive) and /readyz (assigned, restored and fetching).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import kafkajs from 'kafkajs';
import type { logCreator } from 'kafkajs';
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import promClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { KafkaLogLevel, LogLevel } from './config.ts';

const { logLevel: KafkaJsLogLevel } = kafkajs;

const EMAIL = /[^\s@"'<>,;:]+@[^\s@"'<>,;:]+\.[A-Za-z]{2,}/g;

/** Replaces anything shaped like an email address, since emails must not reach logs. */
export function redactEmails(text: string): string {
  return text.replace(EMAIL, '[email]');
}

/** Maximum key length written to a log line, in characters; longer keys are cut. */
const MAX_LOGGED_KEY_CHARS = 200;

/** Formats a record key as log text: UTF-8, emails redacted, cut to a bounded length. */
export function keyForLog(key: Buffer | string | null | undefined): string | null {
  if (key === null || key === undefined) {
    return null;
  }
  const text = redactEmails(typeof key === 'string' ? key : key.toString('utf8'));
  return text.length > MAX_LOGGED_KEY_CHARS ? `${text.slice(0, MAX_LOGGED_KEY_CHARS)}…` : text;
}

/** Returns the fields every record-level log line carries. */
export function recordFields(record: {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | string | null | undefined;
}): { topic: string; partition: number; offset: string; key: string | null } {
  return { topic: record.topic, partition: record.partition, offset: record.offset, key: keyForLog(record.key) };
}

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly applicationId: string;
  readonly instanceId: string;
  readonly destination?: DestinationStream;
}

export function createRootLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    base: { app: options.applicationId, instance: options.instanceId },
    // The runtime never logs values; these paths catch a caller that passes one.
    redact: { paths: ['email', '*.email', 'value', '*.value'], censor: '[redacted]' },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

const KAFKA_LEVELS: Record<KafkaLogLevel, number> = {
  nothing: KafkaJsLogLevel.NOTHING,
  error: KafkaJsLogLevel.ERROR,
  warn: KafkaJsLogLevel.WARN,
  info: KafkaJsLogLevel.INFO,
  debug: KafkaJsLogLevel.DEBUG,
};

export function kafkaJsLogLevel(level: KafkaLogLevel): number {
  return KAFKA_LEVELS[level];
}

/** Routes kafkajs's own log lines into pino, under component "kafkajs". */
export function kafkaJsLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () => (entry) => {
    const { message, ...fields } = entry.log;
    const payload = { namespace: entry.namespace, ...fields };
    const text = `kafkajs: ${message}`;
    switch (entry.level) {
      case KafkaJsLogLevel.ERROR:
        child.error(payload, text);
        break;
      case KafkaJsLogLevel.WARN:
        child.warn(payload, text);
        break;
      case KafkaJsLogLevel.INFO:
        child.info(payload, text);
        break;
      default:
        child.debug(payload, text);
    }
  };
}

export class RuntimeMetrics {
  readonly registry: Registry;
  readonly recordsIn: Counter<'topic'>;
  readonly recordsOut: Counter<'topic'>;
  readonly recordsSkipped: Counter<'topic'>;
  readonly deadLetters: Counter<'topic' | 'stage'>;
  readonly retries: Counter<'reason'>;
  readonly transactions: Counter<'result'>;
  readonly batchDuration: Histogram<'role'>;
  readonly commitDuration: Histogram;
  readonly restoreDuration: Histogram<'store'>;
  readonly restoredRecords: Counter<'store'>;
  readonly restoreRemaining: Gauge<'store' | 'partition'>;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  readonly pendingTimers: Gauge<'kind'>;
  readonly timersFired: Counter<'kind'>;
  readonly assignedTasks: Gauge;

  constructor(applicationId: string) {
    const registry = new promClient.Registry();
    registry.setDefaultLabels({ application_id: applicationId });
    promClient.collectDefaultMetrics({ register: registry, prefix: 'cio_cdc_process_' });
    const registers = [registry];
    this.registry = registry;

    this.recordsIn = new promClient.Counter({
      name: 'cio_cdc_records_in_total',
      help: 'Input records processed and committed, per topic.',
      labelNames: ['topic'],
      registers,
    });
    this.recordsOut = new promClient.Counter({
      name: 'cio_cdc_records_out_total',
      help: 'Records committed to output and internal topics, per topic.',
      labelNames: ['topic'],
      registers,
    });
    this.recordsSkipped = new promClient.Counter({
      name: 'cio_cdc_records_skipped_total',
      help: 'Input records the decoder skipped (for example tombstones), per topic.',
      labelNames: ['topic'],
      registers,
    });
    this.deadLetters = new promClient.Counter({
      name: 'cio_cdc_dead_letters_total',
      help: 'Records sent to the dead-letter topic, per source topic and stage (decode, repartition, process, timer).',
      labelNames: ['topic', 'stage'],
      registers,
    });
    this.retries = new promClient.Counter({
      name: 'cio_cdc_retries_total',
      help: 'Retries of retriable failures, per reason.',
      labelNames: ['reason'],
      registers,
    });
    this.transactions = new promClient.Counter({
      name: 'cio_cdc_transactions_total',
      help: 'Kafka transactions by result (committed, aborted, unknown, fenced).',
      labelNames: ['result'],
      registers,
    });
    this.batchDuration = new promClient.Histogram({
      name: 'cio_cdc_batch_duration_seconds',
      help: 'Time to process and commit one batch of one input partition.',
      labelNames: ['role'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.commitDuration = new promClient.Histogram({
      name: 'cio_cdc_commit_duration_seconds',
      help: 'Time from the first send of a transaction to its commit.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.restoreDuration = new promClient.Histogram({
      name: 'cio_cdc_restore_duration_seconds',
      help: 'Time to restore one task partition of a store from its changelog.',
      labelNames: ['store'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.restoredRecords = new promClient.Counter({
      name: 'cio_cdc_restored_records_total',
      help: 'Changelog records applied during restores, per store.',
      labelNames: ['store'],
      registers,
    });
    this.restoreRemaining = new promClient.Gauge({
      name: 'cio_cdc_restore_remaining_offsets',
      help: 'Changelog offsets still to read by a restore in progress, per store and partition.',
      labelNames: ['store', 'partition'],
      registers,
    });
    this.consumerLag = new promClient.Gauge({
      name: 'cio_cdc_consumer_lag',
      help: 'High watermark minus the next offset to process, per assigned topic partition.',
      labelNames: ['topic', 'partition'],
      registers,
    });
    this.pendingTimers = new promClient.Gauge({
      name: 'cio_cdc_pending_timers',
      help: 'Timers scheduled and not yet fired on this instance, per kind.',
      labelNames: ['kind'],
      registers,
    });
    this.timersFired = new promClient.Counter({
      name: 'cio_cdc_timers_fired_total',
      help: 'Timers fired, per kind.',
      labelNames: ['kind'],
      registers,
    });
    this.assignedTasks = new promClient.Gauge({
      name: 'cio_cdc_assigned_tasks',
      help: 'Tasks (partition numbers) assigned to this instance.',
      registers,
    });
  }
}

export interface HealthReport {
  readonly ok: boolean;
  readonly details: Record<string, unknown>;
}

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly liveness: () => HealthReport;
  readonly readiness: () => HealthReport;
  readonly log: Logger;
}

export interface RunningHttpServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, contentType: string, body: string) => {
      response.writeHead(status, { 'content-type': contentType });
      response.end(body);
    };
    const replyHealth = (report: HealthReport) =>
      reply(report.ok ? 200 : 503, 'application/json', JSON.stringify({ ok: report.ok, ...report.details }));

    if (request.method !== 'GET') {
      reply(405, 'text/plain', 'method not allowed\n');
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => reply(200, options.registry.contentType, text),
        (error: unknown) => {
          options.log.error({ err: error }, 'metrics collection failed');
          reply(500, 'text/plain', 'metrics collection failed\n');
        },
      );
    } else if (path === '/healthz') {
      replyHealth(options.liveness());
    } else if (path === '/readyz') {
      replyHealth(options.readiness());
    } else {
      reply(404, 'text/plain', 'not found; try /metrics, /healthz or /readyz\n');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ host: options.host, port }, 'http server listening');

  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
