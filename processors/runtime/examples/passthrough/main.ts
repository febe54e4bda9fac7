/**
 * Runs the example processor:
 *   PASSTHROUGH_INPUT_TOPIC=in PASSTHROUGH_OUTPUT_TOPIC=out node processors/runtime/examples/passthrough/main.ts
 */
import { runMain } from '../../index.ts';
import { loadPassthroughTopics } from './config.ts';
import { passthroughTopology } from './topology.ts';

await runMain(passthroughTopology(loadPassthroughTopics()));
