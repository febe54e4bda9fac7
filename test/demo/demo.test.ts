// Runs `npm run demo` end to end as a child process against the running stack: the demo must
// reuse the stack, deliver every generated order and leave the stack running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { testStack } from '../support/env.ts';

const repoDir = join(import.meta.dirname, '..', '..');

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: repoDir,
      env: { ...process.env, KAFKA_BROKERS: testStack.kafkaBrokers.join(','), CIO_CDC_MYSQL_URL: `mysql://${testStack.mysql.user}@${testStack.mysql.host}:${testStack.mysql.port}/shop` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Summary {
  peopleIdentified: number;
  ordersWritten: number;
  ordersPlacedOfRun: number;
  load: Record<string, number>;
  eventsByName: Record<string, number>;
  deadLetters: { total: number };
  drained: boolean;
  keptPids: Record<string, number>;
}

describe('demo', { timeout: 270_000 }, () => {
  it('delivers the generated traffic to the stand-in and leaves the stack running', async () => {
    const result = await run(['processors/demo/main.ts', '--customers', '10', '--suppression-window-ms', '20000', '--drain-timeout-ms', '150000', '--json'], 260_000);
    assert.equal(result.code, 0, `demo exited ${result.code}; stderr:\n${result.stderr.slice(-3000)}`);
    assert.match(result.stderr, /stack: healthy, reusing it/);
    const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as Summary;

    assert.ok(summary.peopleIdentified > 0, `people identified: ${summary.peopleIdentified}`);
    assert.ok(summary.ordersWritten > 0, 'the generator wrote no order');
    assert.equal(summary.ordersWritten, summary.load['order_placed']);
    assert.equal(summary.ordersPlacedOfRun, summary.ordersWritten);
    assert.ok((summary.eventsByName['order_placed'] ?? 0) >= summary.ordersWritten, `order_placed stored: ${summary.eventsByName['order_placed']}`);
    assert.equal(summary.deadLetters.total, 0);
    assert.equal(summary.drained, true);
    assert.deepEqual(summary.keptPids, {});

    const pidDir = join(process.env['CIO_CDC_HOME'] || join(homedir(), '.cache', 'cio-cdc'), 'run', 'pids');
    const left = existsSync(pidDir) ? readdirSync(pidDir).filter((file) => file.startsWith('demo-')) : [];
    assert.deepEqual(left, []);

    const status = await run(['deploy/native/stack.ts', 'status'], 60_000);
    assert.equal(status.code, 0, `the stack is no longer healthy after the demo:\n${status.stdout}${status.stderr}`);
  });
});
