/**
 * The people processor: one Customer.io person per customer, with profile attributes and rollups
 * over the customer's orders. It is the only writer of the outbox, so a customer's events reach
 * Customer.io after the identify that carries the customer's email.
 *
 *   customers           (Debezium, key {"id":…})  ──re-key by customer_id──┐
 *   cio.customer-events (EventRecords that suppression let through,        │
 *                        key customer id) ─────────────────────────────────┤
 *                                                                          ▼
 *               apply ──▶ store `people` (customer id → PersonState)
 *                 │   └─▶ stores `held`, `held-events`: events of customers not identified yet
 *                 ▼
 *               cio.outbox (key customer id): an IdentifyRecord when an attribute changed,
 *               then the events, in input order. Held events follow the first identify, or go
 *               out without it once PEOPLE_IDENTIFY_WAIT_MS of stream time passed (forward.ts).
 */
import type { IHeaders } from 'kafkajs';

import { OutboxRecordError } from '../customerio/errors.ts';
import { parseOutboxRecord } from '../customerio/records.ts';
import type { EventRecord, OutboxRecord, OutboxSource } from '../customerio/records.ts';
import type { ChangeEvent } from '../debezium/index.ts';
import { createSourceDecoder } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { changeEventDecoder } from '../mapping/change-decoder.ts';
import { columnHintsOf, topicOf } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import { ORIGIN_HEADERS, defineProcessor, input, keyValueStore, output } from '../runtime/index.ts';
import type { Decoder, SourceMessage } from '../runtime/index.ts';
import type { PeopleConfig } from './config.ts';
import { CustomerEventInvalidError } from './errors.ts';
import { onCustomerChange, onCustomerEvent, onIdentifyWaitExpired } from './forward.ts';
import type { ForwardOptions, PeopleContext } from './forward.ts';
import type { PeopleMetrics } from './metrics.ts';
import { checkPersonId, customerIdOf, peopleRules } from './process.ts';
import type { HeldEvent, HeldIndex, PersonState } from './records.ts';

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

/**
 * Decodes a customers record at the edge; tombstones and truncates are skipped. A record missing a
 * column the mapping requires is dead-lettered (see change-decoder.ts).
 */
function customersDecoder(mapping: Mapping, source: SourceFormatConfig): Decoder<ChangeEvent> {
  return changeEventDecoder(mapping, createSourceDecoder(source, { datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) }));
}

/** Decodes a customer event; a record that is not an outbox event record is dead-lettered. */
async function decodeCustomerEvent(message: SourceMessage): Promise<EventRecord | null> {
  if (message.value === null) return null;
  const coordinates = { topic: message.topic, partition: message.partition, offset: message.offset };
  let record;
  try {
    record = parseOutboxRecord(message.value, message.key);
  } catch (error) {
    const detail = error instanceof OutboxRecordError ? error.message : String(error);
    throw new CustomerEventInvalidError(
      `record ${message.topic}[${message.partition}]@${message.offset} is not an outbox record: ${detail}`,
      coordinates,
      error,
    );
  }
  if (record.kind !== 'event') {
    throw new CustomerEventInvalidError(
      `record ${message.topic}[${message.partition}]@${message.offset} is an ${record.kind} record; the customer events topic carries event records only`,
      coordinates,
    );
  }
  return record;
}

export function peopleTopology(config: PeopleConfig, mapping: Mapping, name = 'people', metrics?: PeopleMetrics) {
  const rules = peopleRules(mapping, { seenEventIds: config.seenEventIdsPerCustomer, dedupePositions: config.dedupePositionsPerCustomer });
  const customersTopic = topicOf(mapping, 'customers');
  const forwarding: ForwardOptions = {
    rules,
    identifyWaitMs: config.identifyWaitMs,
    onReleasedUnidentified: (events) => metrics?.releasedUnidentified.inc(events),
  };

  return defineProcessor({
    name,
    joinKey: 'customer_id',
    inputs: {
      customers: input({
        topic: customersTopic,
        decode: customersDecoder(mapping, config.source),
        keyedBy: 'customers.id struct',
        repartition: { by: 'customer_id', key: (event) => customerIdOf(event, rules) },
        eventTime: (event) => event.source.tsMs ?? event.tsMs,
      }),
      events: input({
        topic: config.customerEventsTopic,
        decode: decodeCustomerEvent,
        keyedBy: 'customer_id',
        // The MySQL commit time, as for customers changes: an event's own timestamp is business
        // time (an order's placed_at) and would mix two clocks in one stream time.
        eventTime: (event) => event.source?.tsMs ?? event.timestamp * 1000,
      }),
    },
    stores: {
      people: keyValueStore<PersonState>(),
      held: keyValueStore<HeldIndex>(),
      'held-events': keyValueStore<HeldEvent>(),
    },
    outputs: {
      outbox: output<OutboxRecord>(config.outboxTopic),
    },

    process(record, ctx) {
      const origin = originOf(record);
      if (record.input === 'events') {
        checkPersonId(record.value.customerId, `the key of ${record.topic}`, origin);
        // The event's own coordinates (table, binlog position) with this record's topic and offset.
        const source: OutboxSource = { ...(record.value.source ?? {}), ...origin };
        onCustomerEvent(ctx as PeopleContext, record.value, source, origin, forwarding);
        return;
      }

      const customerId = record.key?.toString('utf8') ?? customerIdOf(record.value, rules) ?? '';
      checkPersonId(customerId, `${record.value.source.table}.${rules.columns.id}`, origin);
      // Events that waited for this customer follow its first identify, in this transaction.
      onCustomerChange(ctx as PeopleContext, customerId, record.value, changeSource(record.value, origin), origin, forwarding);
    },

    onTimer(timer, ctx) {
      onIdentifyWaitExpired(ctx as PeopleContext, timer, forwarding);
    },
  });
}
