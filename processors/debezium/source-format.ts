/**
 * Value format of the Debezium topics a processor reads, and the decoder built from it. The
 * orders, carts and people processors parse these variables into their typed configs:
 *
 *   SOURCE_VALUE_FORMAT         json   json: JsonConverter, with or without embedded schemas;
 *                                      avro: Avro in the Confluent wire format
 *   SCHEMA_REGISTRY_URL         unset  Confluent-compatible registry API, required with avro
 *                                      (Apicurio serves it at /apis/ccompat/v7)
 *   SCHEMA_REGISTRY_USERNAME    unset  HTTP basic auth user, optional
 *   SCHEMA_REGISTRY_PASSWORD    unset  HTTP basic auth password, required with the user
 *   SCHEMA_REGISTRY_TIMEOUT_MS  5000   time one registry request may take, in ms
 *
 * Decoding failures: a record that is not in the Confluent wire format, names a schema id the
 * registry does not have (404), or does not match its writer schema raises a RecordDecodeError, and
 * the runtime dead-letters it. Any other registry failure (refused connection, timeout, 5xx, 401)
 * raises the retriable SchemaRegistryUnavailableError. The runtime retries that record with
 * backoff, without limit, and keeps the batch meanwhile, so an outage delays records and
 * dead-letters none.
 *
 * The processors do not decode record keys (rows carry their ids), so the key converter may be
 * either.
 */
import type { Environment, InvalidSetting } from '../runtime/env.ts';
import { readInteger, readText } from '../runtime/env.ts';
import { DebeziumDecoder } from './decoder.ts';
import type { WireFormat } from './decoder.ts';
import { RegistrySchemaLookup } from './registry.ts';
import type { ColumnHints } from './types.ts';

export interface SchemaRegistryAuth {
  readonly username: string;
  /** Not enumerable, so JSON and log serializers leave it out. */
  readonly password: string;
}

export interface SchemaRegistrySettings {
  /** Base URL of the Confluent-compatible API, for example `http://127.0.0.1:8081/apis/ccompat/v7`. */
  readonly url: string;
  readonly auth: SchemaRegistryAuth | null;
  /** Time one registry request may take, in ms. */
  readonly requestTimeoutMs: number;
}

export interface SourceFormatConfig {
  readonly valueFormat: WireFormat;
  /** Registry of the Avro writer schemas, or null with JSON values. */
  readonly schemaRegistry: SchemaRegistrySettings | null;
}

export const SOURCE_FORMAT_DEFAULTS: SourceFormatConfig = Object.freeze({ valueFormat: 'json', schemaRegistry: null });

export const SOURCE_FORMAT_CONFIG_KEYS = [
  { variable: 'SOURCE_VALUE_FORMAT', default: 'json', unit: 'json|avro' },
  { variable: 'SCHEMA_REGISTRY_URL', default: '(required with avro)', unit: 'http(s) URL' },
  { variable: 'SCHEMA_REGISTRY_USERNAME', default: '(none)', unit: 'text' },
  { variable: 'SCHEMA_REGISTRY_PASSWORD', default: '(none)', unit: 'secret' },
  { variable: 'SCHEMA_REGISTRY_TIMEOUT_MS', default: '5000', unit: 'ms' },
] as const;

/** Parses the SOURCE_VALUE_FORMAT and SCHEMA_REGISTRY_* variables. `invalid` builds the caller's config error. */
export function parseSourceFormatConfig(env: Environment, invalid: InvalidSetting): SourceFormatConfig {
  const format = readText(env, 'SOURCE_VALUE_FORMAT', 'json').toLowerCase();
  if (format !== 'json' && format !== 'avro') {
    throw invalid('SOURCE_VALUE_FORMAT', `must be json or avro, got ${JSON.stringify(format)}`);
  }
  if (format === 'json') {
    return SOURCE_FORMAT_DEFAULTS;
  }

  const url = readText(env, 'SCHEMA_REGISTRY_URL', '');
  if (url === '') {
    throw invalid('SCHEMA_REGISTRY_URL', 'is required when SOURCE_VALUE_FORMAT is avro, for example http://127.0.0.1:8081/apis/ccompat/v7');
  }
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw invalid('SCHEMA_REGISTRY_URL', `must be an http or https URL, got ${JSON.stringify(url)}`);
  }

  const username = readText(env, 'SCHEMA_REGISTRY_USERNAME', '');
  // The password is read unchanged, because blanks may be part of it.
  const password = env['SCHEMA_REGISTRY_PASSWORD'] ?? '';
  if (username === '' && password !== '') {
    throw invalid('SCHEMA_REGISTRY_USERNAME', 'is required when SCHEMA_REGISTRY_PASSWORD is set');
  }
  if (username !== '' && password === '') {
    throw invalid('SCHEMA_REGISTRY_PASSWORD', 'is required when SCHEMA_REGISTRY_USERNAME is set');
  }
  let auth: SchemaRegistryAuth | null = null;
  if (username !== '') {
    auth = Object.freeze(Object.defineProperty({ username }, 'password', { value: password, enumerable: false }) as SchemaRegistryAuth);
  }
  const requestTimeoutMs = readInteger(env, 'SCHEMA_REGISTRY_TIMEOUT_MS', 5000, 1, invalid);
  return Object.freeze({ valueFormat: 'avro', schemaRegistry: Object.freeze({ url, auth, requestTimeoutMs }) });
}

export interface SourceDecoderOptions {
  /** IANA zone of DATETIME columns (the mapping's `datetimeZone`). */
  readonly datetimeZone: string;
  /** Column hints from the mapping's declared types. */
  readonly columnHints: ColumnHints;
}

/**
 * Creates the decoder of a processor's Debezium inputs. With Avro it caches every writer schema
 * by schema id, so the registry is queried once per id, and again after a failed lookup.
 */
export function createSourceDecoder(source: SourceFormatConfig, { datetimeZone, columnHints }: SourceDecoderOptions): DebeziumDecoder {
  if (source.valueFormat === 'json') {
    return new DebeziumDecoder({ valueFormat: 'json', datetimeZone, columnHints });
  }
  const registry = source.schemaRegistry;
  if (registry === null) {
    throw new TypeError('SOURCE_VALUE_FORMAT is avro but no schema registry is configured. Set SCHEMA_REGISTRY_URL');
  }
  const auth = registry.auth === null ? {} : { auth: { username: registry.auth.username, password: registry.auth.password } };
  return new DebeziumDecoder({
    valueFormat: 'avro',
    schemaLookup: new RegistrySchemaLookup({ host: registry.url, requestTimeoutMs: registry.requestTimeoutMs, ...auth }),
    datetimeZone,
    columnHints,
  });
}
