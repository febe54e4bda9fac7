import type { IHeaders } from 'kafkajs';
// Drives OrdersLogic without Kafka, with in-memory stores and records decoded by the
// real Debezium decoder. Timers fire as the runtime fires them: event-time timers
// before the record that advances stream time, wall-clock timers once the clock
// passes the deadline plus the lateness bound. The context's inputCaughtUp returns
// the value in `caughtUp`, and `caughtUpChecks` lists the inputs it was called with.
import { pino } from 'pino';

import type { EventRecord } from '../../processors/customerio/records.ts';
import { DebeziumDecoder } from '../../processors/debezium/decoder.ts';
import type { ChangeEvent } from '../../processors/debezium/envelope.ts';
import { stringifyExact } from '../../processors/debezium/json.ts';
import { columnHintsOf, loadMapping } from '../../processors/mapping/mapping.ts';
import type { Mapping } from '../../processors/mapping/mapping.ts';
import type { KeyValueStore, TimerKind, TimerRequest } from '../../processors/runtime/processor.ts';
import { OrdersLogic } from '../../processors/orders/process.ts';
import type { OrdersContext, OrdersInputName, OrdersStores } from '../../processors/orders/process.ts';
import type { OrderTransaction } from '../../processors/transactions/records.ts';

export const defaultMapping = loadMapping();

/** A key-value store in memory that copies values through JSON, as the runtime's serde does. */
export class MemoryStore<V> implements KeyValueStore<V> {
  readonly name: string;
  readonly data = new Map<string, string>();

  constructor(name: string) {
    this.name = name;
  }

  get(key: string): V | undefined {
    const text = this.data.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as V);
  }
  has(key: string): boolean {
    return this.data.has(key);
  }
  put(key: string, value: V): void {
    this.data.set(key, JSON.stringify(value));
  }
  delete(key: string): boolean {
    return this.data.delete(key);
  }
  *entries(): IterableIterator<[string, V]> {
    for (const [key, text] of this.data) yield [key, JSON.parse(text) as V];
  }
  get size(): number {
    return this.data.size;
  }
}

/** Two's-complement big-endian bytes of the unscaled value, base64, as precise mode writes them. */
export function preciseDecimal(text: string, scale: number): string {
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  let unscaled = BigInt(whole! + fraction.padEnd(scale, '0'));
  if (text.startsWith('-')) unscaled = -unscaled;
  const bytes: number[] = [];
  let value = unscaled;
  do {
    bytes.unshift(Number(value & 0xffn));
    value >>= 8n;
  } while (!(value === 0n && (bytes[0]! & 0x80) === 0) && !(value === -1n && (bytes[0]! & 0x80) !== 0));
  return Buffer.from(bytes).toString('base64');
}

export interface ChangeOptions {
  readonly op?: 'c' | 'u' | 'd' | 'r';
  readonly before?: Record<string, unknown> | null;
  readonly pos: number;
  readonly row?: number;
  readonly tsMs: number;
  readonly file?: string;
  /** Debezium's transaction block; left out of the envelope when absent. */
  readonly transaction?: { readonly id: string; readonly totalOrder: number; readonly dataCollectionOrder?: number };
}

export class OrdersHarness {
  readonly mapping: Mapping;
  readonly logic: OrdersLogic;
  readonly graceMs: number;
  readonly latenessMs: number;
  readonly emitted: EventRecord[] = [];
  readonly guests: string[] = [];
  readonly stores = {
    orders: new MemoryStore('orders'),
    refunds: new MemoryStore('refunds'),
    subscriptions: new MemoryStore('subscriptions'),
    watermarks: new MemoryStore('watermarks'),
    gated: new MemoryStore('gated'),
    waiting: new MemoryStore('waiting'),
    pending: new MemoryStore('pending'),
    progress: new MemoryStore('progress'),
  };
  private readonly timers = new Map<string, { kind: TimerKind; key: string; deadlineMs: number }>();
  private readonly decoder: DebeziumDecoder;
  streamTimeMs: number | null = null;
  clockMs = 1_000_000;
  /** Result of ctx.inputCaughtUp per input. Inputs not listed are caught up. */
  readonly caughtUp = new Map<OrdersInputName, boolean>();
  readonly caughtUpChecks: OrdersInputName[] = [];
  /** Orders whose wall-clock fallback waited for an input (calls of onCompletionWait). */
  completionWaits = 0;
  private offset = 0;

  constructor(options: { mapping?: Mapping; graceMs?: number; latenessMs?: number; transactionMetadata?: boolean } = {}) {
    this.mapping = options.mapping ?? defaultMapping;
    this.graceMs = options.graceMs ?? 5000;
    this.latenessMs = options.latenessMs ?? 1000;
    this.logic = new OrdersLogic({
      mapping: this.mapping,
      graceMs: this.graceMs,
      transactionMetadata: options.transactionMetadata ?? false,
      onGuestSkipped: (what) => this.guests.push(what),
      onCompletionWait: () => {
        this.completionWaits += 1;
      },
    });
    this.decoder = new DebeziumDecoder({ valueFormat: 'json', datetimeZone: this.mapping.datetimeZone, columnHints: columnHintsOf(this.mapping) });
  }

  private context(): OrdersContext {
    return {
      log: pino({ level: 'silent' }),
      streamTimeMs: this.streamTimeMs,
      now: () => this.clockMs,
      timerLatenessBoundMs: this.latenessMs,
      inputCaughtUp: async (input) => {
        this.caughtUpChecks.push(input);
        return this.caughtUp.get(input) ?? true;
      },
      store: <K extends keyof OrdersStores>(name: K) => this.stores[name] as unknown as OrdersStores[K],
      emit: (_output, record) => {
        this.emitted.push(record.value);
      },
      schedule: (timer: TimerRequest) => {
        this.timers.set(`${timer.kind}/${timer.key}`, { kind: timer.kind, key: timer.key, deadlineMs: timer.deadlineMs });
      },
      cancel: (kind, key) => this.timers.delete(`${kind}/${key}`),
      timer: (kind, key) => {
        const timer = this.timers.get(`${kind}/${key}`);
        return timer === undefined ? undefined : { ...timer, payload: null };
      },
    };
  }

  pendingTimers(kind: TimerKind): number {
    return [...this.timers.values()].filter((timer) => timer.kind === kind).length;
  }

  /** Decodes a Debezium JSON envelope (no embedded schema; the mapping's types are the hints). */
  async change(table: string, after: Record<string, unknown> | null, options: ChangeOptions): Promise<ChangeEvent> {
    const envelope = {
      before: options.before ?? null,
      after,
      source: {
        connector: 'mariadb',
        db: 'shop',
        table,
        ts_ms: options.tsMs,
        snapshot: options.op === 'r' ? 'true' : 'false',
        file: options.file ?? 'mariadb-bin.000003',
        pos: options.pos,
        row: options.row ?? 0,
      },
      op: options.op ?? 'c',
      ts_ms: options.tsMs + 50,
      ...(options.transaction === undefined
        ? {}
        : {
            transaction: {
              id: options.transaction.id,
              total_order: options.transaction.totalOrder,
              data_collection_order: options.transaction.dataCollectionOrder ?? options.transaction.totalOrder,
            },
          }),
    };
    const decoded = await this.decoder.decode({
      topic: `shop.shop.${table}`,
      partition: 0,
      offset: String(this.offset++),
      key: null,
      value: Buffer.from(stringifyExact(envelope)),
    });
    if (decoded.kind !== 'change') throw new Error('expected a change event');
    return decoded;
  }

  /** Re-keys like the topology, advances stream time (firing due event-time timers first), then processes. */
  feed(input: OrdersInputName, event: ChangeEvent, headers?: IHeaders): void {
    const key = {
      orders: () => this.logic.orderKey(event),
      order_items: () => this.logic.itemOrderKey(event),
      fulfillments: () => this.logic.fulfillmentOrderKey(event),
      refunds: () => this.logic.refundKey(event),
      subscriptions: () => this.logic.subscriptionKey(event),
    }[input]();
    if (key === null) throw new Error('record has no join key');
    const eventTimeMs = event.source.tsMs!;
    if (this.streamTimeMs === null || eventTimeMs > this.streamTimeMs) {
      this.streamTimeMs = eventTimeMs;
      this.fireDue('event-time', this.streamTimeMs);
    }
    this.logic.process(
      { input, topic: `repartition-${input}`, partition: 0, offset: String(this.offset++), key: Buffer.from(key), value: event, eventTimeMs, ...(headers ? { headers } : {}) },
      this.context(),
    );
  }

  /** Hands over an order-transaction record as the topology does, keyed by order id, at its commit time. */
  feedTransaction(marker: OrderTransaction): void {
    const eventTimeMs = marker.committed_at_ms!;
    if (this.streamTimeMs === null || eventTimeMs > this.streamTimeMs) {
      this.streamTimeMs = eventTimeMs;
      this.fireDue('event-time', this.streamTimeMs);
    }
    this.logic.process(
      { input: 'transactions', topic: 'cio.order-transactions', partition: 0, offset: String(this.offset++), key: Buffer.from(marker.order_id), value: marker, eventTimeMs },
      this.context(),
    );
  }

  /** Moves the injected clock and fires, one after the other, the wall-clock timers it passed by the lateness bound. */
  async advanceClock(ms: number): Promise<void> {
    this.clockMs += ms;
    for (let due = this.takeDue('wall-clock', this.clockMs - this.latenessMs); due !== undefined; due = this.takeDue('wall-clock', this.clockMs - this.latenessMs)) {
      await this.logic.onTimer({ ...due, payload: null, firedAtMs: this.clockMs }, this.context());
    }
  }

  private fireDue(kind: 'event-time', limitMs: number): void {
    for (let due = this.takeDue(kind, limitMs); due !== undefined; due = this.takeDue(kind, limitMs)) {
      const result = this.logic.onTimer({ ...due, payload: null, firedAtMs: this.streamTimeMs! }, this.context());
      if (result instanceof Promise) throw new Error(`event-time timer ${due.key} was not handled synchronously`);
    }
  }

  private takeDue(kind: TimerKind, limitMs: number): { kind: TimerKind; key: string; deadlineMs: number } | undefined {
    const due = [...this.timers.values()]
      .filter((timer) => timer.kind === kind && timer.deadlineMs <= limitMs)
      .sort((a, b) => a.deadlineMs - b.deadlineMs || (a.key < b.key ? -1 : 1))[0];
    if (due !== undefined) this.timers.delete(`${kind}/${due.key}`);
    return due;
  }

  named(name: string): EventRecord[] {
    return this.emitted.filter((record) => record.name === name);
  }
}
