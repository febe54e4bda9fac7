/**
 * The people processor: one Customer.io person per customer, with profile attributes and rollups
 * over the customer's orders.
 *
 *   customers        (Debezium, key {"id":…})  ──re-key by customer_id──┐
 *   cio.order-events (EventRecords, key customer id) ───────────────────┤
 *                                                                       ▼
 *                                 apply ──▶ store `people` (customer id → PersonState)
 *                                   │
 *                                   ▼ only when an attribute changed
 *                                 cio.outbox (IdentifyRecord, key customer id)
 */
import type { IHeaders } from 'kafkajs';

import { OutboxRecordError } from '../customerio/errors.ts';
import { parseOutboxRecord } from '../customerio/records.ts';
import type { EventRecord, IdentifyRecord, OutboxSource } from '../customerio/records.ts';
import { DebeziumDecoder } from '../debezium/index.ts';
import type { ChangeEvent } from '../debezium/index.ts';
import { columnHintsOf, topicOf } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { ORIGIN_HEADERS, defineProcessor, input, keyValueStore, output } from '../runtime/index.ts';
import type { SourceMessage } from '../runtime/index.ts';
import type { PeopleConfig } from './config.ts';
import { OrderEventInvalidError } from './errors.ts';
import { applyCustomerChange, applyOrderEvent, checkPersonId, customerIdOf, peopleRules } from './process.ts';
import type { PersonState } from './records.ts';

function header(headers: IHeaders, name: string): string | undefined {
  const value = headers[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}

/** Topic, partition and offset of the record in its source topic (before re-keying). */
function originOf(record: { topic: string; partition: number; offset: string; headers: IHeaders }) {
  const topic = header(record.headers, ORIGIN_HEADERS.topic);
  const partition = header(record.headers, ORIGIN_HEADERS.partition);
  const offset = header(record.headers, ORIGIN_HEADERS.offset);
  if (topic === undefined || partition === undefined || offset === undefined) {
    return { topic: record.topic, partition: record.partition, offset: record.offset };
  }
  return { topic, partition: Number(partition), offset };
}

function changeSource(event: ChangeEvent, coordinates: { topic: string; partition: number; offset: string }): OutboxSource {
  const source: OutboxSource = { table: `${event.source.db}.${event.source.table}`, ...coordinates };
  if (event.source.file !== null) source.binlogFile = event.source.file;
  if (event.source.pos !== null) source.binlogPos = event.source.pos;
  if (event.source.row !== null) source.row = event.source.row;
  if (event.source.gtid !== null) source.gtid = event.source.gtid;
  if (event.transaction !== null) source.txId = event.transaction.id;
  const tsMs = event.source.tsMs ?? event.tsMs;
  if (tsMs !== null) source.tsMs = tsMs;
  return source;
}

/** Decodes a customers record at the edge; tombstones and truncates are skipped. */
function customersDecoder(mapping: Mapping): (message: SourceMessage) => Promise<ChangeEvent | null> {
  const decoder = new DebeziumDecoder({ valueFormat: 'json', datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) });
  return async (message) => {
    if (message.value === null) return null;
    // The key is not decoded: the row carries its id, and a re-keyed record's key is plain text.
    const decoded = await decoder.decode({ ...message, key: null });
    if (decoded.kind === 'tombstone' || decoded.op === 'truncate') return null;
    return decoded;
  };
}

/** Decodes an order event; a record that is not an outbox event record is dead-lettered. */
async function decodeOrderEvent(message: SourceMessage): Promise<EventRecord | null> {
  if (message.value === null) return null;
  const coordinates = { topic: message.topic, partition: message.partition, offset: message.offset };
  let record;
  try {
    record = parseOutboxRecord(message.value, message.key);
  } catch (error) {
    const detail = error instanceof OutboxRecordError ? error.message : String(error);
    throw new OrderEventInvalidError(
      `record ${message.topic}[${message.partition}]@${message.offset} is not an outbox record: ${detail}`,
      coordinates,
      error,
    );
  }
  if (record.kind !== 'event') {
    throw new OrderEventInvalidError(
      `record ${message.topic}[${message.partition}]@${message.offset} is an ${record.kind} record; the order events topic carries event records only`,
      coordinates,
    );
  }
  return record;
}

export function peopleTopology(config: PeopleConfig, mapping: Mapping, name = 'people') {
  const rules = peopleRules(mapping, { seenEventIds: config.seenEventIdsPerCustomer, dedupePositions: config.dedupePositionsPerCustomer });
  const customersTopic = topicOf(mapping, 'customers');

  return defineProcessor({
    name,
    joinKey: 'customer_id',
    inputs: {
      customers: input({
        topic: customersTopic,
        decode: customersDecoder(mapping),
        keyedBy: 'customers.id struct',
        repartition: { by: 'customer_id', key: (event) => customerIdOf(event, rules) },
        eventTime: (event) => event.source.tsMs ?? event.tsMs,
      }),
      order_events: input({
        topic: config.orderEventsTopic,
        decode: decodeOrderEvent,
        keyedBy: 'customer_id',
        eventTime: (event) => event.timestamp * 1000,
      }),
    },
    stores: {
      people: keyValueStore<PersonState>(),
    },
    outputs: {
      outbox: output<IdentifyRecord>(config.outboxTopic),
    },

    process(record, ctx) {
      const origin = originOf(record);
      const store = ctx.store('people');
      let customerId: string;
      let result;
      if (record.input === 'customers') {
        customerId = record.key?.toString('utf8') ?? customerIdOf(record.value, rules) ?? '';
        checkPersonId(customerId, `${record.value.source.table}.${rules.columns.id}`, origin);
        result = applyCustomerChange(store.get(customerId), customerId, record.value, changeSource(record.value, origin), rules);
      } else {
        customerId = record.value.customerId;
        checkPersonId(customerId, `the key of ${record.topic}`, origin);
        // The order's own coordinates (table, binlog position) with this record's topic and offset.
        const source: OutboxSource = { ...(record.value.source ?? {}), ...origin };
        result = applyOrderEvent(store.get(customerId), customerId, record.value, source, rules);
      }
      if (result.outcome !== 'applied') {
        ctx.log.info({ ...origin, customerId, outcome: result.outcome }, 'person change skipped');
        return;
      }
      store.put(customerId, result.state);
      if (result.identify !== null) {
        ctx.emit('outbox', { key: customerId, value: result.identify, timestampMs: result.identify.timestamp * 1000 });
      }
    },
  });
}
