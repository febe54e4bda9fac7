/**
 * Errors of the Customer.io side: outbox records, pre-send validation and the Track API client.
 *
 * Every error has a stable `code` and `retriable`. Record-level errors can carry the Kafka
 * coordinates (topic, partition, offset, key) of the outbox record they belong to. The client
 * fills `key` with the customer id, and the sink adds the rest with `withRecord()`.
 */

export interface RecordCoordinates {
  topic?: string;
  partition?: number;
  /** Kafka offset, kept as a string. */
  offset?: string;
  /** Kafka record key, which on cio.outbox is the customer id. */
  key?: string;
}

export interface CustomerioErrorOptions extends RecordCoordinates {
  code: string;
  retriable: boolean;
  cause?: unknown;
}

export class CustomerioError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  topic: string | undefined;
  partition: number | undefined;
  offset: string | undefined;
  key: string | undefined;

  constructor(message: string, options: CustomerioErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable;
    this.topic = options.topic;
    this.partition = options.partition;
    this.offset = options.offset;
    this.key = options.key;
  }

  /** Attaches the Kafka coordinates of the record this error belongs to and returns the error. */
  withRecord(coordinates: RecordCoordinates): this {
    if (coordinates.topic !== undefined) this.topic = coordinates.topic;
    if (coordinates.partition !== undefined) this.partition = coordinates.partition;
    if (coordinates.offset !== undefined) this.offset = coordinates.offset;
    if (coordinates.key !== undefined) this.key = coordinates.key;
    return this;
  }
}

/** An outbox record that is not valid JSON or does not match the record contract. */
export class OutboxRecordError extends CustomerioError {
  /** Path of the offending field, for example `attributes` or `source.offset`. */
  readonly field: string;

  constructor(message: string, field: string, options: Partial<CustomerioErrorOptions> = {}) {
    super(message, { ...options, code: 'CIO_OUTBOX_RECORD_INVALID', retriable: false });
    this.field = field;
  }
}

export interface ValidationIssue {
  /** Path of the offending field, for example `customerId`, `attributes.created_at` or `data`. */
  field: string;
  /** Short machine-readable reason such as `too_long` or `not_unix_seconds`. */
  reason: string;
  message: string;
}

/** A record that Customer.io would reject or misread; found before sending. */
export class ValidationError extends CustomerioError {
  readonly issues: readonly ValidationIssue[];
  /** Field of the first issue. */
  readonly field: string;
  readonly reason: string;

  constructor(issues: readonly ValidationIssue[], options: Partial<CustomerioErrorOptions> = {}) {
    const first = issues[0];
    if (first === undefined) throw new TypeError('ValidationError needs at least one issue');
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(`${first.message}${more}; the record is not sent`, {
      ...options,
      code: 'CIO_VALIDATION_FAILED',
      retriable: false,
    });
    this.issues = issues;
    this.field = first.field;
    this.reason = first.reason;
  }
}

export interface TrackApiErrorOptions extends Partial<CustomerioErrorOptions> {
  statusCode?: number;
  /** Wait requested by the server (Retry-After) or chosen by the retry policy, in milliseconds. */
  retryAfterMs?: number;
  /** HTTP attempts made for the request this error ends. */
  attempts?: number;
  /** Reason from Customer.io's error body, or a client reason such as `item_too_large`. */
  reason?: string;
  /** Field named by Customer.io's error body. */
  field?: string;
  /** Position of the item in the v2 batch request that failed. */
  batchIndex?: number;
}

/** Base of every error that comes from a Track API request. */
export class TrackApiError extends CustomerioError {
  readonly statusCode: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly attempts: number;
  readonly reason: string | undefined;
  readonly field: string | undefined;
  readonly batchIndex: number | undefined;

  constructor(message: string, options: TrackApiErrorOptions & { code: string; retriable: boolean }) {
    super(message, options);
    this.statusCode = options.statusCode;
    this.retryAfterMs = options.retryAfterMs;
    this.attempts = options.attempts ?? 0;
    this.reason = options.reason;
    this.field = options.field;
    this.batchIndex = options.batchIndex;
  }
}

/** Customer.io rejected the item for good (400 or another 4xx, or a 207 item error): send it to the DLQ. */
export class TrackRejectedError extends TrackApiError {
  constructor(message: string, options: TrackApiErrorOptions = {}) {
    super(message, { code: 'CIO_REJECTED', ...options, retriable: false });
  }
}

/**
 * The item was not delivered but may be later: a 408, 429 or 5xx, a network error or timeout,
 * an aborted send, or a send skipped because an earlier operation for the same person failed.
 * The sink keeps the offset uncommitted and sends the item again.
 */
export class TrackRetriableError extends TrackApiError {
  constructor(message: string, options: TrackApiErrorOptions & { code: string }) {
    super(message, { ...options, retriable: true });
  }
}

/**
 * A problem that no retry fixes and that affects every request: the sink stops and alerts.
 */
export class TrackFatalError extends TrackApiError {
  constructor(message: string, options: TrackApiErrorOptions & { code: string }) {
    super(message, { ...options, retriable: false });
  }
}

/** Customer.io responded with 401 or 403, so the site id or Track API key is wrong or lacks access. */
export class TrackAuthError extends TrackFatalError {
  constructor(message: string, options: TrackApiErrorOptions = {}) {
    super(message, { code: 'CIO_AUTH_FAILED', ...options });
  }
}

/** The workspace lives in another region than the client is configured for, or the API redirected. */
export class TrackRegionError extends TrackFatalError {
  constructor(message: string, options: TrackApiErrorOptions = {}) {
    super(message, { code: 'CIO_REGION_MISMATCH', ...options });
  }
}

/** Invalid client options or configuration values. */
export class TrackConfigError extends CustomerioError {
  constructor(message: string) {
    super(message, { code: 'CIO_CONFIG_INVALID', retriable: false });
  }
}
