/**
 * Temporal values of MySQL/MariaDB columns as Debezium encodes them, turned into exact values.
 *
 * - DATETIME has no zone. Debezium writes its wall-clock reading as if it were UTC (epoch ms for
 *   DATETIME(0-3), epoch µs for DATETIME(4-6), or ms in connect mode). It becomes an `Instant` by
 *   reading that wall clock in a configured zone (default UTC).
 * - TIMESTAMP is an instant. Debezium sends it as an ISO-8601 string already in UTC (`ZonedTimestamp`),
 *   so it is parsed without any zone shift.
 * - DATE is a day count since 1970-01-01 and becomes a `LocalDate`.
 * - TIME is a signed duration (MySQL allows -838:59:59 to 838:59:59) and becomes a `LocalTime`.
 */
import { DateTime, IANAZone } from 'luxon';

/** Debezium's `time.precision.mode`. */
export type TimePrecisionMode = 'adaptive' | 'adaptive_time_microseconds' | 'connect';

export const TIME_PRECISION_MODES: readonly TimePrecisionMode[] = ['adaptive', 'adaptive_time_microseconds', 'connect'];

const MICROS_PER_MILLI = 1000n;
const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400n * MICROS_PER_SECOND;

/** Division rounding toward negative infinity, so instants before 1970 floor correctly. */
function floorDiv(dividend: bigint, divisor: bigint): bigint {
  const quotient = dividend / divisor;
  return (dividend % divisor !== 0n) && ((dividend < 0n) !== (divisor < 0n)) ? quotient - 1n : quotient;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (civil-from-days inverse). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Proleptic Gregorian year, month (1-12) and day of a day count since 1970-01-01. */
export function civilFromDays(epochDay: number): { year: number; month: number; day: number } {
  const z = epochDay + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return { year, month, day };
}

function pad(value: number | bigint, width: number): string {
  return value.toString().padStart(width, '0');
}

/** Formats a year as ISO-8601 does: four digits, or a sign and six digits outside 0000-9999. */
function formatYear(year: number): string {
  if (year < 0) {
    return `-${pad(-year, 6)}`;
  }
  return year > 9999 ? `+${pad(year, 6)}` : pad(year, 4);
}

function formatFraction(micros: bigint): string {
  if (micros === 0n) {
    return '';
  }
  const text = pad(micros, 6);
  return `.${micros % 1000n === 0n ? text.slice(0, 3) : text}`;
}

/**
 * A point on the UTC time line with microsecond precision (the finest MySQL stores).
 * JSON-serialises as its ISO-8601 string.
 */
export class Instant {
  readonly epochMicros: bigint;

  private constructor(epochMicros: bigint) {
    this.epochMicros = epochMicros;
    Object.freeze(this);
  }

  static fromEpochMicros(epochMicros: bigint): Instant {
    return new Instant(epochMicros);
  }

  static fromEpochMillis(epochMillis: number | bigint): Instant {
    return new Instant(toBigInt(epochMillis, 'epoch milliseconds') * MICROS_PER_MILLI);
  }

  /** Whole seconds since the epoch, rounded down: the unit of Customer.io timestamps. */
  toUnixSeconds(): number {
    return Number(floorDiv(this.epochMicros, MICROS_PER_SECOND));
  }

  /** Whole milliseconds since the epoch, rounded down. */
  toUnixMillis(): number {
    return Number(floorDiv(this.epochMicros, MICROS_PER_MILLI));
  }

  /** Converts to a JavaScript Date, which keeps only millisecond precision. */
  toDate(): Date {
    return new Date(this.toUnixMillis());
  }

  /** ISO-8601 in UTC, with 3 or 6 fraction digits only when the sub-second part is non-zero. */
  toISOString(): string {
    const days = floorDiv(this.epochMicros, MICROS_PER_DAY);
    const microsOfDay = this.epochMicros - days * MICROS_PER_DAY;
    const { year, month, day } = civilFromDays(Number(days));
    const secondsOfDay = microsOfDay / MICROS_PER_SECOND;
    const hours = secondsOfDay / 3600n;
    const minutes = (secondsOfDay % 3600n) / 60n;
    const seconds = secondsOfDay % 60n;
    return `${formatYear(year)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}${formatFraction(microsOfDay % MICROS_PER_SECOND)}Z`;
  }

  toJSON(): string {
    return this.toISOString();
  }

  toString(): string {
    return this.toISOString();
  }

  equals(other: Instant): boolean {
    return this.epochMicros === other.epochMicros;
  }

  compare(other: Instant): number {
    if (this.epochMicros === other.epochMicros) {
      return 0;
    }
    return this.epochMicros < other.epochMicros ? -1 : 1;
  }
}

/** A calendar date without a zone (MySQL DATE). JSON-serialises as `YYYY-MM-DD`. */
export class LocalDate {
  readonly epochDay: number;
  readonly year: number;
  readonly month: number;
  readonly day: number;

  private constructor(epochDay: number) {
    const { year, month, day } = civilFromDays(epochDay);
    this.epochDay = epochDay;
    this.year = year;
    this.month = month;
    this.day = day;
    Object.freeze(this);
  }

  static fromEpochDay(epochDay: number): LocalDate {
    if (!Number.isSafeInteger(epochDay)) {
      throw new RangeError(`Day count ${epochDay} is not an integer`);
    }
    return new LocalDate(epochDay);
  }

  /** Parses `YYYY-MM-DD`. */
  static parse(text: string): LocalDate {
    const match = /^(-?\d{4,})-(\d{2})-(\d{2})$/.exec(text);
    if (match === null) {
      throw new TypeError(`${JSON.stringify(text)} is not a YYYY-MM-DD date`);
    }
    const date = new LocalDate(daysFromCivil(Number(match[1]), Number(match[2]), Number(match[3])));
    if (date.toString() !== text) {
      throw new RangeError(`${JSON.stringify(text)} is not a valid calendar date`);
    }
    return date;
  }

  /** Returns the instant this date starts in `zone` (an IANA name, default UTC). */
  startOfDay(zone = 'UTC'): Instant {
    return wallClockToInstant(BigInt(this.epochDay) * MICROS_PER_DAY, zone);
  }

  toString(): string {
    return `${formatYear(this.year)}-${pad(this.month, 2)}-${pad(this.day, 2)}`;
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: LocalDate): boolean {
    return this.epochDay === other.epochDay;
  }
}

/**
 * A MySQL TIME: a signed duration in microseconds, usually a time of day.
 * JSON-serialises as `[-]HH:MM:SS[.ffffff]`, where HH may exceed 23.
 */
export class LocalTime {
  readonly micros: number;

  private constructor(micros: number) {
    this.micros = micros;
    Object.freeze(this);
  }

  static fromMicros(micros: number | bigint): LocalTime {
    const value = Number(micros);
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`Time ${micros} µs is out of range`);
    }
    return new LocalTime(value);
  }

  /** Parses `[-]H+:MM:SS[.f{1,9}]`, dropping digits after the sixth fraction digit. */
  static parse(text: string): LocalTime {
    const match = /^(-)?(\d{1,3}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(text);
    if (match === null) {
      throw new TypeError(`${JSON.stringify(text)} is not an HH:MM:SS time`);
    }
    const micros = ((Number(match[2]) * 60 + Number(match[3])) * 60 + Number(match[4])) * 1_000_000 + Number((match[5] ?? '').padEnd(6, '0').slice(0, 6));
    return new LocalTime(match[1] === '-' ? -micros : micros);
  }

  toString(): string {
    const negative = this.micros < 0;
    const total = BigInt(Math.abs(this.micros));
    const seconds = total / MICROS_PER_SECOND;
    return `${negative ? '-' : ''}${pad(seconds / 3600n, 2)}:${pad((seconds % 3600n) / 60n, 2)}:${pad(seconds % 60n, 2)}${formatFraction(total % MICROS_PER_SECOND)}`;
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: LocalTime): boolean {
    return this.micros === other.micros;
  }
}

function toBigInt(value: number | bigint, label: string): bigint {
  if (typeof value === 'bigint') {
    return value;
  }
  if (!Number.isInteger(value)) {
    throw new TypeError(`${label} ${value} is not an integer`);
  }
  return BigInt(value);
}

/** Checks an IANA zone name such as `America/New_York` or `UTC`. */
export function isValidZone(zone: string): boolean {
  return zone === 'UTC' || IANAZone.isValidZone(zone);
}

/**
 * Reads a wall-clock reading (µs since 1970-01-01T00:00 on a zone-less clock) in `zone`.
 * Local times that a daylight-saving change skips or repeats are resolved as luxon does
 * (checked with luxon 3.7.2 in America/New_York: a skipped time moves forward by the gap, and a repeated
 * time resolves to its second occurrence).
 */
export function wallClockToInstant(wallMicros: bigint, zone: string): Instant {
  if (zone === 'UTC') {
    return Instant.fromEpochMicros(wallMicros);
  }
  const wallMillis = floorDiv(wallMicros, MICROS_PER_MILLI);
  const subMilliMicros = wallMicros - wallMillis * MICROS_PER_MILLI;
  const wall = DateTime.fromMillis(Number(wallMillis), { zone: 'utc' });
  const local = DateTime.fromObject(
    {
      year: wall.year,
      month: wall.month,
      day: wall.day,
      hour: wall.hour,
      minute: wall.minute,
      second: wall.second,
      millisecond: wall.millisecond,
    },
    { zone },
  );
  if (!local.isValid) {
    throw new RangeError(`Cannot place wall-clock time ${wall.toISO({ includeOffset: false })} in zone ${zone}: ${local.invalidReason ?? 'invalid'}`);
  }
  return Instant.fromEpochMicros(BigInt(local.toMillis()) * MICROS_PER_MILLI + subMilliMicros);
}

/** Unit of an integer DATETIME or TIME value. */
export type TemporalUnit = 'ms' | 'us' | 'ns';

/** Converts an epoch-based wall-clock number in `unit` to µs, rounding nanoseconds down. */
export function wallClockMicros(value: number | bigint, unit: TemporalUnit): bigint {
  const integer = toBigInt(value, 'Timestamp');
  switch (unit) {
    case 'ms':
      return integer * MICROS_PER_MILLI;
    case 'us':
      return integer;
    case 'ns':
      // MySQL stores at most microseconds, so for MySQL sources the dropped digits are always 000.
      return floorDiv(integer, 1000n);
  }
}

/** Unit Debezium uses for a DATETIME(precision) under `mode`. */
export function datetimeUnit(mode: TimePrecisionMode, precision: number | undefined): TemporalUnit {
  if (mode === 'connect') {
    return 'ms';
  }
  return (precision ?? 0) <= 3 ? 'ms' : 'us';
}

/** Unit Debezium uses for a TIME(precision) under `mode`. */
export function timeUnit(mode: TimePrecisionMode, precision: number | undefined): TemporalUnit {
  switch (mode) {
    case 'connect':
      return 'ms';
    case 'adaptive':
      return (precision ?? 0) <= 3 ? 'ms' : 'us';
    case 'adaptive_time_microseconds':
      return 'us';
  }
}

/** Converts a TIME value in `unit` since midnight. */
export function timeFromNumber(value: number | bigint, unit: TemporalUnit): LocalTime {
  return LocalTime.fromMicros(wallClockMicros(value, unit));
}

const ISO_DATE_TIME = /^(-?\d{4,})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses an ISO-8601 date-time. With a zone designator (`Z`, `+02:00`) it is an instant. Without
 * one it is a wall-clock reading and is placed in `zoneForLocal`. Digits after the sixth fraction
 * digit are dropped.
 */
export function parseIsoDateTime(text: string, zoneForLocal: string): Instant {
  const match = ISO_DATE_TIME.exec(text);
  if (match === null) {
    throw new TypeError(`${JSON.stringify(text)} is not an ISO-8601 date-time`);
  }
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, fractionText, offsetText] = match;
  const epochDay = daysFromCivil(Number(yearText), Number(monthText), Number(dayText));
  const secondsOfDay = (Number(hourText) * 60 + Number(minuteText)) * 60 + Number(secondText ?? '0');
  const fractionMicros = BigInt((fractionText ?? '').padEnd(6, '0').slice(0, 6));
  const wallMicros = BigInt(epochDay) * MICROS_PER_DAY + BigInt(secondsOfDay) * MICROS_PER_SECOND + fractionMicros;
  if (offsetText === undefined) {
    return wallClockToInstant(wallMicros, zoneForLocal);
  }
  if (offsetText === 'Z') {
    return Instant.fromEpochMicros(wallMicros);
  }
  const sign = offsetText.startsWith('-') ? -1n : 1n;
  const digits = offsetText.slice(1).replace(':', '');
  const offsetMinutes = BigInt(Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0'));
  return Instant.fromEpochMicros(wallMicros - sign * offsetMinutes * 60n * MICROS_PER_SECOND);
}
