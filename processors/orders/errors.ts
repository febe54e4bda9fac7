/**
 * Errors of the orders processor. Each carries a stable `code` and `retriable`;
 * record-level errors also name topic, partition, offset and key, so a dead letter
 * names the failed record and the reason.
 */
export interface OrdersRecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
}

export class OrdersError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** An ORDERS_* variable has an invalid value. Fix the variable and restart. */
export class OrdersConfigError extends OrdersError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('ORDERS_CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/**
 * One input record cannot be turned into order state (a mapped column is missing or
 * has the wrong type). Not retriable: the runtime sends the record to the dead-letter
 * topic and goes on; fix the mapping and replay the dead letter.
 */
export class OrderRecordError extends OrdersError {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;

  constructor(message: string, coordinates: OrdersRecordCoordinates, cause?: unknown) {
    super(
      'ORDER_RECORD_INVALID',
      `${message} (topic ${coordinates.topic} partition ${coordinates.partition} offset ${coordinates.offset} key ${coordinates.key ?? 'null'}); ` +
        'the record goes to the dead-letter topic',
      { cause },
    );
    this.topic = coordinates.topic;
    this.partition = coordinates.partition;
    this.offset = coordinates.offset;
    this.key = coordinates.key;
  }
}
