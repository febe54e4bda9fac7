/**
 * Runs the carts processor:
 *   node processors/carts/main.ts
 * Configuration: processors/carts/config.ts and processors/runtime/config.ts.
 */
import { loadMapping } from '../mapping/mapping.ts';
import { runMain } from '../runtime/index.ts';
import { loadCartsConfig } from './config.ts';
import { cartsTopology } from './topology.ts';

const config = loadCartsConfig();
await runMain(cartsTopology(config, loadMapping(config.mappingFile)));
