// Poison records: a non-retriable decode or handler failure sends the record to
// the dead-letter topic in the batch's transaction, and the partition moves on.
// A retriable decode failure is retried and never dead-lettered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defineProcessor, input, keyValueStore, output } from '../../processors/runtime/processor.ts';
import type { SourceMessage } from '../../processors/runtime/processor.ts';
import {
  capturingLogger,
  committedOffsets,
  createTopics,
  produce,
  readTopic,
  startRuntime,
  testConfig,
  uniqueName,
  waitFor,
} from './helpers.ts';

interface Payload {
  readonly id: string;
  readonly flaky?: boolean;
  readonly explode?: boolean;
}

class SchemaRegistryUnavailable extends Error {
  readonly retriable = true;
}

function poisonProcessor(topics: { input: string; output: string }, name: string, failuresPerFlakyRecord: number) {
  const attempts = new Map<string, number>();
  async function decode(message: SourceMessage): Promise<Payload | null> {
    const value = JSON.parse(message.value!.toString('utf8')) as Payload;
    if (value.flaky === true) {
      const seen = attempts.get(message.offset) ?? 0;
      attempts.set(message.offset, seen + 1);
      if (seen < failuresPerFlakyRecord) {
        throw new SchemaRegistryUnavailable('schema registry answered 503');
      }
    }
    return value;
  }
  return {
    attempts,
    definition: defineProcessor({
      name,
      inputs: { source: input({ topic: topics.input, decode, keyedBy: 'id' }) },
      stores: { seen: keyValueStore<number>() },
      outputs: { sink: output<Payload>(topics.output) },
      process(record, ctx) {
        // Written before the failure: it must be rolled back with the record.
        ctx.store('seen').put(record.value.id, 1);
        if (record.value.explode === true) {
          ctx.emit('sink', { key: record.key, value: { id: `${record.value.id}-partial` } });
          throw new TypeError('cannot read property total of undefined');
        }
        ctx.emit('sink', { key: record.key, value: record.value });
      },
    }),
  };
}

describe('dead letters', () => {
  it('sends poison records to the DLQ and moves on', async () => {
    const topics = { input: uniqueName('poison-in'), output: uniqueName('poison-out') };
    const app = uniqueName('poison-app');
    await createTopics([{ topic: topics.input, partitions: 1 }]);
    await produce(topics.input, [
      { key: 'r0', value: JSON.stringify({ id: 'r0' }) },
      { key: 'r1', value: 'not json at all', headers: { trace: 'abc' } },
      { key: 'r2', value: JSON.stringify({ id: 'r2', flaky: true }) },
      { key: 'r3', value: JSON.stringify({ id: 'r3', explode: true }) },
      { key: 'r4', value: JSON.stringify({ id: 'r4' }) },
    ]);
    const { definition, attempts } = poisonProcessor(topics, app, 2);
    const { logger, lines } = capturingLogger('info');
    const runtime = await startRuntime(definition, { config: testConfig(app), logger });
    try {
      await waitFor('offset 5 to be committed', async () => (await committedOffsets(app, topics.input)).get(0) === '5');

      const outputs = await readTopic(topics.output, { expected: 3 });
      assert.deepEqual(
        outputs.map((record) => (JSON.parse(record.value!) as Payload).id),
        ['r0', 'r2', 'r4'],
      );
      assert.equal(attempts.get('2'), 3, 'the flaky record was not decoded three times');

      const dead = await readTopic(`${app}-dlq`, { expected: 2 });
      assert.equal(dead.length, 2);
      const [decodeFailure, handlerFailure] = dead;
      assert.equal(decodeFailure?.key, 'r1');
      assert.equal(decodeFailure?.value, 'not json at all');
      assert.equal(decodeFailure?.headers['cio-cdc-dlq-source-topic'], topics.input);
      assert.equal(decodeFailure?.headers['cio-cdc-dlq-source-partition'], '0');
      assert.equal(decodeFailure?.headers['cio-cdc-dlq-source-offset'], '1');
      assert.equal(decodeFailure?.headers['cio-cdc-dlq-stage'], 'decode');
      assert.equal(decodeFailure?.headers['cio-cdc-dlq-error-class'], 'SyntaxError');
      assert.ok(decodeFailure?.headers['cio-cdc-dlq-error-message']?.length, 'the error message header is empty');
      assert.equal(decodeFailure?.headers['trace'], 'abc');

      assert.equal(handlerFailure?.key, 'r3');
      assert.equal(handlerFailure?.headers['cio-cdc-dlq-source-offset'], '3');
      assert.equal(handlerFailure?.headers['cio-cdc-dlq-stage'], 'process');
      assert.equal(handlerFailure?.headers['cio-cdc-dlq-error-class'], 'TypeError');
      assert.equal(handlerFailure?.headers['cio-cdc-dlq-error-message'], 'cannot read property total of undefined');

      const seen = runtime.storeSnapshot(0, 'seen');
      assert.deepEqual([...seen.keys()].sort(), ['r0', 'r2', 'r4'], 'the failed handler kept its store write');

      const deadLetters = (await runtime.metrics.deadLetters.get()).values;
      assert.equal(deadLetters.find((value) => value.labels.stage === 'decode')?.value, 1);
      assert.equal(deadLetters.find((value) => value.labels.stage === 'process')?.value, 1);
      const retries = (await runtime.metrics.retries.get()).values.find((value) => value.labels.reason === 'decode');
      assert.equal(retries?.value, 2);

      const logged = lines.filter((line) => line['msg'] === 'record sent to the dead-letter topic');
      assert.equal(logged.length, 2);
      assert.deepEqual(
        logged.map((line) => [line['topic'], line['partition'], line['offset'], line['key'], line['stage']]),
        [
          [topics.input, 0, '1', 'r1', 'decode'],
          [topics.input, 0, '3', 'r3', 'process'],
        ],
      );
    } finally {
      await runtime.stop();
    }
  });
});
