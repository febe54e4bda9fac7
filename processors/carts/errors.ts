/**
 * Errors of the carts processor. Every error carries a stable `code` and `retriable`; a
 * record-level error also names the record (topic, partition, offset, key) and the cart.
 * The runtime dead-letters a record whose handler throws a non-retriable error.
 */

export interface CartRecordCoordinates {
  readonly topic?: string;
  readonly partition?: number;
  /** Kafka offset as a decimal string. */
  readonly offset?: string;
  readonly key?: string | null;
  readonly cartId?: string;
}

export class CartsError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly topic: string | undefined;
  readonly partition: number | undefined;
  readonly offset: string | undefined;
  readonly key: string | null | undefined;
  readonly cartId: string | undefined;

  constructor(code: string, message: string, options: CartRecordCoordinates & { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.topic = options.topic;
    this.partition = options.partition;
    this.offset = options.offset;
    this.key = options.key;
    this.cartId = options.cartId;
  }
}

/** An environment variable of the carts processor holds a value it cannot use. */
export class CartsConfigError extends CartsError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('CARTS_CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** One change record cannot be applied to its cart; the runtime dead-letters it. */
export class CartRecordRejectedError extends CartsError {
  constructor(message: string, coordinates: CartRecordCoordinates) {
    super('CART_RECORD_REJECTED', message, coordinates);
  }
}
