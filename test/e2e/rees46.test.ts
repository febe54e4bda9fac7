// End to end on the REES46 events sample: `npm run demo -- --rees46 FILE` replays cart and
// purchase events through MySQL, Debezium, the processors and the sink into a kept stand-in;
// the people and order events it stores are compared with expectations computed here, from the
// CSV file alone.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { dataDir, describeRun, freePort, readCsvRows, requireDataFile, runKeptDemo, standinPeople, stopKeptDemo } from './support.ts';
import type { DemoRun, StoredPerson } from './support.ts';

const FILE = join(dataDir, 'rees46_events_sample/events_2019-10-01.csv');
/** The demo's default suppression window W; the quiet period Q after an order equals it. */
const WINDOW_SECONDS = 60;

interface Session {
  readonly userId: string;
  readonly session: string;
  /** Unix seconds of each cart event, in file order. */
  readonly carts: number[];
  /** product_id of each cart event, in file order. */
  readonly cartProducts: string[];
  /** Unix seconds of each purchase event, in file order. */
  readonly purchases: number[];
}

function utcSeconds(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) UTC$/.exec(text);
  assert.ok(match, `event_time ${text} is not of the form YYYY-MM-DD HH:MM:SS UTC`);
  return Date.parse(`${match[1]}T${match[2]}Z`) / 1000;
}

/** Sessions with at least one cart or purchase event. */
function sessionsOf(rows: Record<string, string>[]): Map<string, Session> {
  const sessions = new Map<string, Session>();
  for (const row of rows) {
    const type = row['event_type'];
    if (type !== 'cart' && type !== 'purchase') continue;
    const id = row['user_session']!;
    assert.notEqual(id, '', `a ${type} event without session`);
    const session = sessions.get(id) ?? { userId: row['user_id']!, session: id, carts: [], cartProducts: [], purchases: [] };
    sessions.set(id, session);
    (type === 'cart' ? session.carts : session.purchases).push(utcSeconds(row['event_time']!));
    if (type === 'cart') session.cartProducts.push(row['product_id']!);
  }
  return sessions;
}

/**
 * Whether the suppression rules, applied to the file's event times, drop every cart event of
 * `session` because of an order placed at `placedAt`: the order lies between the cart's first
 * change and its release (last change + W), or every change lies within Q after the order.
 */
function suppressedBy(session: Session, placedAt: number): boolean {
  const first = Math.min(...session.carts);
  const last = Math.max(...session.carts);
  return (first <= placedAt && placedAt <= last + WINDOW_SECONDS) || session.carts.every((at) => placedAt <= at && at <= placedAt + WINDOW_SECONDS);
}

/** Released cart events of a session's cart, found by the session in the cart id. */
function cartEventsOf(person: StoredPerson | undefined, session: string): StoredPerson['events'] {
  return (person?.events ?? []).filter((event) => (event.name === 'cart_updated' || event.name === 'checkout_started') && String(event.data['cart_id']).endsWith(session));
}

describe('REES46 events through the whole pipeline', { timeout: 300_000 }, () => {
  let run: DemoRun;
  let sessions: Map<string, Session>;
  let people: StoredPerson[];
  let offset: bigint;
  const idOf = (userId: string) => (BigInt(userId) + offset).toString();
  // The loader's documented order id: 2^52 + the first 52 bits of SHA-256(session) + the id
  // offset. With the demo's offset it can exceed 2^53, so this also checks that ids stay exact.
  const orderIdOf = (session: string) => ((1n << 52n) + BigInt(`0x${createHash('sha256').update(session, 'utf8').digest('hex').slice(0, 13)}`) + offset).toString();

  before(async () => {
    requireDataFile(FILE);
    sessions = sessionsOf(readCsvRows(FILE, null));
    run = await runKeptDemo(['--rees46', FILE, '--drain-timeout-ms', '180000'], await freePort(), 270_000);
    assert.equal(run.code, 0, describeRun(run));
    assert.notEqual(run.summary, null, describeRun(run));
    assert.notEqual(run.idOffset, null, `the demo printed no --id-offset; ${describeRun(run)}`);
    offset = run.idOffset!;
    people = await standinPeople(run.standinUrl);
  });

  after(async () => {
    if (run?.summary) await stopKeptDemo(run.summary.keptPids);
  });

  it('drains with no dead letters', () => {
    assert.equal(run.summary!.drained, true);
    assert.equal(run.summary!.deadLetters.total, 0, JSON.stringify(run.summary!.deadLetters));
  });

  it('writes one order per purchase session', () => {
    const purchaseSessions = [...sessions.values()].filter((session) => session.purchases.length > 0).length;
    assert.equal(run.summary!.ordersWritten, purchaseSessions);
  });

  it('identifies every user with a cart or purchase event', () => {
    const users = new Set([...sessions.values()].map((session) => idOf(session.userId)));
    const identified = new Set(people.filter((person) => person.identified && person.id !== null && users.has(person.id)).map((person) => person.id));
    assert.equal(identified.size, users.size);
  });

  it('sends one order_placed per purchase session', () => {
    const byId = new Map(people.map((person) => [person.id, person]));
    const expected = new Map<string, { orderId: string; timestamp: number; quantity: number }[]>();
    for (const session of sessions.values()) {
      if (session.purchases.length === 0) continue;
      const list = expected.get(session.userId) ?? [];
      list.push({ orderId: orderIdOf(session.session), timestamp: Math.min(...session.purchases), quantity: session.purchases.length });
      expected.set(session.userId, list);
    }
    const order = (a: { orderId: string }, b: { orderId: string }) => a.orderId.localeCompare(b.orderId);
    let placed = 0;
    for (const [userId, want] of expected) {
      const person = byId.get(idOf(userId));
      assert.ok(person, `no person for user ${userId}`);
      const got = person.events
        .filter((event) => event.name === 'order_placed')
        .map((event) => ({
          orderId: event.data['order_id'] as string,
          timestamp: event.timestamp,
          quantity: (event.data['items'] as { quantity: number }[]).reduce((sum, item) => sum + item.quantity, 0),
        }));
      placed += got.length;
      assert.deepEqual(got.sort(order), want.sort(order), `order_placed events of user ${userId}`);
      assert.equal(person.attributes['total_orders'], want.length, `total_orders of user ${userId}`);
    }
    assert.equal(placed, [...sessions.values()].filter((session) => session.purchases.length > 0).length);
  });

  it('leaves cart-only users without orders', () => {
    const buyers = new Set([...sessions.values()].filter((session) => session.purchases.length > 0).map((session) => session.userId));
    const others = [...new Set([...sessions.values()].map((session) => session.userId))].filter((userId) => !buyers.has(userId));
    assert.ok(others.length > 0, 'the file has no user who only carted');
    const byId = new Map(people.map((person) => [person.id, person]));
    for (const userId of others) {
      const person = byId.get(idOf(userId));
      assert.ok(person, `no person for user ${userId}`);
      assert.equal(person.attributes['total_orders'], 0, `total_orders of user ${userId}`);
      assert.equal(person.events.filter((event) => event.name === 'order_placed').length, 0, `order_placed of user ${userId}`);
    }
  });

  // Cart events carry the cart row's business time and order_placed the file's placed_at, so
  // suppression decides on the file's own times. How many cart_updated events a session yields
  // depends on how the carts processor groups the loader's commits, so the check is per
  // released event: none of them may be one the rules drop.
  it('releases no suppressible cart event', () => {
    const byId = new Map(people.map((person) => [person.id, person]));
    const all = [...sessions.values()];
    const purchasesOf = new Map<string, number[]>();
    for (const session of all) purchasesOf.set(session.userId, [...(purchasesOf.get(session.userId) ?? []), ...session.purchases]);
    const converted = all.filter((session) => session.carts.length > 0 && session.purchases.length > 0 && suppressedBy(session, Math.min(...session.purchases)));
    assert.ok(converted.length >= 20, `only ${converted.length} converted sessions fall inside the window`);
    let silent = 0;
    for (const session of all.filter((candidate) => candidate.carts.length > 0)) {
      const released = cartEventsOf(byId.get(idOf(session.userId)), session.session);
      for (const event of released) {
        // A released event's timestamp is its newest change: an order within W after it falls
        // into the hold, and an order up to Q (= W) before it covers it with its quiet period.
        const cause = (purchasesOf.get(session.userId) ?? []).find(
          (placedAt) => (event.timestamp <= placedAt && placedAt <= event.timestamp + WINDOW_SECONDS) || (placedAt <= event.timestamp && event.timestamp <= placedAt + WINDOW_SECONDS),
        );
        assert.equal(cause, undefined, `${event.name} ${event.id} of session ${session.session} at ${event.timestamp} was released although a purchase at ${cause} suppresses it`);
      }
      if (converted.includes(session) && released.length === 0) silent += 1;
    }
    // Most converted sessions end with the purchase inside the hold of their last cart change.
    assert.ok(silent >= 20, `only ${silent} of ${converted.length} converted sessions released no cart event`);
  });

  it('releases each abandoned cart once', () => {
    const byId = new Map(people.map((person) => [person.id, person]));
    const all = [...sessions.values()];
    const abandoned = all.filter(
      (session) =>
        session.carts.length > 0 &&
        session.purchases.length === 0 &&
        !all.some((other) => other.userId === session.userId && other.purchases.length > 0 && suppressedBy(session, Math.min(...other.purchases))),
    );
    assert.ok(abandoned.length >= 40, `only ${abandoned.length} abandoned sessions`);
    for (const session of abandoned) {
      const events = cartEventsOf(byId.get(idOf(session.userId)), session.session);
      assert.deepEqual(
        events.map((event) => event.name),
        ['cart_updated'],
        `cart events released for abandoned session ${session.session}`,
      );
      const quantities = new Map<string, number>();
      for (const product of session.cartProducts) quantities.set(product, (quantities.get(product) ?? 0) + 1);
      const items = (events[0]!.data['items'] as { sku: string; quantity: number }[]).map((item) => [item.sku, item.quantity]);
      assert.deepEqual(
        items.sort(([a], [b]) => String(a).localeCompare(String(b))),
        [...quantities].sort(([a], [b]) => a.localeCompare(b)),
        `items of the released cart of session ${session.session}`,
      );
    }
  });
});
