import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { StackError } from './errors.ts';

/** A long-running process that `up` started, recorded by pid under the run folder. */
export interface ManagedProcess {
  readonly name: string;
  readonly pidFile: string;
  readonly logFile: string;
  /** A string that the process's command line contains; it guards against a reused pid. */
  readonly marker: string;
}

export function managedProcess(runDir: string, name: string, marker: string): ManagedProcess {
  return {
    name,
    pidFile: join(runDir, 'pids', `${name}.pid`),
    logFile: join(runDir, 'logs', `${name}.log`),
    marker,
  };
}

function commandLineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return null;
  }
}

/** Returns the recorded pid when that process is still alive and is the one recorded. */
export function runningPid(proc: ManagedProcess): number | null {
  if (!existsSync(proc.pidFile)) {
    return null;
  }
  const pid = Number(readFileSync(proc.pidFile, 'utf8').split('\n')[0]?.trim());
  if (!Number.isInteger(pid) || pid <= 0) {
    return null;
  }
  const commandLine = commandLineOf(pid);
  if (commandLine === null || !commandLine.includes(proc.marker)) {
    return null;
  }
  return pid;
}

/**
 * Lists processes that other commands recorded beside the stack's own, as
 * `<name>.pid` files holding the pid on the first line and the command-line
 * marker on the second (`npm run demo -- --keep` writes `demo-*.pid`).
 */
export function recordedProcesses(runDir: string, prefix: string): ManagedProcess[] {
  const dir = join(runDir, 'pids');
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir)
    .filter((file) => file.startsWith(prefix) && file.endsWith('.pid'))
    .flatMap((file) => {
      const marker = readFileSync(join(dir, file), 'utf8').split('\n')[1]?.trim();
      return marker ? [managedProcess(runDir, file.slice(0, -'.pid'.length), marker)] : [];
    });
}

/** Starts a detached process whose output goes to its log file, and records its pid. */
export function startDetached(proc: ManagedProcess, command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): number {
  mkdirSync(join(proc.pidFile, '..'), { recursive: true });
  mkdirSync(join(proc.logFile, '..'), { recursive: true });
  const logFd = openSync(proc.logFile, 'a');
  try {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', logFd, logFd] });
    if (child.pid === undefined) {
      throw new StackError(`could not start ${proc.name}: ${command} did not start (is it installed?)`);
    }
    child.unref();
    writeFileSync(proc.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the recorded process: SIGTERM, then SIGKILL after graceMs. Returns whether one was running. */
export async function stopProcess(proc: ManagedProcess, graceMs: number): Promise<boolean> {
  const pid = runningPid(proc);
  if (pid === null) {
    rmSync(proc.pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) {
    await sleep(200);
  }
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) {
      await sleep(100);
    }
  }
  rmSync(proc.pidFile, { force: true });
  return true;
}

/** Resolves true when something accepts TCP connections on host:port. */
export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const finish = (open: boolean) => {
      socket.destroy();
      resolvePromise(open);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * Polls check until it returns true. Throws a StackError naming what failed when
 * the process exits first or the timeout passes; detail() adds e.g. a log tail.
 */
export async function waitFor(what: string, proc: ManagedProcess | null, check: () => Promise<boolean>, timeoutMs: number, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) {
      return;
    }
    if (proc !== null && runningPid(proc) === null) {
      throw new StackError(`${proc.name} exited while waiting for ${what}\n${detail()}`);
    }
    await sleep(500);
  }
  throw new StackError(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
}

/** Returns the last lines of a log file, for error messages. */
export function tailOf(file: string, lines = 30): string {
  if (!existsSync(file)) {
    return `(no log at ${file})`;
  }
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  return `last lines of ${file}:\n${text.slice(-lines).join('\n')}`;
}

/** Runs a command to completion; throws a StackError with its output when it fails. */
export function runOrThrow(what: string, command: string, args: string[], options: { cwd?: string; input?: string } = {}): string {
  const result = spawnSync(command, args, { cwd: options.cwd, input: options.input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) {
    throw new StackError(`${what} failed: ${command} could not run (${result.error.message}); is it installed and on PATH?`);
  }
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trimEnd().split('\n').slice(-40).join('\n');
    throw new StackError(`${what} failed (exit ${result.status}):\n${output}`);
  }
  return result.stdout;
}
