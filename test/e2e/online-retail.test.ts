// End to end on the Online Retail slice: `npm run demo -- --online-retail FILE` loads the first
// rows through MySQL, Debezium, the processors and the sink into a kept stand-in; every person
// and every order event the stand-in stores is compared with expectations computed from the CSV
// file alone (test/support/online-retail-expected.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { expectedAttributes, expectedCustomers, expectedOrderPlaced, orderPlacedShape } from '../support/online-retail-expected.ts';
import type { ExpectedCustomer } from '../support/online-retail-expected.ts';
import { dataDir, describeRun, freePort, getJson, readCsvRows, requireDataFile, runKeptDemo, standinPeople, stopKeptDemo } from './support.ts';
import type { DemoRun, StoredPerson } from './support.ts';

const FILE = join(dataDir, 'online_retail_slice/online_retail_slice.csv');
/** File rows loaded: enough for several customers with many orders, refunds and refund-only customers. */
const LIMIT_ROWS = 3000;

describe('online retail through the whole pipeline', { timeout: 300_000 }, () => {
  let run: DemoRun;
  let expected: Map<string, ExpectedCustomer>;
  let offset: bigint;
  let people: StoredPerson[];
  const idOf = (csvId: string) => (BigInt(csvId) + offset).toString();

  before(async () => {
    requireDataFile(FILE);
    expected = expectedCustomers(readCsvRows(FILE, LIMIT_ROWS));
    run = await runKeptDemo(['--online-retail', FILE, '--limit', String(LIMIT_ROWS), '--suppression-window-ms', '5000', '--drain-timeout-ms', '180000'], await freePort(), 260_000);
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

  it('loads the orders and refunds of the rows', () => {
    const orders = [...expected.values()].reduce((sum, customer) => sum + customer.orders.length, 0);
    const refunds = [...expected.values()].reduce((sum, customer) => sum + customer.refunds.length, 0);
    assert.equal(run.summary!.load['rowsRead'], LIMIT_ROWS);
    assert.equal(run.summary!.load['orders'], orders);
    assert.equal(run.summary!.load['refunds'], refunds);
    assert.equal(run.summary!.load['customers'], expected.size);
  });

  it('identifies every customer, refund-only included', () => {
    const low = offset + 1n;
    const high = offset + 10n ** 6n;
    const ofRun = people.filter((person) => person.id !== null && /^\d+$/.test(person.id) && BigInt(person.id) >= low && BigInt(person.id) < high);
    assert.deepEqual(ofRun.map((person) => person.id).sort(), [...expected.keys()].map(idOf).sort());
    for (const person of ofRun) assert.equal(person.identified, true, `person ${person.id} holds events but was never identified`);
    const refundOnly = [...expected.values()].filter((customer) => customer.orders.length === 0);
    assert.ok(refundOnly.length > 0, 'the rows read hold no refund-only customer; raise the row limit');
  });

  it('sends attributes computed from the file', async () => {
    for (const customer of expected.values()) {
      const { status, body } = await getJson<StoredPerson>(`${run.standinUrl}/_admin/people/${idOf(customer.customerId)}`);
      assert.equal(status, 200, `no person ${idOf(customer.customerId)} (file customer ${customer.customerId})`);
      assert.deepEqual(body.attributes, expectedAttributes(customer), `attributes of file customer ${customer.customerId}`);
    }
  });

  it('sends one order_placed per sale invoice', () => {
    const byId = new Map(people.map((person) => [person.id, person]));
    for (const customer of expected.values()) {
      const person = byId.get(idOf(customer.customerId));
      assert.ok(person, `no person for file customer ${customer.customerId}`);
      const placed = person.events
        .filter((event) => event.name === 'order_placed')
        .map(orderPlacedShape)
        .sort((a, b) => String(a.orderId).localeCompare(String(b.orderId)));
      assert.deepEqual(placed, expectedOrderPlaced(customer, idOf), `order_placed events of file customer ${customer.customerId}`);
    }
  });

  it('sends one refund_created per cancellation', () => {
    const byId = new Map(people.map((person) => [person.id, person]));
    for (const customer of expected.values()) {
      const refunds = byId
        .get(idOf(customer.customerId))!
        .events.filter((event) => event.name === 'refund_created')
        .map((event) => Number(event.data['amount']))
        .sort((a, b) => a - b);
      assert.deepEqual(refunds, customer.refunds.map((refund) => refund.amount.toNumber()).sort((a, b) => a - b), `refund_created amounts of file customer ${customer.customerId}`);
    }
  });
});
