// Column changes of a source table, on the real broker. The carts processor reads Debezium
// records (JSON with schemas) from topics of its own and counts the column changes. It sends the
// record that lacks a required column to its dead-letter topic and goes on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { parse as parseYaml } from 'yaml';

import { parseCartsConfig } from '../../processors/carts/config.ts';
import { cartsTopology } from '../../processors/carts/topology.ts';
import { stringifyExact } from '../../processors/debezium/json.ts';
import { DEFAULT_MAPPING_FILE, validateMapping } from '../../processors/mapping/mapping.ts';
import { DLQ_HEADERS, dlqTopicName } from '../../processors/runtime/index.ts';
import type { ProcessorRuntime } from '../../processors/runtime/index.ts';
import { envelopeSchema, source } from '../debezium/helpers.ts';
import { capturingLogger, createTopics, produce, readTopic, startRuntime, testConfig, uniqueName, waitFor } from '../runtime/helpers.ts';

const ID = { field: 'id', type: 'int64', optional: false };
const CUSTOMER = { field: 'customer_id', type: 'int64', optional: true };
const STATUS = { field: 'status', type: 'string', optional: false };
const CURRENCY = { field: 'currency', type: 'string', optional: false };
const GIFT_NOTE = { field: 'gift_note', type: 'string', optional: true };

const V1 = [ID, CUSTOMER, STATUS, CURRENCY];
const V2 = [...V1, GIFT_NOTE];
const WITHOUT_CUSTOMER = [ID, STATUS, CURRENCY, GIFT_NOTE];

/** Builds a carts change with an embedded schema of `columns`, at its own binlog position. */
function cartMessage(columns: readonly Record<string, unknown>[], row: Record<string, unknown>, index: number) {
  const tsMs = 1721050200000 + index * 60_000;
  const payload = { before: null, after: row, source: source('carts', { ts_ms: tsMs, pos: 4471 + index }), op: 'c', ts_ms: tsMs };
  return { key: `{"id":${String(row['id'])}}`, value: stringifyExact({ schema: envelopeSchema('carts', columns), payload }) };
}

describe('source schema changes on the real stack', () => {
  const prefix = uniqueName('schema-test');
  const cartsTopic = `${prefix}.shop.carts`;
  const itemsTopic = `${prefix}.shop.cart_items`;
  const applicationId = uniqueName('schema-test-carts');
  const { logger, lines } = capturingLogger('info');
  let runtime: ProcessorRuntime | undefined;

  before(async () => {
    await createTopics([
      { topic: cartsTopic, partitions: 1 },
      { topic: itemsTopic, partitions: 1 },
    ]);
    const document = parseYaml(readFileSync(DEFAULT_MAPPING_FILE, 'utf8')) as Record<string, unknown>;
    const mapping = validateMapping({ ...document, source: { topicPrefix: prefix, database: 'shop' } });
    const config = parseCartsConfig({
      CIO_CDC_CART_EVENTS_TOPIC: uniqueName('schema-test-cart-events'),
      CIO_CDC_CART_SNAPSHOTS_TOPIC: uniqueName('schema-test-cart-snapshots'),
      CIO_CDC_CARTS_SETTLE_MS: '200',
    });
    runtime = await startRuntime(cartsTopology(config, mapping, applicationId), { config: testConfig(applicationId), logger });
  });

  after(async () => {
    await runtime?.stop();
  });

  it('counts column changes and dead-letters a row without a required column', async () => {
    await produce(cartsTopic, [
      cartMessage(V1, { id: 1, customer_id: 501, status: 'open', currency: 'USD' }, 0),
      cartMessage(V2, { id: 2, customer_id: 502, status: 'open', currency: 'USD', gift_note: 'hi' }, 1),
      cartMessage(WITHOUT_CUSTOMER, { id: 3, status: 'open', currency: 'USD', gift_note: null }, 2),
      cartMessage(V2, { id: 4, customer_id: 504, status: 'open', currency: 'USD', gift_note: null }, 3),
    ]);

    const [dead] = await readTopic(dlqTopicName(applicationId), { expected: 1 });
    assert.ok(dead);
    assert.equal(dead.headers[DLQ_HEADERS.topic], cartsTopic);
    assert.equal(dead.headers[DLQ_HEADERS.offset], '2');
    assert.equal(dead.headers[DLQ_HEADERS.stage], 'decode');
    assert.equal(dead.headers[DLQ_HEADERS.errorClass], 'MissingColumnError');
    assert.match(dead.headers[DLQ_HEADERS.errorMessage] ?? '', /shop\.carts\.customer_id/);
    assert.equal(dead.key, '{"id":3}');

    // The partition went on past the dead letter: cart 4 reached the store.
    const carts = () => runtime!.storeSnapshot(0, 'carts');
    await waitFor('cart 4 in the carts store', () => carts().has('4'));
    assert.deepEqual([...carts().keys()].sort(), ['1', '2', '4']);

    const metric = await runtime!.metrics.registry.getSingleMetric('cio_cdc_source_schema_changes_total')?.get();
    const changes = metric?.values.find((entry) => entry.labels['table'] === 'shop.carts')?.value;
    // gift_note added, customer_id removed, customer_id added back.
    assert.equal(changes, 3);
    const warnings = lines.filter((line) => line['msg'] === 'source table columns changed');
    assert.deepEqual(
      warnings.map((line) => [line['table'], line['added'], line['removed']]),
      [
        ['shop.carts', ['gift_note'], []],
        ['shop.carts', [], ['customer_id']],
        ['shop.carts', ['customer_id'], []],
      ],
    );
  });
});
