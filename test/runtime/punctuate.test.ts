// The definition's punctuate on the real broker: it runs for tasks that never received a
// record, and its records can name their output partition.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { defineProcessor, input, keyValueStore, output } from '../../processors/runtime/processor.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { createTopics, readTopic, startRuntime, testConfig, uniqueName } from './helpers.ts';

const runtimes: ProcessorRuntime[] = [];
after(async () => {
  await Promise.all(runtimes.map((runtime) => runtime.stop()));
});

interface Beat {
  readonly task: number;
  readonly tasks: number;
  readonly partitions: number;
}

describe('runtime punctuate', () => {
  it('runs once per idle task', async () => {
    const topics = { input: uniqueName('punctuate-in'), output: uniqueName('punctuate-out') };
    // The output has more partitions than the processor has tasks, so the key cannot place the records.
    await createTopics([
      { topic: topics.input, partitions: 3 },
      { topic: topics.output, partitions: 5 },
    ]);
    const name = uniqueName('punctuate-app');
    const definition = defineProcessor({
      name,
      inputs: { events: input<string>({ topic: topics.input, decode: async () => null, keyedBy: 'id' }) },
      stores: { done: keyValueStore<boolean>() },
      outputs: { beats: output<Beat>(topics.output) },
      process() {},
      punctuate: {
        intervalMs: 200,
        run(ctx) {
          // The store commits with the records, so each task writes its records once.
          if (ctx.store('done').get('beat') === true) return;
          const partitions = ctx.outputPartitions('beats');
          for (let partition = 0; partition < partitions; partition += 1) {
            ctx.emit('beats', { key: 'same-key', value: { task: ctx.task, tasks: ctx.taskCount, partitions }, partition });
          }
          ctx.store('done').put('beat', true);
        },
      },
    });
    runtimes.push(await startRuntime(definition, { config: testConfig(name) }));

    const records = await readTopic(topics.output, { expected: 3 * 5, timeoutMs: 60_000 });
    const seen = records.map((record) => ({ partition: record.partition, ...(JSON.parse(record.value!) as Beat) }));
    assert.equal(seen.length, 15, 'one record per task and output partition, none repeated');
    for (const task of [0, 1, 2]) {
      const partitions = seen.filter((beat) => beat.task === task).map((beat) => beat.partition).sort();
      assert.deepEqual(partitions, [0, 1, 2, 3, 4], `partitions written by task ${task}`);
    }
    assert.ok(seen.every((beat) => beat.tasks === 3 && beat.partitions === 5), 'taskCount and outputPartitions as the cluster has them');
  });
});
