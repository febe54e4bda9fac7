/**
 * Runs the Customer.io sink until SIGTERM or SIGINT:
 *
 *   node processors/customerio/sink/main.ts
 *
 * Also reachable as `cio-cdc sink`. Every setting comes from the environment (config.ts and
 * ../config.ts); `--help` lists them. On a signal the in-flight batch is abandoned without
 * committing its unfinished records, the consumer leaves the group and the process exits 0.
 */

import { pino } from 'pino';

import { TRACK_CLIENT_KEYS, type Environment } from '../config.ts';
import { CustomerioError } from '../errors.ts';
import { parseSinkConfig, SINK_CONFIG_KEYS, type SinkConfig } from './config.ts';
import { CustomerioSink } from './sink.ts';

export function sinkUsage(): string {
  const keys = [...SINK_CONFIG_KEYS, ...TRACK_CLIENT_KEYS];
  const width = Math.max(...keys.map((key) => key.variable.length));
  return [
    'usage: cio-cdc sink',
    '',
    'Delivers outbox records to Customer.io and commits each offset only after Customer.io accepted',
    'the record or it went to the dead-letter topic. Settings come from the environment:',
    '',
    ...keys.map((key) => `  ${key.variable.padEnd(width)}  default ${key.default} (${key.unit})`),
    '',
    'A consumer group without committed offsets starts at the earliest offset.',
    'HTTP on 127.0.0.1: /healthz, /readyz, /metrics.',
    '',
  ].join('\n');
}

/** Runs the sink command; resolves with the exit code once a signal stopped it. */
export async function runSinkCommand(argv: readonly string[], env: Environment = process.env): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(sinkUsage());
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`sink: unexpected arguments ${argv.join(' ')}; settings come from the environment (see --help)\n`);
    return 2;
  }

  let config: SinkConfig;
  try {
    config = parseSinkConfig(env);
  } catch (err) {
    if (!(err instanceof CustomerioError)) throw err;
    process.stderr.write(`sink: ${err.message}\n`);
    return 2;
  }

  const logger = pino({ name: 'cio-cdc-sink', level: config.logLevel });
  const sink = new CustomerioSink({ config, logger });

  let signalled: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  process.once('SIGTERM', () => signalled('SIGTERM'));
  process.once('SIGINT', () => signalled('SIGINT'));

  try {
    await sink.start();
  } catch (err) {
    logger.error({ err }, 'sink failed to start');
    await sink.stop();
    return 1;
  }

  const signal = await stopped;
  logger.info({ signal }, 'stopping sink');
  const timeout = setTimeout(() => {
    logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'sink did not stop in time; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs);
  timeout.unref();
  await sink.stop();
  clearTimeout(timeout);
  return 0;
}

if (import.meta.main) {
  runSinkCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sink: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
