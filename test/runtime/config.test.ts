import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { CONFIG_KEYS, parseRuntimeConfig } from '../../processors/runtime/config.ts';
import { ConfigError } from '../../processors/runtime/errors.ts';

const defaults = { applicationId: 'orders' };

describe('runtime config', () => {
  it('applies documented defaults', () => {
    const config = parseRuntimeConfig({}, defaults);
    assert.equal(config.applicationId, 'orders');
    assert.deepEqual(config.kafkaBrokers, ['127.0.0.1:9092']);
    assert.equal(config.httpHost, '127.0.0.1');
    assert.equal(config.httpPort, 9464);
    assert.equal(config.sessionTimeoutMs, 30_000);
    assert.equal(config.timerLatenessBoundMs, 300_000);
    assert.equal(config.topicReplicationFactor, 3);
  });

  it('returns a frozen object', () => {
    const config = parseRuntimeConfig({}, defaults);
    assert.equal(Object.isFrozen(config), true);
    assert.equal(Object.isFrozen(config.kafkaBrokers), true);
  });

  it('parses brokers and numbers', () => {
    const config = parseRuntimeConfig(
      { KAFKA_BROKERS: 'a:9092, b:9093', CIO_CDC_HTTP_PORT: '0', CIO_CDC_TIMER_LATENESS_BOUND_MS: '1500' },
      defaults,
    );
    assert.deepEqual(config.kafkaBrokers, ['a:9092', 'b:9093']);
    assert.equal(config.httpPort, 0);
    assert.equal(config.timerLatenessBoundMs, 1500);
  });

  it('rejects a non-integer naming the variable', () => {
    assert.throws(
      () => parseRuntimeConfig({ KAFKA_SESSION_TIMEOUT_MS: '10s' }, defaults),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.variable === 'KAFKA_SESSION_TIMEOUT_MS' &&
        error.message.includes('"10s"'),
    );
  });

  it('rejects a heartbeat not below the session timeout naming both', () => {
    assert.throws(
      () => parseRuntimeConfig({ KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '6000' }, defaults),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes('KAFKA_HEARTBEAT_INTERVAL_MS') &&
        error.message.includes('KAFKA_SESSION_TIMEOUT_MS'),
    );
  });

  it('rejects an application id unusable in topic names', () => {
    assert.throws(() => parseRuntimeConfig({ CIO_CDC_APPLICATION_ID: 'orders/v2' }, defaults), ConfigError);
  });

  it('rejects a malformed broker list', () => {
    assert.throws(() => parseRuntimeConfig({ KAFKA_BROKERS: 'localhost' }, defaults), /KAFKA_BROKERS/);
  });

  it('rejects an unknown log level', () => {
    assert.throws(() => parseRuntimeConfig({ LOG_LEVEL: 'verbose' }, defaults), /LOG_LEVEL/);
  });

  it('README documents every variable', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../processors/runtime/README.md'), 'utf8');
    for (const key of CONFIG_KEYS) {
      assert.ok(readme.includes(`\`${key.variable}\``), `README.md does not document ${key.variable}`);
    }
  });
});
