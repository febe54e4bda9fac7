/**
 * `WriterSchemaLookup` over @kafkajs/confluent-schema-registry, for the Confluent API (Apicurio serves
 * it at `/apis/ccompat/v7`).
 *
 * The library returns parsed avsc types, and avsc drops unknown attributes such as `connect.name`
 * from primitive types (avsc 5.7.9), which the decoder needs to tell a DATE from an int. So this
 * adapter installs an avsc `typeHook` that keeps the raw JSON schema next to each parsed type, and
 * returns that raw schema.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avsc from 'avsc';

import type { AvroSchemaDefinition, WriterSchemaLookup } from './avro.ts';
import { InvalidWriterSchemaError, SchemaNotFoundError, SchemaRegistryUnavailableError } from './errors.ts';

export interface RegistrySchemaLookupOptions {
  /** Base URL of the Confluent-compatible API, for example `http://127.0.0.1:8081/apis/ccompat/v7`. */
  readonly host: string;
  /** Sent as the client id header. @default 'cio-cdc' */
  readonly clientId?: string;
  /** HTTP basic auth credentials, when the registry requires them. */
  readonly auth?: { readonly username: string; readonly password: string };
  /**
   * Time one registry request may take, in ms. A timed-out request counts as an unreachable
   * registry, so the caller retries the record. @default 5000
   */
  readonly requestTimeoutMs?: number;
  /**
   * Retries of the library's HTTP client for 5xx responses, passed through unchanged.
   * @default the library's: 3 retries, 0.1 s initial, 5 s at most
   */
  readonly retry?: {
    readonly retries?: number;
    readonly initialRetryTimeInSecs?: number;
    readonly maxRetryTimeInSecs?: number;
  };
}

// mappersmith (the library's HTTP client) reports socket failures as a response with status 400 and
// the socket error message as body, so a 400 that carries one of these codes never reached the registry.
const NETWORK_FAILURE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|socket hang up|Timeout/i;

/** Writer-schema lookup in a Confluent-compatible registry (see the file comment). */
export class RegistrySchemaLookup implements WriterSchemaLookup {
  readonly #registry: SchemaRegistry;
  readonly #rawSchemas = new WeakMap<object, AvroSchemaDefinition>();

  constructor({ host, clientId = 'cio-cdc', auth, requestTimeoutMs = 5000, retry }: RegistrySchemaLookupOptions) {
    const rawSchemas = this.#rawSchemas;
    const keepRawSchema = (schema: unknown, opts: Record<string, unknown>): avsc.Type | undefined => {
      // Parse once without the hook, so nested types are not visited, and remember the raw JSON.
      const { typeHook: _ignored, ...rest } = opts;
      let type: avsc.Type;
      try {
        type = avsc.Type.forSchema(schema as avsc.Schema, { ...rest, registry: {} });
      } catch (error) {
        // The schema id is not known here, so getWriterSchema adds it.
        throw new InvalidWriterSchemaError(-1, error instanceof Error ? error.message : String(error), error);
      }
      rawSchemas.set(type, schema as AvroSchemaDefinition);
      return type;
    };
    this.#registry = new SchemaRegistry(
      {
        host,
        clientId,
        ...(auth === undefined ? {} : { auth: { username: auth.username, password: auth.password } }),
        ...(retry === undefined ? {} : { retry }),
        // Without a timeout, a registry that accepts connections and never responds would hold the
        // record's batch forever. The library retries only 5xx responses, not timeouts.
        middlewares: [requestTimeout(requestTimeoutMs)],
      },
      { [SchemaType.AVRO]: { typeHook: keepRawSchema as unknown as avsc.ForSchemaOptions['typeHook'] } },
    );
  }

  async getWriterSchema(schemaId: number): Promise<AvroSchemaDefinition> {
    let type: unknown;
    try {
      type = await this.#registry.getSchema(schemaId);
    } catch (error) {
      throw classifyRegistryFailure(error, schemaId);
    }
    const raw = typeof type === 'object' && type !== null ? this.#rawSchemas.get(type) : undefined;
    if (raw === undefined) {
      throw new InvalidWriterSchemaError(schemaId, 'the registry returned a non-Avro schema');
    }
    return raw;
  }
}

/** Middleware of the library's HTTP client (mappersmith), as its constructor accepts it. */
type RegistryMiddleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

/** Creates a middleware that sets the timeout of every registry request. */
function requestTimeout(timeoutMs: number): RegistryMiddleware {
  return () => ({
    async prepareRequest(next) {
      const request = await next();
      return request.enhance({ timeout: timeoutMs });
    },
  });
}

/** Maps a failure of the registry client to SchemaNotFoundError, InvalidWriterSchemaError or a retriable error. */
export function classifyRegistryFailure(error: unknown, schemaId: number): Error {
  const status = typeof error === 'object' && error !== null && typeof (error as { status?: unknown }).status === 'number' ? (error as { status: number }).status : null;
  if (status === 404) {
    return new SchemaNotFoundError(schemaId, error);
  }
  if (error instanceof InvalidWriterSchemaError) {
    return new InvalidWriterSchemaError(schemaId, error.message, error);
  }
  if (status === null) {
    // No HTTP status and no parse failure: an unexpected client error, which a retry may clear.
    return new SchemaRegistryUnavailableError(schemaId, null, error);
  }
  const message = error instanceof Error ? error.message : '';
  const reachedRegistry = !(status === 400 && NETWORK_FAILURE.test(message));
  return new SchemaRegistryUnavailableError(schemaId, reachedRegistry ? status : null, error);
}
