/**
 * Prometheus metrics of the suppression processor. They live in their own registry until
 * `registerIn` adds them to the runtime's registry, so /metrics serves them with the runtime's.
 */
import promClient from 'prom-client';
import type { Counter, Gauge, Registry } from 'prom-client';

import { DECISIONS } from './records.ts';
import type { DecisionKind } from './records.ts';

export class SuppressionMetrics {
  readonly decisions: Counter<'decision'>;
  /** Held events whose deadline is behind the wall clock by more than the lateness bound, per task. */
  readonly heldPastWindow: Gauge<'task'>;

  constructor() {
    this.decisions = new promClient.Counter({
      name: 'cio_cdc_suppression_decisions_total',
      help: 'Suppression decisions by kind: held, coalesced, released, suppressed, passed',
      labelNames: ['decision'],
      registers: [],
    });
    this.heldPastWindow = new promClient.Gauge({
      name: 'cio_cdc_suppression_held_past_window',
      help: 'Held cart events whose release time is behind the wall clock by more than the timer lateness bound',
      labelNames: ['task'],
      registers: [],
    });
    for (const decision of DECISIONS) {
      this.decisions.inc({ decision }, 0);
    }
  }

  count(decision: DecisionKind): void {
    this.decisions.inc({ decision });
  }

  registerIn(registry: Registry): void {
    registry.registerMetric(this.decisions);
    registry.registerMetric(this.heldPastWindow);
  }

  /** Current count of one decision kind, for tests and summaries. */
  async value(decision: DecisionKind): Promise<number> {
    const data = await this.decisions.get();
    return data.values.find((entry) => entry.labels.decision === decision)?.value ?? 0;
  }
}
