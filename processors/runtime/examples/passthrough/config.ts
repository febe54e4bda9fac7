/**
 * Topic names of the example processor, from the environment.
 */
import type { PassthroughTopics } from './topology.ts';

export function loadPassthroughTopics(env: Readonly<Record<string, string | undefined>> = process.env): PassthroughTopics {
  return Object.freeze({
    input: env.PASSTHROUGH_INPUT_TOPIC?.trim() || 'passthrough-in',
    output: env.PASSTHROUGH_OUTPUT_TOPIC?.trim() || 'passthrough-out',
  });
}
