// Faults injected while a full-year run loads and drains. A random processor or the sink gets
// SIGKILL and is started again at once, as a supervisor would. The Kafka broker and Kafka Connect
// are restarted once each, and the Customer.io stand-in refuses connections for one outage.
//
// The actions run one after another in a seeded random order. The wait before each is random
// around (estimated time left) / (actions left), so the faults spread over the run. The time left
// is an estimate from the share of the expected events that the stand-in stores. Other traffic
// reaching the stand-in inflates that share, and a run that drains early gets its remaining faults
// at short intervals. The outage runs in the background while later actions continue; run()
// resolves once it has ended and the stand-in responds again.
import { loadConnectorConfig } from '../../deploy/connect/register.ts';
import type { StackConfig } from '../../deploy/native/config.ts';
import { nativeConnectorEnv, restartComponent } from '../../deploy/native/lifecycle.ts';
import type { ChildName, DemoPipeline } from '../../processors/demo/demo.ts';

export interface FaultOptions {
  readonly kills: number;
  /** Stand-in outage length, ms; 0 leaves the stand-in up. */
  readonly outageMs: number;
  /** Restart the Kafka broker and Kafka Connect once each. */
  readonly stackRestarts: boolean;
}

export interface FaultRecord {
  readonly kind: 'kill' | 'stack-restart' | 'connector-restart' | 'outage';
  readonly target: string;
  /** Milliseconds after the load started. */
  readonly atMs: number;
  /** kill: until the new process was spawned; stack-restart: until the server was healthy; outage: its length. */
  readonly durationMs: number;
  readonly detail: string;
}

export interface FaultContext {
  readonly pipeline: DemoPipeline;
  readonly stack: StackConfig;
  readonly random: () => number;
  /** Epoch ms at which the load started; fault times are relative to it. */
  readonly loadStartedMs: number;
  /** Estimated share of the run done, 0 to 1, or null while unknown. */
  progress(): Promise<number | null>;
  /** Called right before a child is killed, so its memory peak can be read first. */
  beforeKill(name: string, pid: number): void;
  log(text: string): void;
}

type Action = { readonly kind: 'kill' } | { readonly kind: 'stack-restart'; readonly component: 'kafka' | 'connect' } | { readonly kind: 'outage' };

const MIN_GAP_MS = 2_000;
const MAX_GAP_MS = 15 * 60_000;
/** Wait before an action while the run's progress is still unknown. */
const UNKNOWN_PROGRESS_GAP_MS = 10_000;
/** Bound on waiting for the connector and its task to run again after a stack restart. */
const CONNECTOR_WAIT_MS = 180_000;
/**
 * Delay between setting the outage and its start. A refusal closes every open connection, so an
 * outage that starts at once would cut off the response to the request that set it.
 */
const OUTAGE_DELAY_MS = 1_000;
/** Bound on waiting for the stand-in to respond after its outage ended. */
const STANDIN_BACK_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  readonly #options: FaultOptions;
  readonly #context: FaultContext;
  #outageEndsMs: number | null = null;

  constructor(options: FaultOptions, context: FaultContext) {
    this.#options = options;
    this.#context = context;
  }

  /** Runs every action; rejects on the first action that fails. */
  async run(): Promise<void> {
    const actions: Action[] = Array.from({ length: this.#options.kills }, () => ({ kind: 'kill' as const }));
    if (this.#options.stackRestarts) actions.push({ kind: 'stack-restart', component: 'kafka' }, { kind: 'stack-restart', component: 'connect' });
    if (this.#options.outageMs > 0) actions.push({ kind: 'outage' });
    shuffle(actions, this.#context.random);
    const startedMs = Date.now();
    for (const [index, action] of actions.entries()) {
      await sleep(await this.#gapMs(startedMs, actions.length - index));
      await this.#perform(action);
    }
    await this.#awaitOutageEnd();
  }

  async #gapMs(startedMs: number, actionsLeft: number): Promise<number> {
    const done = await this.#context.progress();
    if (done === null || done < 0.02) return Math.round(UNKNOWN_PROGRESS_GAP_MS * (0.5 + this.#context.random()));
    const elapsedMs = Date.now() - startedMs;
    const leftMs = done >= 1 ? 0 : (elapsedMs * (1 - done)) / done;
    const gap = (leftMs / (actionsLeft + 1)) * (0.5 + this.#context.random());
    return Math.round(Math.min(MAX_GAP_MS, Math.max(MIN_GAP_MS, gap)));
  }

  #record(record: Omit<FaultRecord, 'atMs'> & { readonly startedMs: number }): void {
    const { startedMs, ...rest } = record;
    const entry = { ...rest, atMs: startedMs - this.#context.loadStartedMs };
    this.records.push(entry);
    this.#context.log(`fault: ${entry.kind} ${entry.target} at ${(entry.atMs / 1000).toFixed(1)} s, ${entry.durationMs} ms; ${entry.detail}`);
  }

  async #perform(action: Action): Promise<void> {
    switch (action.kind) {
      case 'kill':
        return this.#kill();
      case 'stack-restart':
        return this.#restartStackComponent(action.component);
      case 'outage':
        return this.#startOutage();
    }
  }

  async #kill(): Promise<void> {
    const { pipeline, random } = this.#context;
    const targets: ChildName[] = [...pipeline.processors, 'sink'];
    const target = targets[Math.floor(random() * targets.length)]!;
    const before = pipeline.children().find((child) => child.name === target);
    if (before === undefined) throw new Error(`the pipeline has no child named ${target}`);
    this.#context.beforeKill(target, before.pid);
    const startedMs = Date.now();
    const after = await pipeline.restartChild(target, 'SIGKILL');
    this.#record({ kind: 'kill', target, startedMs, durationMs: Date.now() - startedMs, detail: `SIGKILL pid ${before.pid}, started again as pid ${after.pid}` });
  }

  async #restartStackComponent(component: 'kafka' | 'connect'): Promise<void> {
    const startedMs = Date.now();
    await restartComponent(this.#context.stack, component);
    this.#record({ kind: 'stack-restart', target: component, startedMs, durationMs: Date.now() - startedMs, detail: 'stopped with SIGTERM and started again until healthy' });
    await this.#ensureConnectorRunning();
  }

  /**
   * Waits until the source connector and its tasks run. A task that failed while the broker or
   * the worker was away stays FAILED until restarted, so a failed one is restarted through the
   * Connect REST API and recorded.
   */
  async #ensureConnectorRunning(): Promise<void> {
    const name = loadConnectorConfig(nativeConnectorEnv(this.#context.stack)).name;
    const base = `http://${this.#context.stack.host}:${this.#context.stack.connectPort}/connectors/${encodeURIComponent(name)}`;
    const deadline = Date.now() + CONNECTOR_WAIT_MS;
    let lastState = 'unknown';
    while (Date.now() < deadline) {
      const response = await fetch(`${base}/status`, { signal: AbortSignal.timeout(5_000) }).catch(() => null);
      if (response?.ok) {
        const status = (await response.json()) as { connector?: { state?: string }; tasks?: { id: number; state: string; trace?: string }[] };
        const states = [status.connector?.state ?? 'unknown', ...(status.tasks ?? []).map((task) => task.state)];
        lastState = states.join(', ');
        if (states.every((state) => state === 'RUNNING') && (status.tasks ?? []).length > 0) return;
        if (states.includes('FAILED')) {
          const startedMs = Date.now();
          const restart = await fetch(`${base}/restart?includeTasks=true&onlyFailed=true`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
          const trace = (status.tasks ?? []).find((task) => task.state === 'FAILED')?.trace?.split('\n')[0] ?? '';
          this.#record({ kind: 'connector-restart', target: name, startedMs, durationMs: Date.now() - startedMs, detail: `found ${lastState} (${trace}); POST restart returned ${restart.status}` });
        }
      } else if (response !== null) {
        await response.arrayBuffer();
      }
      await sleep(2_000);
    }
    throw new Error(`connector ${name} did not return to RUNNING within ${CONNECTOR_WAIT_MS} ms after a stack restart; last states: ${lastState}`);
  }

  async #startOutage(): Promise<void> {
    const url = `${this.#context.pipeline.standinUrl}/_admin/faults`;
    const startedMs = Date.now() + OUTAGE_DELAY_MS;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ outages: [{ afterMs: OUTAGE_DELAY_MS, durationMs: this.#options.outageMs, mode: 'refuse' }] }),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new Error(`POST ${url} to start the stand-in outage failed: ${(err as Error).message}`, { cause: err });
    }
    if (!response.ok) throw new Error(`POST ${url} returned ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
    this.#outageEndsMs = startedMs + this.#options.outageMs;
    this.#record({ kind: 'outage', target: 'standin', startedMs, durationMs: this.#options.outageMs, detail: 'the stand-in refuses connections, admin routes included' });
  }

  async #awaitOutageEnd(): Promise<void> {
    if (this.#outageEndsMs === null) return;
    await sleep(Math.max(0, this.#outageEndsMs - Date.now()));
    const deadline = Date.now() + STANDIN_BACK_WAIT_MS;
    const url = `${this.#context.pipeline.standinUrl}/_admin/stats`;
    while (Date.now() < deadline) {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      if (response?.ok) {
        await response.arrayBuffer();
        return;
      }
      await sleep(500);
    }
    throw new Error(`the stand-in did not respond to ${url} within ${STANDIN_BACK_WAIT_MS} ms after its outage ended`);
  }
}
