import { randomUUID } from 'node:crypto';

import { Kafka, logLevel } from 'kafkajs';
import type { Consumer, KafkaMessage } from 'kafkajs';

import { installReadCommittedFix } from '../../processors/runtime/index.ts';
import { testStack } from './env.ts';

export function testKafka(clientId = 'cio-cdc-test'): Kafka {
  // Readers in tests must filter aborted transactions as a Java client would.
  installReadCommittedFix();
  return new Kafka({ clientId, brokers: testStack.kafkaBrokers, logLevel: logLevel.ERROR });
}

/** A name unique to one test run, for topics, group ids and transactional ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly message: KafkaMessage;
}

/**
 * Consumes topics from the beginning with a fresh group until done(records)
 * returns true, or fails after timeoutMs naming how many records it saw.
 */
export async function consumeUntil(
  kafka: Kafka,
  topics: string[],
  done: (records: ConsumedRecord[]) => boolean,
  options: { timeoutMs?: number; readUncommitted?: boolean; filter?: (record: ConsumedRecord) => boolean } = {},
): Promise<ConsumedRecord[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const consumer: Consumer = kafka.consumer({
    groupId: uniqueName('test-reader'),
    readUncommitted: options.readUncommitted ?? false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
  });
  const records: ConsumedRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms reading ${topics.join(', ')}: ${records.length} matching records seen`)), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ topic, partition, message }) => {
            const record = { topic, partition, offset: message.offset, message };
            if (options.filter && !options.filter(record)) return;
            records.push(record);
            if (done(records)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}
