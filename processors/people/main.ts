/**
 * Runs the people processor:
 *   node processors/people/main.ts
 * Configuration: processors/people/config.ts and processors/runtime/config.ts.
 */
import { loadMapping } from '../mapping/mapping.ts';
import { runMain } from '../runtime/index.ts';
import { loadPeopleConfig } from './config.ts';
import { PeopleMetrics } from './metrics.ts';
import { peopleTopology } from './topology.ts';

const config = loadPeopleConfig();
const metrics = new PeopleMetrics();
await runMain(peopleTopology(config, loadMapping(config.mappingFile), 'people', metrics), {
  onReady: (runtime) => metrics.registerIn(runtime.metrics.registry),
});
