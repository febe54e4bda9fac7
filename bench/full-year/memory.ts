// Peak resident memory of the processes of a run, from /proc/<pid>/status (Linux only).
//
// VmHWM is the kernel's peak resident set of one process since it started. A restarted child is a
// new process, so the sampler keeps the largest VmHWM seen over all its processes, and samples a
// child right before the run kills it. The stack's servers started before the run, so their VmHWM
// may come from earlier load. The largest VmRSS sampled during the run is reported beside it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryPeak {
  /** Largest VmHWM read, bytes. */
  readonly hwmBytes: number;
  /** Largest VmRSS read, bytes. */
  readonly rssBytes: number;
  /** Processes (pids) sampled under this name. */
  readonly pids: readonly number[];
}

/** Reads VmHWM and VmRSS of a live process, in bytes; null when the process is gone. */
export function readMemory(pid: number): { hwmBytes: number; rssBytes: number } | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kilobytes = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { hwmBytes: kilobytes('VmHWM'), rssBytes: kilobytes('VmRSS') };
}

/** Pids of the stack's servers from `<runDir>/pids/<name>.pid`, leaving out the demo's own pid files. */
export function stackPids(runDir: string): { name: string; pid: number }[] {
  const dir = join(runDir, 'pids');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.pid') && !file.startsWith('demo-'))
    .map((file) => ({ name: file.slice(0, -'.pid'.length), pid: Number(readFileSync(join(dir, file), 'utf8').split('\n')[0]) }))
    .filter(({ pid }) => Number.isInteger(pid) && pid > 0);
}

/** Samples named processes every `intervalMs` and keeps the peaks per name. */
export class MemorySampler {
  readonly #peaks = new Map<string, { hwmBytes: number; rssBytes: number; pids: Set<number> }>();
  readonly #targets: () => { name: string; pid: number }[];
  #timer: NodeJS.Timeout | undefined;

  constructor(targets: () => { name: string; pid: number }[]) {
    this.#targets = targets;
  }

  start(intervalMs: number): void {
    this.sampleAll();
    this.#timer = setInterval(() => this.sampleAll(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sampleAll();
  }

  sampleAll(): void {
    for (const { name, pid } of this.#targets()) this.sample(name, pid);
  }

  sample(name: string, pid: number): void {
    const memory = readMemory(pid);
    if (memory === null) return;
    const peak = this.#peaks.get(name) ?? { hwmBytes: 0, rssBytes: 0, pids: new Set<number>() };
    peak.hwmBytes = Math.max(peak.hwmBytes, memory.hwmBytes);
    peak.rssBytes = Math.max(peak.rssBytes, memory.rssBytes);
    peak.pids.add(pid);
    this.#peaks.set(name, peak);
  }

  peaks(): Record<string, MemoryPeak> {
    return Object.fromEntries([...this.#peaks].map(([name, peak]) => [name, { hwmBytes: peak.hwmBytes, rssBytes: peak.rssBytes, pids: [...peak.pids] }]));
  }
}
