/**
 * Deterministic event ids in ULID form.
 *
 * Customer.io drops an event whose `id` it has already seen and expects that id to be a ULID:
 * 26 Crockford base32 characters encoding 128 bits, so the first character is 0-7. Customer.io
 * does not read the time part, so all 128 bits here come from SHA-256 of the event's source
 * identity. The same identity always gives the same id (a retry or replay is dropped as a
 * repeat), and different identities give different ids.
 *
 * The identity starts with the event name and continues with what makes this occurrence unique,
 * for example ['order_placed', 'order', '1001'] or, for an event that repeats per change,
 * ['cart_updated', 'cart', '3001', 'mysql-bin.000004:980:0']. A person id alone is never enough:
 * every later event for that person would be dropped as a repeat.
 */

import { createHash } from 'node:crypto';

/** Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U. */
const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export type EventIdPart = string | number | bigint;

/**
 * Derives the ULID of one event from its identity: the event name followed by at least one
 * part that identifies the occurrence. Numbers and their decimal strings give the same id, so
 * `1001` and `'1001'` agree. Throws TypeError on an empty name, a missing occurrence part or a
 * part that is not an integer or string.
 */
export function deriveEventId(identity: readonly [eventName: string, ...occurrence: EventIdPart[]]): string {
  const [eventName, ...occurrence] = identity;
  if (typeof eventName !== 'string' || eventName.trim() === '') {
    throw new TypeError('event id identity must start with the event name');
  }
  if (occurrence.length === 0) {
    throw new TypeError(
      `event id identity for ${eventName} needs at least one part after the event name (an entity and its key); a name alone would make every event a repeat`,
    );
  }

  const parts = [eventName, ...occurrence.map((part, index) => normalizePart(part, index + 1))];
  // JSON keeps the part boundaries: ['a', 'bc'] and ['ab', 'c'] hash differently.
  const digest = createHash('sha256').update(JSON.stringify(parts), 'utf8').digest();
  return encodeUlid(digest.subarray(0, 16));
}

/** Returns true when `value` is a ULID that Customer.io accepts. */
export function isUlid(value: unknown): value is string {
  return typeof value === 'string' && ULID_PATTERN.test(value);
}

/** Encodes 16 bytes as 26 Crockford base32 characters, most significant bits first. */
export function encodeUlid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new TypeError(`a ULID encodes 16 bytes, got ${bytes.length}`);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);

  // 26 characters hold 130 bits; the top two are always zero, which keeps the first character 0-7.
  let text = '';
  for (let index = 25; index >= 0; index -= 1) {
    const digit = Number((value >> BigInt(index * 5)) & 31n);
    text += CROCKFORD_ALPHABET[digit];
  }
  return text;
}

function normalizePart(part: EventIdPart, position: number): string {
  if (typeof part === 'string') return part;
  if (typeof part === 'bigint') return part.toString(10);
  if (typeof part === 'number' && Number.isSafeInteger(part)) return part.toString(10);
  throw new TypeError(`event id part ${position} must be a string or an integer, got ${String(part)}`);
}
