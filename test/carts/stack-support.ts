// Shared pieces of the real-stack processor tests: waiting for Debezium topics and collecting
// what a processor writes, read_committed, while the test drives MySQL.
import { setTimeout as sleep } from 'node:timers/promises';

import type { Consumer } from 'kafkajs';

import { testKafka, uniqueName } from '../support/kafka.ts';

export interface Collected {
  readonly topic: string;
  readonly key: string | null;
  readonly value: string | null;
}

/** Waits until every topic exists (Kafka Connect creates a table's topic on its first change). */
export async function waitForTopics(topics: readonly string[], timeoutMs = 60_000): Promise<void> {
  const admin = testKafka('processor-test-admin').admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const existing = new Set(await admin.listTopics());
      if (topics.every((topic) => existing.has(topic))) return;
      if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} did not all exist within ${timeoutMs} ms`);
      await sleep(500);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Reads topics from the beginning in the background; `records` grows as they arrive. */
export class Collector {
  readonly records: Collected[] = [];
  private consumer: Consumer | undefined;

  async start(topics: readonly string[]): Promise<void> {
    this.consumer = testKafka('processor-test-collector').consumer({
      groupId: uniqueName('processor-test-collector'),
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 100,
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        this.records.push({ topic, key: message.key?.toString('utf8') ?? null, value: message.value?.toString('utf8') ?? null });
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** Polls until `condition` holds, failing with `what` after timeoutMs. */
export async function until(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
