/**
 * Options of `cio-cdc demo` (also `npm run demo -- ...`), parsed once from the flags and the
 * environment into a frozen object. A flag wins over its environment variable.
 *
 *   --online-retail FILE | --rees46 FILE   load a public dataset instead of generated traffic
 *   --keep                                 leave the stand-in and the processors running
 *   --stop                                 stop what an earlier `demo --keep` left running
 *   --seed N (42)  --customers N (40)      generated traffic: PRNG seed and customer count
 *   --limit N                              dataset rows to read (passed to the loader)
 *   --pause-ms N (20)                      pause between generated actions, ms
 *   --standin-port N (8089)                port of the Customer.io stand-in on 127.0.0.1
 *   --suppression-window-ms N (60000)      how long suppression delays cart events, ms
 *   --drain-timeout-ms N (300000)          bound on waiting for the pipeline to catch up, ms
 *   --json                                 print the summary as one JSON line
 *
 *   KAFKA_BROKERS       127.0.0.1:9092                     broker of the stack
 *   CIO_CDC_MYSQL_URL   mysql://root@127.0.0.1:3307/shop   source database
 *   CIO_CDC_HOME        ~/.cache/cio-cdc                   the stack's home; pid files go to run/pids
 *   KAFKA_SSL*, KAFKA_SASL_*  unset                        TLS and SASL of the Kafka connection
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_MYSQL_URL, parseMysqlUrl } from '../loaders/mysql.ts';
import type { MysqlTarget } from '../loaders/mysql.ts';
import { parseKafkaSecurity } from '../runtime/index.ts';
import type { KafkaSecurityConfig } from '../runtime/index.ts';
import { DemoUsageError } from './errors.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

export type DemoSource = { readonly kind: 'generated' } | { readonly kind: 'online-retail' | 'rees46'; readonly file: string };

export interface DemoConfig {
  readonly source: DemoSource;
  readonly keep: boolean;
  readonly stop: boolean;
  readonly json: boolean;
  readonly seed: number;
  readonly customers: number;
  readonly limitRows: number | null;
  readonly pauseMs: number;
  readonly standinPort: number;
  readonly suppressionWindowMs: number;
  /** Wall-clock timers fire this long after their deadline; short so held carts come out soon. */
  readonly timerLatenessBoundMs: number;
  readonly drainTimeoutMs: number;
  /** How long the stand-in's call count must stay unchanged before the pipeline counts as drained. */
  readonly stableCallsMs: number;
  readonly kafkaBrokers: readonly string[];
  /** TLS and SASL of the demo's own Kafka client (KAFKA_SSL*, KAFKA_SASL_*); the processors it starts read the same variables. */
  readonly kafkaSecurity: KafkaSecurityConfig;
  readonly mysqlUrl: string;
  readonly mysql: MysqlTarget;
  /** The stack's home; the demo's pid files go to <home>/run/pids. */
  readonly homeDir: string;
  /** Parent of each run's folder (logs, derived mapping): <home>/run/demo. */
  readonly runsDir: string;
  /** Repository root: processors/cli/main.ts and deploy/native/stack.ts are found from here. */
  readonly repoDir: string;
}

export const DEMO_DEFAULTS = Object.freeze({
  seed: 42,
  customers: 40,
  pauseMs: 20,
  standinPort: 8089,
  suppressionWindowMs: 60_000,
  timerLatenessBoundMs: 5_000,
  drainTimeoutMs: 300_000,
  stableCallsMs: 4_000,
});

export function demoUsage(): string {
  return [
    'usage: cio-cdc demo [--online-retail FILE | --rees46 FILE] [--keep] [--seed N] [--customers N] [--limit N] [--json]',
    '       cio-cdc demo --stop',
    '',
    'Brings the stack up (or reuses a healthy one), starts the Customer.io stand-in, the processors',
    '(orders, transactions, carts, people, suppression) and the sink, writes shop traffic into MySQL,',
    'waits until every consumer group has caught up and prints what reached the stand-in.',
    '',
    'options:',
    '  --online-retail FILE        load the UCI Online Retail workbook export (CSV) instead of generated traffic',
    '  --rees46 FILE               load a REES46 events CSV instead of generated traffic',
    '  --limit N                   dataset rows to read',
    `  --seed N                    PRNG seed of the generated traffic (default ${DEMO_DEFAULTS.seed})`,
    `  --customers N               customers in the generated traffic (default ${DEMO_DEFAULTS.customers}, about 8 actions each)`,
    `  --pause-ms N                pause between generated actions, ms (default ${DEMO_DEFAULTS.pauseMs})`,
    `  --standin-port N            stand-in port on 127.0.0.1 (default ${DEMO_DEFAULTS.standinPort})`,
    `  --suppression-window-ms N   how long cart events are held, ms (default ${DEMO_DEFAULTS.suppressionWindowMs})`,
    `  --drain-timeout-ms N        bound on waiting for the pipeline, ms (default ${DEMO_DEFAULTS.drainTimeoutMs})`,
    '  --keep                      leave the stand-in and the processors running at the end',
    '  --stop                      stop the processes an earlier --keep run left running',
    '  --json                      print the summary as one JSON line on stdout',
    '  -h, --help                  show this help',
    '',
    'environment: KAFKA_BROKERS (127.0.0.1:9092), CIO_CDC_MYSQL_URL (mysql://root@127.0.0.1:3307/shop),',
    '             CIO_CDC_HOME (~/.cache/cio-cdc), and the Kafka TLS and SASL variables KAFKA_SSL* and',
    '             KAFKA_SASL_* (processors/runtime/README.md), which the processors it starts read too',
    '',
  ].join('\n');
}

function wholeNumber(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new DemoUsageError(`--${flag} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Parses flags and environment; returns null for --help. Throws DemoUsageError naming the bad value. */
export function parseDemoConfig(argv: readonly string[], env: Environment): DemoConfig | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'online-retail': { type: 'string' },
        rees46: { type: 'string' },
        keep: { type: 'boolean' },
        stop: { type: 'boolean' },
        json: { type: 'boolean' },
        seed: { type: 'string' },
        customers: { type: 'string' },
        limit: { type: 'string' },
        'pause-ms': { type: 'string' },
        'standin-port': { type: 'string' },
        'suppression-window-ms': { type: 'string' },
        'drain-timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new DemoUsageError(`${(err as Error).message}; run 'cio-cdc demo --help' for the options`);
  }
  if (values['help'] === true) return null;

  const onlineRetail = values['online-retail'] as string | undefined;
  const rees46 = values['rees46'] as string | undefined;
  if (onlineRetail !== undefined && rees46 !== undefined) throw new DemoUsageError('--online-retail and --rees46 exclude each other; give one dataset');
  const source: DemoSource =
    onlineRetail !== undefined
      ? { kind: 'online-retail', file: resolve(onlineRetail) }
      : rees46 !== undefined
        ? { kind: 'rees46', file: resolve(rees46) }
        : { kind: 'generated' };
  const limit = values['limit'] as string | undefined;
  if (limit !== undefined && source.kind === 'generated') throw new DemoUsageError('--limit applies to a dataset (--online-retail or --rees46); generated traffic scales with --customers');

  const standinPort = wholeNumber('standin-port', values['standin-port'] as string | undefined, DEMO_DEFAULTS.standinPort, 1);
  if (standinPort > 65_535) throw new DemoUsageError(`--standin-port must be at most 65535, got ${standinPort}`);

  const brokers = (env['KAFKA_BROKERS']?.trim() || '127.0.0.1:9092')
    .split(',')
    .map((broker) => broker.trim())
    .filter((broker) => broker !== '');
  const mysqlUrl = env['CIO_CDC_MYSQL_URL']?.trim() || DEFAULT_MYSQL_URL;
  let mysql: MysqlTarget;
  try {
    mysql = parseMysqlUrl(mysqlUrl);
  } catch (err) {
    throw new DemoUsageError((err as Error).message.replace('--mysql-url / ', ''));
  }
  const homeDir = resolve(env['CIO_CDC_HOME']?.trim() || join(homedir(), '.cache', 'cio-cdc'));

  return Object.freeze({
    source,
    keep: values['keep'] === true,
    stop: values['stop'] === true,
    json: values['json'] === true,
    seed: wholeNumber('seed', values['seed'] as string | undefined, DEMO_DEFAULTS.seed, 0),
    customers: wholeNumber('customers', values['customers'] as string | undefined, DEMO_DEFAULTS.customers, 1),
    limitRows: limit === undefined ? null : wholeNumber('limit', limit, 0, 1),
    pauseMs: wholeNumber('pause-ms', values['pause-ms'] as string | undefined, DEMO_DEFAULTS.pauseMs, 0),
    standinPort,
    suppressionWindowMs: wholeNumber('suppression-window-ms', values['suppression-window-ms'] as string | undefined, DEMO_DEFAULTS.suppressionWindowMs, 1),
    timerLatenessBoundMs: DEMO_DEFAULTS.timerLatenessBoundMs,
    drainTimeoutMs: wholeNumber('drain-timeout-ms', values['drain-timeout-ms'] as string | undefined, DEMO_DEFAULTS.drainTimeoutMs, 1000),
    stableCallsMs: DEMO_DEFAULTS.stableCallsMs,
    kafkaBrokers: Object.freeze(brokers),
    kafkaSecurity: parseKafkaSecurity(env, (variable, message) => new DemoUsageError(`${variable} ${message}`)),
    mysqlUrl,
    mysql,
    homeDir,
    runsDir: join(homeDir, 'run', 'demo'),
    repoDir: resolve(import.meta.dirname, '..', '..'),
  });
}
