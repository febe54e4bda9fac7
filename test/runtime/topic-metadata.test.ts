// partitionCounts against an admin whose metadata lags behind its topic list, as a KRaft broker's
// does for a topic another client created a moment ago.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Admin } from 'kafkajs';

import { partitionCounts } from '../../processors/runtime/topics.ts';

function laggingAdmin(failures: number): { admin: Admin; calls: () => number } {
  let calls = 0;
  const admin = {
    listTopics: async () => ['fresh', 'other'],
    fetchTopicMetadata: async ({ topics }: { topics: string[] }) => {
      calls += 1;
      if (calls <= failures) throw new Error('This server does not host this topic-partition');
      if (calls === failures + 1) return { topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0, leader: -1 }] })) };
      return { topics: topics.map((name) => ({ name, partitions: [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1 })) })) };
    },
  } as unknown as Admin;
  return { admin, calls: () => calls };
}

describe('partition counts', () => {
  it('retries metadata not yet served', async () => {
    const { admin, calls } = laggingAdmin(2);
    const counts = await partitionCounts(admin, ['fresh', 'missing']);
    assert.deepEqual([...counts], [['fresh', 3]]);
    assert.equal(calls(), 4, 'two failed requests and one without leaders before the answer');
  });
});
