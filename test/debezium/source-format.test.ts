import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseCartsConfig } from '../../processors/carts/config.ts';
import { CartsConfigError } from '../../processors/carts/errors.ts';
import { parseSourceFormatConfig } from '../../processors/debezium/source-format.ts';
import { loadOrdersConfig } from '../../processors/orders/config.ts';
import { OrdersConfigError } from '../../processors/orders/errors.ts';
import { parsePeopleConfig } from '../../processors/people/config.ts';

const REGISTRY = 'http://127.0.0.1:8081/apis/ccompat/v7';
const invalid = (variable: string, message: string) => new Error(`${variable}: ${message}`);

describe('source format config', () => {
  it('defaults to json without a registry', () => {
    assert.deepEqual(parseSourceFormatConfig({}, invalid), { valueFormat: 'json', schemaRegistry: null });
  });

  it('ignores the registry url with json values', () => {
    const config = parseSourceFormatConfig({ SOURCE_VALUE_FORMAT: 'json', SCHEMA_REGISTRY_URL: REGISTRY }, invalid);
    assert.equal(config.schemaRegistry, null);
  });

  it('reads avro with a registry url', () => {
    const config = parseSourceFormatConfig({ SOURCE_VALUE_FORMAT: 'AVRO', SCHEMA_REGISTRY_URL: REGISTRY }, invalid);
    assert.equal(config.valueFormat, 'avro');
    assert.deepEqual(config.schemaRegistry, { url: REGISTRY, auth: null, requestTimeoutMs: 5000 });
    assert.ok(Object.isFrozen(config));
  });

  it('rejects an unknown format', () => {
    assert.throws(() => parseSourceFormatConfig({ SOURCE_VALUE_FORMAT: 'protobuf' }, invalid), /^Error: SOURCE_VALUE_FORMAT: must be json or avro, got "protobuf"$/);
  });

  it('requires the registry url with avro', () => {
    assert.throws(() => parseSourceFormatConfig({ SOURCE_VALUE_FORMAT: 'avro' }, invalid), /SCHEMA_REGISTRY_URL: is required when SOURCE_VALUE_FORMAT is avro/);
  });

  it('rejects a registry url that is not http', () => {
    assert.throws(
      () => parseSourceFormatConfig({ SOURCE_VALUE_FORMAT: 'avro', SCHEMA_REGISTRY_URL: 'ftp://127.0.0.1/registry' }, invalid),
      /SCHEMA_REGISTRY_URL: must be an http or https URL/,
    );
    assert.throws(() => parseSourceFormatConfig({ SOURCE_VALUE_FORMAT: 'avro', SCHEMA_REGISTRY_URL: '127.0.0.1:8081' }, invalid), /SCHEMA_REGISTRY_URL/);
  });

  it('reads the request timeout', () => {
    const base = { SOURCE_VALUE_FORMAT: 'avro', SCHEMA_REGISTRY_URL: REGISTRY };
    assert.equal(parseSourceFormatConfig({ ...base, SCHEMA_REGISTRY_TIMEOUT_MS: '1500' }, invalid).schemaRegistry?.requestTimeoutMs, 1500);
    assert.throws(() => parseSourceFormatConfig({ ...base, SCHEMA_REGISTRY_TIMEOUT_MS: '0' }, invalid), /SCHEMA_REGISTRY_TIMEOUT_MS: must be an integer >= 1/);
  });

  it('reads basic auth and keeps the password out of JSON', () => {
    const config = parseSourceFormatConfig(
      { SOURCE_VALUE_FORMAT: 'avro', SCHEMA_REGISTRY_URL: REGISTRY, SCHEMA_REGISTRY_USERNAME: 'reader', SCHEMA_REGISTRY_PASSWORD: 's3cret' },
      invalid,
    );
    assert.equal(config.schemaRegistry?.auth?.username, 'reader');
    assert.equal(config.schemaRegistry?.auth?.password, 's3cret');
    assert.equal(JSON.stringify(config).includes('s3cret'), false);
  });

  it('requires user and password together', () => {
    const base = { SOURCE_VALUE_FORMAT: 'avro', SCHEMA_REGISTRY_URL: REGISTRY };
    assert.throws(() => parseSourceFormatConfig({ ...base, SCHEMA_REGISTRY_USERNAME: 'reader' }, invalid), /SCHEMA_REGISTRY_PASSWORD: is required/);
    assert.throws(() => parseSourceFormatConfig({ ...base, SCHEMA_REGISTRY_PASSWORD: 's3cret' }, invalid), /SCHEMA_REGISTRY_USERNAME: is required/);
  });

  it('is part of the orders, carts and people configs', () => {
    const env = { SOURCE_VALUE_FORMAT: 'avro', SCHEMA_REGISTRY_URL: REGISTRY };
    assert.equal(loadOrdersConfig(env).source.valueFormat, 'avro');
    assert.equal(parseCartsConfig(env).source.valueFormat, 'avro');
    assert.equal(parsePeopleConfig(env).source.schemaRegistry?.url, REGISTRY);
    assert.equal(loadOrdersConfig({}).source.valueFormat, 'json');
  });

  it('raises the processor config error', () => {
    assert.throws(() => loadOrdersConfig({ SOURCE_VALUE_FORMAT: 'avro' }), (error: unknown) => error instanceof OrdersConfigError && error.variable === 'SCHEMA_REGISTRY_URL');
    assert.throws(() => parseCartsConfig({ SOURCE_VALUE_FORMAT: 'xml' }), (error: unknown) => error instanceof CartsConfigError && error.variable === 'SOURCE_VALUE_FORMAT');
  });
});
