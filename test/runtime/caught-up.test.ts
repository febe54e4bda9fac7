// ctx.inputCaughtUp against the real broker. A wall-clock timer calls it every
// 100 ms and records the result with the records processed so far. A decoder that
// blocks on one record keeps a record unread: in the source topic of a re-keyed
// input (its re-keying task is blocked) or in the task's own partition of a direct
// input (the only consumer slot is blocked on another partition).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import { defineProcessor, input } from '../../processors/runtime/processor.ts';
import type { DecodeContext, SourceMessage } from '../../processors/runtime/processor.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { createTopics, produce, startRuntime, testConfig, uniqueName, waitFor } from './helpers.ts';

const { Partitioners } = kafkajs;

interface ProbeRecord {
  readonly id: string;
  readonly key: string;
  /** The decoder waits for the gate before it returns this record. */
  readonly hold?: boolean;
}

interface Check {
  readonly caughtUp: boolean;
  /** Ids the handler had processed when inputCaughtUp returned. */
  readonly processed: readonly string[];
}

/** Blocks the decoder on a marked record until the test opens the gate. */
class Gate {
  entered = false;
  private openGate!: () => void;
  readonly opened = new Promise<void>((resolve) => {
    this.openGate = resolve;
  });

  open(): void {
    this.openGate();
  }
}

interface Probe {
  readonly checks: Check[];
  readonly processed: string[];
}

/**
 * A processor with one input `events`. Its decoder blocks on records marked `hold`
 * in `holdRole` until the gate opens. Record `first` starts a wall-clock timer that
 * calls inputCaughtUp('events') and schedules itself again 100 ms later.
 */
function probeProcessor(name: string, topic: string, options: { rekeyed: boolean; holdRole: DecodeContext['role'] }, gate: Gate, probe: Probe) {
  const decode = async (message: SourceMessage, context: DecodeContext): Promise<ProbeRecord | null> => {
    const value = JSON.parse(message.value!.toString('utf8')) as ProbeRecord;
    if (value.hold === true && context.role === options.holdRole) {
      gate.entered = true;
      await gate.opened;
    }
    return value;
  };
  return defineProcessor({
    name,
    inputs: {
      events: input<ProbeRecord>({
        topic,
        decode,
        keyedBy: options.rekeyed ? 'source key' : 'key',
        ...(options.rekeyed ? { repartition: { by: 'key', key: (value: ProbeRecord) => value.key } } : {}),
      }),
    },
    process(record, ctx) {
      probe.processed.push(record.value.id);
      if (record.value.id === 'first') {
        ctx.schedule({ kind: 'wall-clock', key: 'probe', deadlineMs: ctx.now() - ctx.timerLatenessBoundMs });
      }
    },
    async onTimer(timer, ctx) {
      const caughtUp = await ctx.inputCaughtUp('events');
      probe.checks.push({ caughtUp, processed: [...probe.processed] });
      ctx.schedule({ kind: 'wall-clock', key: timer.key, deadlineMs: ctx.now() + 100 - ctx.timerLatenessBoundMs });
    },
  });
}

/** Finds a key that the runtime's partitioner puts on partition `partition` of a topic with `count` partitions. */
function keyFor(partition: number, count: number): string {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 0, replicas: [0], isr: [0] }));
  for (let index = 0; ; index += 1) {
    const key = `key-${index}`;
    if (partitioner({ topic: 'any', partitionMetadata, message: { key, value: null } }) === partition) {
      return key;
    }
  }
}

function message(value: ProbeRecord, partition: number) {
  return { key: value.id, value: JSON.stringify(value), partition };
}

/** Waits for the first check at or after index `from` that satisfies `match`, and returns its index. */
async function nextCheck(probe: Probe, from: number, what: string, match: (check: Check) => boolean): Promise<number> {
  let found = -1;
  await waitFor(what, () => {
    found = probe.checks.findIndex((check, index) => index >= from && match(check));
    return found >= 0;
  });
  return found;
}

/**
 * Runs the checks both cases share, from check `from` on (taken after `unread` was
 * written). Some check returns "not caught up". From then on no check returns
 * "caught up" before `unread` was processed. After the gate opens, a check returns
 * "caught up" with `unread` processed. Checks between `from` and the first false one
 * may reuse a lookup made before `unread` was written, so they are not asserted on.
 */
async function expectWaitThenCaughtUp(probe: Probe, gate: Gate, unread: string, from: number): Promise<void> {
  const firstFalse = await nextCheck(probe, from, `a check returning "not caught up" while ${unread} is unread`, (check) => !check.caughtUp);
  assert.equal(probe.checks[firstFalse]!.processed.includes(unread), false);

  // Several more lookups while the record stays unread (each result is reused for 500 ms).
  await waitFor('checks over more than a second', () => probe.checks.length > firstFalse + 15);
  assert.equal(probe.processed.includes(unread), false, 'the blocked record was processed before the gate opened');

  gate.open();
  const caughtUp = await nextCheck(probe, firstFalse, 'a check returning "caught up" once the blocked record is processed', (check) => check.caughtUp);
  for (const check of probe.checks.slice(firstFalse)) {
    assert.ok(!check.caughtUp || check.processed.includes(unread), `"caught up" while ${unread} was unread`);
  }
  assert.ok(probe.checks[caughtUp]!.processed.includes(unread));
}

const stuckConsumerTimeouts = {
  // The held record keeps one consumer slot busy for seconds; the group must not drop the member meanwhile.
  KAFKA_SESSION_TIMEOUT_MS: '45000',
  KAFKA_REBALANCE_TIMEOUT_MS: '45000',
  CIO_CDC_TIMER_LATENESS_BOUND_MS: '0',
};

describe('ctx.inputCaughtUp', { timeout: 120_000 }, () => {
  it('re-keyed input with unforwarded source record', async () => {
    const topic = uniqueName('caught-up-source');
    const app = uniqueName('caught-up-rekeyed');
    await createTopics([{ topic, partitions: 2 }]);
    // Every record re-keys to task 0. `first` is in source partition 0, which task 0
    // re-keys itself; `held` is in partition 1, which task 1 re-keys.
    const key = keyFor(0, 2);
    await produce(topic, [message({ id: 'first', key }, 0)]);

    const gate = new Gate();
    const probe: Probe = { checks: [], processed: [] };
    const definition = probeProcessor(app, topic, { rekeyed: true, holdRole: 'repartition-source' }, gate, probe);
    const runtime: ProcessorRuntime = await startRuntime(definition, { config: testConfig(app, stuckConsumerTimeouts) });
    try {
      await nextCheck(probe, 0, 'a check returning "caught up" with nothing unread', (check) => check.caughtUp && check.processed.includes('first'));
      await produce(topic, [message({ id: 'held', key, hold: true }, 1)]);
      await waitFor('task 1 blocked on the record while re-keying it', () => gate.entered);
      await expectWaitThenCaughtUp(probe, gate, 'held', probe.checks.length);
    } finally {
      gate.open();
      await runtime.stop();
    }
  });

  it('direct input with unread own-partition record', async () => {
    const topic = uniqueName('caught-up-direct');
    const app = uniqueName('caught-up-direct');
    await createTopics([{ topic, partitions: 2 }]);
    await produce(topic, [message({ id: 'first', key: 'a' }, 0)]);

    const gate = new Gate();
    const probe: Probe = { checks: [], processed: [] };
    const definition = probeProcessor(app, topic, { rekeyed: false, holdRole: 'input' }, gate, probe);
    const runtime = await startRuntime(definition, {
      // One batch at a time: while task 1 is blocked on its record, nothing reaches task 0.
      config: testConfig(app, { ...stuckConsumerTimeouts, KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY: '1' }),
    });
    try {
      await nextCheck(probe, 0, 'a check returning "caught up" with nothing unread', (check) => check.caughtUp && check.processed.includes('first'));
      await produce(topic, [message({ id: 'blocker', key: 'b', hold: true }, 1)]);
      await waitFor('task 1 blocked on its record', () => gate.entered);
      await produce(topic, [message({ id: 'unread', key: 'a' }, 0)]);
      await expectWaitThenCaughtUp(probe, gate, 'unread', probe.checks.length);
    } finally {
      gate.open();
      await runtime.stop();
    }
  });
});
