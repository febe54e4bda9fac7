/**
 * Dead-letter records. A record whose decode, re-keying, handler or timer failed
 * with a non-retriable error goes to `<applicationId>-dlq` in the batch's
 * transaction. It keeps the original key, value and headers, and gains headers
 * that name the source and the error.
 */
import type { IHeaders, Message } from 'kafkajs';

import { errorClassName, errorCode, errorMessage } from './errors.ts';

export const DLQ_HEADERS = Object.freeze({
  topic: 'cio-cdc-dlq-source-topic',
  partition: 'cio-cdc-dlq-source-partition',
  offset: 'cio-cdc-dlq-source-offset',
  stage: 'cio-cdc-dlq-stage',
  errorClass: 'cio-cdc-dlq-error-class',
  errorCode: 'cio-cdc-dlq-error-code',
  errorMessage: 'cio-cdc-dlq-error-message',
  failedAt: 'cio-cdc-dlq-failed-at',
  timerKind: 'cio-cdc-dlq-timer-kind',
  timerKey: 'cio-cdc-dlq-timer-key',
});

/** Processing stage at which a record failed. */
export type FailureStage = 'decode' | 'repartition' | 'process' | 'timer';

/** Error messages longer than this are cut in the header; the log line has the full text. */
const MAX_ERROR_MESSAGE_CHARS = 4000;

export interface DeadLetterSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers?: IHeaders;
  readonly timestamp?: string;
  readonly timer?: { readonly kind: string; readonly key: string };
}

export function deadLetterMessage(source: DeadLetterSource, stage: FailureStage, error: unknown, failedAtMs: number): Message {
  const text = errorMessage(error);
  const headers: IHeaders = {
    ...source.headers,
    [DLQ_HEADERS.topic]: source.topic,
    [DLQ_HEADERS.partition]: String(source.partition),
    [DLQ_HEADERS.offset]: source.offset,
    [DLQ_HEADERS.stage]: stage,
    [DLQ_HEADERS.errorClass]: errorClassName(error),
    [DLQ_HEADERS.errorMessage]: text.length > MAX_ERROR_MESSAGE_CHARS ? text.slice(0, MAX_ERROR_MESSAGE_CHARS) : text,
    [DLQ_HEADERS.failedAt]: new Date(failedAtMs).toISOString(),
  };
  const code = errorCode(error);
  if (code !== undefined) {
    headers[DLQ_HEADERS.errorCode] = code;
  }
  if (source.timer !== undefined) {
    headers[DLQ_HEADERS.timerKind] = source.timer.kind;
    headers[DLQ_HEADERS.timerKey] = source.timer.key;
  }
  return {
    key: source.key,
    value: source.value,
    headers,
    ...(source.timestamp === undefined ? {} : { timestamp: source.timestamp }),
  };
}
