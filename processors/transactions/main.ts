/**
 * Runs the transactions processor:
 *   KAFKA_BROKERS=127.0.0.1:9092 node processors/transactions/main.ts
 * Configuration: see config.ts and the runtime's config.ts (brokers, application id, timers).
 */
import { loadMapping } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { runMain } from '../runtime/index.ts';
import { loadTransactionsConfig } from './config.ts';
import type { TransactionsConfig } from './config.ts';
import { TransactionsMetrics } from './metrics.ts';
import { transactionsTopology } from './topology.ts';

let config: TransactionsConfig;
let mapping: Mapping;
try {
  config = loadTransactionsConfig();
  mapping = loadMapping(config.mappingFile);
} catch (error) {
  // Exit code 2 = invalid configuration, as runMain uses it.
  process.stderr.write(`${JSON.stringify({ level: 60, msg: 'invalid configuration', err: String(error) })}\n`);
  process.exit(2);
}
const metrics = new TransactionsMetrics();

await runMain(transactionsTopology({ config, mapping, metrics }), {
  onReady: (runtime) => metrics.registerIn(runtime.metrics.registry),
});
