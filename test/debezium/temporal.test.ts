import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createDebeziumDecoder } from '../../processors/debezium/decoder.ts';
import { ColumnValueInvalidError } from '../../processors/debezium/errors.ts';
import { Instant, LocalDate, LocalTime, parseIsoDateTime, wallClockToInstant } from '../../processors/debezium/temporal.ts';
import type { TimePrecisionMode } from '../../processors/debezium/temporal.ts';
import type { ColumnValue, TableHints } from '../../processors/debezium/types.ts';
import { asChange, envelope, envelopeSchema, jsonRecord } from './helpers.ts';

const NEW_YORK = 'America/New_York';

function instant(value: ColumnValue | undefined): Instant {
  assert.ok(value instanceof Instant, `expected an Instant, got ${String(value)}`);
  return value;
}

function temporalField(field: string, type: string, name: string, optional = false): Record<string, unknown> {
  return { field, type, optional, name, version: 1 };
}

/** Decodes one orders row with an embedded schema. */
async function decodeWithSchema(columns: Record<string, unknown>[], after: Record<string, unknown>, datetimeZone?: string) {
  const decoder = createDebeziumDecoder({ valueFormat: 'json', ...(datetimeZone === undefined ? {} : { datetimeZone }) });
  const record = jsonRecord({ schema: envelopeSchema('orders', columns), payload: envelope('orders', 'c', after) });
  return asChange(await decoder.decode(record)).after!;
}

/** Decodes one orders row without a schema, using hints. */
async function decodeWithHints(hints: TableHints, after: Record<string, unknown>, timePrecisionMode: TimePrecisionMode, datetimeZone = 'UTC') {
  const decoder = createDebeziumDecoder({ valueFormat: 'json', timePrecisionMode, datetimeZone, columnHints: { 'shop.orders': hints } });
  return asChange(await decoder.decode(jsonRecord(envelope('orders', 'c', after)))).after!;
}

const ORDER_COLUMNS = [
  { field: 'id', type: 'int64', optional: false },
  temporalField('placed_at', 'int64', 'io.debezium.time.Timestamp'),
  temporalField('paid_at', 'string', 'io.debezium.time.ZonedTimestamp', true),
  temporalField('updated_at', 'int64', 'io.debezium.time.MicroTimestamp'),
];
const ORDER_ROW = { id: 1001, placed_at: 1721035800000, paid_at: '2024-07-15T13:30:00Z', updated_at: 1721035800123456 };

describe('datetime and timestamp columns', () => {
  it('reads DATETIME in the configured zone', async () => {
    const row = await decodeWithSchema(ORDER_COLUMNS, ORDER_ROW, NEW_YORK);
    assert.equal(instant(row['placed_at']).toISOString(), '2024-07-15T13:30:00Z');
    assert.equal(instant(row['placed_at']).toUnixSeconds(), 1721050200);
  });

  it('reads TIMESTAMP without a second shift', async () => {
    const row = await decodeWithSchema(ORDER_COLUMNS, ORDER_ROW, NEW_YORK);
    assert.equal(instant(row['paid_at']).toUnixSeconds(), 1721050200);
  });

  it('reads DATETIME(6) microseconds', async () => {
    const row = await decodeWithSchema(ORDER_COLUMNS, ORDER_ROW, NEW_YORK);
    assert.equal(instant(row['updated_at']).toUnixSeconds(), 1721050200);
    assert.equal(instant(row['updated_at']).epochMicros, 1721050200123456n);
    assert.equal(instant(row['updated_at']).toISOString(), '2024-07-15T13:30:00.123456Z');
  });

  it('defaults the DATETIME zone to UTC', async () => {
    const row = await decodeWithSchema(ORDER_COLUMNS, ORDER_ROW);
    assert.equal(instant(row['placed_at']).toUnixSeconds(), 1721035800);
    assert.equal(instant(row['paid_at']).toUnixSeconds(), 1721050200);
  });

  it('reads nanosecond timestamps beyond 2^53', async () => {
    const row = await decodeWithSchema([temporalField('at', 'int64', 'io.debezium.time.NanoTimestamp')], { at: 1721035800123456789n }, NEW_YORK);
    assert.equal(instant(row['at']).epochMicros, 1721050200123456n);
  });

  it('reads connect-mode timestamps as milliseconds', async () => {
    const row = await decodeWithSchema([temporalField('placed_at', 'int64', 'org.apache.kafka.connect.data.Timestamp')], { placed_at: 1721035800123 }, NEW_YORK);
    assert.equal(instant(row['placed_at']).toUnixMillis(), 1721050200123);
  });

  it('reads zoned timestamps with fractions and offsets', () => {
    assert.equal(parseIsoDateTime('2024-07-15T13:30:00.5Z', 'UTC').epochMicros, 1721050200500000n);
    assert.equal(parseIsoDateTime('2024-07-15T09:30:00-04:00', 'UTC').toUnixSeconds(), 1721050200);
    assert.equal(parseIsoDateTime('2024-07-15T13:30:00.123456789Z', 'UTC').epochMicros, 1721050200123456n);
  });

  it('reads iso-string DATETIME in the zone', async () => {
    const row = await decodeWithSchema([temporalField('placed_at', 'string', 'io.debezium.time.IsoTimestamp')], { placed_at: '2024-07-15T09:30:00' }, NEW_YORK);
    assert.equal(instant(row['placed_at']).toUnixSeconds(), 1721050200);
  });

  it('rejects a malformed zoned timestamp', async () => {
    await assert.rejects(decodeWithSchema(ORDER_COLUMNS, { ...ORDER_ROW, paid_at: 'yesterday' }), (error: unknown) => {
      assert.ok(error instanceof ColumnValueInvalidError);
      assert.equal(error.column, 'shop.orders.paid_at');
      return true;
    });
  });
});

describe('datetime without schemas', () => {
  const hints: TableHints = {
    placed_at: { type: 'datetime', precision: 0 },
    paid_at: { type: 'timestamp' },
    updated_at: { type: 'datetime', precision: 6 },
  };

  for (const mode of ['adaptive', 'adaptive_time_microseconds'] as const) {
    it(`reads DATETIME(6) as microseconds in ${mode}`, async () => {
      const row = await decodeWithHints(hints, ORDER_ROW, mode, NEW_YORK);
      assert.equal(instant(row['placed_at']).toUnixSeconds(), 1721050200);
      assert.equal(instant(row['paid_at']).toUnixSeconds(), 1721050200);
      assert.equal(instant(row['updated_at']).toUnixSeconds(), 1721050200);
      assert.equal(instant(row['updated_at']).epochMicros, 1721050200123456n);
    });
  }

  it('reads DATETIME(6) as milliseconds in connect', async () => {
    const row = await decodeWithHints(hints, { ...ORDER_ROW, updated_at: 1721035800123 }, 'connect', NEW_YORK);
    assert.equal(instant(row['updated_at']).toUnixMillis(), 1721050200123);
    assert.equal(instant(row['placed_at']).toUnixSeconds(), 1721050200);
  });
});

describe('date and time columns', () => {
  it('reads DATE day counts', async () => {
    const row = await decodeWithSchema([temporalField('delivery_date', 'int32', 'io.debezium.time.Date')], { delivery_date: 19919 });
    assert.ok(row['delivery_date'] instanceof LocalDate);
    assert.equal(String(row['delivery_date']), '2024-07-15');
  });

  it('reads connect DATE day counts', async () => {
    const row = await decodeWithSchema([temporalField('delivery_date', 'int32', 'org.apache.kafka.connect.data.Date')], { delivery_date: 19919 });
    assert.equal(String(row['delivery_date']), '2024-07-15');
  });

  it('reads hinted DATE without schema', async () => {
    const row = await decodeWithHints({ delivery_date: { type: 'date' } }, { delivery_date: 19919 }, 'adaptive_time_microseconds');
    assert.equal(String(row['delivery_date']), '2024-07-15');
  });

  it('reads TIME under each schema name', async () => {
    const row = await decodeWithSchema(
      [
        temporalField('t_adaptive', 'int32', 'io.debezium.time.Time'),
        temporalField('t_micro', 'int64', 'io.debezium.time.MicroTime'),
        temporalField('t_nano', 'int64', 'io.debezium.time.NanoTime'),
        temporalField('t_connect', 'int32', 'org.apache.kafka.connect.data.Time'),
      ],
      { t_adaptive: 34200000, t_micro: 34200123456, t_nano: 34200123456000, t_connect: 34200000 },
    );
    assert.equal(String(row['t_adaptive']), '09:30:00');
    assert.equal(String(row['t_micro']), '09:30:00.123456');
    assert.equal(String(row['t_nano']), '09:30:00.123456');
    assert.equal(String(row['t_connect']), '09:30:00');
  });

  it('reads hinted TIME in every precision mode', async () => {
    const hints: TableHints = { opens_at: { type: 'time', precision: 0 } };
    const adaptive = await decodeWithHints(hints, { opens_at: 34200000 }, 'adaptive');
    const micro = await decodeWithHints(hints, { opens_at: 34200000000 }, 'adaptive_time_microseconds');
    const connect = await decodeWithHints(hints, { opens_at: 34200000 }, 'connect');
    assert.equal(String(adaptive['opens_at']), '09:30:00');
    assert.equal(String(micro['opens_at']), '09:30:00');
    assert.equal(String(connect['opens_at']), '09:30:00');
  });

  it('keeps TIME beyond 24 hours and negative', () => {
    assert.equal(LocalTime.fromMicros(-3_020_399_000_000).toString(), '-838:59:59');
    assert.equal(LocalTime.parse('100:00:01.5').micros, 360_001_500_000);
  });

  it('keeps zoned TIME text', async () => {
    const row = await decodeWithSchema([temporalField('opens_at', 'string', 'io.debezium.time.ZonedTime')], { opens_at: '13:30:00Z' });
    assert.equal(row['opens_at'], '13:30:00Z');
  });

  it('reads the year column as a number', async () => {
    const row = await decodeWithSchema([temporalField('model_year', 'int32', 'io.debezium.time.Year')], { model_year: 2024 });
    assert.equal(row['model_year'], 2024);
  });
});

describe('instants', () => {
  it('floors seconds before 1970', () => {
    const before = Instant.fromEpochMicros(-1n);
    assert.equal(before.toUnixSeconds(), -1);
    assert.equal(before.toISOString(), '1969-12-31T23:59:59.999999Z');
  });

  it('moves a skipped local time forward', () => {
    // 2024-03-10 02:30 does not exist in New York, because clocks jump from 02:00 EST to 03:00 EDT.
    const wall = BigInt(Date.UTC(2024, 2, 10, 2, 30)) * 1000n;
    assert.equal(wallClockToInstant(wall, NEW_YORK).toISOString(), '2024-03-10T07:30:00Z');
  });

  it('resolves a repeated local time to standard time', () => {
    // 2024-11-03 01:30 happens twice in New York, and the second one (EST, UTC-5) is chosen.
    const wall = BigInt(Date.UTC(2024, 10, 3, 1, 30)) * 1000n;
    assert.equal(wallClockToInstant(wall, NEW_YORK).toISOString(), '2024-11-03T06:30:00Z');
  });

  it('serialises to ISO text in JSON', () => {
    assert.equal(JSON.stringify({ at: Instant.fromEpochMillis(1721050200000) }), '{"at":"2024-07-15T13:30:00Z"}');
  });

  it('rejects an unknown zone at construction', () => {
    assert.throws(() => createDebeziumDecoder({ valueFormat: 'json', datetimeZone: 'Mars/Olympus' }), /datetimeZone/);
  });
});
