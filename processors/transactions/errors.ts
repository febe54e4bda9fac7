/**
 * Errors of the transactions processor. Each carries a stable `code` and `retriable`. A
 * record-level error also names topic, partition, offset and key, so a dead letter names the
 * failed record and the reason.
 */
export interface TransactionsRecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
}

export class TransactionsError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A TRANSACTIONS_* variable has an invalid value. Fix the variable and restart. */
export class TransactionsConfigError extends TransactionsError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('TRANSACTIONS_CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/**
 * A record of the order-transactions topic is not an order-transaction record. Not retriable:
 * the reading processor sends it to its dead-letter topic and goes on.
 */
export class OrderTransactionInvalidError extends TransactionsError {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;

  constructor(message: string, coordinates: TransactionsRecordCoordinates) {
    super(
      'ORDER_TRANSACTION_INVALID',
      `${message} (topic ${coordinates.topic} partition ${coordinates.partition} offset ${coordinates.offset} key ${coordinates.key ?? 'null'})`,
    );
    this.topic = coordinates.topic;
    this.partition = coordinates.partition;
    this.offset = coordinates.offset;
    this.key = coordinates.key;
  }
}
