/**
 * Data flow of the Customer.io sink.
 *
 *   cio.outbox ──(consumer group cio-cdc-sink, read_committed, earliest for a new group)
 *      │
 *      ├─ tombstone ─────────────────────────────────────────────── done (skipped)
 *      ├─ not an outbox record ──► cio.outbox.dlq + cio.delivery-log  done (rejected)
 *      ├─ event older than the backfill horizon, guard `skip` ──► cio.delivery-log  done (skipped)
 *      └─ outbox record (an old event marked `"backfill": true` with guard `mark`) ──► TrackClient.send
 *             ├─ delivered ──────────────► cio.delivery-log           done
 *             ├─ rejected  ──► cio.outbox.dlq + cio.delivery-log      done
 *             ├─ retriable ──► wait (heartbeating) or pause the partition, send again
 *             └─ 401/403   ──► stop: pause everything, not ready, alert
 *
 * Commit order for one partition, after each send round:
 *   1. Take the contiguous prefix of done records from the first uncommitted offset.
 *   2. Produce their dead letters and delivery-log records and await the acks.
 *   3. Check the partition is still ours (no rebalance, not stopping, no auth failure).
 *   4. Commit last done offset + 1.
 * A record after the first undone one is never committed, even when it was delivered: it is sent
 * again after the wait, which is harmless because event ids make repeats no-ops.
 */

import { OUTBOX_TOPIC } from '../records.ts';

export const SINK_TOPOLOGY = Object.freeze({
  name: 'customerio-sink',
  source: { topic: OUTBOX_TOPIC, key: 'customerId', value: 'outbox record (records.ts)' },
  steps: Object.freeze(['decode', 'backfill-guard', 'send', 'dead-letter', 'delivery-log', 'commit'] as const),
  sinks: Object.freeze({
    customerio: 'Track API through TrackClient',
    deadLetter: `${OUTBOX_TOPIC}.dlq`,
    deliveryLog: 'cio.delivery-log',
  }),
  stores: Object.freeze([] as string[]),
});
