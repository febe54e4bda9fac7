/**
 * Prometheus metrics of the transactions processor. They live in their own registry until
 * `registerIn` adds them to the runtime's registry, so /metrics serves them with the runtime's.
 */
import promClient from 'prom-client';
import type { Counter, Registry } from 'prom-client';

import type { DropReason } from './process.ts';
import type { CountedCollection } from './records.ts';

export class TransactionsMetrics {
  /** Change events without a transaction block: snapshot reads, or a connector without metadata. */
  readonly untracked: Counter<'table'>;
  /** Transactions dropped without output, by reason. */
  readonly dropped: Counter<'reason'>;

  constructor() {
    this.untracked = new promClient.Counter({
      name: 'cio_cdc_transactions_untracked_records_total',
      help: 'Change events of the orders and order_items tables without a transaction block, ignored',
      labelNames: ['table'],
      registers: [],
    });
    this.dropped = new promClient.Counter({
      name: 'cio_cdc_transactions_dropped_total',
      help: 'Transactions dropped without output: expired before their counts matched END, or counted past END',
      labelNames: ['reason'],
      registers: [],
    });
    for (const reason of ['expired', 'overcounted'] satisfies DropReason[]) {
      this.dropped.inc({ reason }, 0);
    }
  }

  countUntracked(table: CountedCollection): void {
    this.untracked.inc({ table });
  }

  countDropped(reason: DropReason): void {
    this.dropped.inc({ reason });
  }

  registerIn(registry: Registry): void {
    registry.registerMetric(this.untracked);
    registry.registerMetric(this.dropped);
  }
}
