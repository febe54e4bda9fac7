import { createPool } from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';

import { testStack } from './env.ts';

export function testMysql(): Pool {
  const { host, port, user, password, database } = testStack.mysql;
  return createPool({ host, port, user, password, database, connectionLimit: 4, timezone: 'Z', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
}

let nextId = BigInt(Date.now()) * 1000n;

/**
 * Returns an id no other test run has used: the shop tables are shared by every
 * test, so each test writes rows with its own ids and filters on them.
 */
export function uniqueId(): string {
  nextId += 1n;
  return nextId.toString();
}
