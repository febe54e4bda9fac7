/**
 * Runs the Customer.io stand-in until SIGINT or SIGTERM:
 *
 *   node processors/standin/main.ts --port 8089
 *
 * Also reachable as `cio-cdc standin`. Prints one JSON log line with the URL once it listens.
 */

import { pino } from 'pino';

import { parseStandinConfig, standinUsage } from './config.ts';
import { StandinConfigError } from './errors.ts';
import { startStandin } from './server.ts';

/** Runs the stand-in command with `argv` (flags only); resolves with the exit code after a signal. */
export async function runStandinCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let parsed: ReturnType<typeof parseStandinConfig>;
  try {
    parsed = parseStandinConfig(argv, env);
  } catch (err) {
    if (!(err instanceof StandinConfigError)) throw err;
    process.stderr.write(`standin: ${err.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(standinUsage());
    return 0;
  }

  const { config } = parsed;
  const logger = pino({ name: 'standin', level: config.logLevel });
  const standin = await startStandin({
    host: config.host,
    port: config.port,
    siteId: config.siteId,
    apiKey: config.apiKey,
    region: config.region,
    faults: config.faults,
    logger,
  });
  logger.info({ url: standin.url, siteId: standin.siteId, region: config.region }, 'standin listening');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await standin.close();
  logger.info({ stats: standin.stats() }, 'standin stopped');
  return 0;
}

if (import.meta.main) {
  runStandinCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`standin: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
