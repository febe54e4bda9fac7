import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pino } from 'pino';

import { TransactionFailedError } from '../../processors/runtime/errors.ts';
import { markAbortedRecords } from '../../processors/runtime/read-committed.ts';
import type { FetchedPartition, FetchedRecord } from '../../processors/runtime/read-committed.ts';
import { RuntimeMetrics } from '../../processors/runtime/telemetry.ts';
import { TaskProducer } from '../../processors/runtime/transaction.ts';
import type { CommitHooks } from '../../processors/runtime/transaction.ts';
import { committedFromLog, createTopics, readLog, readTopic, testKafka, uniqueName } from './helpers.ts';

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);

function data(offset: number, producerId: string, inTransaction = true): FetchedRecord {
  return { offset: String(offset), key: Buffer.from(`k${offset}`), isControlRecord: false, batchContext: { producerId, inTransaction } };
}

function marker(offset: number, producerId: string, key: Buffer): FetchedRecord {
  return { offset: String(offset), key, isControlRecord: true, batchContext: { producerId, inTransaction: true } };
}

function kept(partition: FetchedPartition): string[] {
  return partition.messages.filter((record) => !record.isControlRecord).map((record) => record.offset);
}

describe('read_committed filter', () => {
  it('drops interleaved aborted transactions listed by marker order', () => {
    // The layout a Kafka 4.3.1 broker returned: producers 43 and 44 each abort two
    // transactions and commit a third. The list comes ordered by abort marker.
    const partition: FetchedPartition = {
      abortedTransactions: [
        { producerId: '44', firstOffset: '2' },
        { producerId: '43', firstOffset: '0' },
        { producerId: '44', firstOffset: '6' },
        { producerId: '43', firstOffset: '8' },
      ],
      messages: [
        data(0, '43'),
        data(1, '43'),
        data(2, '44'),
        data(3, '44'),
        marker(4, '44', ABORT),
        marker(5, '43', ABORT),
        data(6, '44'),
        data(7, '44'),
        data(8, '43'),
        marker(9, '44', ABORT),
        marker(10, '43', ABORT),
        data(11, '44'),
        data(12, '43'),
        marker(13, '43', COMMIT),
        marker(14, '44', COMMIT),
      ],
    };
    assert.equal(markAbortedRecords(partition), 7);
    assert.deepEqual(kept(partition), ['11', '12']);
    assert.deepEqual(partition.abortedTransactions, []);
  });

  it('drops an aborted transaction that began before the fetch', () => {
    const partition: FetchedPartition = {
      abortedTransactions: [
        { producerId: '7', firstOffset: '10' },
        { producerId: '8', firstOffset: '12' },
      ],
      messages: [data(20, '8'), data(21, '7'), marker(22, '7', ABORT), marker(23, '8', ABORT), data(24, '7')],
    };
    markAbortedRecords(partition);
    assert.deepEqual(kept(partition), ['24']);
  });

  it('keeps records outside transactions', () => {
    const partition: FetchedPartition = {
      abortedTransactions: [{ producerId: '7', firstOffset: '0' }],
      messages: [data(0, '7'), data(1, '-1', false), marker(2, '7', ABORT)],
    };
    markAbortedRecords(partition);
    assert.deepEqual(kept(partition), ['1']);
  });

  it('keeps everything without aborted transactions', () => {
    const partition: FetchedPartition = { abortedTransactions: null, messages: [data(0, '7'), marker(1, '7', COMMIT)] };
    assert.equal(markAbortedRecords(partition), 0);
    assert.deepEqual(kept(partition), ['0']);
  });
});

function taskProducer(transactionalId: string, hooks: CommitHooks): TaskProducer {
  return new TaskProducer({
    kafka: testKafka('read-committed-test'),
    task: 0,
    transactionalId,
    consumerGroupId: `${transactionalId}-group`,
    transactionTimeoutMs: 30_000,
    retry: { initialDelayMs: 20, maxDelayMs: 500, attempts: 10 },
    log: pino({ level: 'silent' }),
    metrics: new RuntimeMetrics(transactionalId),
    hooks,
  });
}

function records(topic: string, prefix: string, count: number) {
  return [{ topic, messages: Array.from({ length: count }, (_, index) => ({ key: `${prefix}${index}`, value: prefix, partition: 0 })) }];
}

describe('read_committed on a real broker', () => {
  it('hides an earlier transaction aborted later', async () => {
    const topic = uniqueName('interleaved');
    await createTopics([{ topic, partitions: 1 }]);

    // Producer A writes first and aborts last; producer B writes second and
    // aborts first. The broker lists the aborted transactions as [B, A].
    let aSent!: () => void;
    const aHasSent = new Promise<void>((resolve) => {
      aSent = resolve;
    });
    let bFinished!: () => void;
    const bHasFinished = new Promise<void>((resolve) => {
      bFinished = resolve;
    });
    let abortA = true;
    const producerA = taskProducer(uniqueName('producer-a'), {
      beforeCommit: async () => {
        if (abortA) {
          abortA = false;
          aSent();
          await bHasFinished;
          throw new Error('abort A after B');
        }
      },
    });
    let abortB = true;
    const producerB = taskProducer(uniqueName('producer-b'), {
      beforeCommit: () => {
        if (abortB) {
          abortB = false;
          throw new Error('abort B first');
        }
      },
    });
    await producerA.init();
    await producerB.init();
    try {
      const first = producerA.commit({ topicMessages: records(topic, 'a-aborted-', 5), offsets: [] });
      await aHasSent;
      await assert.rejects(producerB.commit({ topicMessages: records(topic, 'b-aborted-', 5), offsets: [] }), TransactionFailedError);
      bFinished();
      await assert.rejects(first, TransactionFailedError);
      await producerA.commit({ topicMessages: records(topic, 'a-committed-', 1), offsets: [] });
      await producerB.commit({ topicMessages: records(topic, 'b-committed-', 1), offsets: [] });
    } finally {
      await producerA.close();
      await producerB.close();
    }

    const fromLog = committedFromLog(await readLog(topic));
    assert.deepEqual(fromLog.map((record) => record.key).sort(), ['a-committed-0', 'b-committed-0']);
    const read = await readTopic(topic, { expected: 2 });
    assert.deepEqual(read.map((record) => record.key).sort(), ['a-committed-0', 'b-committed-0']);
  });
});
