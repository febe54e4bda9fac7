/**
 * Progress records: a producer task's report of what it still holds back, written to every
 * partition of its output topic.
 *
 * A task of the orders processor keeps an order back until its items are complete, a carts
 * task keeps a change until the cart settles, and either can lag behind MySQL. A consumer of
 * their events cannot tell such a task from an idle one by the absence of records. So each
 * task writes, in the same transaction as its events, a progress record to every partition of
 * its events topic (cio.order-events, cio.cart-events) whenever its progress changes:
 *
 *   { "kind": "progress", "producer": "cio-cdc-orders", "task": 2, "tasks": 3,
 *     "idle": false, "watermark_ms": 1733390000000, "at_ms": 1733390004211 }
 *
 * - `idle`: the task has read every input to its end and holds nothing back. An event the
 *   task emits later comes from a row that had not reached Kafka when the record was written.
 * - `watermark_ms`: event time below which the task emits nothing more, except for late
 *   rows: the largest event time it emitted, capped below the earliest thing it holds back.
 *   Null before the task emitted anything since it started.
 * - `tasks`: the producer's task count, so a reader can tell which tasks have not reported yet.
 *
 * Because a record is written after the events it covers, in the same partition and by the
 * same transactional producer, a reader that sees it has seen those events. The records carry
 * the header `cio-cdc-record: progress` and the key `progress/<producer>/<task>`; readers that
 * want events only skip them by the header.
 */
import type { IHeaders } from 'kafkajs';

export const RECORD_TYPE_HEADER = 'cio-cdc-record';
export const PROGRESS_RECORD_TYPE = 'progress';

export interface ProgressRecord {
  readonly kind: 'progress';
  /** Application id of the producing processor. */
  readonly producer: string;
  readonly task: number;
  readonly tasks: number;
  readonly idle: boolean;
  readonly watermark_ms: number | null;
  /** Producer's clock when it wrote the record, for operators. */
  readonly at_ms: number;
}

export class ProgressRecordError extends Error {
  override readonly name = 'ProgressRecordError';
}

export function progressKey(producer: string, task: number): string {
  return `progress/${producer}/${task}`;
}

export const PROGRESS_HEADERS: Readonly<Record<string, string>> = Object.freeze({ [RECORD_TYPE_HEADER]: PROGRESS_RECORD_TYPE });

/** Returns whether a Kafka record carries the progress header. */
export function isProgressMessage(headers: IHeaders | undefined): boolean {
  const value = headers?.[RECORD_TYPE_HEADER];
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : Array.isArray(value) ? String(value[0] ?? '') : value;
  return text === PROGRESS_RECORD_TYPE;
}

function wholeAtLeast(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

/** Parses and checks a progress record's value; throws ProgressRecordError naming the field at fault. */
export function parseProgressRecord(bytes: Buffer): ProgressRecord {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ProgressRecordError(`progress record is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProgressRecordError('progress record is not a JSON object');
  }
  const record = value as Record<string, unknown>;
  if (record['kind'] !== 'progress') throw new ProgressRecordError(`progress record has kind ${JSON.stringify(record['kind'])}, expected "progress"`);
  if (typeof record['producer'] !== 'string' || record['producer'] === '') throw new ProgressRecordError('progress record has no producer');
  if (!wholeAtLeast(record['tasks'], 1)) throw new ProgressRecordError(`progress record has tasks ${JSON.stringify(record['tasks'])}, expected a whole number of at least 1`);
  if (!wholeAtLeast(record['task'], 0) || record['task'] >= record['tasks']) {
    throw new ProgressRecordError(`progress record has task ${JSON.stringify(record['task'])}, expected a whole number below tasks (${record['tasks']})`);
  }
  if (typeof record['idle'] !== 'boolean') throw new ProgressRecordError('progress record has no boolean idle');
  const watermark = record['watermark_ms'];
  if (watermark !== null && !(typeof watermark === 'number' && Number.isSafeInteger(watermark))) {
    throw new ProgressRecordError(`progress record has watermark_ms ${JSON.stringify(watermark)}, expected whole milliseconds or null`);
  }
  if (!wholeAtLeast(record['at_ms'], 0)) throw new ProgressRecordError('progress record has no at_ms');
  return Object.freeze({
    kind: 'progress',
    producer: record['producer'],
    task: record['task'],
    tasks: record['tasks'],
    idle: record['idle'],
    watermark_ms: watermark as number | null,
    at_ms: record['at_ms'],
  });
}
