/**
 * Suppression: holds cart events for a window and drops those the customer's order makes moot.
 *
 *   carts  (cio.cart-events,  keyed by customer_id) ──┐
 *                                                     ├─▶ process ──▶ events    (cio.customer-events)
 *   orders (cio.order-events, keyed by customer_id) ──┘      │    └─▶ decisions (cio.suppression-decisions)
 *                                                            │
 *                   customers (held events, recent orders) · watermarks (per input) · due
 *
 * Both inputs are keyed by customer id with the same partition count, so one task sees all of a
 * customer's events. The runtime's stream time is the largest event time over both inputs, so
 * an event-time timer can fire while the other input still lags behind the deadline. A fired
 * timer therefore only moves the hold to the `due` store; the hold is decided once every input
 * has been read past its deadline or has been idle for SUPPRESSION_IDLE_INPUT_MS (see
 * canRelease in process.ts). Wall-clock timers release holds of an idle partition.
 *
 * The orders and carts processors write progress records into these inputs
 * (processors/progress/records.ts). Once a producer has written one into an input, that input
 * counts as idle only when the last record of every task of the producer reports idle. Its
 * watermark is then the lowest one those tasks report, and the wall clock no longer matters. An orders task that still holds
 * an order back, or a carts task that reads a backlog, therefore keeps the holds it could
 * decide differently.
 */
import type { EventRecord } from '../customerio/records.ts';
import { parseOutboxRecord } from '../customerio/records.ts';
import { isProgressMessage, parseProgressRecord } from '../progress/records.ts';
import type { ProgressRecord } from '../progress/records.ts';
import { defineProcessor, input, keyValueStore, output } from '../runtime/index.ts';
import type { ProcessorContext, SourceMessage } from '../runtime/index.ts';
import type { SuppressionConfig } from './config.ts';
import { SuppressionRecordRejectedError } from './errors.ts';
import type { SuppressionMetrics } from './metrics.ts';
import {
  EMPTY_CUSTOMER,
  applyProgress,
  canRelease,
  isEmpty,
  lowWatermark,
  onCartEvent,
  onOrderEvent,
  producerInputProgress,
  pruneOrders,
  releaseHeld,
} from './process.ts';
import type { Effect, InputProgress, Outcome, Rules } from './process.ts';
import type { CustomerState, DecisionRecord, DueEntry, HeldEvent, HoldTimerPayload, InputWatermark, ProducerProgress } from './records.ts';

const INPUTS = ['carts', 'orders'] as const;
type InputName = (typeof INPUTS)[number];

/** Wall-clock timer that re-checks the due holds while some input still lags. */
const RECHECK_TIMER = 'recheck-due';
/** Bounds of the wall-clock re-check of blocked holds: no busier than once a second, no rarer than once a minute. */
const MIN_RECHECK_DELAY_MS = 1_000;
const MAX_RECHECK_DELAY_MS = 60_000;

export interface SuppressionOptions {
  readonly name?: string;
  readonly metrics?: SuppressionMetrics;
}

function keyText(message: SourceMessage): string | null {
  return message.key === null ? null : message.key.toString('utf8');
}

function coordinates(message: SourceMessage) {
  return { topic: message.topic, partition: message.partition, offset: message.offset, key: keyText(message) };
}

/** Decodes an outbox EventRecord; tombstones are skipped, anything else invalid is dead-lettered. */
function eventDecoder(accepts: (record: EventRecord) => string | null) {
  return async (message: SourceMessage): Promise<EventRecord | null> => {
    if (message.value === null) {
      return null;
    }
    const where = `${message.topic}[${message.partition}] offset ${message.offset}`;
    let parsed;
    try {
      parsed = parseOutboxRecord(message.value, message.key);
    } catch (error) {
      throw new SuppressionRecordRejectedError(
        `record at ${where} is not an outbox record (${(error as Error).message}); it goes to the dead-letter topic`,
        coordinates(message),
        error,
      );
    }
    if (parsed.kind !== 'event') {
      throw new SuppressionRecordRejectedError(
        `record at ${where} is an identify record; this input carries events only, so it goes to the dead-letter topic`,
        coordinates(message),
      );
    }
    const problem = accepts(parsed);
    if (problem !== null) {
      throw new SuppressionRecordRejectedError(`record at ${where}: ${problem}; it goes to the dead-letter topic`, coordinates(message));
    }
    return parsed;
  };
}

const orderEventDecoder = eventDecoder(() => null);

function progressDecoder(message: SourceMessage): ProgressRecord {
  if (message.value === null) {
    throw new SuppressionRecordRejectedError(
      `progress record at ${message.topic}[${message.partition}] offset ${message.offset} has no value; it goes to the dead-letter topic`,
      coordinates(message),
    );
  }
  try {
    return parseProgressRecord(message.value);
  } catch (error) {
    throw new SuppressionRecordRejectedError(
      `record at ${message.topic}[${message.partition}] offset ${message.offset}: ${(error as Error).message}; it goes to the dead-letter topic`,
      coordinates(message),
      error,
    );
  }
}

function timerKey(customerId: string, heldKey: string): string {
  return JSON.stringify([customerId, heldKey]);
}

export function suppressionTopology(config: SuppressionConfig, options: SuppressionOptions = {}) {
  const rules: Rules = {
    windowMs: config.windowMs,
    quietMs: config.quietMs,
    latenessBoundMs: config.latenessBoundMs,
    ordersPerCustomer: config.ordersPerCustomer,
    names: config.names,
  };
  const metrics = options.metrics;

  /**
   * Wall-clock activity per task and input, in memory on purpose: after a restart every input
   * counts as active again for the idle timeout, so a restarted consumer that is behind reads
   * both inputs before it releases anything on the wall clock.
   */
  const activity = new Map<string, { startedMs: number; lastRecordMs: Partial<Record<InputName, number>> }>();

  type Ctx = ProcessorContext<
    {
      customers: ReturnType<typeof keyValueStore<CustomerState>>;
      watermarks: ReturnType<typeof keyValueStore<InputWatermark>>;
      due: ReturnType<typeof keyValueStore<DueEntry>>;
      producers: ReturnType<typeof keyValueStore<ProducerProgress>>;
    },
    { events: ReturnType<typeof output<EventRecord>>; decisions: ReturnType<typeof output<DecisionRecord>> }
  >;

  function activityOf(ctx: Ctx) {
    const id = `${ctx.applicationId}/${ctx.task}`;
    let entry = activity.get(id);
    if (entry === undefined) {
      entry = { startedMs: ctx.now(), lastRecordMs: {} };
      activity.set(id, entry);
    }
    return entry;
  }

  function progress(ctx: Ctx): InputProgress[] {
    const seen = activityOf(ctx);
    const nowMs = ctx.now();
    return INPUTS.map((name) => {
      const readMs = ctx.store('watermarks').get(name)?.maxEventTimeMs ?? null;
      const producers = [...ctx.store('producers').entries()].filter(([key]) => key.startsWith(`${name}/`)).map(([, entry]) => entry);
      const reported = producerInputProgress(producers, readMs);
      return reported ?? { watermarkMs: readMs, idle: nowMs - (seen.lastRecordMs[name] ?? seen.startedMs) >= config.idleInputMs };
    });
  }

  function apply(ctx: Ctx, customerId: string, outcome: Outcome): void {
    const customers = ctx.store('customers');
    if (isEmpty(outcome.state)) {
      customers.delete(customerId);
    } else {
      customers.put(customerId, outcome.state);
    }
    for (const effect of outcome.effects) {
      applyEffect(ctx, customerId, effect);
    }
  }

  function applyEffect(ctx: Ctx, customerId: string, effect: Effect): void {
    switch (effect.type) {
      case 'emit':
        ctx.emit('events', { key: customerId, value: effect.record, timestampMs: effect.record.timestamp * 1000 });
        return;
      case 'decision':
        // A progress record carries no event time, so the stream time is used for it.
        ctx.emit('decisions', { key: customerId, value: effect.decision, timestampMs: Math.max(ctx.eventTimeMs, ctx.streamTimeMs ?? 0) });
        metrics?.count(effect.decision.decision);
        if (effect.decision.decision === 'suppressed') {
          ctx.log.info(
            { customerId, event: effect.decision.event_name, eventId: effect.decision.event_id, orderId: effect.decision.order_id, reason: effect.decision.reason },
            'cart event suppressed',
          );
        } else {
          ctx.log.debug({ customerId, ...effect.decision }, 'suppression decision');
        }
        return;
      case 'hold':
        hold(ctx, customerId, effect.held);
        return;
      case 'unhold': {
        const key = timerKey(customerId, effect.heldKey);
        ctx.cancel('event-time', key);
        ctx.cancel('wall-clock', key);
        ctx.store('due').delete(key);
        return;
      }
    }
  }

  function hold(ctx: Ctx, customerId: string, held: HeldEvent): void {
    const key = timerKey(customerId, held.heldKey);
    const payload: HoldTimerPayload = { customerId, heldKey: held.heldKey };
    ctx.store('due').delete(key);
    ctx.schedule({ kind: 'event-time', key, deadlineMs: held.deadlineMs, payload });
    ctx.schedule({ kind: 'wall-clock', key, deadlineMs: held.deadlineMs, payload });
    // A late event can arrive after the stream time passed its deadline; no timer would fire for it.
    const inputs = progress(ctx);
    if (inputs.some((entry) => entry.watermarkMs !== null && entry.watermarkMs > held.deadlineMs)) {
      ctx.store('due').put(key, { customerId, heldKey: held.heldKey, deadlineMs: held.deadlineMs });
    }
  }

  /** Decides every due hold that every input has been read past (or that an idle input no longer blocks). */
  function decideDue(ctx: Ctx): void {
    const due = ctx.store('due');
    if (due.size === 0) {
      metrics?.heldPastWindow.set({ task: String(ctx.task) }, 0);
      return;
    }
    const inputs = progress(ctx);
    const nowMs = ctx.now();
    const ready = [...due.entries()]
      .filter(([, entry]) => canRelease(entry.deadlineMs, inputs, nowMs, config.latenessBoundMs))
      .sort(([keyA, a], [keyB, b]) => a.deadlineMs - b.deadlineMs || (keyA < keyB ? -1 : 1));
    for (const [key, entry] of ready) {
      due.delete(key);
      decideHold(ctx, entry.customerId, entry.heldKey);
    }
    let pastWindow = 0;
    for (const [, entry] of due.entries()) {
      if (entry.deadlineMs + config.latenessBoundMs < nowMs) {
        pastWindow += 1;
      }
    }
    metrics?.heldPastWindow.set({ task: String(ctx.task) }, pastWindow);
    if (due.size > 0) {
      scheduleRecheck(ctx, nowMs);
    }
  }

  /**
   * While holds are due but blocked, checks again when the earliest active input can turn idle
   * (a record arriving before then re-checks on its own), or when a due deadline passes the
   * lateness bound.
   */
  function scheduleRecheck(ctx: Ctx, nowMs: number): void {
    const seen = activityOf(ctx);
    const idleAt = INPUTS.map((name) => (seen.lastRecordMs[name] ?? seen.startedMs) + config.idleInputMs).filter((atMs) => atMs > nowMs);
    const pastBound = [...ctx.store('due').entries()]
      .map(([, entry]) => entry.deadlineMs + config.latenessBoundMs)
      .filter((atMs) => atMs > nowMs);
    const nextMs = Math.max(nowMs + MIN_RECHECK_DELAY_MS, Math.min(...idleAt, ...pastBound, nowMs + MAX_RECHECK_DELAY_MS));
    const current = ctx.timer('wall-clock', RECHECK_TIMER);
    const deadlineMs = nextMs - config.latenessBoundMs;
    if (current === undefined || current.deadlineMs > deadlineMs) {
      ctx.schedule({ kind: 'wall-clock', key: RECHECK_TIMER, deadlineMs });
    }
  }

  function decideHold(ctx: Ctx, customerId: string, heldKey: string): void {
    const customers = ctx.store('customers');
    const state = customers.get(customerId) ?? EMPTY_CUSTOMER;
    const watermark = lowWatermark(progress(ctx));
    const pruned = watermark === null ? state : pruneOrders(state, watermark, rules);
    apply(ctx, customerId, releaseHeld(pruned, heldKey, ctx.streamTimeMs, rules));
  }

  const cartEventDecoder = eventDecoder((record) => {
    if (record.name !== config.names.cartUpdated && record.name !== config.names.checkoutStarted) {
      return `event ${JSON.stringify(record.name)} is not a cart event (${config.names.cartUpdated} or ${config.names.checkoutStarted})`;
    }
    return record.name === config.names.cartUpdated && record.data['cart_id'] === undefined
      ? `${config.names.cartUpdated} ${record.id} has no data.cart_id to debounce by`
      : null;
  });

  return defineProcessor({
    name: options.name ?? 'cio-cdc-suppression',
    joinKey: 'customer_id',
    inputs: {
      carts: input<EventRecord | ProgressRecord>({
        topic: config.cartEventsTopic,
        keyedBy: 'customer_id',
        decode: async (message) => (isProgressMessage(message.headers) ? progressDecoder(message) : cartEventDecoder(message)),
        eventTime: (record) => (record.kind === 'progress' ? 0 : record.timestamp * 1000),
      }),
      orders: input<EventRecord | ProgressRecord>({
        topic: config.orderEventsTopic,
        keyedBy: 'customer_id',
        decode: async (message) => (isProgressMessage(message.headers) ? progressDecoder(message) : orderEventDecoder(message)),
        // A progress record moves no clock: the watermarks it reports are the producer's.
        eventTime: (record) => (record.kind === 'progress' ? 0 : record.timestamp * 1000),
      }),
    },
    stores: {
      customers: keyValueStore<CustomerState>(),
      watermarks: keyValueStore<InputWatermark>(),
      due: keyValueStore<DueEntry>(),
      producers: keyValueStore<ProducerProgress>(),
    },
    outputs: {
      // The people processor forwards these to the outbox after each customer's identify.
      events: output<EventRecord>(config.customerEventsTopic),
      decisions: output<DecisionRecord>(config.decisionsTopic),
    },
    init(ctx) {
      // A new owner of this task starts its idle clocks afresh.
      activity.delete(`${ctx.applicationId}/${ctx.task}`);
    },
    process(record, ctx) {
      activityOf(ctx).lastRecordMs[record.input] = ctx.now();
      if (record.value.kind === 'progress') {
        const producers = ctx.store('producers');
        const key = `${record.input}/${record.value.producer}`;
        producers.put(key, applyProgress(producers.get(key), record.value));
        decideDue(ctx);
        return;
      }
      const customerId = record.key!.toString('utf8');
      const watermarks = ctx.store('watermarks');
      const current = watermarks.get(record.input)?.maxEventTimeMs;
      if (current === undefined || record.eventTimeMs > current) {
        watermarks.put(record.input, { maxEventTimeMs: record.eventTimeMs });
      }
      // Holds whose deadline this record's input just passed are decided before the record.
      decideDue(ctx);

      const state = ctx.store('customers').get(customerId) ?? EMPTY_CUSTOMER;
      const outcome =
        record.input === 'carts'
          ? onCartEvent(state, record.value, record.eventTimeMs, ctx.streamTimeMs, rules)
          : onOrderEvent(state, record.value, record.eventTimeMs, ctx.streamTimeMs, rules);
      apply(ctx, customerId, outcome);
      // A late cart event may be decidable at once.
      decideDue(ctx);
    },
    onTimer(timer, ctx) {
      if (timer.key === RECHECK_TIMER) {
        decideDue(ctx);
        return;
      }
      const payload = timer.payload as HoldTimerPayload;
      const state = ctx.store('customers').get(payload.customerId);
      const held = state?.held.find((item) => item.heldKey === payload.heldKey);
      if (held === undefined || held.deadlineMs !== timer.deadlineMs) {
        return;
      }
      ctx.store('due').put(timer.key, { customerId: payload.customerId, heldKey: payload.heldKey, deadlineMs: held.deadlineMs });
      decideDue(ctx);
    },
  });
}

export type SuppressionDefinition = ReturnType<typeof suppressionTopology>;
