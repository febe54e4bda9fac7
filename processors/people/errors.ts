/**
 * Errors of the people processor. Every error carries a stable `code` and `retriable`; a
 * record-level error also names the record (topic, partition, offset, key). The runtime
 * dead-letters a record whose handler throws a non-retriable error.
 */

export interface PersonRecordCoordinates {
  readonly topic?: string;
  readonly partition?: number;
  /** Kafka offset as a decimal string. */
  readonly offset?: string;
  readonly key?: string | null;
}

export class PeopleError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly topic: string | undefined;
  readonly partition: number | undefined;
  readonly offset: string | undefined;
  readonly key: string | null | undefined;

  constructor(code: string, message: string, options: PersonRecordCoordinates & { retriable?: boolean; cause?: unknown } = {}) {
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

/** An environment variable of the people processor holds a value it cannot use. */
export class PeopleConfigError extends PeopleError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('PEOPLE_CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/**
 * A customer id cannot be a Customer.io person id: it looks like an email address or uses the
 * `cio_` prefix Customer.io reserves for its own ids. The record is dead-lettered.
 */
export class PersonIdRejectedError extends PeopleError {
  constructor(message: string, coordinates: PersonRecordCoordinates) {
    super('PERSON_ID_REJECTED', message, coordinates);
  }
}

/** A record of the customer events topic is not an outbox event record. */
export class CustomerEventInvalidError extends PeopleError {
  constructor(message: string, coordinates: PersonRecordCoordinates, cause?: unknown) {
    super('CUSTOMER_EVENT_INVALID', message, { ...coordinates, cause });
  }
}
