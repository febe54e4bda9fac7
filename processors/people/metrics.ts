/**
 * Prometheus metrics of the people processor. They live in their own registry until `registerIn`
 * adds them to the runtime's registry, so /metrics serves them with the runtime's.
 */
import promClient from 'prom-client';
import type { Counter, Registry } from 'prom-client';

export class PeopleMetrics {
  /** Events sent without their customer's profile because the identify wait ran out. */
  readonly releasedUnidentified: Counter;

  constructor() {
    this.releasedUnidentified = new promClient.Counter({
      name: 'cio_cdc_people_events_released_unidentified_total',
      help: 'Events sent after waiting PEOPLE_IDENTIFY_WAIT_MS of stream time without the customers row',
      registers: [],
    });
  }

  registerIn(registry: Registry): void {
    registry.registerMetric(this.releasedUnidentified);
  }

  /** Current count, for tests and summaries. */
  async releasedUnidentifiedCount(): Promise<number> {
    const data = await this.releasedUnidentified.get();
    return data.values[0]?.value ?? 0;
  }
}
