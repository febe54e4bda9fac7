/**
 * The backfill guard. Customer.io triggers campaigns only for events whose timestamp lies within
 * the last 72 hours of their arrival. Older events update segments but start no journey. The
 * guard finds events older than a horizon when the sink takes them up for delivery:
 *
 *   CIO_BACKFILL_GUARD          off    what happens to such events (see below)
 *   CIO_BACKFILL_HORIZON_HOURS  72     age, in hours, past which an event counts as backfill
 *
 * - off: they are sent as they are.
 * - mark: they are sent with `"backfill": true` in the event data.
 * - skip: they are not sent. A delivery-log record with status `skipped` takes their place, and
 *   the offset commits.
 *
 * The age is the wall clock at delivery minus the event's timestamp. Identify records are never
 * marked or skipped, because an attribute update is worth sending whatever its age. The data key
 * has the name of the outbox records' `backfill` origin.
 */
import type { Environment } from '../config.ts';
import type { EventRecord, OutboxRecord } from '../records.ts';

export const BACKFILL_GUARD_MODES = ['off', 'mark', 'skip'] as const;
export type BackfillGuardMode = (typeof BACKFILL_GUARD_MODES)[number];

export interface BackfillGuardConfig {
  readonly mode: BackfillGuardMode;
  /** Age past which an event counts as backfill, in hours. */
  readonly horizonHours: number;
}

/** Customer.io's campaign-trigger window for backdated events, in hours. */
export const DEFAULT_BACKFILL_HORIZON_HOURS = 72;

export const BACKFILL_GUARD_DEFAULTS: BackfillGuardConfig = Object.freeze({ mode: 'off', horizonHours: DEFAULT_BACKFILL_HORIZON_HOURS });

/** Key set to true in the data of a marked event. */
export const BACKFILL_DATA_KEY = 'backfill';

/** Delivery-log reason of a skipped event. */
export const BACKFILL_SKIP_REASON = 'backfill_horizon_exceeded';

export const BACKFILL_CONFIG_KEYS = Object.freeze([
  { variable: 'CIO_BACKFILL_GUARD', default: 'off', unit: BACKFILL_GUARD_MODES.join('|') },
  { variable: 'CIO_BACKFILL_HORIZON_HOURS', default: String(DEFAULT_BACKFILL_HORIZON_HOURS), unit: 'hours' },
] as const);

const HOUR_MS = 3_600_000;

/** Parses CIO_BACKFILL_GUARD and CIO_BACKFILL_HORIZON_HOURS. `invalid` builds the caller's config error. */
export function parseBackfillGuard(env: Environment, invalid: (variable: string, message: string) => Error): BackfillGuardConfig {
  const modeText = (env['CIO_BACKFILL_GUARD']?.trim() || 'off').toLowerCase();
  const mode = BACKFILL_GUARD_MODES.find((candidate) => candidate === modeText);
  if (mode === undefined) {
    throw invalid('CIO_BACKFILL_GUARD', `must be one of ${BACKFILL_GUARD_MODES.join(', ')}, got ${JSON.stringify(env['CIO_BACKFILL_GUARD'])}`);
  }
  const hoursText = env['CIO_BACKFILL_HORIZON_HOURS']?.trim() ?? '';
  let horizonHours = DEFAULT_BACKFILL_HORIZON_HOURS;
  if (hoursText !== '') {
    horizonHours = Number(hoursText);
    if (!/^\d+$/.test(hoursText) || !Number.isSafeInteger(horizonHours) || horizonHours < 1) {
      throw invalid('CIO_BACKFILL_HORIZON_HOURS', `must be a whole number of hours, at least 1, got ${JSON.stringify(env['CIO_BACKFILL_HORIZON_HOURS'])}`);
    }
  }
  return Object.freeze({ mode, horizonHours });
}

export type BackfillDecision =
  | { readonly action: 'send' }
  | { readonly action: 'mark' | 'skip'; readonly ageMs: number };

const SEND: BackfillDecision = Object.freeze({ action: 'send' });

/** Decides what the guard does with `record` at `nowMs` (epoch ms). */
export function backfillDecision(record: OutboxRecord, nowMs: number, guard: BackfillGuardConfig): BackfillDecision {
  if (guard.mode === 'off' || record.kind !== 'event') {
    return SEND;
  }
  const ageMs = nowMs - record.timestamp * 1000;
  if (ageMs <= guard.horizonHours * HOUR_MS) {
    return SEND;
  }
  return { action: guard.mode, ageMs };
}

/** Returns a copy of `record` whose data carries `"backfill": true`. */
export function markBackfill(record: EventRecord): EventRecord {
  return { ...record, data: { ...record.data, [BACKFILL_DATA_KEY]: true } };
}
