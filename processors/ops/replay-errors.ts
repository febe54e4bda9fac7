/** Errors of `cio-cdc replay`. Each carries a stable `code` and the exit code the command returns. */

export class ReplayError extends Error {
  readonly code: string;
  /** Exit code of the command: 1 Kafka or verification failure, 2 invalid usage or configuration, 3 group active. */
  readonly exitCode: number;

  constructor(code: string, message: string, options: { exitCode: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode;
  }
}

/** A bad flag or flag value. */
export class ReplayUsageError extends ReplayError {
  constructor(message: string) {
    super('REPLAY_USAGE', message, { exitCode: 2 });
  }
}

/** The processor's own configuration (environment or mapping file) is invalid. */
export class ReplayConfigError extends ReplayError {
  constructor(message: string, cause: unknown) {
    super('REPLAY_CONFIG_INVALID', message, { exitCode: 2, cause });
  }
}

/** An input topic of the processor does not exist, so it has no offsets to reset. */
export class ReplayTopicMissingError extends ReplayError {
  readonly topic: string;

  constructor(topic: string, processor: string) {
    super('REPLAY_TOPIC_MISSING', `input topic ${topic} of ${processor} does not exist; check the processor's topic settings`, { exitCode: 1 });
    this.topic = topic;
  }
}

/**
 * The consumer group has members, so its offsets cannot be reset: a running instance would
 * overwrite them with its next commit, and the broker rejects commits from outside the group.
 */
export class GroupActiveError extends ReplayError {
  readonly groupId: string;
  /** Topics whose offsets were already reset before an instance joined; empty when none were. */
  readonly topicsReset: readonly string[];

  constructor(message: string, groupId: string, topicsReset: readonly string[], cause?: unknown) {
    super('REPLAY_GROUP_ACTIVE', message, { exitCode: 3, cause });
    this.groupId = groupId;
    this.topicsReset = topicsReset;
  }
}

/** The offsets read back after the reset differ from the plan. */
export class ReplayVerifyError extends ReplayError {
  constructor(message: string) {
    super('REPLAY_VERIFY_FAILED', message, { exitCode: 1 });
  }
}
