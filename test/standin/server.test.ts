import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';

import { startStandin, type Standin, type StandinOptions } from '../../processors/standin/server.ts';

const SITE_ID = 'site-test';
const API_KEY = 'key-test';
const AUTH = `Basic ${Buffer.from(`${SITE_ID}:${API_KEY}`).toString('base64')}`;
const ULID_1001 = '0WJMZVTB5KXF1T4CEENV1TTP35';
const ULID_1002 = '0WJMZVTB5KXF1T4CEENV1TTP36';
const NOW_MS = Date.UTC(2024, 6, 15, 14, 0, 0);
const NOW_S = NOW_MS / 1000;

async function start(t: TestContext, options: StandinOptions = {}): Promise<Standin> {
  const standin = await startStandin({ port: 0, siteId: SITE_ID, apiKey: API_KEY, clock: { now: () => NOW_MS }, ...options });
  t.after(() => standin.close());
  return standin;
}

interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

async function call(standin: Standin, method: string, path: string, body?: unknown, authorization: string | null = AUTH): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== null) headers['authorization'] = authorization;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(standin.url + path, init);
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'order_placed', id: ULID_1001, timestamp: 1721050200, data: { order_id: '1001' }, ...overrides };
}

describe('stand-in auth', () => {
  test('rejects a missing or wrong key with 401', async (t) => {
    const standin = await start(t);
    const missing = await call(standin, 'PUT', '/api/v1/customers/501', {}, null);
    const wrong = await call(standin, 'PUT', '/api/v1/customers/501', {}, `Basic ${Buffer.from(`${SITE_ID}:nope`).toString('base64')}`);
    assert.equal(missing.status, 401);
    assert.equal(wrong.status, 401);
    assert.equal(standin.people().length, 0);
    assert.equal(standin.stats().unauthorized, 2);
  });

  test('answers the region endpoint', async (t) => {
    const standin = await start(t, { region: 'eu', environmentId: 42 });
    const reply = await call(standin, 'GET', '/api/v1/accounts/region');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, { url: standin.url, region: 'eu', environment_id: 42 });
  });

  test('keeps the key out of the call log', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/501', { first_name: 'Ada' });
    assert.doesNotMatch(JSON.stringify(standin.calls()), new RegExp(AUTH.slice(6)));
  });
});

describe('stand-in v1 identify', () => {
  test('stores attributes and answers {}', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'PUT', '/api/v1/customers/501', { email: 'ada@example.net', created_at: 1704121200, _timestamp: 1721050200 });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, {});
    const person = standin.person('501');
    assert.equal(person?.id, '501');
    assert.equal(person?.email, 'ada@example.net');
    assert.deepEqual(person?.attributes, { email: 'ada@example.net', created_at: 1704121200 });
    assert.equal(person?.identified, true);
  });

  test('flags a *_at attribute that is not unix seconds', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/501', { created_at: 1704103200000, last_order_at: '2024-07-15T13:30:00Z', first_order_at: 1704121200 });
    const flags = standin.calls()[0]?.flags.filter((flag) => flag.flag === 'non_unix_attribute').map((flag) => flag.field);
    assert.deepEqual(flags, ['created_at', 'last_order_at']);
  });

  test('treats an email-shaped path as email', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/tom.varga%40example.net', { first_name: 'Tom' });
    const person = standin.person('tom.varga@example.net');
    assert.equal(person?.email, 'tom.varga@example.net');
    assert.equal(person?.id, null);
    assert.deepEqual(standin.calls()[0]?.identifier, { type: 'email', value: 'tom.varga@example.net' });
  });

  test('gives an email-only person the id that claims its email', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/tom.varga%40example.net', {});
    await call(standin, 'PUT', '/api/v1/customers/507', { email: 'tom.varga@example.net', first_name: 'Tom' });
    assert.equal(standin.people().length, 1);
    assert.equal(standin.person('507')?.email, 'tom.varga@example.net');
  });

  test('flags an email that belongs to someone else', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/507', { email: 'tom@example.net' });
    const reply = await call(standin, 'PUT', '/api/v1/customers/999', { email: 'tom@example.net', first_name: 'Other' });
    assert.equal(reply.status, 200);
    assert.equal(standin.calls()[1]?.flags[0]?.flag, 'attribute_update_failure');
    assert.equal(standin.person('999'), undefined);
  });

  test('drops an update-only call without a match', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/501', { _update: true, first_name: 'Ada' });
    assert.equal(standin.people().length, 0);
    assert.equal(standin.calls()[0]?.flags[0]?.flag, 'update_only_no_match');
  });

  test('drops an unknown cio_id', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'PUT', '/api/v1/customers/cio_0300', { first_name: 'Ada' });
    assert.equal(reply.status, 200);
    assert.equal(standin.people().length, 0);
    assert.deepEqual(standin.calls()[0]?.identifier, { type: 'cio_id', value: '0300' });
  });

  test('deletes a person', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/501', {});
    await call(standin, 'DELETE', '/api/v1/customers/501');
    assert.equal(standin.people().length, 0);
  });
});

describe('stand-in v1 limits', () => {
  const cases: [string, unknown, string][] = [
    ['attribute name', { ['n'.repeat(151)]: 1 }, 'attribute name cannot be longer than 150 bytes'],
    ['attribute value', { bio: 'x'.repeat(1001) }, "value for attribute 'bio' cannot be longer than 1000 bytes"],
    ['attribute count', Object.fromEntries(Array.from({ length: 301 }, (_, index) => [`a${index}`, index])), 'cannot identify more than 300 attributes in one request'],
  ];
  for (const [name, body, message] of cases) {
    test(`rejects an over-limit ${name}`, async (t) => {
      const standin = await start(t);
      const reply = await call(standin, 'PUT', '/api/v1/customers/501', body);
      assert.equal(reply.status, 400);
      assert.deepEqual(reply.body, { meta: { error: message } });
      assert.equal(standin.people().length, 0);
    });
  }

  test('accepts values at the limits', async (t) => {
    const standin = await start(t);
    const body = { ['n'.repeat(150)]: 'x'.repeat(1000), ...Object.fromEntries(Array.from({ length: 299 }, (_, index) => [`a${index}`, index])) };
    const reply = await call(standin, 'PUT', '/api/v1/customers/501', body);
    assert.equal(reply.status, 200);
  });

  test('rejects an id over 150 bytes', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'PUT', `/api/v1/customers/${'7'.repeat(151)}`, {});
    assert.equal(reply.status, 400);
    assert.match(reply.body.meta.error, /150 bytes/);
  });

  test('lists several violations', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'PUT', '/api/v1/customers/501', { a: 'x'.repeat(1001), b: 'y'.repeat(1001) });
    assert.deepEqual(reply.body, { meta: { errors: ["value for attribute 'a' cannot be longer than 1000 bytes", "value for attribute 'b' cannot be longer than 1000 bytes"] } });
  });

  const eventCases: [string, Record<string, unknown>, string][] = [
    ['blank name', event({ name: '   ' }), 'event name must not be blank'],
    ['long name', event({ name: 'e'.repeat(101) }), 'event name cannot be longer than 100 bytes'],
    ['non-hash data', event({ data: [1, 2] }), 'event data must be a hash'],
    ['large data', event({ data: { blob: 'x'.repeat(100_000) } }), 'event data cannot be longer than 100000 bytes'],
    ['non-ULID id', event({ id: '1001' }), 'event id must be a valid ULID'],
    ['missing id', event({ id: undefined }), 'event id must be present'],
  ];
  for (const [name, body, message] of eventCases) {
    test(`rejects an event with ${name}`, async (t) => {
      const standin = await start(t);
      const reply = await call(standin, 'POST', '/api/v1/customers/501/events', body);
      assert.equal(reply.status, 400);
      assert.deepEqual(reply.body, { meta: { error: message } });
    });
  }

  test('rejects a body that is not JSON', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v1/customers/501/events', '{"name":');
    assert.equal(reply.status, 400);
  });

  test('answers 404 for an unknown route', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'GET', '/api/v1/nothing');
    assert.equal(reply.status, 404);
  });

  test('answers 413 for a huge body', async (t) => {
    const standin = await start(t, { maxBodyBytes: 1000 });
    const reply = await call(standin, 'PUT', '/api/v1/customers/501', { bio: 'x'.repeat(2000) });
    assert.equal(reply.status, 413);
  });
});

describe('stand-in v1 events', () => {
  test('stores the event with its timestamp', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/501', {});
    const reply = await call(standin, 'POST', '/api/v1/customers/501/events', event({ name: ' order_placed ' }));
    assert.equal(reply.status, 200);
    const stored = standin.person('501')?.events[0];
    assert.equal(stored?.name, 'order_placed');
    assert.equal(stored?.timestamp, 1721050200);
    assert.equal(stored?.timestampReplaced, false);
    assert.deepEqual(standin.calls()[1]?.flags, []);
  });

  const badTimestamps: [string, unknown][] = [
    ['milliseconds', 1721050200000],
    ['microseconds', 1721050200000000],
    ['an ISO string', '2024-07-15T13:30:00Z'],
  ];
  for (const [name, timestamp] of badTimestamps) {
    test(`replaces ${name} with the receipt time`, async (t) => {
      const standin = await start(t);
      await call(standin, 'POST', '/api/v1/customers/501/events', event({ timestamp }));
      const stored = standin.person('501')?.events[0];
      assert.equal(stored?.timestamp, NOW_S);
      assert.equal(stored?.timestampReplaced, true);
      assert.deepEqual(stored?.sentTimestamp, timestamp);
      assert.ok(standin.calls()[0]?.flags.some((flag) => flag.flag === 'timestamp_replaced'));
      assert.equal(standin.stats().timestampsReplaced, 1);
    });
  }

  test('flags a missing timestamp', async (t) => {
    const standin = await start(t);
    await call(standin, 'POST', '/api/v1/customers/501/events', event({ timestamp: undefined }));
    assert.equal(standin.person('501')?.events[0]?.timestamp, NOW_S);
    assert.ok(standin.calls()[0]?.flags.some((flag) => flag.flag === 'timestamp_missing'));
  });

  test('drops and counts a repeated id', async (t) => {
    const standin = await start(t);
    await call(standin, 'POST', '/api/v1/customers/501/events', event());
    const repeat = await call(standin, 'POST', '/api/v1/customers/501/events', event({ data: { order_id: 'changed' } }));
    await call(standin, 'POST', '/api/v1/customers/501/events', event({ id: ULID_1002 }));
    assert.equal(repeat.status, 200);
    assert.equal(standin.person('501')?.events.length, 2);
    assert.equal(standin.stats().duplicateEventIds, 1);
    assert.equal(standin.calls()[1]?.flags[0]?.flag, 'duplicate_event_id');
  });

  test('flags an event before identify', async (t) => {
    const standin = await start(t);
    await call(standin, 'POST', '/api/v1/customers/508/events', event());
    await call(standin, 'PUT', '/api/v1/customers/508', { email: 'lea@example.net' });
    assert.equal(standin.calls()[0]?.flags[0]?.flag, 'event_before_identify');
    assert.equal(standin.person('508')?.identified, true);
  });
});

describe('stand-in v2', () => {
  const identifyItem = (id: string, attributes: Record<string, unknown> = {}) => ({ type: 'person', action: 'identify', identifiers: { id }, attributes });
  const eventItem = (id: string, overrides: Record<string, unknown> = {}) => ({
    type: 'person',
    action: 'event',
    identifiers: { id },
    name: 'order_placed',
    id: ULID_1001,
    timestamp: 1721050200,
    attributes: { order_id: '1001' },
    ...overrides,
  });

  test('accepts a valid batch with {}', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v2/batch', { batch: [identifyItem('501', { first_name: 'Ada' }), eventItem('501')] });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, {});
    assert.equal(standin.person('501')?.events[0]?.api, 'v2');
    assert.deepEqual(standin.person('501')?.events[0]?.data, { order_id: '1001' });
  });

  test('answers 207 for a bad item', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v2/batch', {
      batch: [identifyItem('501'), identifyItem('502', { bio: 'x'.repeat(1001) }), eventItem('503', { name: '' })],
    });
    assert.equal(reply.status, 207);
    assert.deepEqual(reply.body, {
      errors: [
        { batch_index: 1, reason: 'too_long', field: 'attributes.bio', message: "value for attribute 'bio' cannot be longer than 1000 bytes" },
        { batch_index: 2, reason: 'required', field: 'name', message: 'event name must not be blank' },
      ],
    });
    assert.ok(standin.person('501'));
    assert.equal(standin.person('502'), undefined);
    assert.equal(standin.person('503'), undefined);
  });

  test('requires exactly one identifier', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v2/batch', { batch: [{ type: 'person', action: 'identify', identifiers: { id: '501', email: 'a@example.net' } }] });
    assert.equal(reply.status, 207);
    assert.equal(reply.body.errors[0].field, 'identifiers');
  });

  test('keys by email when told', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v2/batch', { batch: [{ type: 'person', action: 'identify', identifiers: { email: 'lea@example.net' }, attributes: {} }] });
    assert.equal(reply.status, 200);
    assert.equal(standin.person('lea@example.net')?.id, null);
  });

  test('rejects an item over 32,000 bytes', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v2/batch', { batch: [eventItem('501', { attributes: { blob: 'x'.repeat(32_000) } })] });
    assert.equal(reply.status, 207);
    assert.equal(reply.body.errors[0].reason, 'too_large');
  });

  test('rejects a batch over 500,000 bytes', async (t) => {
    const standin = await start(t);
    const items = Array.from({ length: 20 }, (_, index) => identifyItem(String(index), { note: 'x'.repeat(25_000) }));
    const reply = await call(standin, 'POST', '/api/v2/batch', { batch: items });
    assert.equal(reply.status, 400);
    assert.equal(reply.body.errors[0].reason, 'too_large');
    assert.equal(standin.people().length, 0);
  });

  test('rejects a body without batch', async (t) => {
    const standin = await start(t);
    const reply = await call(standin, 'POST', '/api/v2/batch', { items: [] });
    assert.equal(reply.status, 400);
    assert.deepEqual(reply.body, { errors: [{ reason: 'invalid', field: 'batch', message: 'request body must be {"batch": [ … ]}' }] });
  });

  test('replaces a millisecond event timestamp', async (t) => {
    const standin = await start(t);
    await call(standin, 'POST', '/api/v2/batch', { batch: [eventItem('501', { timestamp: 1721050200000 })] });
    assert.equal(standin.person('501')?.events[0]?.timestamp, NOW_S);
    assert.equal(standin.calls()[0]?.flags[0]?.batchIndex, 0);
  });

  test('serves the entity endpoint', async (t) => {
    const standin = await start(t);
    const ok = await call(standin, 'POST', '/api/v2/entity', identifyItem('501'));
    const bad = await call(standin, 'POST', '/api/v2/entity', eventItem('501', { id: 'not-a-ulid' }));
    assert.equal(ok.status, 200);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body, { errors: [{ reason: 'invalid', field: 'id', message: 'event id must be a valid ULID' }] });
  });
});

describe('stand-in admin', () => {
  test('lists people, one person and calls in order', async (t) => {
    const standin = await start(t);
    await call(standin, 'PUT', '/api/v1/customers/501', { email: 'ada@example.net' });
    await call(standin, 'POST', '/api/v1/customers/501/events', event());
    await call(standin, 'PUT', '/api/v1/customers/502', {});

    const people = await call(standin, 'GET', '/_admin/people', undefined, null);
    assert.deepEqual(
      people.body.people.map((person: { id: string }) => person.id),
      ['501', '502'],
    );
    const byEmail = await call(standin, 'GET', '/_admin/people/ada%40example.net', undefined, null);
    assert.equal(byEmail.body.id, '501');
    assert.equal(byEmail.body.events[0].id, ULID_1001);
    const missing = await call(standin, 'GET', '/_admin/people/999', undefined, null);
    assert.equal(missing.status, 404);

    const calls = await call(standin, 'GET', '/_admin/calls', undefined, null);
    assert.deepEqual(
      calls.body.calls.map((entry: { sequence: number; method: string; path: string }) => `${entry.sequence} ${entry.method} ${entry.path}`),
      ['1 PUT /api/v1/customers/501', '2 POST /api/v1/customers/501/events', '3 PUT /api/v1/customers/502'],
    );
    const stats = await call(standin, 'GET', '/_admin/stats', undefined, null);
    assert.equal(stats.body.calls, 3);
    assert.equal(stats.body.events, 1);
  });

  test('reset forgets everything', async (t) => {
    const standin = await start(t);
    await call(standin, 'POST', '/api/v1/customers/501/events', event());
    await call(standin, 'POST', '/_admin/faults', { share5xx: 1 }, null);
    const reply = await call(standin, 'POST', '/_admin/reset', undefined, null);
    assert.equal(reply.status, 200);
    assert.equal(standin.people().length, 0);
    assert.equal(standin.calls().length, 0);
    // The event id is forgotten too, and the 5xx fault is gone.
    const again = await call(standin, 'POST', '/api/v1/customers/501/events', event());
    assert.equal(again.status, 200);
    assert.equal(standin.person('501')?.events.length, 1);
  });

  test('sets, shows and clears faults', async (t) => {
    const standin = await start(t);
    const set = await call(standin, 'POST', '/_admin/faults', { script: [{ status: 502 }] }, null);
    assert.equal(set.status, 200);
    assert.equal(set.body.scriptLeft, 1);
    const faulted = await call(standin, 'PUT', '/api/v1/customers/501', {});
    assert.equal(faulted.status, 502);
    assert.equal(standin.calls()[0]?.fault, 'script');

    await call(standin, 'POST', '/_admin/faults', { share5xx: 1 }, null);
    const cleared = await call(standin, 'DELETE', '/_admin/faults', undefined, null);
    assert.deepEqual(cleared.body.config, {});
    const ok = await call(standin, 'PUT', '/api/v1/customers/501', {});
    assert.equal(ok.status, 200);
  });

  test('rejects invalid faults with 400', async (t) => {
    const standin = await start(t);
    const unknown = await call(standin, 'POST', '/_admin/faults', { share500: 0.5 }, null);
    const share = await call(standin, 'POST', '/_admin/faults', { share5xx: 2 }, null);
    const notJson = await call(standin, 'POST', '/_admin/faults', '{', null);
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /unknown fault setting share500/);
    assert.equal(share.status, 400);
    assert.match(share.body.error, /share5xx must be a share between 0 and 1/);
    assert.equal(notJson.status, 400);
  });
});
