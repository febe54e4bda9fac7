/**
 * Runs the suppression processor:
 *   node processors/suppression/main.ts
 * Configuration: see config.ts (topics, window, quiet period, idle timeout) and the runtime's
 * config.ts (brokers, application id, timers).
 */
import { runMain } from '../runtime/index.ts';
import { loadSuppressionConfig } from './config.ts';
import { SuppressionMetrics } from './metrics.ts';
import { suppressionTopology } from './topology.ts';

const metrics = new SuppressionMetrics();
await runMain(suppressionTopology(loadSuppressionConfig(), { metrics }), {
  onReady: (runtime) => metrics.registerIn(runtime.metrics.registry),
});
