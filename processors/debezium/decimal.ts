/**
 * DECIMAL values under every Debezium `decimal.handling.mode`, turned into exact decimal strings.
 *
 * - precise: the unscaled integer as big-endian two's-complement bytes (base64 text in JSON, a Buffer
 *   in Avro). The scale lives only in the schema (`parameters.scale`) or in a column hint.
 * - string: the exact value as text, for example "7.90".
 * - double: a JSON/Avro double. Debezium already rounded it, and it is rounded back to the column's scale.
 */
import { Decimal } from 'decimal.js';

import type { DecimalString } from './types.ts';

const DECIMAL_LITERAL = /^[+-]?(\d+)(?:\.(\d+))?$/;
const DECIMAL_LITERAL_WITH_EXPONENT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Reads big-endian two's-complement bytes as a signed integer: fe 0c is -500, 00 80 is 128. */
export function unscaledFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length === 0) {
    return 0n;
  }
  let unsigned = 0n;
  for (const byte of bytes) {
    unsigned = (unsigned << 8n) | BigInt(byte);
  }
  const negative = (bytes[0]! & 0x80) !== 0;
  return negative ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

/** Formats `unscaled * 10^-scale` with exactly `scale` fraction digits, for example (-500n, 2) gives "-5.00". */
export function formatUnscaled(unscaled: bigint, scale: number): DecimalString {
  if (!Number.isInteger(scale)) {
    throw new RangeError(`Decimal scale must be an integer, got ${scale}`);
  }
  if (scale <= 0) {
    return (unscaled * 10n ** BigInt(-scale)).toString() as DecimalString;
  }
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const integerPart = digits.slice(0, digits.length - scale);
  const fractionPart = digits.slice(digits.length - scale);
  return `${negative ? '-' : ''}${integerPart}.${fractionPart}` as DecimalString;
}

/** Returns true when `text` is canonical base64 (length a multiple of 4, correct padding). */
export function isStrictBase64(text: string): boolean {
  return text.length > 0 && STRICT_BASE64.test(text);
}

/** Decodes a precise-mode DECIMAL: base64 text or raw bytes of the unscaled value. */
export function decimalFromBytes(bytes: Uint8Array | string, scale: number): DecimalString {
  if (typeof bytes === 'string') {
    if (!isStrictBase64(bytes)) {
      throw new TypeError(`${JSON.stringify(bytes)} is not base64 text`);
    }
    return formatUnscaled(unscaledFromBytes(Buffer.from(bytes, 'base64')), scale);
  }
  return formatUnscaled(unscaledFromBytes(bytes), scale);
}

/**
 * Converts a string-mode DECIMAL. With a scale, the result has exactly that many fraction digits, and a
 * literal with more non-zero fraction digits than the scale is rejected rather than rounded. Without a
 * scale, the literal keeps the fraction digits it came with.
 */
export function decimalFromString(text: string, scale: number | undefined): DecimalString {
  if (!DECIMAL_LITERAL_WITH_EXPONENT.test(text)) {
    throw new TypeError(`${JSON.stringify(text)} is not a decimal number`);
  }
  const value = new Decimal(text);
  if (scale === undefined) {
    const plain = DECIMAL_LITERAL.exec(text);
    const fractionDigits = plain === null ? value.decimalPlaces() : (plain[2]?.length ?? 0);
    return value.toFixed(fractionDigits) as DecimalString;
  }
  if (value.decimalPlaces() > scale) {
    throw new RangeError(`${text} has more fraction digits than the column scale ${scale}`);
  }
  return value.toFixed(scale) as DecimalString;
}

/**
 * Converts a double-mode DECIMAL. The double is read through its shortest decimal representation (7.9,
 * not 7.9000000000000003553) and rounded half away from zero to the scale, which is how MySQL rounds.
 * NOTE: Debezium already rounded the DECIMAL to a double, so digits beyond about 15 significant ones
 * are lost before this point. Use precise or string mode for such columns.
 */
export function decimalFromNumber(value: number, scale: number | undefined): DecimalString {
  if (!Number.isFinite(value)) {
    throw new RangeError(`${value} is not a finite decimal`);
  }
  const exact = new Decimal(value);
  const fractionDigits = scale ?? exact.decimalPlaces();
  return exact.toDecimalPlaces(fractionDigits, Decimal.ROUND_HALF_UP).toFixed(fractionDigits) as DecimalString;
}

/** Converts an integer DECIMAL value that arrived as a bigint (unsafe JSON integer or Avro long). */
export function decimalFromBigInt(value: bigint, scale: number | undefined): DecimalString {
  return formatUnscaled(value * 10n ** BigInt(scale ?? 0), scale ?? 0);
}

/** Returns the decimal.js value of a decimal string, for exact arithmetic such as rollup sums. */
export function toDecimal(value: DecimalString | string): Decimal {
  return new Decimal(value);
}

/** Reads `parameters.scale` of a Connect Decimal schema. */
export function scaleFromParameters(parameters: Readonly<Record<string, string>> | undefined): number | undefined {
  const text = parameters?.['scale'];
  if (text === undefined) {
    return undefined;
  }
  const scale = Number(text);
  if (!Number.isInteger(scale)) {
    throw new TypeError(`Decimal schema parameter scale ${JSON.stringify(text)} is not an integer`);
  }
  return scale;
}
