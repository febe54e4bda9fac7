/**
 * Whether a task has read one of its inputs to the end: the lookup behind
 * `ctx.inputCaughtUp(input)`.
 *
 * Input `i` is caught up for task p when, in this order:
 *  1. for a re-keyed input, the application's consumer group has consumed every
 *     partition of the source topic up to its last stable offset. The group's
 *     committed offsets move with the re-keying transactions of every instance,
 *     so this covers records that other instances still have to forward;
 *  2. task p has processed partition p of the topic it consumes (the input topic,
 *     or the repartition topic of a re-keyed input) up to its last stable offset,
 *     and no transaction in that partition is undecided.
 *
 * Step 1 comes first because the re-keying stage commits the forwarded records and
 * the source offsets in one transaction. Once the offsets count as committed, the
 * records are in the repartition topic. They may also still be in a transaction
 * whose commit marker has not reached that partition, and step 2 sees that as an
 * undecided transaction (high watermark beyond the last stable offset) and returns
 * false.
 *
 * "Up to the end" means no committed record at or after the position. Transaction
 * markers and aborted records take offsets that no consumer processes, so a
 * position below the end offset is read forward to look for a committed record.
 *
 * Records appended after the lookup are not covered: the result describes the
 * topics as they were when the lookup ran.
 */
import type { Logger } from 'pino';

import { RuntimeError } from './errors.ts';
import type { OffsetRange, PartitionReader } from './partition-reader.ts';

/** How long a settled result is reused, so a burst of timers makes one lookup. */
export const CAUGHT_UP_CACHE_MS = 500;

/** The topics behind one input, as the task reads it. */
export interface InputTopics {
  /** The topic the task consumes: the input topic, or the repartition topic of a re-keyed input. */
  readonly consumed: string;
  /** For a re-keyed input, the source topic the re-keying stage consumes. */
  readonly source?: string;
}

export interface CaughtUpOptions {
  readonly reader: Pick<PartitionReader, 'offsetRanges' | 'highWatermarks' | 'read' | 'refreshMetadata'>;
  /** The group's committed offsets of `topics`: topic → partition → offset (-1 when none). */
  readonly fetchCommittedOffsets: (topics: readonly string[]) => Promise<Map<string, Map<number, string>>>;
  /** The task's partition number. */
  readonly partition: number;
  /** Bound of one lookup, in ms. A slower lookup returns false. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** @default CAUGHT_UP_CACHE_MS */
  readonly cacheMs?: number;
}

interface CachedResult {
  readonly result: Promise<boolean>;
  /** performance.now() when the lookup settled; undefined while it runs. */
  settledAt: number | undefined;
}

/** Looks up and caches `inputCaughtUp` results for one task. */
export class CaughtUpLookup {
  private readonly options: CaughtUpOptions;
  private readonly cacheMs: number;
  private readonly cache = new Map<string, CachedResult>();

  constructor(options: CaughtUpOptions) {
    this.options = options;
    this.cacheMs = options.cacheMs ?? CAUGHT_UP_CACHE_MS;
  }

  /**
   * Returns whether the task has processed everything of `input` that was in its
   * topics when the lookup ran. `position` returns the task's next offset of the
   * consumed topic. A failed or timed-out lookup is logged and returns false.
   */
  caughtUp(input: string, topics: InputTopics, position: () => bigint | undefined): Promise<boolean> {
    const cached = this.cache.get(input);
    if (cached !== undefined && (cached.settledAt === undefined || performance.now() - cached.settledAt < this.cacheMs)) {
      return cached.result;
    }
    const entry: CachedResult = {
      result: this.withTimeout(input, this.lookup(topics, position))
        .catch((error: unknown) => {
          this.options.log.warn(
            { input, topic: topics.consumed, sourceTopic: topics.source ?? null, partition: this.options.partition, err: error },
            'input caught-up lookup failed; returning not caught up',
          );
          // A moved leader fails every later lookup until the metadata is reloaded.
          this.options.reader.refreshMetadata().catch((refreshError: unknown) => {
            this.options.log.debug({ err: refreshError }, 'metadata refresh after a failed caught-up lookup failed');
          });
          return false;
        })
        .then((caughtUp) => {
          entry.settledAt = performance.now();
          return caughtUp;
        }),
      settledAt: undefined,
    };
    this.cache.set(input, entry);
    return entry.result;
  }

  private async lookup(topics: InputTopics, position: () => bigint | undefined): Promise<boolean> {
    const deadline = performance.now() + this.options.timeoutMs;
    if (topics.source !== undefined && !(await this.sourceConsumed(topics.source, deadline))) {
      return false;
    }
    // The position is read after the source lookup, so records forwarded before it count.
    const next = position();
    if (next === undefined) {
      return false;
    }
    return this.partitionConsumed(topics.consumed, next, deadline);
  }

  /** Returns whether the group has consumed every partition of `topic` up to its last stable offset. */
  private async sourceConsumed(topic: string, deadline: number): Promise<boolean> {
    const committed = (await this.options.fetchCommittedOffsets([topic])).get(topic);
    if (committed === undefined || committed.size === 0) {
      throw new RuntimeError('OFFSETS_MISSING', `no committed offsets or partitions returned for topic ${topic}`, { retriable: true });
    }
    const partitions = [...committed.keys()].sort((a, b) => a - b);
    const ranges = await this.options.reader.offsetRanges(topic, partitions);
    for (const partition of partitions) {
      const offset = BigInt(committed.get(partition)!);
      if (await this.hasCommittedRecords(topic, partition, offset, rangeOf(ranges, topic, partition), deadline)) {
        this.options.log.debug(
          { sourceTopic: topic, sourcePartition: partition, committedOffset: offset.toString(), endOffset: ranges.get(partition)!.end },
          'source partition not consumed to its end',
        );
        return false;
      }
    }
    return true;
  }

  /** Returns whether the task has processed its partition of `topic` to the end, with no transaction in it undecided. */
  private async partitionConsumed(topic: string, position: bigint, deadline: number): Promise<boolean> {
    const partition = this.options.partition;
    // Last stable offset first, high watermark second: equal values mean no
    // transaction was undecided when the first was taken.
    const range = rangeOf(await this.options.reader.offsetRanges(topic, [partition]), topic, partition);
    const highWatermark = (await this.options.reader.highWatermarks(topic, [partition])).get(partition)!;
    if (BigInt(highWatermark) > BigInt(range.end)) {
      this.options.log.debug(
        { topic, partition, lastStableOffset: range.end, highWatermark },
        'undecided transaction in the input partition',
      );
      return false;
    }
    return !(await this.hasCommittedRecords(topic, partition, position, range, deadline));
  }

  /** Returns whether a committed record lies at or after `from`, below the range's end. */
  private async hasCommittedRecords(topic: string, partition: number, from: bigint, range: OffsetRange, deadline: number): Promise<boolean> {
    const earliest = BigInt(range.earliest);
    const start = from > earliest ? from : earliest;
    if (start >= BigInt(range.end)) {
      return false;
    }
    let found = false;
    let expired = false;
    await this.options.reader.read(topic, partition, {
      from: start.toString(),
      to: range.end,
      // One record batch per fetch: the first committed record is all the lookup needs.
      maxBytes: 1,
      onRecords: (records) => {
        found ||= records.length > 0;
      },
      isCancelled: () => {
        expired = performance.now() > deadline;
        return found || expired;
      },
    });
    if (!found && expired) {
      throw new RuntimeError('CAUGHT_UP_TIMEOUT', `reading ${topic}[${partition}] from offset ${start} to ${range.end} timed out after ${this.options.timeoutMs} ms`, {
        topic,
        partition,
        offset: start.toString(),
      });
    }
    return found;
  }

  private async withTimeout(input: string, work: Promise<boolean>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new RuntimeError('CAUGHT_UP_TIMEOUT', `caught-up lookup of input "${input}" took longer than ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function rangeOf(ranges: Map<number, OffsetRange>, topic: string, partition: number): OffsetRange {
  const range = ranges.get(partition);
  if (range === undefined) {
    throw new RuntimeError('OFFSETS_MISSING', `no end offset returned for ${topic}[${partition}]`, { retriable: true });
  }
  return range;
}
