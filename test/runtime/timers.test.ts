// Timers against the real broker: event-time timers fire on stream time,
// wall-clock timers fire through the injected clock on an idle partition, and
// both survive a restart because they are restored from the changelog.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defineProcessor, input, output } from '../../processors/runtime/processor.ts';
import type { SourceMessage } from '../../processors/runtime/processor.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { createTopics, produce, readTopic, startRuntime, testConfig, uniqueName } from './helpers.ts';

interface TimerInput {
  readonly id: string;
  readonly action: 'hold' | 'tick';
  /** Event time, ms. */
  readonly at: number;
  readonly wallDeadlineMs?: number;
}

interface LogEntry {
  readonly type: 'seen' | 'fired';
  readonly id: string;
  readonly kind?: string;
  readonly firedAtMs?: number;
}

/** A clock the test moves by hand. */
class ManualClock {
  current: number;

  constructor(start: number) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }
}

async function decodeJson(message: SourceMessage): Promise<TimerInput | null> {
  return message.value === null ? null : (JSON.parse(message.value.toString('utf8')) as TimerInput);
}

function timerProcessor(topics: { input: string; output: string }, name: string) {
  return defineProcessor({
    name,
    inputs: {
      events: input<TimerInput>({ topic: topics.input, decode: decodeJson, keyedBy: 'id', eventTime: (value) => value.at }),
    },
    outputs: { log: output<LogEntry>(topics.output) },
    process(record, ctx) {
      const { id, action, at, wallDeadlineMs } = record.value;
      ctx.emit('log', { key: 'k', value: { type: 'seen', id } });
      if (action === 'hold') {
        ctx.schedule({ kind: 'event-time', key: id, deadlineMs: at + 1_000 });
        if (wallDeadlineMs !== undefined) {
          ctx.schedule({ kind: 'wall-clock', key: id, deadlineMs: wallDeadlineMs });
        }
      }
    },
    onTimer(timer, ctx) {
      ctx.emit('log', { key: 'k', value: { type: 'fired', id: timer.key, kind: timer.kind, firedAtMs: timer.firedAtMs } });
    },
  });
}

function event(value: TimerInput) {
  return { key: 'k', value: JSON.stringify(value) };
}

function entries(records: { value: string | null }[]): LogEntry[] {
  return records.map((record) => JSON.parse(record.value!) as LogEntry);
}

function label(entry: LogEntry): string {
  return entry.type === 'seen' ? `seen ${entry.id}` : `fired ${entry.kind} ${entry.id}`;
}

/** Resolves after `count` complete wall-clock checks of `task` that began after this call. */
function wallClockChecks(runtime: ProcessorRuntime, task: number, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const listener = (checked: number) => {
      // The first completion may belong to a check that started before the call.
      if (checked === task && ++seen > count) {
        runtime.off('wall-clock-checked', listener);
        resolve();
      }
    };
    runtime.on('wall-clock-checked', listener);
  });
}

async function pendingTimers(runtime: ProcessorRuntime, kind: string): Promise<number | undefined> {
  const metric = await runtime.metrics.pendingTimers.get();
  return metric.values.find((value) => value.labels.kind === kind)?.value;
}

describe('timers', () => {
  it('fires an event-time timer once stream time passes it', async () => {
    const topics = { input: uniqueName('timer-in'), output: uniqueName('timer-out') };
    const app = uniqueName('timer-app');
    await createTopics([{ topic: topics.input, partitions: 1 }]);
    await produce(topics.input, [
      event({ id: 'A', action: 'hold', at: 10_000 }),
      event({ id: 't1', action: 'tick', at: 10_500 }),
      event({ id: 't2', action: 'tick', at: 11_000 }),
    ]);
    const runtime = await startRuntime(timerProcessor(topics, app), { config: testConfig(app) });
    try {
      const log = entries(await readTopic(topics.output, { expected: 4 }));
      assert.deepEqual(log.map(label), ['seen A', 'seen t1', 'fired event-time A', 'seen t2']);
      assert.equal(log[2]?.firedAtMs, 11_000);
    } finally {
      await runtime.stop();
    }
  });

  it('fires a wall-clock timer on an idle partition', async () => {
    const topics = { input: uniqueName('wall-in'), output: uniqueName('wall-out') };
    const app = uniqueName('wall-app');
    await createTopics([{ topic: topics.input, partitions: 1 }]);
    const clock = new ManualClock(1_000_000);
    const runtime = await startRuntime(timerProcessor(topics, app), {
      config: testConfig(app, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '5000' }),
      clock,
    });
    try {
      await produce(topics.input, [event({ id: 'B', action: 'hold', at: 50_000, wallDeadlineMs: 1_010_000 })]);
      assert.deepEqual(entries(await readTopic(topics.output, { expected: 1 })).map(label), ['seen B']);

      // Deadline passed, lateness bound not yet: nothing fires.
      clock.current = 1_014_999;
      await wallClockChecks(runtime, 0, 2);
      assert.deepEqual(entries(await readTopic(topics.output, { expected: 1 })).map(label), ['seen B']);
      assert.equal(await pendingTimers(runtime, 'wall-clock'), 1);

      clock.current = 1_015_000;
      const log = entries(await readTopic(topics.output, { expected: 2 }));
      assert.deepEqual(log.map(label), ['seen B', 'fired wall-clock B']);
      assert.equal(log[1]?.firedAtMs, 1_015_000);
      await wallClockChecks(runtime, 0, 1);
      assert.equal(await pendingTimers(runtime, 'wall-clock'), 0);
      assert.equal(await pendingTimers(runtime, 'event-time'), 1);
    } finally {
      await runtime.stop();
    }
  });

  it('restores timers after a restart', async () => {
    const topics = { input: uniqueName('restart-in'), output: uniqueName('restart-out') };
    const app = uniqueName('restart-app');
    await createTopics([{ topic: topics.input, partitions: 1 }]);
    const config = testConfig(app, { CIO_CDC_TIMER_LATENESS_BOUND_MS: '5000' });

    const before = await startRuntime(timerProcessor(topics, app), { config, clock: new ManualClock(2_000_000) });
    try {
      await produce(topics.input, [event({ id: 'C', action: 'hold', at: 20_000, wallDeadlineMs: 2_100_000 })]);
      await readTopic(topics.output, { expected: 1 });
    } finally {
      await before.stop();
    }

    // The new instance starts long after the wall-clock deadline; stream time is
    // restored too, so one record at the event-time deadline fires that timer.
    const after = await startRuntime(timerProcessor(topics, app), { config, clock: new ManualClock(2_200_000) });
    try {
      await produce(topics.input, [event({ id: 't', action: 'tick', at: 21_000 })]);
      const log = entries(await readTopic(topics.output, { expected: 4 }));
      const labels = log.map(label);
      assert.equal(labels.length, 4);
      assert.equal(labels[0], 'seen C');
      assert.equal(labels.filter((entry) => entry === 'fired wall-clock C').length, 1);
      assert.equal(labels.filter((entry) => entry === 'fired event-time C').length, 1);
      assert.ok(labels.indexOf('fired event-time C') < labels.indexOf('seen t'), `event-time timer fired after the record: ${labels.join(', ')}`);
    } finally {
      await after.stop();
    }
  });
});
