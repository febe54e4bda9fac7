/**
 * Options of `cio-cdc load`, parsed once from the flags and the environment into a frozen
 * object. A flag wins over its environment variable.
 */

import { parseArgs } from 'node:util';

import { LoaderUsageError } from './errors.ts';
import { DEFAULT_MYSQL_URL, parseMysqlUrl } from './mysql.ts';
import type { MysqlTarget } from './mysql.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

export const LOAD_DATASETS = ['online-retail', 'rees46'] as const;
export type LoadDataset = (typeof LOAD_DATASETS)[number];

export interface LoadConfig {
  readonly dataset: LoadDataset;
  readonly file: string;
  /** Data time is divided by this factor; null replays as fast as possible. */
  readonly speed: number | null;
  readonly limitRows: number | null;
  readonly idOffset: bigint;
  readonly mysql: MysqlTarget;
  readonly json: boolean;
}

export function loadUsage(): string {
  return [
    'usage: cio-cdc load <online-retail|rees46> FILE [options]',
    '',
    'Replays a public shop dataset into MySQL as live traffic, one transaction per invoice',
    '(online-retail) or per cart/order change (rees46), for Debezium to capture.',
    '',
    'options:',
    '  --fast               write as fast as possible (default)',
    "  --speed FACTOR       keep the data's time gaps, divided by FACTOR (e.g. 3600: an hour per second)",
    '  --limit N            read only the first N data rows',
    '  --id-offset N        add N to order, refund and customer ids (rees46 cart ids get an "N-" prefix)',
    `  --mysql-url URL      target database (env CIO_CDC_MYSQL_URL, default ${DEFAULT_MYSQL_URL})`,
    '  --json               print the final summary as JSON',
    '  -h, --help           show this help',
    '',
    'Progress goes to stderr as JSON log lines, the summary to stdout.',
    '',
  ].join('\n');
}

/** Parses flags and environment; returns null for --help. Throws LoaderUsageError naming the bad value. */
export function parseLoadConfig(argv: readonly string[], env: Environment): LoadConfig | null {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    throw new LoaderUsageError(`${(err as Error).message}; run 'cio-cdc load --help' for the options`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return null;

  const [dataset, file, ...extra] = positionals;
  if (dataset === undefined || !(LOAD_DATASETS as readonly string[]).includes(dataset)) {
    throw new LoaderUsageError(`the first argument must be one of ${LOAD_DATASETS.join(', ')}, got ${JSON.stringify(dataset ?? '')}`);
  }
  if (file === undefined || file === '') throw new LoaderUsageError(`load ${dataset} needs the FILE to read`);
  if (extra.length > 0) throw new LoaderUsageError(`unexpected argument(s) ${extra.map((arg) => JSON.stringify(arg)).join(' ')}`);

  if (values.fast === true && values.speed !== undefined) throw new LoaderUsageError('--fast and --speed exclude each other; give one');
  let speed: number | null = null;
  if (values.speed !== undefined) {
    speed = Number(values.speed);
    if (!/^\d+(\.\d+)?$/.test(values.speed) || !(speed > 0)) throw new LoaderUsageError(`--speed must be a number above 0, got ${JSON.stringify(values.speed)}`);
  }

  let limitRows: number | null = null;
  if (values.limit !== undefined) {
    limitRows = Number(values.limit);
    if (!/^\d+$/.test(values.limit) || !Number.isSafeInteger(limitRows) || limitRows < 1) throw new LoaderUsageError(`--limit must be a whole number of rows above 0, got ${JSON.stringify(values.limit)}`);
  }

  const offsetText = values['id-offset'] ?? '0';
  if (!/^\d{1,19}$/.test(offsetText)) throw new LoaderUsageError(`--id-offset must be a whole number from 0, got ${JSON.stringify(offsetText)}`);

  const mysql = parseMysqlUrl(values['mysql-url'] ?? env.CIO_CDC_MYSQL_URL ?? DEFAULT_MYSQL_URL);

  return Object.freeze({ dataset: dataset as LoadDataset, file, speed, limitRows, idOffset: BigInt(offsetText), mysql, json: values.json === true });
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      fast: { type: 'boolean' },
      speed: { type: 'string' },
      limit: { type: 'string' },
      'id-offset': { type: 'string' },
      'mysql-url': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
