/**
 * Customer.io Track API limits as the stand-in enforces them, with Customer.io's error texts where
 * Customer.io documents one. Sizes are UTF-8 bytes.
 *
 * NOTE: Customer.io documents no text for an over-long id or a non-ULID event id, and no v2
 * `reason` values. Those texts and reasons are the stand-in's own.
 */

export const LIMITS = Object.freeze({
  idBytes: 150,
  attributeNameBytes: 150,
  attributeValueBytes: 1000,
  attributesPerCall: 300,
  eventNameBytes: 100,
  eventDataBytes: 100_000,
  // "Under 500 KB" and "32 KB", read as 1000-byte KB so the stand-in is at least as strict as Customer.io.
  batchBytes: 500_000,
  itemBytes: 32_000,
  entityBytes: 32_000,
  /** Largest unix-seconds value accepted as a timestamp: 9,999,999,999 (10 digits). */
  maxUnixSeconds: 9_999_999_999,
});

/** Attributes that steer the call instead of being stored on the person. */
export const CONTROL_ATTRIBUTES = new Set(['_timestamp', '_update']);

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export interface LimitViolation {
  field: string;
  reason: string;
  message: string;
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Checks a person id taken from the path or from v2 identifiers. */
export function checkPersonId(id: unknown): LimitViolation[] {
  if (id === undefined || id === null) return [{ field: 'id', reason: 'required', message: 'id attribute must be present' }];
  if (typeof id !== 'string') return [{ field: 'id', reason: 'invalid', message: 'id attribute must be a string' }];
  if (id === '') return [{ field: 'id', reason: 'required', message: 'id attribute cannot be an empty string' }];
  if (utf8Bytes(id) > LIMITS.idBytes) {
    return [{ field: 'id', reason: 'too_long', message: `id cannot be longer than ${LIMITS.idBytes} bytes` }];
  }
  return [];
}

/** Checks the attributes of one identify call. `fieldPrefix` is `attributes.` for v2 items. */
export function checkAttributes(attributes: Record<string, unknown>, fieldPrefix = ''): LimitViolation[] {
  const violations: LimitViolation[] = [];
  const names = Object.keys(attributes).filter((name) => !CONTROL_ATTRIBUTES.has(name));
  if (names.length > LIMITS.attributesPerCall) {
    violations.push({
      field: fieldPrefix === '' ? 'attributes' : fieldPrefix.slice(0, -1),
      reason: 'too_many',
      message: `cannot identify more than ${LIMITS.attributesPerCall} attributes in one request`,
    });
  }
  for (const name of names) {
    if (utf8Bytes(name) > LIMITS.attributeNameBytes) {
      violations.push({
        field: `${fieldPrefix}${name.slice(0, 40)}`,
        reason: 'too_long',
        message: `attribute name cannot be longer than ${LIMITS.attributeNameBytes} bytes`,
      });
      continue;
    }
    const value = attributes[name];
    const size = typeof value === 'string' ? utf8Bytes(value) : utf8Bytes(JSON.stringify(value) ?? '');
    if (size > LIMITS.attributeValueBytes) {
      violations.push({
        field: `${fieldPrefix}${name}`,
        reason: 'too_long',
        message: `value for attribute '${name}' cannot be longer than ${LIMITS.attributeValueBytes} bytes`,
      });
    }
  }
  return violations;
}

/**
 * Checks an event's name, id and data. Customer.io trims the name, so the trimmed name is
 * returned. `dataField` is `data` for v1 and `attributes` for v2.
 */
export function checkEvent(
  event: { name?: unknown; id?: unknown; data?: unknown },
  dataField: 'data' | 'attributes',
): { violations: LimitViolation[]; name: string } {
  const violations: LimitViolation[] = [];
  const name = typeof event.name === 'string' ? event.name.trim() : '';

  if (typeof event.name !== 'string' || name === '') {
    violations.push({ field: 'name', reason: 'required', message: 'event name must not be blank' });
  } else if (utf8Bytes(name) > LIMITS.eventNameBytes) {
    violations.push({ field: 'name', reason: 'too_long', message: `event name cannot be longer than ${LIMITS.eventNameBytes} bytes` });
  }

  // The stand-in requires ids: cio-cdc always sends one, and a missing id would hide a replay duplicate.
  if (event.id === undefined || event.id === null || event.id === '') {
    violations.push({ field: 'id', reason: 'required', message: 'event id must be present' });
  } else if (typeof event.id !== 'string' || !ULID.test(event.id)) {
    violations.push({ field: 'id', reason: 'invalid', message: 'event id must be a valid ULID' });
  }

  if (event.data !== undefined) {
    if (typeof event.data !== 'object' || event.data === null || Array.isArray(event.data)) {
      violations.push({ field: dataField, reason: 'invalid', message: 'event data must be a hash' });
    } else if (utf8Bytes(JSON.stringify(event.data)) > LIMITS.eventDataBytes) {
      violations.push({ field: dataField, reason: 'too_long', message: `event data cannot be longer than ${LIMITS.eventDataBytes} bytes` });
    }
  }
  return { violations, name };
}

/** Returns true for an integer of unix seconds, at most 10 digits. */
export function isUnixSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= LIMITS.maxUnixSeconds;
}

/** Returns true for a 26-character ULID whose first character is 0-7. */
export function isUlid(value: unknown): boolean {
  return typeof value === 'string' && ULID.test(value);
}
