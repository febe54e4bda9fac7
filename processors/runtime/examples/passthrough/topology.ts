/**
 * Example processor: passes every record of one topic through to another and
 * counts records per key in a store. It shows the form every processor's
 * topology.ts takes: inputs, stores and outputs by name, then the handler.
 *
 *   source (keyed by "key") ──▶ process ──▶ sink
 *                                  │
 *                                counts  (key → records seen)
 */
import { defineProcessor, input, keyValueStore, output } from '../../index.ts';
import type { SourceMessage } from '../../index.ts';

export type JsonRecord = Readonly<Record<string, unknown>>;

export interface PassthroughTopics {
  readonly input: string;
  readonly output: string;
}

/** Parses a JSON value; a null value (tombstone) is skipped. Invalid JSON is dead-lettered. */
export async function decodeJson(message: SourceMessage): Promise<JsonRecord | null> {
  if (message.value === null) {
    return null;
  }
  return JSON.parse(message.value.toString('utf8')) as JsonRecord;
}

export function passthroughTopology(topics: PassthroughTopics, name = 'passthrough') {
  return defineProcessor({
    name,
    inputs: {
      source: input({ topic: topics.input, decode: decodeJson, keyedBy: 'key' }),
    },
    stores: {
      counts: keyValueStore<number>(),
    },
    outputs: {
      sink: output<JsonRecord & { count: number }>(topics.output),
    },
    process(record, ctx) {
      const key = record.key?.toString('utf8') ?? '';
      const counts = ctx.store('counts');
      const count = (counts.get(key) ?? 0) + 1;
      counts.put(key, count);
      ctx.emit('sink', { key: record.key, value: { ...record.value, count } });
    },
  });
}
