/**
 * A local stand-in for Customer.io's Track API, for tests and for running the whole pipeline
 * without a Customer.io workspace.
 *
 * It checks HTTP Basic auth and Customer.io's documented limits, keeps people and events in
 * memory, drops repeated event ids, replaces non-unix event timestamps with the receipt time, and
 * can inject latency, 429s, 5xx responses, outages and a request-rate limit (faults.ts). What it
 * received is visible under /_admin (admin.ts).
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

import { handleAdminRequest } from './admin.ts';
import { FaultInjector, type FaultConfig } from './faults.ts';
import { handleTrackRequest } from './routes.ts';
import { inferIdentifier, StandinStore, type CallRecord, type Person, type StandinStats } from './store.ts';

export interface StandinOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8089; 0 picks a free port. */
  port?: number;
  /** Expected site id (Basic auth user). Default `standin-site`. */
  siteId?: string;
  /** Expected Track API key (Basic auth password). Default `standin-key`. */
  apiKey?: string;
  /** Region reported by GET /api/v1/accounts/region. Default `us`. */
  region?: 'us' | 'eu';
  environmentId?: number;
  faults?: FaultConfig;
  /** Clock for receipt times, outages and the rate limit, epoch milliseconds. Default Date.now. */
  clock?: { now(): number };
  /** Each call logs at debug. */
  logger?: Logger;
  /** Larger request bodies get 413 before any check. Default 5,000,000 bytes. */
  maxBodyBytes?: number;
}

export interface Standin {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly siteId: string;
  readonly apiKey: string;
  readonly store: StandinStore;
  people(): Person[];
  /** Finds a person by id, email or `cio_<cio_id>`, inferred from the value's shape. */
  person(identifier: string): Person | undefined;
  calls(): CallRecord[];
  stats(): StandinStats;
  /** Replaces the fault configuration; outage windows start now. Resolves once a refusal that starts now is in force. */
  setFaults(config: FaultConfig): Promise<void>;
  /** Forgets people, events, seen event ids, calls, counters and faults. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_STANDIN_PORT = 8089;
const DEFAULT_SITE_ID = 'standin-site';
const DEFAULT_API_KEY = 'standin-key';
const DEFAULT_MAX_BODY_BYTES = 5_000_000;

/** Starts the stand-in and resolves once it listens. */
export async function startStandin(options: StandinOptions = {}): Promise<Standin> {
  const host = options.host ?? '127.0.0.1';
  const siteId = options.siteId ?? DEFAULT_SITE_ID;
  const apiKey = options.apiKey ?? DEFAULT_API_KEY;
  const now = options.clock === undefined ? () => Date.now() : () => options.clock!.now();
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const expectedAuthorization = `Basic ${Buffer.from(`${siteId}:${apiKey}`, 'utf8').toString('base64')}`;

  const store = new StandinStore();
  const faults = new FaultInjector(now);
  const listener = new Listener(createServer(), host);
  let url = '';

  const trackContext = {
    store,
    nowMs: now,
    get baseUrl() {
      return url;
    },
    region: options.region ?? 'us',
    environmentId: options.environmentId ?? 1,
  };

  const setFaults = async (config: FaultConfig): Promise<void> => {
    faults.set(config);
    await listener.scheduleRefusals(faults.refuseWindows(), now());
  };
  const reset = async (): Promise<void> => {
    store.reset();
    await setFaults({});
  };
  const adminActions = { store, describeFaults: () => faults.describe(), setFaults, reset };

  const serve = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    const pathname = new URL(request.url ?? '/', 'http://standin.invalid').pathname;
    const body = await readBody(request, maxBodyBytes);

    if (pathname.startsWith('/_admin/')) {
      if (body === undefined) return sendJson(response, 413, { error: `request body is larger than ${maxBodyBytes} bytes` });
      const result = await handleAdminRequest(method, pathname, body, adminActions);
      return sendJson(response, result.status, result.body);
    }

    const receivedAtMs = now();
    const call = { receivedAtMs, method, path: pathname, requestBody: parseForLog(body), flags: [] };
    const reply = (status: number, responseBody: unknown, extra: Partial<CallRecord> = {}, retryAfter?: string): void => {
      store.recordCall({ ...call, ...extra, status, responseBody, ...(retryAfter === undefined ? {} : { retryAfter }) });
      options.logger?.debug({ method, path: pathname, status, fault: extra.fault }, 'standin call');
      sendJson(response, status, responseBody, retryAfter);
    };

    const latencyMs = faults.latencyMs();
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));

    if (body === undefined) return reply(413, { meta: { error: `request body is larger than ${maxBodyBytes} bytes` } });

    const fault = faults.decide();
    if (fault !== undefined) return reply(fault.status, fault.body, { fault: fault.fault }, fault.retryAfter);

    if (request.headers.authorization !== expectedAuthorization) {
      return reply(401, { meta: { error: 'Unauthorized request: check the site id and Track API key' } });
    }

    const result = handleTrackRequest(method, pathname, body, trackContext);
    const extra: Partial<CallRecord> = { flags: result.flags };
    if (result.identifier !== undefined) extra.identifier = result.identifier;
    return reply(result.status, result.body, extra);
  };

  listener.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    serve(request, response).catch((err: unknown) => {
      options.logger?.error({ err, method: request.method, url: request.url }, 'standin request failed');
      if (!response.headersSent) sendJson(response, 500, { meta: { error: `stand-in failure: ${(err as Error).message}` } });
      else response.destroy();
    });
  });

  const port = await listener.listen(options.port ?? DEFAULT_STANDIN_PORT);
  url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (options.faults !== undefined) await setFaults(options.faults);

  return {
    url,
    host,
    port,
    siteId,
    apiKey,
    store,
    people: () => store.people(),
    person: (identifier: string) => store.person(inferIdentifier(identifier)),
    calls: () => store.calls(),
    stats: () => store.stats(),
    setFaults,
    reset,
    close: () => listener.close(),
  };
}

/**
 * The listening socket, which a `refuse` outage closes and reopens on the same port. Refusal
 * windows run on real timers: no request arrives to notice the end of a window while nothing
 * listens.
 */
class Listener {
  readonly server: Server;
  readonly #host: string;
  #port = 0;
  #listening = false;
  #closed = false;
  #timers: NodeJS.Timeout[] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(server: Server, host: string) {
    this.server = server;
    this.#host = host;
  }

  async listen(port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, this.#host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.#listening = true;
    this.#port = (this.server.address() as AddressInfo).port;
    return this.#port;
  }

  /**
   * Replaces the refusal schedule with `windows`, absolute times on the clock whose reading is
   * `nowMs`. Resolves once a window that is already open has closed the socket.
   */
  async scheduleRefusals(windows: readonly { startMs: number; endMs: number }[], nowMs: number): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];

    const openNow = windows.find((window) => window.startMs <= nowMs && nowMs < window.endMs);
    for (const window of windows) {
      if (window.endMs <= nowMs) continue;
      if (window !== openNow) this.#timers.push(setTimeout(() => void this.#pause(), window.startMs - nowMs));
      this.#timers.push(setTimeout(() => void this.#resume(), window.endMs - nowMs));
    }
    await (openNow === undefined ? this.#resume() : this.#pause());
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    await this.#pause();
  }

  // Pause and resume run one at a time, in call order, so a timer cannot interleave with a listen.
  #pause(): Promise<void> {
    return this.#enqueue(async () => {
      if (!this.#listening) return;
      this.#listening = false;
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      await closed;
    });
  }

  #resume(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#listening || this.#closed || this.#port === 0) return;
      await this.listen(this.#port);
    });
  }

  #enqueue(operation: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(operation);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

/** Reads the request body as UTF-8; resolves undefined when it exceeds `maxBytes`. */
async function readBody(request: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) tooLarge = true;
    if (!tooLarge) chunks.push(chunk);
  }
  return tooLarge ? undefined : Buffer.concat(chunks).toString('utf8');
}

function parseForLog(body: string | undefined): unknown {
  if (body === undefined || body === '') return null;
  try {
    return JSON.parse(body);
  } catch {
    return body.slice(0, 1000);
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown, retryAfter?: string): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text, 'utf8'),
  };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  response.writeHead(status, headers);
  response.end(text);
}
