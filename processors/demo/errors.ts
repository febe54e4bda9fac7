/** Errors of `cio-cdc demo`. Each message names what failed and what to look at next. */

export class DemoError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(message: string, options: { code: string; retriable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable ?? false;
  }
}

/** A bad flag or environment variable. */
export class DemoUsageError extends DemoError {
  constructor(message: string) {
    super(message, { code: 'DEMO_USAGE' });
  }
}

/** The stack, the stand-in or a processor could not be started, or a child exited early. */
export class DemoStartError extends DemoError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'DEMO_START_FAILED', cause });
  }
}

/** Writing the generated traffic or running a loader failed. */
export class DemoLoadError extends DemoError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'DEMO_LOAD_FAILED', cause });
  }
}

/** The pipeline did not catch up within the drain timeout. */
export class DemoDrainTimeoutError extends DemoError {
  constructor(message: string) {
    super(message, { code: 'DEMO_DRAIN_TIMEOUT', retriable: true });
  }
}
