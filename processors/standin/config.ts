/**
 * Configuration of the stand-in command, parsed once from the environment and the command-line
 * flags into a frozen object. A flag wins over its environment variable.
 */

import { parseArgs } from 'node:util';

import { StandinConfigError } from './errors.ts';
import { checkFaultConfig, type FaultConfig } from './faults.ts';
import { DEFAULT_STANDIN_PORT } from './server.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

export type StandinLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly StandinLogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface StandinConfig {
  readonly host: string;
  readonly port: number;
  readonly siteId: string;
  readonly apiKey: string;
  readonly region: 'us' | 'eu';
  readonly faults: FaultConfig;
  readonly logLevel: StandinLogLevel;
}

/** Flags, their environment variables and defaults, as --help lists them. */
export const STANDIN_OPTIONS = Object.freeze([
  { flag: 'host', variable: 'CIO_STANDIN_HOST', default: '127.0.0.1', help: 'address to listen on' },
  { flag: 'port', variable: 'CIO_STANDIN_PORT', default: String(DEFAULT_STANDIN_PORT), help: 'TCP port; 0 picks a free one' },
  { flag: 'site-id', variable: 'CIO_STANDIN_SITE_ID', default: 'standin-site', help: 'site id expected in Basic auth' },
  { flag: 'api-key', variable: 'CIO_STANDIN_API_KEY', default: 'standin-key', help: 'Track API key expected in Basic auth' },
  { flag: 'region', variable: 'CIO_STANDIN_REGION', default: 'us', help: 'region reported by /api/v1/accounts/region: us or eu' },
  { flag: 'faults', variable: 'CIO_STANDIN_FAULTS', default: '{}', help: 'fault configuration as JSON, as for POST /_admin/faults' },
  { flag: 'log-level', variable: 'CIO_STANDIN_LOG_LEVEL', default: 'info', help: 'pino level; debug logs every call' },
] as const);

export type StandinFlag = (typeof STANDIN_OPTIONS)[number]['flag'];

/** Parses flags and environment; returns `help: true` when --help was given. Throws StandinConfigError naming the bad value. */
export function parseStandinConfig(argv: readonly string[], env: Environment): { help: boolean; config: StandinConfig } {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    throw new StandinConfigError(`${(err as Error).message}; run with --help for the options`);
  }

  const value = (flag: StandinFlag): string => {
    const option = STANDIN_OPTIONS.find((candidate) => candidate.flag === flag);
    if (option === undefined) throw new StandinConfigError(`unknown option ${flag}`);
    const fromFlag = parsed.values[flag];
    if (typeof fromFlag === 'string') return fromFlag;
    return env[option.variable] ?? option.default;
  };

  const portText = value('port');
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) throw new StandinConfigError(`--port / CIO_STANDIN_PORT must be a port number (0-65535), got ${JSON.stringify(portText)}`);

  const region = value('region');
  if (region !== 'us' && region !== 'eu') throw new StandinConfigError(`--region / CIO_STANDIN_REGION must be us or eu, got ${JSON.stringify(region)}`);

  const logLevel = value('log-level') as StandinLogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new StandinConfigError(`--log-level / CIO_STANDIN_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  let faults: FaultConfig;
  try {
    faults = checkFaultConfig(JSON.parse(value('faults')));
  } catch (err) {
    throw new StandinConfigError(`--faults / CIO_STANDIN_FAULTS is invalid: ${(err as Error).message}`);
  }

  const siteId = value('site-id');
  const apiKey = value('api-key');
  if (siteId === '' || apiKey === '') throw new StandinConfigError('--site-id and --api-key must not be empty');

  const config: StandinConfig = Object.freeze({ host: value('host'), port, siteId, apiKey, region, faults: Object.freeze(faults), logLevel });
  return { help: parsed.values.help === true, config };
}

/** Returns the --help text. */
export function standinUsage(command = 'cio-cdc standin'): string {
  const width = Math.max(...STANDIN_OPTIONS.map((option) => option.flag.length)) + 2;
  const lines = STANDIN_OPTIONS.map(
    (option) => `  --${option.flag.padEnd(width)} ${option.help} (${option.variable}, default ${option.default})`,
  );
  return [`usage: ${command} [options]`, '', 'Runs a local stand-in for the Customer.io Track API (also: node processors/standin/main.ts).', '', 'options:', ...lines, `  --${'help'.padEnd(width)} show this text`, ''].join('\n');
}

function parseFlags(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'site-id': { type: 'string' },
      'api-key': { type: 'string' },
      region: { type: 'string' },
      faults: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
