/**
 * Checks of an outbox record against Customer.io's Track API limits, made before it is sent. A
 * bad record then goes to the DLQ with a precise reason. Otherwise it would fail at Customer.io
 * or, worse, be accepted and misread (an email-shaped id, a timestamp in milliseconds).
 *
 * Sizes are UTF-8 bytes. The limits are Customer.io's documented ones for Track API v1 and v2;
 * every issue names the field it is about.
 */

import { ValidationError, type ValidationIssue } from './errors.ts';
import { isUlid } from './event-id.ts';
import { isPlainObject, quote, type OutboxRecord } from './records.ts';

export interface TrackLimits {
  /** Person id in the path or identifiers. */
  maxIdBytes: number;
  maxAttributeNameBytes: number;
  /** One attribute value: the string itself, or the JSON text of any other value. */
  maxAttributeValueBytes: number;
  maxAttributesPerCall: number;
  maxEventNameBytes: number;
  /** The JSON text of the event data object. */
  maxEventDataBytes: number;
}

export const DEFAULT_TRACK_LIMITS: Readonly<TrackLimits> = Object.freeze({
  maxIdBytes: 150,
  maxAttributeNameBytes: 150,
  maxAttributeValueBytes: 1000,
  maxAttributesPerCall: 300,
  maxEventNameBytes: 100,
  maxEventDataBytes: 100_000,
});

/** One convention for event names, so `Order Placed` and `order_placed` cannot both exist. */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/**
 * Largest accepted unix-seconds value: 9,999,999,999 (the year 2286). A millisecond value of
 * today has 13 digits and a microsecond value 16, so both are above it. Smaller values down to 0
 * are accepted because 9-digit seconds are real dates before September 2001.
 */
export const MAX_UNIX_SECONDS = 9_999_999_999;

/** Attribute names the client sets itself or that would change who the person is. */
const RESERVED_ATTRIBUTES = new Map([
  ['_timestamp', 'is set by the client from the record timestamp'],
  ['cio_id', 'would address another person; identify people by customerId only'],
]);

/** Returns every issue Customer.io would reject or misread in `record`; an empty list means valid. */
export function validateRecord(record: OutboxRecord, limits: Readonly<TrackLimits> = DEFAULT_TRACK_LIMITS): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  issues.push(...validatePersonId(record.customerId, limits));
  issues.push(...validateTimestamp(record.timestamp, 'timestamp'));

  if (record.kind === 'identify') {
    issues.push(...validateAttributes(record.attributes, record.customerId, limits));
  } else {
    issues.push(...validateEventName(record.name, limits));
    if (!isUlid(record.id)) {
      issues.push({
        field: 'id',
        reason: 'not_ulid',
        message: `event id ${quote(String(record.id))} is not a ULID (26 Crockford base32 characters, the first 0-7); derive it with deriveEventId`,
      });
    }
    issues.push(...validateEventData(record.data, limits));
  }
  return issues;
}

/** Throws ValidationError listing every issue unless `record` is valid. */
export function assertValidRecord(record: OutboxRecord, limits: Readonly<TrackLimits> = DEFAULT_TRACK_LIMITS): void {
  const issues = validateRecord(record, limits);
  if (issues.length > 0) throw new ValidationError(issues, { key: record.customerId });
}

/**
 * Checks a person id. Customer.io infers the identifier type from the value's shape, so an
 * email-shaped id would address a person by email and a `cio_` prefix a person by cio_id.
 */
export function validatePersonId(id: unknown, limits: Readonly<TrackLimits> = DEFAULT_TRACK_LIMITS): ValidationIssue[] {
  const field = 'customerId';
  if (typeof id !== 'string') return [{ field, reason: 'invalid_type', message: 'customerId must be a string' }];
  if (id.trim() === '') return [{ field, reason: 'blank', message: 'customerId must not be empty or blank' }];

  const issues: ValidationIssue[] = [];
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > limits.maxIdBytes) {
    issues.push({ field, reason: 'too_long', message: `customerId is ${bytes} bytes, more than the limit of ${limits.maxIdBytes} bytes` });
  }
  if (looksLikeEmail(id)) {
    issues.push({
      field,
      reason: 'email_shaped',
      message: 'customerId contains "@", so Customer.io would read it as an email address; key people by the immutable database id and send email as an attribute',
    });
  }
  if (id.toLowerCase().startsWith('cio_')) {
    issues.push({
      field,
      reason: 'cio_prefix',
      message: `customerId ${quote(id)} starts with "cio_", so Customer.io would read it as a cio_id; use the database id`,
    });
  }
  return issues;
}

/**
 * Returns true when Customer.io could take `value` for an email address. Any "@" counts: the
 * exact rule Customer.io applies is not documented, and rejecting a rare id is safer than
 * addressing the wrong person.
 */
export function looksLikeEmail(value: string): boolean {
  return value.includes('@');
}

/** Returns true for an integer number of unix seconds (0 up to MAX_UNIX_SECONDS). */
export function isUnixSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_UNIX_SECONDS;
}

/** Checks that `value` is an integer of unix seconds; names milliseconds, microseconds and ISO strings. */
export function validateTimestamp(value: unknown, field: string): ValidationIssue[] {
  if (isUnixSeconds(value)) return [];

  let found: string;
  if (typeof value === 'string') {
    found = /^\d{4}-\d{2}-\d{2}/.test(value) ? 'an ISO date string' : 'a string';
  } else if (typeof value === 'number' && Number.isInteger(value) && value > MAX_UNIX_SECONDS) {
    const digits = String(value).length;
    let unit = 'an unknown unit';
    if (digits >= 13) unit = 'milliseconds';
    if (digits >= 16) unit = 'microseconds';
    found = `${value} (${digits} digits, looks like ${unit})`;
  } else if (typeof value === 'number') {
    found = Number.isInteger(value) ? `the negative number ${value}` : `the fraction ${value}`;
  } else {
    found = value === null ? 'null' : `a ${typeof value}`;
  }
  return [
    {
      field,
      reason: 'not_unix_seconds',
      message: `${field} must be an integer of unix seconds (at most 10 digits), got ${found}; convert it at decode time`,
    },
  ];
}

function validateAttributes(attributes: unknown, customerId: string, limits: Readonly<TrackLimits>): ValidationIssue[] {
  if (!isPlainObject(attributes)) {
    return [{ field: 'attributes', reason: 'invalid_type', message: 'attributes must be an object' }];
  }

  const issues: ValidationIssue[] = [];
  const names = Object.keys(attributes);
  if (names.length > limits.maxAttributesPerCall) {
    issues.push({
      field: 'attributes',
      reason: 'too_many',
      message: `identify has ${names.length} attributes, more than the limit of ${limits.maxAttributesPerCall} per call; split it into several identify records`,
    });
  }

  for (const name of names) {
    const value = attributes[name];
    const field = `attributes.${name}`;

    const nameBytes = Buffer.byteLength(name, 'utf8');
    if (name.trim() === '') {
      issues.push({ field, reason: 'blank', message: 'attribute name must not be empty or blank' });
    } else if (nameBytes > limits.maxAttributeNameBytes) {
      issues.push({
        field: `attributes.${name.slice(0, 40)}…`,
        reason: 'name_too_long',
        message: `attribute name is ${nameBytes} bytes, more than the limit of ${limits.maxAttributeNameBytes} bytes`,
      });
      continue;
    }

    const reserved = RESERVED_ATTRIBUTES.get(name);
    if (reserved !== undefined) {
      issues.push({ field, reason: 'reserved', message: `attribute ${name} ${reserved}` });
      continue;
    }
    if (name === 'id' && value !== customerId) {
      issues.push({
        field,
        reason: 'id_mismatch',
        message: 'attribute id differs from customerId, which Customer.io would read as an id change; remove it',
      });
      continue;
    }

    const jsonProblem = findNonJsonValue(value);
    if (jsonProblem !== undefined) {
      issues.push({ field, reason: 'invalid_type', message: `attribute ${name} ${jsonProblem}` });
      continue;
    }

    const valueBytes = typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : Buffer.byteLength(JSON.stringify(value), 'utf8');
    if (valueBytes > limits.maxAttributeValueBytes) {
      issues.push({
        field,
        reason: 'value_too_long',
        message: `value for attribute ${name} is ${valueBytes} bytes, more than the limit of ${limits.maxAttributeValueBytes} bytes`,
      });
    }

    // NOTE: null is allowed for *_at attributes so a processor can clear a date.
    if (name.endsWith('_at') && value !== null) issues.push(...validateTimestamp(value, field));
  }
  return issues;
}

function validateEventName(name: unknown, limits: Readonly<TrackLimits>): ValidationIssue[] {
  const field = 'name';
  if (typeof name !== 'string') return [{ field, reason: 'invalid_type', message: 'event name must be a string' }];
  if (name.trim() === '') return [{ field, reason: 'blank', message: 'event name must not be blank' }];

  const issues: ValidationIssue[] = [];
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > limits.maxEventNameBytes) {
    issues.push({ field, reason: 'too_long', message: `event name is ${bytes} bytes, more than the limit of ${limits.maxEventNameBytes} bytes` });
  }
  if (!EVENT_NAME_PATTERN.test(name)) {
    issues.push({
      field,
      reason: 'not_snake_case',
      message: `event name ${quote(name)} is not snake_case (lower-case letters and digits joined by single underscores)`,
    });
  }
  return issues;
}

function validateEventData(data: unknown, limits: Readonly<TrackLimits>): ValidationIssue[] {
  const field = 'data';
  if (!isPlainObject(data)) return [{ field, reason: 'invalid_type', message: 'event data must be an object' }];

  const jsonProblem = findNonJsonValue(data);
  if (jsonProblem !== undefined) return [{ field, reason: 'invalid_type', message: `event data ${jsonProblem}` }];

  const bytes = Buffer.byteLength(JSON.stringify(data), 'utf8');
  if (bytes > limits.maxEventDataBytes) {
    return [{ field, reason: 'too_long', message: `event data is ${bytes} bytes of JSON, more than the limit of ${limits.maxEventDataBytes} bytes` }];
  }
  return [];
}

/** Describes the first value that JSON would drop or change (undefined, NaN, Infinity, bigint, functions). */
function findNonJsonValue(value: unknown, path = ''): string | undefined {
  const where = path === '' ? '' : ` at ${path}`;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `contains the non-finite number ${value}${where}`;
    case 'object': {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        for (const [index, item] of value.entries()) {
          const problem = findNonJsonValue(item, `${path}[${index}]`);
          if (problem !== undefined) return problem;
        }
        return undefined;
      }
      if (!isPlainObject(value)) return `contains a non-plain object${where}`;
      for (const [key, item] of Object.entries(value)) {
        const problem = findNonJsonValue(item, path === '' ? key : `${path}.${key}`);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    default:
      return `contains a ${typeof value}${where}, which JSON cannot carry`;
  }
}
