// `cio-cdc replay` against the real stack. The tests check the plan of every kind of position on a
// group with known committed offsets, and the rejection while a member is active. They also
// replay the orders processor and the sink from the earliest offset, which must send
// Customer.io nothing new.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';

import type { Admin, Message } from 'kafkajs';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';

import type { OutboxRecord } from '../../processors/customerio/records.ts';
import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { CustomerioSink } from '../../processors/customerio/sink/sink.ts';
import { loadMapping } from '../../processors/mapping/mapping.ts';
import { REPLAY_DEPLOYMENTS, REPLAY_PROCESSORS, parseReplayConfig } from '../../processors/ops/replay-config.ts';
import type { ReplayProcessor } from '../../processors/ops/replay-config.ts';
import { ReplayUsageError } from '../../processors/ops/replay-errors.ts';
import { runReplayCommand } from '../../processors/ops/replay-command.ts';
import type { PartitionPlan } from '../../processors/ops/replay.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import { ordersTopology } from '../../processors/orders/topology.ts';
import { parseRuntimeConfig } from '../../processors/runtime/config.ts';
import { repartitionTopicName } from '../../processors/runtime/repartition.ts';
import type { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import type { CallRecord } from '../../processors/standin/store.ts';
import { startStandin } from '../../processors/standin/server.ts';
import type { Standin } from '../../processors/standin/server.ts';
import { preciseDecimal } from '../orders/harness.ts';
import { brokers, produce, readTopic, startRuntime, testEnvironment, testKafka, uniqueName, waitFor, withAdmin } from '../runtime/helpers.ts';
import { uniqueId } from '../support/mysql.ts';

const repoDir = join(import.meta.dirname, '..', '..');
const NODE = process.execPath;
const CLI = join(repoDir, 'processors', 'cli', 'main.ts');

interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface PlanJson {
  processor: string;
  groupId: string;
  dryRun: boolean;
  applied: boolean;
  group: { state: string; members: { clientId: string }[] };
  partitions: PartitionPlan[];
  totals: { partitions: number; recordsToReprocess: number; recordsSkipped: number; partitionsWithoutCommittedOffset: number };
}

/**
 * Creates topics and waits until every partition has a leader. kafkajs's own wait
 * (`waitForLeaders`) fails at once when the metadata does not list a new topic yet, which
 * happens on a busy broker, so this polls the partition offsets instead.
 */
async function createTopics(specs: { topic: string; partitions: number }[]): Promise<void> {
  await withAdmin(async (admin) => {
    await admin.createTopics({
      waitForLeaders: false,
      topics: specs.map((spec) => ({ topic: spec.topic, numPartitions: spec.partitions, replicationFactor: 1 })),
    });
    await waitFor(`leaders of ${specs.map((spec) => spec.topic).join(', ')}`, async () => {
      try {
        for (const spec of specs) {
          if ((await admin.fetchTopicOffsets(spec.topic)).length !== spec.partitions) return false;
        }
        return true;
      } catch {
        return false;
      }
    }, 30_000);
  });
}

/** Runs the replay command in this process with `env` only, capturing its output. */
async function replay(args: string[], env: Record<string, string>): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  const code = await runReplayCommand(args, {
    env,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

/** Runs `cio-cdc replay ARGS` as a child process, as an operator would. */
function replayCli(args: string[], env: Record<string, string>): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [CLI, 'replay', ...args], { cwd: repoDir, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

function parsePlan(result: CommandResult): PlanJson {
  assert.equal(result.code, 0, `replay exited ${result.code}; stderr:\n${result.stderr}`);
  return JSON.parse(result.stdout) as PlanJson;
}

/** Returns plan rows as [topic, partition, committed, new, reprocess], for compact comparisons. */
function rows(plan: PlanJson): [string, number, string | null, string, number | null][] {
  return plan.partitions.map((entry) => [entry.topic, entry.partition, entry.committedOffset, entry.newOffset, entry.recordsToReprocess]);
}

/** Committed offsets of a group, by "topic/partition"; partitions without one are absent. */
async function committed(admin: Admin, groupId: string, topics: string[]): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const entry of await admin.fetchOffsets({ groupId, topics })) {
    for (const item of entry.partitions) {
      if (BigInt(item.offset) >= 0n) result.set(`${entry.topic}/${item.partition}`, item.offset);
    }
  }
  return result;
}

/** End offsets (read_committed) by "topic/partition". */
async function endOffsets(admin: Admin, topics: string[]): Promise<Map<string, bigint>> {
  const result = new Map<string, bigint>();
  for (const topic of topics) {
    for (const entry of await admin.fetchTopicOffsets(topic)) result.set(`${topic}/${entry.partition}`, BigInt(entry.high));
  }
  return result;
}

describe('replay options', () => {
  const env = { KAFKA_BROKERS: '127.0.0.1:9092' };

  test('--to and --shift exclude each other', () => {
    assert.throws(() => parseReplayConfig(['orders', '--to', 'earliest', '--shift', '-5'], env), ReplayUsageError);
    assert.throws(() => parseReplayConfig(['orders'], env), /--to earliest\|latest\|TIMESTAMP or --shift N/);
  });

  test('timestamps need a zone', () => {
    assert.throws(() => parseReplayConfig(['orders', '--to', '2024-07-15T13:30:00'], env), /ISO 8601 time with a zone/);
    assert.throws(() => parseReplayConfig(['orders', '--to', '2024-07-15'], env), /ISO 8601 time with a zone/);
    const config = parseReplayConfig(['orders', '--to', '2024-07-15T09:30:00-04:00'], env);
    assert.deepEqual(config?.position, { kind: 'timestamp', timestampMs: Date.UTC(2024, 6, 15, 13, 30), text: '2024-07-15T09:30:00-04:00' });
  });

  test('negative shift after a space', () => {
    assert.deepEqual(parseReplayConfig(['carts', '--shift', '-1000'], env)?.position, { kind: 'shift', by: -1000n });
    assert.deepEqual(parseReplayConfig(['carts', '--shift=250'], env)?.position, { kind: 'shift', by: 250n });
    assert.throws(() => parseReplayConfig(['carts', '--shift', '1.5'], env), /whole number of records/);
  });

  test('unknown processor is rejected', () => {
    assert.throws(() => parseReplayConfig(['shipping', '--to', 'latest'], env), /one of orders, transactions, carts, people, suppression, sink/);
  });

  test('groups and input topics follow each processor config', () => {
    const targets = Object.fromEntries(REPLAY_PROCESSORS.map((processor) => [processor, parseReplayConfig([processor, '--to', 'latest'], env)!.target]));
    assert.deepEqual(targets['orders']!.inputTopics, ['shop.shop.orders', 'shop.shop.order_items', 'shop.shop.fulfillments', 'shop.shop.refunds', 'shop.shop.subscriptions']);
    assert.equal(targets['orders']!.groupId, 'cio-cdc-orders');
    assert.deepEqual(targets['carts']!.inputTopics, ['shop.shop.carts', 'shop.shop.cart_items']);
    assert.equal(targets['transactions']!.groupId, 'cio-cdc-transactions');
    assert.ok(targets['transactions']!.inputTopics.includes('shop.transaction'), `transactions inputs: ${targets['transactions']!.inputTopics.join(', ')}`);
    assert.equal(targets['sink']!.groupId, 'cio-cdc-sink');
    assert.deepEqual(targets['sink']!.inputTopics, ['cio.outbox']);

    assert.equal(targets['people']!.groupId, 'people');
    assert.ok(targets['people']!.inputTopics.includes('shop.shop.customers'), `people inputs: ${targets['people']!.inputTopics.join(', ')}`);

    const custom = parseReplayConfig(['suppression', '--to', 'latest'], {
      ...env,
      CIO_CDC_APPLICATION_ID: 'suppression-eu',
      CIO_CDC_CART_EVENTS_TOPIC: 'eu.cart-events',
      CIO_CDC_ORDER_EVENTS_TOPIC: 'eu.order-events',
    })!.target;
    assert.deepEqual([custom.groupId, ...custom.inputTopics], ['suppression-eu', 'eu.cart-events', 'eu.order-events']);
    const sink = parseReplayConfig(['sink', '--to', 'latest'], { ...env, SINK_GROUP_ID: 'sink-eu', SINK_OUTBOX_TOPIC: 'eu.outbox' })!.target;
    assert.deepEqual([sink.groupId, ...sink.inputTopics], ['sink-eu', 'eu.outbox']);
  });

  test('invalid processor settings exit 2', async () => {
    const result = await replay(['suppression', '--to', 'latest'], { ...env, SUPPRESSION_WINDOW_MS: 'soon' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid configuration of suppression: .*SUPPRESSION_WINDOW_MS/);
  });

  test('deployment names match deploy/k8s/base', () => {
    const baseDir = join(repoDir, 'deploy', 'k8s', 'base');
    const found: Partial<Record<ReplayProcessor, string>> = {};
    for (const file of readdirSync(baseDir).filter((name) => name.endsWith('.yaml'))) {
      for (const document of parseAllDocuments(readFileSync(join(baseDir, file), 'utf8'))) {
        const manifest = document.toJS() as { kind?: string; metadata?: { name: string }; spec?: { template: { spec: { containers: { args?: string[] }[] } } } };
        if (manifest?.kind !== 'Deployment') continue;
        const args = manifest.spec!.template.spec.containers[0]!.args ?? [];
        const processor = (args[0] === 'run' ? args[1] : args[0]) as ReplayProcessor;
        found[processor] = manifest.metadata!.name;
      }
    }
    for (const processor of REPLAY_PROCESSORS) {
      assert.equal(REPLAY_DEPLOYMENTS[processor], found[processor], `Deployment of ${processor}`);
    }
  });
});

describe('replay on the real stack', { timeout: 240_000 }, () => {
  const T0 = Date.UTC(2024, 6, 15, 10, 0, 0);

  /**
   * Creates a suppression group with committed offsets on its two inputs, as follows.
   *   cart events  p0: 10 records at T0 + 0..9 s, committed 8    p1: 4 records at T0 + 20..23 s, nothing committed
   *   order events p0: 5 records at T0 + 0, 2, .., 8 s, committed 5    p1: empty, committed 0
   */
  async function groupWithOffsets(): Promise<{ env: Record<string, string>; groupId: string; carts: string; orders: string }> {
    const groupId = uniqueName('replay-plan');
    const carts = uniqueName('replay-plan-carts');
    const orders = uniqueName('replay-plan-orders');
    await createTopics([
      { topic: carts, partitions: 2 },
      { topic: orders, partitions: 2 },
    ]);
    const at = (partition: number, timestampMs: number, index: number): Message => ({
      partition,
      key: `k${index}`,
      value: JSON.stringify({ index }),
      timestamp: String(timestampMs),
    });
    await produce(carts, [
      ...Array.from({ length: 10 }, (_, i) => at(0, T0 + i * 1000, i)),
      ...Array.from({ length: 4 }, (_, i) => at(1, T0 + 20_000 + i * 1000, i)),
    ]);
    await produce(orders, Array.from({ length: 5 }, (_, i) => at(0, T0 + i * 2000, i)));
    await withAdmin(async (admin) => {
      await admin.setOffsets({ groupId, topic: carts, partitions: [{ partition: 0, offset: '8' }] });
      await admin.setOffsets({ groupId, topic: orders, partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '0' }] });
    });
    const env = testEnvironment(groupId, {
      CIO_CDC_CART_EVENTS_TOPIC: carts,
      CIO_CDC_ORDER_EVENTS_TOPIC: orders,
      LOG_LEVEL: 'silent',
    });
    return { env, groupId, carts, orders };
  }

  test('dry run plans earliest, latest, timestamp and shift per partition', async () => {
    const { env, groupId, carts, orders } = await groupWithOffsets();
    const before = await withAdmin((admin) => committed(admin, groupId, [carts, orders]));
    const plan = async (...args: string[]) => parsePlan(await replay(['suppression', ...args, '--dry-run', '--json'], env));

    const earliest = await plan('--to', 'earliest');
    assert.equal(earliest.groupId, groupId);
    assert.equal(earliest.dryRun, true);
    assert.deepEqual(rows(earliest).sort(), [
      [carts, 0, '8', '0', 8],
      [carts, 1, null, '0', null],
      [orders, 0, '5', '0', 5],
      [orders, 1, '0', '0', 0],
    ].sort());
    assert.deepEqual(earliest.totals, { partitions: 4, recordsToReprocess: 13, recordsSkipped: 0, partitionsWithoutCommittedOffset: 1 });

    const latest = await plan('--to', 'latest');
    assert.deepEqual(rows(latest).sort(), [
      [carts, 0, '8', '10', -2],
      [carts, 1, null, '4', null],
      [orders, 0, '5', '5', 0],
      [orders, 1, '0', '0', 0],
    ].sort());
    assert.equal(latest.totals.recordsSkipped, 2);

    // The first record at or after T0 + 5 s; partitions with none move to their end.
    const timestamp = await plan('--to', new Date(T0 + 5000).toISOString());
    assert.deepEqual(rows(timestamp).sort(), [
      [carts, 0, '8', '5', 3],
      [carts, 1, null, '0', null],
      [orders, 0, '5', '3', 2],
      [orders, 1, '0', '0', 0],
    ].sort());
    const afterAll = await plan('--to', new Date(T0 + 60_000).toISOString());
    assert.deepEqual(afterAll.partitions.map((entry) => entry.newOffset).sort(), ['0', '10', '4', '5']);

    // A partition without a committed offset counts from its earliest offset; shifts stay in range.
    const back = await plan('--shift', '-3');
    assert.deepEqual(rows(back).sort(), [
      [carts, 0, '8', '5', 3],
      [carts, 1, null, '0', null],
      [orders, 0, '5', '2', 3],
      [orders, 1, '0', '0', 0],
    ].sort());
    const forward = await plan('--shift', '5');
    assert.deepEqual(rows(forward).sort(), [
      [carts, 0, '8', '10', -2],
      [carts, 1, null, '4', null],
      [orders, 0, '5', '5', 0],
      [orders, 1, '0', '0', 0],
    ].sort());

    const table = await replay(['suppression', '--to', 'earliest', '--dry-run'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /topic\s+partition\s+committed\s+new\s+end\s+reprocess/);
    assert.match(table.stdout, new RegExp(`${carts}\\s+1\\s+none\\s+0\\s+4\\s+-`));
    assert.match(table.stdout, /1 partition\(s\) without a committed offset/);
    assert.match(table.stdout, /dry run, nothing changed/);

    const after = await withAdmin((admin) => committed(admin, groupId, [carts, orders]));
    assert.deepEqual(after, before, 'a dry run changed committed offsets');
  });

  test('applying a shift commits the planned offsets', async () => {
    const { env, groupId, carts, orders } = await groupWithOffsets();
    const result = parsePlan(await replay(['suppression', '--shift', '-3', '--json'], env));
    assert.equal(result.applied, true);
    const after = await withAdmin((admin) => committed(admin, groupId, [carts, orders]));
    assert.deepEqual(
      Object.fromEntries([...after].sort()),
      { [`${carts}/0`]: '5', [`${carts}/1`]: '0', [`${orders}/0`]: '2', [`${orders}/1`]: '0' },
    );
  });

  test('rejects reset while a member is active', async (t) => {
    const { env, groupId, carts, orders } = await groupWithOffsets();
    const before = await withAdmin((admin) => committed(admin, groupId, [carts, orders]));

    // A member on a topic of its own: it commits nothing on the processor's inputs.
    const idle = uniqueName('replay-idle');
    await createTopics([{ topic: idle, partitions: 1 }]);
    const consumer = testKafka('replay-test-member').consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    t.after(() => consumer.disconnect());
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topics: [idle], fromBeginning: true });
    await consumer.run({ eachMessage: async () => undefined });
    await joined;

    const rejected = await replay(['suppression', '--to', 'earliest'], env);
    assert.equal(rejected.code, 3, `stdout:\n${rejected.stdout}\nstderr:\n${rejected.stderr}`);
    assert.match(rejected.stderr, new RegExp(`consumer group ${groupId} has 1 active member`));
    assert.match(rejected.stderr, /replay-test-member/);
    assert.match(rejected.stderr, /kubectl scale deployment\/cio-cdc-suppression --replicas=0/);
    assert.equal(rejected.stdout, '');

    const preview = await replay(['suppression', '--to', 'earliest', '--dry-run'], env);
    assert.equal(preview.code, 0, preview.stderr);
    assert.match(preview.stdout, /1 active member\(s\).*rejected until kubectl scale deployment\/cio-cdc-suppression --replicas=0/);

    const after = await withAdmin((admin) => committed(admin, groupId, [carts, orders]));
    assert.deepEqual(after, before, 'a rejected replay changed committed offsets');
  });

  test('orders and sink replayed from earliest send Customer.io nothing new', { timeout: 200_000 }, async (t) => {
    // Debezium topics of a mapping with a topic prefix of this test's own.
    const prefix = uniqueName('replay-shop');
    const dir = mkdtempSync(join(tmpdir(), 'cio-cdc-replay-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const mappingFile = join(dir, 'mapping.yaml');
    const mappingText = readFileSync(join(repoDir, 'schemas', 'mapping.default.yaml'), 'utf8');
    assert.match(mappingText, /topicPrefix: shop\n/);
    writeFileSync(mappingFile, mappingText.replace('topicPrefix: shop\n', `topicPrefix: ${prefix}\n`));
    const mapping = loadMapping(mappingFile);
    const table = (name: string) => `${prefix}.shop.${name}`;
    const inputs = ['orders', 'order_items', 'fulfillments', 'refunds', 'subscriptions'].map(table);

    const app = uniqueName('replay-orders');
    const outbox = uniqueName('replay-outbox');
    const sinkGroup = uniqueName('replay-sink');
    const dlq = uniqueName('replay-sink-dlq');
    const deliveryLog = uniqueName('replay-sink-log');
    await createTopics([
      ...inputs.map((topic) => ({ topic, partitions: 2 })),
      { topic: outbox, partitions: 2 },
      { topic: dlq, partitions: 1 },
      { topic: deliveryLog, partitions: 1 },
    ]);

    const standin: Standin = await startStandin({ port: 0, siteId: 'replay-site', apiKey: 'replay-key' });
    t.after(() => standin.close());

    const ordersEnv = testEnvironment(app, {
      CIO_CDC_MAPPING_FILE: mappingFile,
      ORDERS_OUTPUT_TOPIC: outbox,
      // Orders writes straight into the sink's outbox here, with no suppression to read progress records.
      ORDERS_PROGRESS_INTERVAL_MS: '0',
      ORDERS_GRACE_MS: '1000',
      CIO_CDC_TIMER_LATENESS_BOUND_MS: '500',
      KAFKA_TRANSACTION_TIMEOUT_MS: '30000',
    });
    // The sink's replay needs no Customer.io credentials; the sink itself does.
    const sinkReplayEnv = { KAFKA_BROKERS: brokers.join(','), KAFKA_LOG_LEVEL: 'nothing', LOG_LEVEL: 'silent', SINK_GROUP_ID: sinkGroup, SINK_OUTBOX_TOPIC: outbox };
    const sinkEnv = {
      ...sinkReplayEnv,
      SINK_DLQ_TOPIC: dlq,
      SINK_DELIVERY_LOG_TOPIC: deliveryLog,
      SINK_SESSION_TIMEOUT_MS: '10000',
      SINK_HEARTBEAT_INTERVAL_MS: '1000',
      SINK_INLINE_WAIT_MAX_MS: '3000',
      SINK_HTTP_PORT: '0',
      CIO_SITE_ID: 'replay-site',
      CIO_TRACK_API_KEY: 'replay-key',
      CIO_TRACK_BASE_URL: standin.url,
      CIO_TRACK_API_VERSION: 'v1',
      CIO_REQUESTS_PER_SECOND: '500',
      CIO_BURST_REQUESTS: '50',
    };

    let orders: ProcessorRuntime | undefined;
    let sink: CustomerioSink | undefined;
    const startOrders = async () => {
      orders = await startRuntime(ordersTopology({ config: loadOrdersConfig(ordersEnv), mapping, name: app }), {
        config: parseRuntimeConfig(ordersEnv, { applicationId: app }),
        logger: pino({ level: 'error' }),
      });
    };
    const startSink = async () => {
      sink = new CustomerioSink({ config: parseSinkConfig(sinkEnv), logger: pino({ level: 'silent' }) });
      await sink.start();
    };
    const stopBoth = async () => {
      await orders?.stop();
      await sink?.stop();
      orders = undefined;
      sink = undefined;
    };
    t.after(stopBoth);

    // Three customers, four orders with items, one of them paid later: 4 order_placed + 1 order_paid.
    const nowMs = Date.now() - 60_000;
    const customers = [uniqueId(), uniqueId(), uniqueId()];
    const orderIds = [uniqueId(), uniqueId(), uniqueId(), uniqueId()];
    const owners = [customers[0]!, customers[0]!, customers[1]!, customers[2]!];
    let pos = 1000;
    const change = (name: string, after: Record<string, unknown>, op: 'c' | 'u' = 'c', before: Record<string, unknown> | null = null): Message => {
      pos += 100;
      const envelope = {
        before,
        after,
        source: { connector: 'mariadb', db: 'shop', table: name, ts_ms: nowMs + pos, snapshot: 'false', file: 'mariadb-bin.000007', pos, row: 0 },
        op,
        ts_ms: nowMs + pos + 20,
      };
      return { key: JSON.stringify({ id: after['id'] }), value: JSON.stringify(envelope) };
    };
    const orderRow = (index: number, overrides: Record<string, unknown> = {}) => ({
      id: Number(orderIds[index]),
      customer_id: Number(owners[index]),
      email: null,
      status: 'pending',
      currency: 'USD',
      total: preciseDecimal('25.00', 2),
      discount_code: null,
      placed_at: nowMs,
      paid_at: null,
      canceled_at: null,
      updated_at: nowMs * 1000,
      attributes: null,
      ...overrides,
    });
    const itemRow = (index: number, sku: string) => ({
      id: Number(uniqueId()),
      order_id: Number(orderIds[index]),
      sku,
      variant_id: `${sku}-v`,
      name: `name ${sku}`,
      category: 'socks',
      quantity: 1,
      unit_price: preciseDecimal('12.500', 3),
    });
    const orderChanges = orderIds.map((_, index) => change('orders', orderRow(index)));
    const itemChanges = [itemRow(0, 'A'), itemRow(0, 'B'), itemRow(1, 'C'), itemRow(2, 'D'), itemRow(3, 'E')].map((row) => change('order_items', row));
    const paid = change('orders', orderRow(1, { status: 'paid', paid_at: new Date(nowMs + 5000).toISOString() }), 'u', orderRow(1));
    await produce(table('orders'), [...orderChanges, paid]);
    await produce(table('order_items'), itemChanges);
    const inputRecords = orderChanges.length + itemChanges.length + 1;

    // Identify records, as the people processor writes them, so the stand-in has the people.
    const identifies: OutboxRecord[] = customers.map((customerId) => ({
      kind: 'identify',
      customerId,
      attributes: { email: `replay-${customerId}@example.com` },
      timestamp: Math.floor(nowMs / 1000),
    }));
    await produce(outbox, identifies.map((record) => ({ key: record.customerId, value: JSON.stringify(record) })));

    const events = () => standin.stats().events;
    await startOrders();
    await startSink();
    await waitFor('5 events at the stand-in', () => events() >= 5, 60_000);

    const admin = testKafka('replay-test-admin').admin();
    await admin.connect();
    t.after(() => admin.disconnect());

    const readOutbox = async () => {
      const records = await readTopic(outbox, { expected: identifies.length + 5, timeoutMs: 30_000 });
      return records.map((record) => ({ partition: record.partition, offset: record.offset, value: JSON.parse(record.value!) as OutboxRecord }));
    };
    const outboxBefore = await readOutbox();
    const eventIdsBefore = outboxBefore.flatMap((record) => (record.value.kind === 'event' ? [record.value.id] : [])).sort();
    assert.equal(eventIdsBefore.length, 5, `outbox events: ${JSON.stringify(outboxBefore.map((record) => record.value))}`);
    assert.equal(new Set(eventIdsBefore).size, 5);

    // Settled: the orders group read every input record, the sink committed past every outbox record.
    const inputEnds = await endOffsets(admin, inputs);
    const outboxLast = new Map<number, bigint>();
    for (const record of outboxBefore) outboxLast.set(record.partition, BigInt(record.offset) + 1n);
    await waitFor('orders and sink committed their inputs', async () => {
      const ordersCommitted = await committed(admin, app, inputs);
      const sinkCommitted = await committed(admin, sinkGroup, [outbox]);
      return (
        [...inputEnds].every(([key, end]) => end === 0n || ordersCommitted.get(key) === end.toString()) &&
        [...outboxLast].every(([partition, next]) => BigInt(sinkCommitted.get(`${outbox}/${partition}`) ?? '-1') >= next)
      );
    }, 60_000);
    await stopBoth();

    const statsBefore = standin.stats();
    assert.equal(statsBefore.people, 3);
    assert.equal(statsBefore.events, 5);
    assert.equal(statsBefore.duplicateEventIds, 0);

    // The operator's path: the CLI resets the orders group; the sink's reset runs in process.
    const ordersReset = parsePlan(await replayCli(['orders', '--to', 'earliest', '--json'], ordersEnv));
    assert.equal(ordersReset.applied, true);
    assert.deepEqual([...new Set(ordersReset.partitions.map((entry) => entry.topic))].sort(), [...inputs].sort());
    for (const entry of ordersReset.partitions) {
      assert.equal(entry.newOffset, entry.earliestOffset, `${entry.topic}/${entry.partition}`);
      // An empty partition has no committed offset: the runtime commits offsets of records it read.
      assert.equal(entry.committedOffset, entry.endOffset === '0' ? null : entry.endOffset, `${entry.topic}/${entry.partition} before the replay`);
    }
    assert.equal(ordersReset.totals.recordsToReprocess, inputRecords);
    const sinkReset = parsePlan(await replay(['sink', '--to', 'earliest', '--json'], sinkReplayEnv));
    assert.equal(sinkReset.applied, true);
    assert.ok(sinkReset.totals.recordsToReprocess >= identifies.length + 5, `sink reprocesses ${sinkReset.totals.recordsToReprocess}`);
    const afterReset = await committed(admin, app, inputs);
    assert.equal(afterReset.size, ordersReset.partitions.length);
    assert.ok([...afterReset.values()].every((offset) => offset === '0'), `orders offsets after the reset: ${JSON.stringify([...afterReset])}`);

    await startOrders();
    await startSink();

    // The orders processor reads every input record again and forwards it through its
    // repartition topics once more. Its stores already contain each change, so it emits nothing.
    await waitFor('orders read its inputs again', async () => {
      const ordersCommitted = await committed(admin, app, inputs);
      return [...inputEnds].every(([key, end]) => end === 0n || ordersCommitted.get(key) === end.toString());
    }, 60_000);
    // Each input record went through its repartition topic twice: once live, once in the replay.
    const forwarded = [
      { topic: repartitionTopicName(app, 'orders'), records: orderChanges.length + 1 },
      { topic: repartitionTopicName(app, 'order_items'), records: itemChanges.length },
    ];
    const repartitionNext = new Map<string, bigint>();
    for (const { topic, records } of forwarded) {
      const read = await readTopic(topic, { expected: 2 * records, timeoutMs: 30_000 });
      assert.equal(read.length, 2 * records, `records in ${topic}`);
      for (const record of read) {
        const key = `${topic}/${record.partition}`;
        const next = BigInt(record.offset) + 1n;
        if (next > (repartitionNext.get(key) ?? 0n)) repartitionNext.set(key, next);
      }
    }
    await waitFor('orders processed its repartition topics to the last record', async () => {
      const done = await committed(admin, app, forwarded.map((entry) => entry.topic));
      return [...repartitionNext].every(([key, next]) => BigInt(done.get(key) ?? '-1') >= next);
    }, 60_000);

    // The sink sends every record again; the stand-in drops each repeated event id.
    await waitFor('the stand-in dropped 5 repeated event ids', () => standin.stats().duplicateEventIds >= 5, 60_000);
    await waitFor('the sink committed past every outbox record again', async () => {
      const sinkCommitted = await committed(admin, sinkGroup, [outbox]);
      return [...outboxLast].every(([partition, next]) => BigInt(sinkCommitted.get(`${outbox}/${partition}`) ?? '-1') >= next);
    }, 60_000);
    await stopBoth();

    const outboxAfter = await readOutbox();
    assert.deepEqual(
      outboxAfter.map((record) => `${record.partition}@${record.offset}`).sort(),
      outboxBefore.map((record) => `${record.partition}@${record.offset}`).sort(),
      'the replayed orders processor wrote new outbox records',
    );
    const eventIdsAfter = outboxAfter.flatMap((record) => (record.value.kind === 'event' ? [record.value.id] : [])).sort();
    assert.deepEqual(eventIdsAfter, eventIdsBefore);

    const statsAfter = standin.stats();
    assert.equal(statsAfter.people, statsBefore.people);
    assert.equal(statsAfter.events, statsBefore.events);
    assert.equal(statsAfter.duplicateEventIds, 5);

    const response = await fetch(`${standin.url}/_admin/calls`);
    assert.equal(response.status, 200);
    const { calls } = (await response.json()) as { calls: CallRecord[] };
    const eventCalls = calls.filter((call) => call.method === 'POST' && call.path.endsWith('/events') && call.status === 200);
    const sentIds = eventCalls.map((call) => String((call.requestBody as { id?: unknown }).id)).sort();
    assert.deepEqual(sentIds, [...eventIdsBefore, ...eventIdsBefore].sort(), 'each event id is sent once before and once during the replay');
    const dropped = eventCalls
      .filter((call) => call.flags.some((flag) => flag.flag === 'duplicate_event_id'))
      .map((call) => String((call.requestBody as { id?: unknown }).id))
      .sort();
    assert.deepEqual(dropped, eventIdsBefore, 'the stand-in dropped every repeated id');
    const identifyCalls = calls.filter((call) => call.method === 'PUT' && call.status === 200);
    assert.equal(identifyCalls.length, identifies.length * 2, 'identifies carry no id and are sent again');
    for (const customerId of customers) {
      assert.equal(standin.person(customerId)?.attributes['email'], `replay-${customerId}@example.com`);
    }
  });
});
