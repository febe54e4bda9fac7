/** Errors of the data loaders (`cio-cdc load`). */

export class LoaderError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(message: string, options: { code: string; retriable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable ?? false;
  }
}

/** A bad flag, option value or environment variable. */
export class LoaderUsageError extends LoaderError {
  constructor(message: string) {
    super(message, { code: 'LOADER_USAGE' });
  }
}

/** The input file cannot be read, is missing a column, or contains a value the loader cannot store. */
export class LoaderInputError extends LoaderError {
  readonly file: string;
  /** 1-based line of the file (the header is line 1); undefined when the whole file is at fault. */
  readonly line: number | undefined;
  readonly field: string | undefined;
  readonly value: string | undefined;

  constructor(message: string, context: { file: string; line?: number; field?: string; value?: string; cause?: unknown }) {
    const where = context.line === undefined ? context.file : `${context.file} line ${context.line}`;
    const fieldPart = context.field === undefined ? '' : ` field ${context.field}${context.value === undefined ? '' : ` = ${JSON.stringify(context.value)}`}`;
    super(`${where}${fieldPart}: ${message}`, { code: 'LOADER_INPUT_INVALID', cause: context.cause });
    this.file = context.file;
    this.line = context.line;
    this.field = context.field;
    this.value = context.value;
  }
}

/** MySQL error codes that mean the server or a lock failed, not that the data was rejected. */
const RETRIABLE_MYSQL_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

/** A MySQL statement or transaction failed. `subject` names the rows being written. */
export class LoaderWriteError extends LoaderError {
  readonly subject: string;

  constructor(subject: string, cause: unknown) {
    const mysqlCode = (cause as { code?: unknown } | null)?.code;
    const detail = cause instanceof Error ? cause.message : String(cause);
    const hint =
      mysqlCode === 'ER_DUP_ENTRY'
        ? '; the row already exists: load into an empty database or pass a different --id-offset'
        : typeof mysqlCode === 'string' && RETRIABLE_MYSQL_CODES.has(mysqlCode)
          ? '; the transaction was rolled back, check the server and run again with a fresh database or --id-offset'
          : '; the transaction was rolled back';
    super(`writing ${subject} failed: ${detail}${hint}`, {
      code: 'LOADER_WRITE_FAILED',
      retriable: typeof mysqlCode === 'string' && RETRIABLE_MYSQL_CODES.has(mysqlCode),
      cause,
    });
    this.subject = subject;
  }
}

/** Two REES46 sessions hash to the same order id; the second would overwrite the first. */
export class LoaderIdCollisionError extends LoaderError {
  constructor(id: string, first: string, second: string) {
    super(`sessions ${first} and ${second} both map to order id ${id}; load one of them with a different --id-offset`, { code: 'LOADER_ID_COLLISION' });
  }
}
