// The suppression processor against the real broker: per-test input topics, EventRecords with
// explicit event times, outputs read read_committed.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { suppressionTopology } from '../../processors/suppression/topology.ts';
import type { EventRecord } from '../../processors/customerio/records.ts';
import { ProcessorChild } from '../runtime/child.ts';
import { capturingLogger, produce, startRuntime, testConfig, testEnvironment, uniqueName, waitFor } from '../runtime/helpers.ts';
import { readTopic } from '../runtime/helpers.ts';
import {
  PARTITIONS,
  at,
  event,
  message,
  outputTopics,
  readDecisions,
  readDecisionsUntil,
  readOutbox,
  suppressionConfig,
  suppressionEnv,
  testTopics,
  ticks,
} from './support.ts';
import type { TestTopics } from './support.ts';
import type { DecisionRecord } from '../../processors/suppression/records.ts';
import type { Message } from 'kafkajs';
import { PROGRESS_HEADERS, progressKey } from '../../processors/progress/records.ts';
import { parseSuppressionConfig } from '../../processors/suppression/config.ts';
import { join } from 'node:path';

const runtimes: ProcessorRuntime[] = [];
after(async () => {
  await Promise.all(runtimes.map((runtime) => runtime.stop()));
});

async function run(topics: TestTopics, applicationId: string): Promise<ProcessorRuntime> {
  const { logger } = capturingLogger('warn');
  const runtime = await startRuntime(suppressionTopology(suppressionConfig(topics), { name: applicationId }), {
    config: testConfig(applicationId),
    logger,
  });
  runtimes.push(runtime);
  return runtime;
}

const ids = (records: EventRecord[]) => records.map((record) => `${record.customerId}:${record.name}:${record.id}`).sort();
const notTick = (record: { customerId?: string; key?: string }) => (record.customerId ?? record.key) !== 'tick';

describe('suppression on the real stack', () => {
  it('holds, releases and suppresses cart events by event time', async () => {
    const topics = await testTopics('supp');
    const checkout = (customer: string, minutes: number) =>
      event(customer, 'checkout_started', `co-${customer}-${minutes}`, at(minutes), { cart_id: `cart-${customer}` });
    const update = (customer: string, minutes: number, items: string) =>
      event(customer, 'cart_updated', `cu-${customer}-${minutes}`, at(minutes), { cart_id: `cart-${customer}`, items });
    const order = (customer: string, orderId: string, minutes: number) =>
      event(customer, 'order_placed', `op-${orderId}`, at(minutes), { order_id: orderId });

    const carts = [
      checkout('702', 0), // order during the window: suppressed
      checkout('703', 0), // order after the window: released
      update('704', 0, 'a'), // three edits inside the window: one release, last snapshot
      update('704', 10, 'a,b'),
      update('705', 15, 'a'), // edit after a purchase: dropped by the quiet period
      update('704', 20, 'a,b,c'),
      checkout('701', 30), // order before the window (and past its quiet period): released
    ];
    // Each input is produced in event-time order, as the upstream processors write it.
    const orders = [order('701', '9001', -60), order('705', '9005', 0), order('702', '9002', 20), order('703', '9003', 90)];
    await produce(topics.orders, orders.map(message));
    await produce(topics.carts, carts.map(message));
    await produce(topics.carts, ticks('carts', at(600)));
    await produce(topics.orders, ticks('orders', at(600)));

    await run(topics, uniqueName('supp-app'));
    // 4 orders + 3 order ticks pass through; 701, 703 and 704 are released: 10 records.
    const outbox = (
      await readOutbox(topics.outbox, 10).catch(async (error: unknown) => {
        const seen = await readDecisions(topics.decisions, 0);
        throw new Error(`${String(error)}\n${seen.map((d) => JSON.stringify(d)).join('\n')}`);
      })
    ).filter(notTick);
    assert.deepEqual(ids(outbox), ids([...orders, checkout('701', 30), checkout('703', 0), update('704', 20, 'a,b,c')]));

    // Every cart event of the test has its final decision: two suppressed, three released.
    const final = (d: DecisionRecord & { key: string }) => notTick(d) && (d.decision === 'suppressed' || d.decision === 'released');
    const decisions = (await readDecisionsUntil(topics.decisions, (all) => all.filter(final).length >= 5)).filter(notTick);
    const suppressed = decisions.filter((d) => d.decision === 'suppressed');
    assert.deepEqual(
      suppressed.map((d) => [d.key, d.event_id, d.order_id, d.reason]).sort(),
      [
        ['702', 'co-702-0', '9002', 'order placed during the hold'],
        ['705', 'cu-705-15', '9005', 'cart event within the quiet period after an order'],
      ],
    );
    const coalesced = decisions.filter((d) => d.decision === 'coalesced' && d.key === '704');
    assert.equal(coalesced.length, 2);
    const released = decisions.filter((d) => d.decision === 'released').map((d) => d.event_id).sort();
    assert.deepEqual(released, ['co-701-30', 'co-703-0', 'cu-704-20']);
  });

  it('makes the same decisions when the order input lags and when replayed', async () => {
    const topics = await testTopics('b32');
    const checkout512 = event('512', 'checkout_started', 'co-512', at(0), { cart_id: '3010' });
    const checkout513 = event('513', 'checkout_started', 'co-513', at(0), { cart_id: '3011' });
    const order512 = event('512', 'order_placed', 'op-1017', at(20), { order_id: '1017' });

    // First run: only the cart input has records, hours ahead of the deadline.
    const live = outputTopics(topics, 'live');
    await produce(topics.carts, [message(checkout512), message(checkout513), ...ticks('carts', at(180))]);
    const first = await run(live, uniqueName('b32-live'));
    await readDecisions(live.decisions, 2 + 3); // holds committed, nothing released
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const early = (await readOutbox(live.outbox, 0)).filter(notTick);
    assert.deepEqual(early, [], 'nothing is released while the order input has not been read past the deadline');
    await produce(topics.orders, [message(order512), ...ticks('orders', at(180))]);
    const liveOut = (await readOutbox(live.outbox, 1 + 3 + 1)).filter(notTick);
    await first.stop();

    // Second run: a fresh application id reads everything from the beginning.
    const replay = outputTopics(topics, 'replay');
    await run(replay, uniqueName('b32-replay'));
    const replayOut = (await readOutbox(replay.outbox, 1 + 3 + 1)).filter(notTick);

    assert.deepEqual(ids(liveOut), ids([order512, checkout513]));
    assert.deepEqual(ids(replayOut), ids(liveOut));
    for (const decisions of [live.decisions, replay.decisions]) {
      const all = await readDecisions(decisions, 2 + 3 + 3 + 1 + 1 + 1);
      const suppressed = all.filter((d) => d.key === '512' && d.decision === 'suppressed');
      assert.deepEqual(suppressed.map((d) => [d.event_id, d.order_id]), [['co-512', '1017']], decisions);
    }
  });

  it('releases a held event exactly once after the process is killed', async () => {
    const topics = await testTopics('b12');
    const applicationId = uniqueName('b12-app');
    const env = { ...testEnvironment(applicationId), ...suppressionEnv(topics) };
    const checkout601 = event('601', 'checkout_started', 'co-601', at(60), { cart_id: '3020' });
    await produce(topics.carts, [message(checkout601)]);
    await produce(topics.orders, [message(event('601', 'order_paid', 'paid-1', at(0), { order_id: '1' }))]);

    const first = new ProcessorChild(join('..', '..', 'suppression', 'fixtures', 'suppression-child.ts'), [applicationId], env);
    await first.waitForLine('ready', 60_000);
    await readDecisions(topics.decisions, 2); // held + passed are committed
    const killed = await first.kill('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');

    await produce(topics.carts, ticks('carts', at(600)));
    await produce(topics.orders, ticks('orders', at(600)));
    const second = new ProcessorChild(join('..', '..', 'suppression', 'fixtures', 'suppression-child.ts'), [applicationId], env);
    try {
      await second.waitForLine('ready', 60_000);
      const outbox = await readOutbox(topics.outbox, 1 + 1 + 3).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${second.output()}`);
      });
      const released = outbox.filter((record) => record.id === 'co-601');
      assert.equal(released.length, 1);
      await waitFor('no further release', async () => (await readTopic(topics.outbox, { expected: 5 })).length === 5, 5_000);
    } finally {
      await second.kill('SIGTERM');
    }
  });

  it('waits for a busy orders producer', async () => {
    const topics = await testTopics('progress');
    const applicationId = uniqueName('progress-app');
    const producer = uniqueName('progress-orders');
    // An idle timeout of 1 s: without progress records the orders input would count as idle at once.
    const config = parseSuppressionConfig({ ...suppressionEnv(topics), SUPPRESSION_IDLE_INPUT_MS: '1000' });
    const { logger } = capturingLogger('warn');
    runtimes.push(await startRuntime(suppressionTopology(config, { name: applicationId }), { config: testConfig(applicationId), logger }));

    const progress = (idle: boolean, watermarkMs: number | null): Message[] =>
      Array.from({ length: PARTITIONS }, (_, partition) => ({
        partition,
        key: progressKey(producer, 0),
        value: JSON.stringify({ kind: 'progress', producer, task: 0, tasks: 1, idle, watermark_ms: watermarkMs, at_ms: Date.now() }),
        headers: { ...PROGRESS_HEADERS },
      }));
    const bought = event('811', 'checkout_started', 'co-811', at(0), { cart_id: 'cart-811' });
    const abandoned = event('812', 'checkout_started', 'co-812', at(0), { cart_id: 'cart-812' });
    const order = event('811', 'order_placed', 'op-9811', at(20), { order_id: '9811' });

    // The producer keeps an order back, so its watermark stays below the order's time.
    await produce(topics.orders, progress(false, at(20) - 1));
    await produce(topics.carts, [message(bought), message(abandoned), ...ticks('carts', at(180))]);
    await readDecisionsUntil(topics.decisions, (all) => all.filter((d) => d.decision === 'held' && notTick(d)).length === 2);
    // Three times the idle timeout, with the cart input far past every deadline.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const decided = (d: DecisionRecord & { key: string }) => notTick(d) && (d.decision === 'released' || d.decision === 'suppressed');
    const early = (await readDecisions(topics.decisions, 0)).filter(decided);
    assert.deepEqual(early, [], 'no hold is decided while the orders producer is not idle and its watermark is before the deadline');

    // The order arrives, then the producer reports that nothing is pending.
    await produce(topics.orders, [message(order), ...progress(true, at(20))]);
    const all = await readDecisionsUntil(topics.decisions, (records) => records.filter(decided).length >= 2);
    const outcome = all
      .filter(decided)
      .map((d) => [d.key, d.decision, d.event_id, d.order_id ?? null])
      .sort();
    assert.deepEqual(outcome, [
      ['811', 'suppressed', 'co-811', '9811'],
      ['812', 'released', 'co-812', null],
    ]);
  });
});

