/**
 * Process entry point for a processor: parses the configuration, starts the
 * runtime and turns SIGTERM/SIGINT into a graceful stop.
 *
 * Exit codes: 0 after a graceful stop; 1 when start-up fails, the consumer
 * crashes or shutdown exceeds CIO_CDC_SHUTDOWN_TIMEOUT_MS; 2 for invalid
 * configuration.
 */
import { loadRuntimeConfig } from './config.ts';
import type { RuntimeConfig } from './config.ts';
import type { InputMap, OutputMap, ProcessorDefinition, StoreMap } from './processor.ts';
import { ProcessorRuntime } from './runtime.ts';
import { createRootLogger } from './telemetry.ts';
import type { Clock } from './timers.ts';

export interface MainOptions {
  readonly clock?: Clock;
  /** Called once when every assigned task first runs (for supervisors and tests). */
  readonly onReady?: (runtime: ProcessorRuntime) => void;
}

export async function runMain<I extends InputMap, S extends StoreMap, O extends OutputMap>(
  definition: ProcessorDefinition<I, S, O>,
  options: MainOptions = {},
): Promise<ProcessorRuntime | undefined> {
  let config: RuntimeConfig;
  try {
    config = loadRuntimeConfig({ applicationId: definition.name });
  } catch (error) {
    createRootLogger({ level: 'info', applicationId: definition.name, instanceId: String(process.pid) }).fatal(
      { err: error },
      'invalid configuration',
    );
    process.exitCode = 2;
    return undefined;
  }

  const log = createRootLogger({ level: config.logLevel, applicationId: config.applicationId, instanceId: config.instanceId });
  const runtime = new ProcessorRuntime(definition, { config, logger: log, ...(options.clock ? { clock: options.clock } : {}) });

  let exiting = false;
  const exit = (code: number, reason: string) => {
    if (exiting) {
      return;
    }
    exiting = true;
    const deadline = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs, reason }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    runtime.stop().then(
      () => {
        log.info({ code, reason }, 'exiting');
        process.exit(code);
      },
      (error: unknown) => {
        log.error({ err: error, reason }, 'shutdown failed');
        process.exit(1);
      },
    );
  };

  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'shutdown requested');
    exit(0, signal);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  runtime.on('crash', () => exit(1, 'consumer crashed'));
  if (options.onReady !== undefined) {
    const onReady = options.onReady;
    runtime.once('ready', () => onReady(runtime));
  }

  try {
    await runtime.start();
  } catch (error) {
    log.fatal({ err: error }, 'runtime failed to start');
    exit(1, 'start failed');
    return undefined;
  }
  return runtime;
}
