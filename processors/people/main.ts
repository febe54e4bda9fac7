/**
 * Runs the people processor:
 *   node processors/people/main.ts
 * Configuration: processors/people/config.ts and processors/runtime/config.ts.
 */
import { loadMapping } from '../mapping/mapping.ts';
import { runMain } from '../runtime/index.ts';
import { loadPeopleConfig } from './config.ts';
import { peopleTopology } from './topology.ts';

const config = loadPeopleConfig();
await runMain(peopleTopology(config, loadMapping(config.mappingFile)));
