/**
 * MySQL side of the loaders: the connection they write through and the transaction wrapper.
 *
 * The session runs with time_zone '+00:00', so a TIMESTAMP column receives a UTC instant
 * as written. DATETIME columns take the wall-clock strings each loader computes.
 */

import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';

import { LoaderUsageError, LoaderWriteError } from './errors.ts';

export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3307/shop';

export interface MysqlTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** Parses `mysql://user[:password]@host[:port]/database`; throws LoaderUsageError naming the part at fault. */
export function parseMysqlUrl(text: string): MysqlTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LoaderUsageError(`--mysql-url / CIO_CDC_MYSQL_URL is not a URL: expected mysql://user@host:port/database, got ${JSON.stringify(redactUrl(text))}`);
  }
  if (url.protocol !== 'mysql:') throw new LoaderUsageError(`--mysql-url must start with mysql://, got ${JSON.stringify(url.protocol)}`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) throw new LoaderUsageError(`--mysql-url must name one database in its path, as in mysql://root@127.0.0.1:3307/shop; got path ${JSON.stringify(url.pathname)}`);
  const port = url.port === '' ? 3306 : Number(url.port);
  return Object.freeze({
    host: url.hostname,
    port,
    user: decodeURIComponent(url.username) || 'root',
    password: decodeURIComponent(url.password),
    database,
  });
}

/** Replaces the password in a MySQL URL with *** so the URL can go into messages. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

export function describeTarget(target: MysqlTarget): string {
  return `${target.host}:${target.port}/${target.database}`;
}

/** Opens one connection for a load; the caller ends it. */
export async function openLoaderConnection(target: MysqlTarget): Promise<Connection> {
  let connection: Connection;
  try {
    connection = await createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: target.database,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      timezone: 'Z',
      charset: 'utf8mb4',
    });
  } catch (err) {
    throw new LoaderWriteError(`a connection to ${describeTarget(target)}`, err);
  }
  await connection.query("SET time_zone = '+00:00'");
  return connection;
}

/** Runs `work` in one transaction. Commits when it resolves, and rolls back and throws LoaderWriteError naming `subject` when it fails. */
export async function inTransaction<T>(connection: Connection, subject: string, work: () => Promise<T>): Promise<T> {
  try {
    await connection.beginTransaction();
    const result = await work();
    await connection.commit();
    return result;
  } catch (err) {
    await connection.rollback().catch(() => undefined);
    throw err instanceof LoaderWriteError ? err : new LoaderWriteError(subject, err);
  }
}

/** Largest number of rows one multi-row INSERT carries, to keep each statement well under max_allowed_packet. */
const ROWS_PER_INSERT = 500;

/** Inserts `rows` into `table` with as few statements as the batch size allows. */
export async function insertRows(connection: Connection, table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const batch = rows.slice(start, start + ROWS_PER_INSERT);
    const placeholders = batch.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
    await connection.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${placeholders}`, batch.flat());
  }
}
