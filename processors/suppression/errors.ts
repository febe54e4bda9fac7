/**
 * Errors of the suppression processor. Every error has a stable `code` and `retriable`; a
 * record-level error also names the record (topic, partition, offset, key). The runtime
 * dead-letters a record whose decoder or handler throws a non-retriable error.
 */

export interface SuppressionRecordCoordinates {
  readonly topic?: string;
  readonly partition?: number;
  /** Kafka offset as a decimal string. */
  readonly offset?: string;
  readonly key?: string | null;
}

export class SuppressionError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly topic: string | undefined;
  readonly partition: number | undefined;
  readonly offset: string | undefined;
  readonly key: string | null | undefined;

  constructor(
    code: string,
    message: string,
    options: SuppressionRecordCoordinates & { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.topic = options.topic;
    this.partition = options.partition;
    this.offset = options.offset;
    this.key = options.key;
  }
}

/** An environment variable of the suppression processor has an invalid value. */
export class SuppressionConfigError extends SuppressionError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('SUPPRESSION_CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** An input record is not an event this processor can hold or pass; the runtime dead-letters it. */
export class SuppressionRecordRejectedError extends SuppressionError {
  constructor(message: string, coordinates: SuppressionRecordCoordinates, cause?: unknown) {
    super('SUPPRESSION_RECORD_REJECTED', message, { ...coordinates, retriable: false, cause });
  }
}
