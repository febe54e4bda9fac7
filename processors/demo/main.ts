#!/usr/bin/env node
/**
 * `npm run demo [-- options]` and `cio-cdc demo [options]`: runs the whole pipeline against the
 * local stack and prints what reached the Customer.io stand-in. Options: config.ts.
 * Exit codes: 0 done, 1 failed (or did not drain), 2 bad usage.
 */
import { demoUsage, parseDemoConfig } from './config.ts';
import type { Environment } from './config.ts';
import { runDemo, stopKeptDemo } from './demo.ts';
import type { DemoIo } from './demo.ts';
import { DemoError, DemoUsageError } from './errors.ts';
import { formatSummary } from './summary.ts';

export async function runDemoCommand(argv: readonly string[], env: Environment = process.env, io: DemoIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  let config;
  try {
    config = parseDemoConfig(argv, env);
  } catch (err) {
    if (!(err instanceof DemoUsageError)) throw err;
    io.err.write(`demo: ${err.message}\n`);
    return 2;
  }
  if (config === null) {
    io.out.write(demoUsage());
    return 0;
  }
  if (config.stop) return stopKeptDemo(config, io);
  try {
    const { summary, keptPids } = await runDemo(config, io);
    io.out.write(config.json ? `${JSON.stringify({ ...summary, keptPids })}\n` : formatSummary(summary));
    if (config.keep) {
      const pids = Object.entries(keptPids).map(([name, pid]) => `${name} ${pid}`).join(', ');
      io.err.write(
        `left running (--keep): ${pids}\n` +
          `'npm run stack:down' stops them and the stack; 'npm run demo -- --stop' stops only them\n` +
          `(pid files demo-*.pid under ${config.homeDir}/run/pids)\n`,
      );
    }
    return summary.drained ? 0 : 1;
  } catch (err) {
    if (!(err instanceof DemoError)) throw err;
    io.err.write(`demo: ${err.message}\n`);
    return 1;
  }
}

if (import.meta.main) {
  runDemoCommand(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Kafka and MySQL clients are closed; a kept child must not hold the demo open.
      setTimeout(() => process.exit(code), 500).unref();
    },
    (err: unknown) => {
      process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
