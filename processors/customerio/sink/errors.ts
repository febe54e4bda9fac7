/**
 * Errors of the Customer.io sink. Record-level failures of the Track API reuse the classes of
 * ../errors.ts; these cover the sink's own configuration and its Kafka side.
 */

import { CustomerioError, type RecordCoordinates } from '../errors.ts';

/** A sink setting in the environment is missing or out of range. */
export class SinkConfigError extends CustomerioError {
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(message: string, variable: string) {
    super(message, { code: 'SINK_CONFIG_INVALID', retriable: false });
    this.variable = variable;
  }
}

/**
 * Producing to the dead-letter or delivery-log topic failed. The offsets those records cover
 * stay uncommitted, so the batch is read again after the consumer restarts.
 */
export class SinkProduceError extends CustomerioError {
  constructor(message: string, options: RecordCoordinates & { cause?: unknown } = {}) {
    super(message, { ...options, code: 'SINK_PRODUCE_FAILED', retriable: true });
  }
}
