/**
 * Writes a task's progress records (see records.ts) from a processor's punctuate.
 *
 * The processor keeps two stores for it: `pending`, one entry per thing it still holds back
 * with the event time its output will carry, and `progress`, with the largest event time it
 * emitted and the last record it wrote. Both commit with the task's transaction, so after a
 * restart they match what downstream has read.
 */
import type { Logger } from 'pino';

import type { KeyValueStore, OutputRecord } from '../runtime/index.ts';
import { PROGRESS_HEADERS, progressKey } from './records.ts';
import type { ProgressRecord } from './records.ts';

export interface ProgressState {
  /** Largest event time the task emitted, or null before its first event. */
  readonly emittedMs: number | null;
  /** The last record written, or null before the first. */
  readonly sent: { readonly idle: boolean; readonly watermarkMs: number | null } | null;
}

/** Key of the one entry of the `progress` store. */
const STATE_KEY = 'state';
const INITIAL: ProgressState = { emittedMs: null, sent: null };

/** The part of the processor context progress reporting uses. */
export interface ProgressContext {
  readonly applicationId: string;
  readonly task: number;
  readonly taskCount: number;
  readonly log: Logger;
  now(): number;
  inputCaughtUp(input: string): Promise<boolean>;
  outputPartitions(output: string): number;
  emit(output: string, record: OutputRecord<ProgressRecord>): void;
}

export interface ProgressStores {
  readonly pending: KeyValueStore<number>;
  readonly progress: KeyValueStore<ProgressState>;
}

/** Records that the task emitted an event with this event time. */
export function noteEmitted(progress: KeyValueStore<ProgressState>, eventTimeMs: number): void {
  const state = progress.get(STATE_KEY) ?? INITIAL;
  if (state.emittedMs === null || state.emittedMs < eventTimeMs) {
    progress.put(STATE_KEY, { ...state, emittedMs: eventTimeMs });
  }
}

/** Puts or removes a `pending` entry; writes nothing when the entry is already as asked. */
export function setPending(pending: KeyValueStore<number>, key: string, eventTimeMs: number | null): void {
  if (eventTimeMs === null) {
    if (pending.has(key)) pending.delete(key);
  } else if (pending.get(key) !== eventTimeMs) {
    pending.put(key, eventTimeMs);
  }
}

/**
 * Computes the task's progress and, when it differs from the last record written, writes a
 * progress record to every partition of `output`. Idle: every input read to its end and
 * nothing pending. Watermark: the largest event time emitted, capped below the earliest
 * pending one.
 */
export async function reportProgress(ctx: ProgressContext, output: string, inputs: readonly string[], stores: ProgressStores): Promise<void> {
  let caughtUp = true;
  for (const name of inputs) {
    if (!(await ctx.inputCaughtUp(name))) {
      caughtUp = false;
      break;
    }
  }
  let earliestMs = Infinity;
  for (const [, atMs] of stores.pending.entries()) {
    earliestMs = Math.min(earliestMs, atMs);
  }
  const state = stores.progress.get(STATE_KEY) ?? INITIAL;
  const idle = caughtUp && stores.pending.size === 0;
  const watermarkMs = state.emittedMs === null ? null : Math.min(state.emittedMs, earliestMs - 1);
  if (state.sent !== null && state.sent.idle === idle && state.sent.watermarkMs === watermarkMs) {
    return;
  }
  const nowMs = ctx.now();
  const record: ProgressRecord = {
    kind: 'progress',
    producer: ctx.applicationId,
    task: ctx.task,
    tasks: ctx.taskCount,
    idle,
    watermark_ms: watermarkMs,
    at_ms: nowMs,
  };
  const partitions = ctx.outputPartitions(output);
  for (let partition = 0; partition < partitions; partition += 1) {
    ctx.emit(output, { key: progressKey(ctx.applicationId, ctx.task), value: record, partition, headers: PROGRESS_HEADERS, timestampMs: nowMs });
  }
  stores.progress.put(STATE_KEY, { ...state, sent: { idle, watermarkMs } });
  ctx.log.debug({ idle, watermarkMs, pending: stores.pending.size, partitions }, 'progress written');
}
