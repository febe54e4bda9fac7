import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { SinkConfigError } from '../../processors/customerio/sink/errors.ts';

const CREDENTIALS = { CIO_SITE_ID: 'site', CIO_TRACK_API_KEY: 'secret-key' };

describe('sink config', () => {
  test('uses the documented defaults', () => {
    const config = parseSinkConfig(CREDENTIALS);
    assert.deepEqual(config.kafkaBrokers, ['127.0.0.1:9092']);
    assert.equal(config.groupId, 'cio-cdc-sink');
    assert.equal(config.outboxTopic, 'cio.outbox');
    assert.equal(config.deadLetterTopic, 'cio.outbox.dlq');
    assert.equal(config.deliveryLogTopic, 'cio.delivery-log');
    assert.equal(config.fromBeginning, true);
    assert.equal(config.sessionTimeoutMs, 30_000);
    assert.equal(config.heartbeatIntervalMs, 3000);
    assert.equal(config.inlineWaitMaxMs, 10_000);
    assert.equal(config.httpPort, 9464);
    assert.equal(config.track.siteId, 'site');
  });

  test('is frozen', () => {
    const config = parseSinkConfig(CREDENTIALS);
    assert.equal(Object.isFrozen(config), true);
    assert.equal(Object.isFrozen(config.kafkaBrokers), true);
  });

  test('reads topics, brokers and group from the environment', () => {
    const config = parseSinkConfig({
      ...CREDENTIALS,
      KAFKA_BROKERS: 'a:1, b:2',
      SINK_OUTBOX_TOPIC: 'out',
      SINK_GROUP_ID: 'g',
      SINK_DELIVERY_LOG_TOPIC: 'log',
    });
    assert.deepEqual(config.kafkaBrokers, ['a:1', 'b:2']);
    assert.equal(config.outboxTopic, 'out');
    assert.equal(config.deadLetterTopic, 'out.dlq');
    assert.equal(config.deliveryLogTopic, 'log');
    assert.equal(config.groupId, 'g');
  });

  test('rejects an inline wait longer than half the session', () => {
    assert.throws(
      () => parseSinkConfig({ ...CREDENTIALS, SINK_SESSION_TIMEOUT_MS: '10000', SINK_INLINE_WAIT_MAX_MS: '6000' }),
      (err: unknown) => err instanceof SinkConfigError && err.variable === 'SINK_INLINE_WAIT_MAX_MS' && /6000/.test(err.message) && /10000/.test(err.message),
    );
  });

  test('rejects a non-integer timeout naming the variable', () => {
    assert.throws(
      () => parseSinkConfig({ ...CREDENTIALS, SINK_HEARTBEAT_INTERVAL_MS: '1.5' }),
      (err: unknown) => err instanceof SinkConfigError && err.variable === 'SINK_HEARTBEAT_INTERVAL_MS',
    );
  });

  test('keeps the API key out of its JSON form', () => {
    assert.doesNotMatch(JSON.stringify(parseSinkConfig(CREDENTIALS)), /secret-key/);
  });
});
