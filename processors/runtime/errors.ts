/**
 * Errors raised by the processor runtime.
 *
 * Every error carries a stable `code` and a `retriable` flag. The runtime retries
 * a retriable error with backoff and never dead-letters it. A non-retriable error
 * raised while handling one record sends that record to the dead-letter topic.
 * Record-level errors also name the record: topic, partition, offset and key.
 */

export interface RecordCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key?: string | null;
}

export interface RuntimeErrorOptions extends Partial<RecordCoordinates> {
  readonly retriable?: boolean;
  readonly cause?: unknown;
}

export class RuntimeError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly topic: string | undefined;
  readonly partition: number | undefined;
  readonly offset: string | undefined;
  readonly key: string | null | undefined;

  constructor(code: string, message: string, options: RuntimeErrorOptions = {}) {
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

/** An environment variable contains a value the runtime cannot use. */
export class ConfigError extends RuntimeError {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super('CONFIG_INVALID', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** A processor definition is malformed (bad names, unknown store or output). */
export class DefinitionError extends RuntimeError {
  constructor(message: string) {
    super('DEFINITION_INVALID', message);
  }
}

/**
 * The topics a processor reads cannot be joined as declared: keys differ from the
 * join key, partition counts differ, or an internal topic exists with the wrong
 * partition count. The runtime refuses to start until the operator fixes it.
 */
export class TopologyError extends RuntimeError {
  readonly topics: readonly string[];

  constructor(message: string, topics: readonly string[]) {
    super('TOPOLOGY_INVALID', message);
    this.topics = topics;
  }
}

/** One record cannot be processed as declared (for example it has no join key). */
export class RecordRejectedError extends RuntimeError {
  constructor(message: string, coordinates: RecordCoordinates, cause?: unknown) {
    super('RECORD_REJECTED', message, { ...coordinates, cause });
  }
}

/**
 * Another instance initialized the same transactional id, so this instance no
 * longer owns the task. Its state is dropped and its partitions wait for the next
 * group assignment.
 */
export class TaskFencedError extends RuntimeError {
  readonly task: number;

  constructor(task: number, cause: unknown) {
    super(
      'TASK_FENCED',
      `task ${task} was fenced by a newer producer with the same transactional id; ` +
        'dropping its state until the group assigns it again',
      { cause },
    );
    this.task = task;
  }
}

/**
 * A transaction failed and was aborted (or its outcome is unknown). The runtime
 * rewinds the task to its last committed position and tries again.
 */
export class TransactionFailedError extends RuntimeError {
  readonly task: number;
  readonly outcomeUnknown: boolean;

  constructor(task: number, step: string, outcomeUnknown: boolean, cause: unknown) {
    super(
      'TRANSACTION_FAILED',
      `transaction of task ${task} failed at step "${step}"` +
        (outcomeUnknown
          ? '; its outcome is unknown, so the task re-reads its committed offsets and state'
          : '; it was aborted and the task rewinds to its last committed offset'),
      { retriable: true, cause },
    );
    this.task = task;
    this.outcomeUnknown = outcomeUnknown;
  }
}

/** Processing stopped because the runtime is shutting down or the task was revoked. */
export class ProcessingInterruptedError extends RuntimeError {
  constructor(reason: string) {
    super('PROCESSING_INTERRUPTED', `processing interrupted: ${reason}`, { retriable: true });
  }
}

/** Returns true when `error` (or a value thrown by user code) is marked `retriable: true`. */
export function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** Returns the class name of a thrown value, for logs and dead-letter headers. */
export function errorClassName(error: unknown): string {
  if (error instanceof Error) {
    return error.name || error.constructor.name;
  }
  return typeof error;
}

/** Returns the message of a thrown value, for logs and dead-letter headers. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/** Returns the `code` of a thrown value, when it has one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') {
      return String(code);
    }
  }
  return undefined;
}
