// Helpers of the end-to-end tests: run `npm run demo` on a dataset as a child process, keep its
// stand-in alive, read what the stand-in stored, and stop exactly the processes that run left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { testStack } from '../support/env.ts';

export const repoDir = join(import.meta.dirname, '..', '..');
export const dataDir = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');

/** Fails (never skips) when a dataset file is missing, naming the file. */
export function requireDataFile(file: string): void {
  assert.ok(existsSync(file), `dataset file ${file} is missing: the end-to-end tests need the shared data folder ${dataDir}; restore it and run again`);
}

/** Splits one CSV line with RFC 4180 quoting (a quoted field may hold commas and doubled quotes). */
export function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else {
      field += ch;
    }
  }
  fields.push(field);
  return fields;
}

/** Reads the first `limit` data rows of a CSV file with a header, as objects keyed by column name. */
export function readCsvRows(file: string, limit: number | null): Record<string, string>[] {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  const header = splitCsvLine(lines[0]!);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    if (limit !== null && rows.length >= limit) break;
    const fields = splitCsvLine(line);
    assert.equal(fields.length, header.length, `CSV line has ${fields.length} fields, the header ${header.length}: ${line}`);
    rows.push(Object.fromEntries(header.map((name, i) => [name, fields[i]!])));
  }
  return rows;
}

/** Finds a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('the probe server returned no port'))));
    });
  });
}

export interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
  /** The summary JSON line (with keptPids), or null when none was printed. */
  readonly summary: DemoSummaryJson | null;
  /** The --id-offset the demo passed to the loader, or null when not printed. */
  readonly idOffset: bigint | null;
  readonly standinUrl: string;
}

export interface DemoSummaryJson {
  readonly runId: string;
  readonly load: Record<string, unknown>;
  readonly ordersWritten: number | null;
  readonly peopleIdentified: number;
  readonly eventsByName: Record<string, number>;
  readonly decisions: Record<string, number>;
  readonly deadLetters: { total: number; byTopic: Record<string, number> };
  readonly drained: boolean;
  readonly drainMs: number;
  readonly standinUrl: string;
  readonly logsDir: string;
  readonly keptPids: Record<string, number>;
}

function demoEnv(): NodeJS.ProcessEnv {
  const { user, host, port } = testStack.mysql;
  return { ...process.env, KAFKA_BROKERS: testStack.kafkaBrokers.join(','), CIO_CDC_MYSQL_URL: `mysql://${user}@${host}:${port}/shop` };
}

function runNode(args: readonly string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; elapsedMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { cwd: repoDir, env: demoEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

/** Runs `processors/demo/main.ts <args> --json --keep --standin-port <port>`. */
export async function runKeptDemo(args: readonly string[], standinPort: number, timeoutMs: number): Promise<DemoRun> {
  const result = await runNode(['processors/demo/main.ts', ...args, '--json', '--keep', '--standin-port', String(standinPort)], timeoutMs);
  const last = result.stdout.trim().split('\n').pop() ?? '';
  let summary: DemoSummaryJson | null = null;
  try {
    summary = JSON.parse(last) as DemoSummaryJson;
  } catch {
    summary = null;
  }
  const offsetMatch = /with --id-offset (\d+)/.exec(result.stderr);
  return { ...result, summary, idOffset: offsetMatch === null ? null : BigInt(offsetMatch[1]!), standinUrl: `http://127.0.0.1:${standinPort}` };
}

function pidDir(): string {
  const home = process.env['CIO_CDC_HOME']?.trim() || join(homedir(), '.cache', 'cio-cdc');
  return join(home, 'run', 'pids');
}

/** Live pids recorded in the demo's pid files right now. */
function recordedDemoPids(): number[] {
  const dir = pidDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.startsWith('demo-') && file.endsWith('.pid'))
    .map((file) => Number(readFileSync(join(dir, file), 'utf8').split('\n')[0]))
    .filter(alive);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the processes one kept demo run left. `demo --stop` signals every live pid in the
 * demo's pid files, so it runs only when all of them belong to this run. Otherwise another demo
 * is running on the shared machine, and this run's pids are signalled one by one.
 */
export async function stopKeptDemo(keptPids: Readonly<Record<string, number>>): Promise<string> {
  const mine = Object.values(keptPids);
  const recorded = recordedDemoPids();
  let how: string;
  if (recorded.length > 0 && recorded.every((pid) => mine.includes(pid))) {
    const result = await runNode(['processors/demo/main.ts', '--stop'], 60_000);
    how = `demo --stop exited ${result.code}: ${result.stderr.trim()}`;
  } else {
    for (const pid of mine) {
      if (alive(pid)) process.kill(pid, 'SIGTERM');
    }
    how = `signalled this run's pids ${mine.join(', ')} (pid files hold ${recorded.join(', ') || 'none'})`;
  }
  const deadline = Date.now() + 30_000;
  while (mine.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
  for (const pid of mine.filter(alive)) process.kill(pid, 'SIGKILL');
  return how;
}

export interface StoredEvent {
  name: string;
  id: string;
  timestamp: number;
  timestampReplaced: boolean;
  data: Record<string, unknown>;
}

export interface StoredPerson {
  cioId: string;
  id: string | null;
  email: string | null;
  identified: boolean;
  attributes: Record<string, unknown>;
  events: StoredEvent[];
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  return { status: response.status, body: (await response.json()) as T };
}

/** Fetches every person the stand-in stores. */
export async function standinPeople(standinUrl: string): Promise<StoredPerson[]> {
  const { status, body } = await getJson<{ people: StoredPerson[] }>(`${standinUrl}/_admin/people`);
  assert.equal(status, 200, `GET ${standinUrl}/_admin/people answered ${status}`);
  return body.people;
}

/** Describes a run for an assertion message: the demo's exit code and the end of its stderr. */
export function describeRun(run: DemoRun): string {
  return `demo exited ${run.code} after ${run.elapsedMs} ms; end of its stderr:\n${run.stderr.slice(-3000)}`;
}
