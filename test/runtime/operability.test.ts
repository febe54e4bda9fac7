// Operability: the HTTP endpoints (metrics, liveness, readiness) and a graceful
// SIGTERM that commits, leaves the group and exits 0.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { passthroughTopology } from '../../processors/runtime/examples/passthrough/topology.ts';
import { defineProcessor, input, keyValueStore, output } from '../../processors/runtime/processor.ts';
import type { SourceMessage } from '../../processors/runtime/processor.ts';
import { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { ProcessorChild } from './child.ts';
import {
  committedOffsets,
  createTopics,
  jsonMessages,
  nextEvent,
  produce,
  readTopic,
  testConfig,
  testEnvironment,
  uniqueName,
  waitFor,
  withAdmin,
} from './helpers.ts';

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/** Returns the value of the sample of `name` whose labels include `labels`, from Prometheus text. */
function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (match === null || match[1] !== name) {
      continue;
    }
    const found = new Map([...match[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) {
      return Number(match[3]);
    }
  }
  return undefined;
}

async function decodeJson(message: SourceMessage): Promise<{ id: number } | null> {
  return message.value === null ? null : (JSON.parse(message.value.toString('utf8')) as { id: number });
}

describe('http endpoints', () => {
  it('reports readiness only after restore and init', async () => {
    const topics = { input: uniqueName('http-in'), output: uniqueName('http-out') };
    const app = uniqueName('http-app');
    await createTopics([{ topic: topics.input, partitions: 1 }]);
    await produce(topics.input, jsonMessages(25, (index) => ({ key: `k${index}`, value: { id: index } })));

    let releaseInit!: () => void;
    const initGate = new Promise<void>((resolve) => {
      releaseInit = resolve;
    });
    const definition = defineProcessor({
      name: app,
      inputs: { source: input({ topic: topics.input, decode: decodeJson, keyedBy: 'id' }) },
      stores: { ids: keyValueStore<number>() },
      outputs: { sink: output<{ id: number }>(topics.output) },
      init: () => initGate,
      process(record, ctx) {
        ctx.store('ids').put(String(record.value.id), record.value.id);
        ctx.emit('sink', { key: record.key, value: record.value });
      },
    });
    const runtime = new ProcessorRuntime(definition, { config: testConfig(app) });
    const ready = nextEvent(runtime, 'ready');
    await runtime.start();
    try {
      const port = runtime.httpPort!;
      const live = await get(port, '/healthz');
      assert.equal(live.status, 200);

      // start() can return before the group assigns the task, so wait until it shows up.
      let notReady = await get(port, '/readyz');
      for (let attempt = 0; attempt < 100 && !notReady.body.includes('initializing'); attempt++) {
        assert.equal(notReady.status, 503);
        await new Promise((resolve) => setTimeout(resolve, 100));
        notReady = await get(port, '/readyz');
      }
      assert.equal(notReady.status, 503);
      assert.deepEqual((JSON.parse(notReady.body) as { tasks: Record<string, string> }).tasks, { 0: 'initializing' });

      releaseInit();
      await ready;
      const readyNow = await get(port, '/readyz');
      assert.equal(readyNow.status, 200);
      assert.deepEqual((JSON.parse(readyNow.body) as { tasks: Record<string, string> }).tasks, { 0: 'running' });

      await readTopic(topics.output, { expected: 25 });
      const metrics = await get(port, '/metrics');
      assert.equal(metrics.status, 200);
      assert.equal(sample(metrics.body, 'cio_cdc_records_in_total', { topic: topics.input, application_id: app }), 25);
      assert.equal(sample(metrics.body, 'cio_cdc_records_out_total', { topic: topics.output }), 25);
      assert.ok((sample(metrics.body, 'cio_cdc_commit_duration_seconds_count', {}) ?? 0) >= 1, 'no commit latency sample');
      assert.ok((sample(metrics.body, 'cio_cdc_batch_duration_seconds_count', { role: 'input' }) ?? 0) >= 1, 'no batch latency sample');
      assert.equal(sample(metrics.body, 'cio_cdc_restore_duration_seconds_count', { store: 'ids' }), 1);
      assert.equal(sample(metrics.body, 'cio_cdc_consumer_lag', { topic: topics.input, partition: '0' }), 0);
      assert.equal(sample(metrics.body, 'cio_cdc_pending_timers', { kind: 'event-time' }), 0);
      assert.equal(sample(metrics.body, 'cio_cdc_assigned_tasks', {}), 1);

      const missing = await get(port, '/nope');
      assert.equal(missing.status, 404);
    } finally {
      releaseInit();
      await runtime.stop();
    }
  });
});

describe('graceful shutdown', () => {
  it('commits, leaves the group and exits 0 on SIGTERM', async () => {
    const topics = { input: uniqueName('term-in'), output: uniqueName('term-out') };
    const app = uniqueName('term-app');
    await createTopics([{ topic: topics.input, partitions: 2 }]);
    await produce(topics.input, jsonMessages(2_000, (index) => ({ key: `k${index % 11}`, value: { id: index } })));

    const child = new ProcessorChild(
      'passthrough-child.ts',
      [topics.input, topics.output, app],
      testEnvironment(app, { CIO_CDC_TRANSACTION_MAX_RECORDS: '50', LOG_LEVEL: 'warn' }),
    );
    await child.waitForLine('ready', 60_000);
    await waitFor('the child to commit some records', async () => {
      const committed = await committedOffsets(app, topics.input);
      return [...committed.values()].some((offset) => Number(offset) > 0);
    });

    const started = Date.now();
    const exit = await child.kill('SIGTERM');
    const elapsedMs = Date.now() - started;
    assert.equal(exit.code, 0, `exit code ${String(exit.code)}, signal ${String(exit.signal)}\n${child.output()}`);
    assert.ok(elapsedMs < 20_000, `shutdown took ${elapsedMs} ms`);

    // Left the group: otherwise the member would stay listed until its session timed out.
    const group = await withAdmin(async (admin) => (await admin.describeGroups([app])).groups[0]);
    assert.equal(group?.members.length, 0);

    // Nothing half-done: every committed input offset has exactly its output.
    const committed = await committedOffsets(app, topics.input);
    const processed = [...committed.values()].reduce((sum, offset) => sum + Math.max(0, Number(offset)), 0);
    const outputs = await readTopic(topics.output, { expected: processed });
    assert.equal(outputs.length, processed);
  });
});
