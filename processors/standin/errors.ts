/** Errors of the Customer.io stand-in. */

export class StandinError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(message: string, options: { code: string; retriable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable ?? false;
  }
}

/** An invalid option, flag, environment variable or fault setting. */
export class StandinConfigError extends StandinError {
  constructor(message: string) {
    super(message, { code: 'STANDIN_CONFIG_INVALID' });
  }
}
