/**
 * Admin routes of the stand-in, for tests and people looking at what cio-cdc sent. They need no
 * auth, get no injected faults and are not logged as calls.
 *
 *   GET    /_admin/people                 every person, with attributes and events
 *   GET    /_admin/people/{identifier}    one person; the identifier type is inferred from its shape
 *   GET    /_admin/calls                  every Track API call in arrival order
 *   GET    /_admin/stats                  counters
 *   POST   /_admin/reset                  forget people, events, seen event ids, calls, counters and faults
 *   GET    /_admin/faults                 fault configuration in force
 *   POST   /_admin/faults                 replace it (body: FaultConfig)
 *   DELETE /_admin/faults                 clear it
 */

import { StandinConfigError } from './errors.ts';
import type { FaultConfig } from './faults.ts';
import { inferIdentifier, type StandinStore } from './store.ts';

export interface AdminActions {
  store: StandinStore;
  describeFaults: () => unknown;
  setFaults: (config: FaultConfig) => Promise<void>;
  reset: () => Promise<void>;
}

export interface AdminResult {
  status: number;
  body: unknown;
}

const PERSON_PATH = /^\/_admin\/people\/([^/]+)$/;

export async function handleAdminRequest(method: string, pathname: string, rawBody: string, actions: AdminActions): Promise<AdminResult> {
  if (method === 'GET' && pathname === '/_admin/people') return { status: 200, body: { people: actions.store.people() } };

  const personMatch = PERSON_PATH.exec(pathname);
  if (method === 'GET' && personMatch !== null) {
    let identifierText: string;
    try {
      identifierText = decodeURIComponent(personMatch[1] ?? '');
    } catch {
      return { status: 400, body: { error: 'identifier in the path is not valid percent-encoding' } };
    }
    const person = actions.store.person(inferIdentifier(identifierText));
    return person === undefined ? { status: 404, body: { error: 'no person has this identifier' } } : { status: 200, body: person };
  }

  if (method === 'GET' && pathname === '/_admin/calls') return { status: 200, body: { calls: actions.store.calls() } };
  if (method === 'GET' && pathname === '/_admin/stats') return { status: 200, body: actions.store.stats() };

  if (method === 'POST' && pathname === '/_admin/reset') {
    await actions.reset();
    return { status: 200, body: {} };
  }

  if (pathname === '/_admin/faults') {
    if (method === 'GET') return { status: 200, body: actions.describeFaults() };
    if (method === 'DELETE') {
      await actions.setFaults({});
      return { status: 200, body: actions.describeFaults() };
    }
    if (method === 'POST') {
      let config: unknown;
      try {
        config = rawBody.trim() === '' ? {} : JSON.parse(rawBody);
      } catch {
        return { status: 400, body: { error: 'fault configuration is not valid JSON' } };
      }
      try {
        await actions.setFaults(config as FaultConfig);
      } catch (err) {
        if (err instanceof StandinConfigError) return { status: 400, body: { error: err.message } };
        throw err;
      }
      return { status: 200, body: actions.describeFaults() };
    }
  }

  return { status: 404, body: { error: `no admin route for ${method} ${pathname}` } };
}
