// A throwaway database per test, built from the reference shop schema, so loads never touch
// the `shop` database that Debezium captures and other tests share.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';

import { testStack } from '../support/env.ts';

const repoDir = join(import.meta.dirname, '..', '..');

/** The public datasets, outside the repository. */
export const dataDir = join(repoDir, '..', 'shared', 'data');

/** Path of a data file; throws when the data folder or the file is missing (the tests fail, never skip). */
export function dataFile(...parts: string[]): string {
  if (!existsSync(dataDir)) throw new Error(`the public data folder ${dataDir} is missing; these tests need it next to the repository`);
  const path = join(dataDir, ...parts);
  if (!existsSync(path)) throw new Error(`the data file ${path} is missing from ${dataDir}`);
  return path;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** A connection to the database for checks, returning DECIMAL, BIGINT and dates as strings. */
  readonly connection: Connection;
  drop(): Promise<void>;
}

/** Creates `load_test_<random>` with the reference schema's tables. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { host, port, user, password } = testStack.mysql;
  const name = `load_test_${randomBytes(6).toString('hex')}`;
  const schema = readFileSync(join(repoDir, 'schemas', 'mysql', 'reference.sql'), 'utf8')
    .replace(/CREATE DATABASE IF NOT EXISTS shop\b/, `CREATE DATABASE ${name}`)
    .replace(/USE shop;/, `USE ${name};`);
  if (!schema.includes(`USE ${name};`)) throw new Error('the reference schema no longer has the statements this helper renames');
  const admin = await createConnection({ host, port, user, password, multipleStatements: true });
  try {
    await admin.query(schema);
  } finally {
    await admin.end();
  }
  const connection = await createConnection({ host, port, user, password, database: name, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z' });
  await connection.query("SET time_zone = '+00:00'");
  const credentials = password === '' ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  return {
    name,
    url: `mysql://${credentials}@${host}:${port}/${name}`,
    connection,
    async drop() {
      await connection.query(`DROP DATABASE IF EXISTS ${name}`);
      await connection.end();
    },
  };
}
