/**
 * Runs the orders processor:
 *   ORDERS_GRACE_MS=5000 KAFKA_BROKERS=127.0.0.1:9092 node processors/orders/main.ts
 */
import promClient from 'prom-client';

import { loadMapping } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { runMain } from '../runtime/index.ts';
import { loadOrdersConfig } from './config.ts';
import type { OrdersConfig } from './config.ts';
import { ordersTopology } from './topology.ts';

let config: OrdersConfig;
let mapping: Mapping;
try {
  config = loadOrdersConfig();
  mapping = loadMapping(config.mappingFile);
} catch (error) {
  // Exit code 2 = invalid configuration, as runMain uses it.
  process.stderr.write(`${JSON.stringify({ level: 60, msg: 'invalid configuration', err: String(error) })}\n`);
  process.exit(2);
}
const guestsSkipped = new promClient.Counter({
  name: 'cio_cdc_orders_guest_skipped_total',
  help: 'Orders, refunds and subscriptions without customer id, not sent to Customer.io.',
  labelNames: ['what'],
  registers: [],
});

const completionWaits = new promClient.Counter({
  name: 'cio_cdc_orders_completion_waits_total',
  help: 'Orders whose wall-clock completion found the items input not caught up and waited for it.',
  registers: [],
});

await runMain(
  ordersTopology({
    config,
    mapping,
    onGuestSkipped: (what) => guestsSkipped.inc({ what }),
    onCompletionWait: () => completionWaits.inc(),
  }),
  {
    onReady: (runtime) => {
      runtime.metrics.registry.registerMetric(guestsSkipped);
      runtime.metrics.registry.registerMetric(completionWaits);
    },
  },
);
