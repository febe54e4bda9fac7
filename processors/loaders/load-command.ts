/**
 * `cio-cdc load <online-retail|rees46> FILE [options]`: replays a public shop dataset into
 * MySQL as live traffic. Progress goes to stderr as pino JSON lines, the summary to stdout.
 */

import { pino } from 'pino';

import { parseLoadConfig, loadUsage } from './config.ts';
import type { Environment, LoadConfig } from './config.ts';
import { LoaderError, LoaderUsageError } from './errors.ts';
import { describeTarget, openLoaderConnection } from './mysql.ts';
import { loadOnlineRetail } from './online-retail.ts';
import type { OnlineRetailSummary } from './online-retail.ts';
import { loadRees46 } from './rees46.ts';
import type { Rees46Summary } from './rees46.ts';

export interface LoadCommandIo {
  readonly env?: Environment;
  readonly stdout?: { write(text: string): unknown };
  readonly stderr?: { write(text: string): unknown };
}

/** Runs the load command with `argv` (after `load`); resolves with the exit code: 0 done, 1 load failed, 2 bad usage. */
export async function runLoadCommand(argv: string[], io: LoadCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let config: LoadConfig | null;
  try {
    config = parseLoadConfig(argv, io.env ?? process.env);
  } catch (err) {
    if (!(err instanceof LoaderUsageError)) throw err;
    stderr.write(`load: ${err.message}\n`);
    return 2;
  }
  if (config === null) {
    stdout.write(loadUsage());
    return 0;
  }

  const logger = pino({ name: 'load', base: { dataset: config.dataset } }, { write: (line: string) => stderr.write(line) });
  const target = describeTarget(config.mysql);
  logger.info({ file: config.file, target, speed: config.speed, limitRows: config.limitRows, idOffset: config.idOffset.toString() }, 'load started');
  const startedMs = performance.now();
  let summary: OnlineRetailSummary | Rees46Summary;
  let connection: Awaited<ReturnType<typeof openLoaderConnection>> | undefined;
  try {
    connection = await openLoaderConnection(config.mysql);
    const options = {
      speed: config.speed,
      limitRows: config.limitRows,
      idOffset: config.idOffset,
      onProgress: (progress: Readonly<Record<string, number>>) => logger.info({ progress }, 'load progress'),
    };
    summary = config.dataset === 'online-retail' ? await loadOnlineRetail(connection, config.file, options) : await loadRees46(connection, config.file, options);
  } catch (err) {
    if (!(err instanceof LoaderError)) throw err;
    logger.error({ err }, 'load failed');
    stderr.write(`load: ${err.message}\n`);
    return 1;
  } finally {
    await connection?.end().catch(() => undefined);
  }
  const elapsedMs = Math.round(performance.now() - startedMs);
  logger.info({ elapsedMs }, 'load finished');
  stdout.write(config.json ? `${JSON.stringify({ ...summary, file: config.file, target, elapsedMs })}\n` : formatSummary(summary, config.file, target, elapsedMs));
  return 0;
}

function formatCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts);
  const total = entries.reduce((sum, [, count]) => sum + count, 0);
  return entries.length === 0 ? '0' : `${total} (${entries.map(([reason, count]) => `${reason} ${count}`).join(', ')})`;
}

function formatSummary(summary: OnlineRetailSummary | Rees46Summary, file: string, target: string, elapsedMs: number): string {
  const rows: [string, string | number][] =
    summary.dataset === 'online-retail'
      ? [
          ['rows read', summary.rowsRead],
          ['transactions', summary.transactions],
          ['orders', summary.orders],
          ['order items', summary.orderItems],
          ['refunds', summary.refunds],
          ['customers', summary.customers],
          ['skipped invoices', formatCounts(summary.skippedInvoices)],
          ['skipped lines', summary.skippedLines],
        ]
      : [
          ['rows read', summary.rowsRead],
          ['events', formatCounts(summary.events)],
          ['transactions', summary.transactions],
          ['customers', summary.customers],
          ['carts', summary.carts],
          ['cart items added', summary.cartItemsAdded],
          ['cart items incremented', summary.cartItemsIncremented],
          ['cart items removed', summary.cartItemsRemoved],
          ['converted carts', summary.convertedCarts],
          ['orders', summary.orders],
          ['order items', summary.orderItems],
          ['purchases in written orders', summary.purchaseEventsInWrittenOrders],
          ['views ignored', summary.viewsIgnored],
          ['skipped events', formatCounts(summary.skippedEvents)],
        ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return [`${summary.dataset} load of ${file} into ${target} in ${elapsedMs} ms`, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`), ''].join('\n');
}

if (import.meta.main) {
  runLoadCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`load: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
