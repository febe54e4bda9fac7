/**
 * Correct read_committed filtering for kafkajs 2.2.4.
 *
 * A read_committed fetch returns aborted records together with a list of aborted
 * transactions (producer id, first offset), and the client must drop them.
 * kafkajs's filter walks that list in the order the broker sends it and takes at
 * most one entry per record. Kafka 4.3.1 sends the list ordered by the offset of
 * each transaction's abort marker, not by first offset. When two producers write
 * one partition (two tasks emitting to one output partition, say), a transaction
 * that began earlier but aborted later is then missed, and a read_committed
 * kafkajs consumer receives its records. This was observed on Kafka 4.3.1 with
 * two producers, each aborting two transactions and committing a third.
 *
 * The fix wraps `Broker.prototype.fetch` and applies the filter the Java consumer
 * uses to each partition of a read_committed response. It sorts the aborted
 * transactions by first offset. Before each record, every transaction whose first
 * offset is at or below it adds its producer to the aborted set, and an abort
 * marker removes its producer. A transactional record of a producer in the set
 * is marked as a control record, which kafkajs drops from `batch.messages` while
 * still counting its offset. The list is emptied, so kafkajs's filter does nothing.
 *
 * NOTE: this patches a kafkajs internal shared by every kafkajs client in the
 * process. package.json pins kafkajs to exactly 2.2.4; re-check before changing it.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Fetch isolation level 1 = READ_COMMITTED in the Kafka protocol. */
const READ_COMMITTED = 1;

/** Control record key of an abort marker: version 0 (int16) and type 0 = ABORT (int16). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

const INSTALLED = Symbol.for('cio-cdc.read-committed-fix');

export interface FetchedRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  isControlRecord: boolean;
  readonly batchContext?: { readonly producerId: string; readonly inTransaction: boolean };
}

export interface AbortedTransaction {
  readonly producerId: string;
  readonly firstOffset: string;
}

export interface FetchedPartition {
  abortedTransactions: AbortedTransaction[] | null;
  readonly messages: FetchedRecord[];
}

function compareOffsets(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  if (difference === 0n) {
    return 0;
  }
  return difference < 0n ? -1 : 1;
}

function isAbortMarker(record: FetchedRecord): boolean {
  return record.isControlRecord && record.key !== null && Buffer.from(record.key).equals(ABORT_MARKER_KEY);
}

/**
 * Marks the aborted data records of one read_committed partition response as
 * control records and empties its aborted-transaction list. Returns how many
 * records were marked.
 */
export function markAbortedRecords(partition: FetchedPartition): number {
  const aborted = [...(partition.abortedTransactions ?? [])].sort((a, b) => compareOffsets(a.firstOffset, b.firstOffset));
  partition.abortedTransactions = [];
  if (aborted.length === 0) {
    return 0;
  }

  const abortedProducers = new Set<string>();
  let nextAborted = 0;
  let marked = 0;
  for (const record of partition.messages) {
    const offset = BigInt(record.offset);
    while (nextAborted < aborted.length && BigInt(aborted[nextAborted]!.firstOffset) <= offset) {
      abortedProducers.add(aborted[nextAborted]!.producerId);
      nextAborted += 1;
    }

    const context = record.batchContext;
    if (context === undefined) {
      continue;
    }
    if (record.isControlRecord) {
      if (isAbortMarker(record)) {
        abortedProducers.delete(context.producerId);
      }
    } else if (context.inTransaction && abortedProducers.has(context.producerId)) {
      record.isControlRecord = true;
      marked += 1;
    }
  }
  return marked;
}

interface FetchRequest {
  readonly isolationLevel?: number;
}

interface FetchResponse {
  readonly responses: { readonly partitions: FetchedPartition[] }[];
}

type BrokerFetch = (this: unknown, request: FetchRequest) => Promise<FetchResponse>;

/** Installs the fixed filter into kafkajs once per process; later calls do nothing. */
export function installReadCommittedFix(): void {
  const Broker = require('kafkajs/src/broker/index.js') as { prototype: Record<string | symbol, unknown> };
  if (Broker.prototype[INSTALLED] === true) {
    return;
  }
  const original = Broker.prototype['fetch'] as BrokerFetch;
  const fixed: BrokerFetch = async function fetch(this: unknown, request) {
    const response = await original.call(this, request);
    // kafkajs defaults a missing isolation level to READ_COMMITTED.
    if ((request.isolationLevel ?? READ_COMMITTED) === READ_COMMITTED) {
      for (const topic of response.responses) {
        for (const partition of topic.partitions) {
          markAbortedRecords(partition);
        }
      }
    }
    return response;
  };
  Broker.prototype['fetch'] = fixed;
  Broker.prototype[INSTALLED] = true;
}
