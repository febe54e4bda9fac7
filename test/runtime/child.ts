// A processor child process under test, with its output lines and exit.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const nodeBinary = join(import.meta.dirname, '../../node_modules/.bin/node');

export class ProcessorChild {
  readonly process: ChildProcess;
  private stdout = '';
  private stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(fixture: string, args: string[], env: Record<string, string>) {
    this.process = spawn(nodeBinary, [join(import.meta.dirname, 'fixtures', fixture), ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.process.stdout!.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
    });
    this.process.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Output so far, for failure messages. */
  output(): string {
    return `stdout:\n${this.stdout.slice(-4000)}\nstderr:\n${this.stderr.slice(-4000)}`;
  }

  /** Waits until stdout has a line equal to `line`, or the child exits, or timeoutMs passes. */
  async waitForLine(line: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => {
      exited = true;
    });
    while (!this.stdout.split('\n').includes(line)) {
      if (exited) {
        throw new Error(`child exited before printing "${line}"\n${this.output()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`child did not print "${line}" within ${timeoutMs} ms\n${this.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.process.kill(signal);
    return this.exited;
  }
}
