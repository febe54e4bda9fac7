import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import {
  backoffDelayMs,
  chunkMessages,
  isFencedError,
  isRetriableStepError,
  protocolError,
  retryStep,
} from '../../processors/runtime/transaction.ts';

const { KafkaJSProtocolError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded } = kafkajs;

function concurrentTransactions(): Error {
  return new KafkaJSProtocolError({
    type: 'CONCURRENT_TRANSACTIONS',
    code: 51,
    retriable: true,
    message: 'another operation on the same transaction is ongoing',
  } as unknown as string);
}

function invalidEpoch(): Error {
  return new KafkaJSProtocolError({
    type: 'INVALID_PRODUCER_EPOCH',
    code: 47,
    retriable: false,
    message: 'producer epoch is older than the current one',
  } as unknown as string);
}

const policy = { initialDelayMs: 1, maxDelayMs: 5, attempts: 5 };

describe('transaction error classes', () => {
  it('finds the protocol type inside kafkajs retry wrappers', () => {
    const wrapped = new KafkaJSNumberOfRetriesExceeded(concurrentTransactions(), { retryCount: 5, retryTime: 100 });
    assert.equal(protocolError(wrapped).type, 'CONCURRENT_TRANSACTIONS');
  });

  it('treats CONCURRENT_TRANSACTIONS as retriable', () => {
    assert.equal(isRetriableStepError(concurrentTransactions()), true);
  });

  it('treats a wrapped INVALID_PRODUCER_EPOCH as fenced', () => {
    const wrapped = new (KafkaJSNonRetriableError as unknown as new (error: Error, options: { cause: Error }) => Error)(invalidEpoch(), {
      cause: invalidEpoch(),
    });
    assert.equal(isFencedError(wrapped), true);
  });

  it('does not treat a plain error as retriable', () => {
    assert.equal(isRetriableStepError(new Error('boom')), false);
  });
});

describe('transaction step retry', () => {
  it('retries CONCURRENT_TRANSACTIONS until the step succeeds', async () => {
    let calls = 0;
    const retries: number[] = [];
    const result = await retryStep(
      async () => {
        calls += 1;
        if (calls < 3) {
          throw concurrentTransactions();
        }
        return 'committed';
      },
      policy,
      (_error, attempt) => retries.push(attempt),
    );
    assert.equal(result, 'committed');
    assert.equal(calls, 3);
    assert.deepEqual(retries, [1, 2]);
  });

  it('gives up after the configured attempts', async () => {
    let calls = 0;
    await assert.rejects(
      retryStep(
        async () => {
          calls += 1;
          throw concurrentTransactions();
        },
        policy,
        () => undefined,
      ),
      /another operation/,
    );
    assert.equal(calls, 5);
  });

  it('does not retry a fenced producer', async () => {
    let calls = 0;
    await assert.rejects(
      retryStep(
        async () => {
          calls += 1;
          throw invalidEpoch();
        },
        policy,
        () => undefined,
      ),
    );
    assert.equal(calls, 1);
  });

  it('caps the backoff delay', () => {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      const delay = backoffDelayMs(attempt, { initialDelayMs: 100, maxDelayMs: 2_000 });
      assert.ok(delay <= 2_000, `attempt ${attempt}: ${delay} ms exceeds the cap`);
      assert.ok(delay >= 50, `attempt ${attempt}: ${delay} ms is below half the initial delay`);
    }
  });
});

describe('send chunks', () => {
  it('splits large sends below the record batch limit', () => {
    const value = Buffer.alloc(100 * 1024);
    const chunks = chunkMessages([{ topic: 't', messages: Array.from({ length: 12 }, () => ({ key: 'k', value })) }]);
    assert.equal(chunks.length, 3);
    assert.equal(chunks.flat().reduce((sum, entry) => sum + entry.messages.length, 0), 12);
  });

  it('keeps small sends in one call', () => {
    const chunks = chunkMessages([
      { topic: 'a', messages: [{ key: '1', value: 'x' }] },
      { topic: 'b', messages: [{ key: '2', value: 'y' }] },
    ]);
    assert.equal(chunks.length, 1);
    assert.deepEqual(chunks[0]?.map((entry) => entry.topic), ['a', 'b']);
  });
});
