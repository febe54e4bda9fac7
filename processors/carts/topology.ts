/**
 * The carts processor: one snapshot per cart from the carts and cart_items tables.
 *
 *   carts       (Debezium, key {"id":…})      ──re-key by cart_id──┐
 *   cart_items  (Debezium, key {"id":…})      ──re-key by cart_id──┤
 *                                                                 ▼
 *                                            apply change ──▶ store `carts` (cart_id → CartState)
 *                                                                 │ settle timer (event time,
 *                                                                 │ wall clock when idle)
 *                                                                 ▼
 *                                                               flush
 *                                          ┌──────────────────────┴───────────────────┐
 *                         cio.cart-snapshots (key cart_id, compacted)   cio.cart-events (key customer id)
 *
 * A change is held until the cart has been quiet for `settleMs` of event time, so the cart row
 * and the items of one MySQL transaction go out as one cart_updated.
 *
 * Stores `pending` (cart_id → event time of the unsent change) and `progress` feed the punctuate,
 * which writes a progress record to every partition of cio.cart-events when the task's
 * progress changes (processors/progress/records.ts). Suppression uses these records to tell a
 * busy task from an idle one.
 */
import type { EventRecord } from '../customerio/records.ts';
import type { ChangeEvent } from '../debezium/index.ts';
import { createSourceDecoder } from '../debezium/source-format.ts';
import type { SourceFormatConfig } from '../debezium/source-format.ts';
import { changeEventDecoder } from '../mapping/change-decoder.ts';
import { columnHintsOf, topicOf } from '../mapping/mapping.ts';
import type { Mapping } from '../mapping/mapping.ts';
import type { ProgressRecord } from '../progress/records.ts';
import { noteEmitted, reportProgress, setPending } from '../progress/reporter.ts';
import type { ProgressContext, ProgressState } from '../progress/reporter.ts';
import { ORIGIN_HEADERS, defineProcessor, input, keyValueStore, output } from '../runtime/index.ts';
import type { IHeaders } from 'kafkajs';
import type { Decoder, KeyValueStore } from '../runtime/index.ts';
import type { CartsConfig } from './config.ts';
import { CartRecordRejectedError } from './errors.ts';
import { applyChange, cartIdOf, cartsRules, flushCart, sourceOf } from './process.ts';
import type { CartSnapshot, CartState } from './records.ts';

/**
 * Decodes a Debezium record (JSON or Avro, as set in `source`) at the edge. Tombstones and truncates
 * are skipped (null). A record missing a column the mapping requires is dead-lettered, and column
 * changes are logged and counted (see change-decoder.ts).
 */
export function debeziumChangeDecoder(mapping: Mapping, source: SourceFormatConfig): Decoder<ChangeEvent> {
  return changeEventDecoder(mapping, createSourceDecoder(source, { datetimeZone: mapping.datetimeZone, columnHints: columnHintsOf(mapping) }));
}

function header(headers: IHeaders, name: string): string | undefined {
  const value = headers[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined ? undefined : last.toString();
}

/** Topic, partition and offset of the record in its source topic (before re-keying). */
export function originOf(record: { topic: string; partition: number; offset: string; headers: IHeaders }) {
  const topic = header(record.headers, ORIGIN_HEADERS.topic);
  const partition = header(record.headers, ORIGIN_HEADERS.partition);
  const offset = header(record.headers, ORIGIN_HEADERS.offset);
  if (topic === undefined || partition === undefined || offset === undefined) {
    return { topic: record.topic, partition: record.partition, offset: record.offset };
  }
  return { topic, partition: Number(partition), offset };
}

export function cartsTopology(config: CartsConfig, mapping: Mapping, name = 'carts') {
  const rules = cartsRules(mapping, config.dedupePositionsPerCart);
  const decode = debeziumChangeDecoder(mapping, config.source);
  const eventTime = (event: ChangeEvent) => event.source.tsMs ?? event.tsMs;

  return defineProcessor({
    name,
    joinKey: 'cart_id',
    inputs: {
      carts: input({
        topic: topicOf(mapping, 'carts'),
        decode,
        keyedBy: 'carts.id struct',
        repartition: { by: 'cart_id', key: (event) => cartIdOf(event, rules) },
        eventTime,
      }),
      cart_items: input({
        topic: topicOf(mapping, 'cartItems'),
        decode,
        keyedBy: 'cart_items.id struct',
        repartition: { by: 'cart_id', key: (event) => cartIdOf(event, rules) },
        eventTime,
      }),
    },
    stores: {
      carts: keyValueStore<CartState>(),
      pending: keyValueStore<number>(),
      progress: keyValueStore<ProgressState>(),
    },
    outputs: {
      cart_events: output<EventRecord | ProgressRecord>(config.cartEventsTopic),
      cart_snapshots: output<CartSnapshot>(config.cartSnapshotsTopic),
    },

    process(record, ctx) {
      const origin = originOf(record);
      const cartId = record.key?.toString('utf8') ?? cartIdOf(record.value, rules);
      if (cartId === null || cartId === '') {
        throw new CartRecordRejectedError(`change of ${record.value.source.table} has no cart id; it cannot be joined`, origin);
      }
      const store = ctx.store('carts');
      const result = applyChange(store.get(cartId), cartId, record.value, sourceOf(record.value, origin), rules);
      if (result.outcome !== 'applied') {
        ctx.log.info({ ...origin, cartId, outcome: result.outcome }, 'cart change skipped');
        return;
      }
      store.put(cartId, result.state);
      setPending(ctx.store('pending'), cartId, pendingEventTimeMs(result.state));
      // The event-time timer flushes once the task's stream time has moved `settleMs` past this
      // change; the wall-clock timer flushes an idle partition, whose stream time stands still.
      // It counts from now, not from the change's event time, so records read while catching
      // up are not flushed one by one. The first timer to fire cancels the other.
      ctx.schedule({ kind: 'event-time', key: cartId, deadlineMs: record.eventTimeMs + config.settleMs });
      ctx.schedule({ kind: 'wall-clock', key: cartId, deadlineMs: ctx.now() + config.settleMs });
    },

    onTimer(timer, ctx) {
      ctx.cancel(timer.kind === 'event-time' ? 'wall-clock' : 'event-time', timer.key);
      const store = ctx.store('carts');
      const state = store.get(timer.key);
      if (state === undefined || state.pending === null) return;
      const result = flushCart(state, rules);
      store.put(timer.key, result.state);
      setPending(ctx.store('pending'), timer.key, pendingEventTimeMs(result.state));
      if (result.snapshot !== undefined) {
        ctx.emit('cart_snapshots', { key: timer.key, value: result.snapshot });
      }
      for (const event of result.events) {
        ctx.emit('cart_events', { key: event.customerId, value: event, timestampMs: event.timestamp * 1000 });
        noteEmitted(ctx.store('progress'), event.timestamp * 1000);
      }
      if (result.state.row !== null && result.state.row.customerId === null && state.pending.live) {
        ctx.log.info({ cartId: timer.key }, 'cart has no customer id; nothing emitted');
      }
    },

    ...(config.progressIntervalMs > 0 ? { punctuate: progressPunctuate(config.progressIntervalMs) } : {}),
  });
}

type ProgressStoresContext = ProgressContext & {
  store(name: 'pending'): KeyValueStore<number>;
  store(name: 'progress'): KeyValueStore<ProgressState>;
};

function progressPunctuate(intervalMs: number) {
  return {
    intervalMs,
    // The runtime passes this processor's context, whose store and emit are typed per name.
    run: (context: object) => {
      const ctx = context as ProgressStoresContext;
      return reportProgress(ctx, 'cart_events', ['carts', 'cart_items'], { pending: ctx.store('pending'), progress: ctx.store('progress') });
    },
  };
}

/**
 * Returns the event time of the event an unsent change will give. That is the earlier of the
 * cart row's updated_at (else the commit time) and a pending checkout, or null when nothing is pending.
 */
function pendingEventTimeMs(state: CartState): number | null {
  const pending = state.pending;
  if (pending === null) return null;
  const updatedSec = pending.sourceUpdatedAt ?? Math.floor(pending.lastTsMs / 1000);
  const checkoutSec = pending.checkout?.at ?? Infinity;
  return Math.min(updatedSec, checkoutSec) * 1000;
}
