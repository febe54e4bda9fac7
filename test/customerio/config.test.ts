import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { TrackClient } from '../../processors/customerio/client.ts';
import { parseTrackClientConfig } from '../../processors/customerio/config.ts';
import { TrackConfigError } from '../../processors/customerio/errors.ts';

const credentials = { CIO_SITE_ID: 'site-1', CIO_TRACK_API_KEY: 'secret-key-1' };

describe('track client config', () => {
  test('applies defaults', () => {
    const config = parseTrackClientConfig(credentials);
    assert.equal(config.region, 'us');
    assert.equal(config.baseUrl, undefined);
    assert.equal(config.apiVersion, 'v2');
    assert.equal(config.requestsPerSecond, 100);
    assert.equal(config.burstRequests, 1);
    assert.equal(config.batch.maxBatchBytes, 500_000);
    assert.equal(config.batch.maxItemBytes, 32_000);
    assert.equal(config.retry.maxRetryAfterMs, 300_000);
    assert.ok(Object.isFrozen(config));
  });

  test('reads every variable', () => {
    const config = parseTrackClientConfig({
      ...credentials,
      CIO_REGION: 'eu',
      CIO_TRACK_BASE_URL: 'http://127.0.0.1:8089',
      CIO_TRACK_API_VERSION: 'v1',
      CIO_REQUESTS_PER_SECOND: '25',
      CIO_RETRY_MAX_ATTEMPTS: '3',
      CIO_MAX_BATCH_ITEMS: '50',
    });
    assert.equal(config.region, 'eu');
    assert.equal(config.baseUrl, 'http://127.0.0.1:8089');
    assert.equal(config.apiVersion, 'v1');
    assert.equal(config.requestsPerSecond, 25);
    assert.equal(config.retry.maxAttempts, 3);
    assert.equal(config.batch.maxBatchItems, 50);
  });

  test('keeps the key out of JSON', () => {
    const text = JSON.stringify(parseTrackClientConfig(credentials));
    assert.doesNotMatch(text, /secret-key-1/);
    assert.match(text, /\[redacted\]/);
  });

  test('rejects bad values naming the variable', () => {
    const invalid: [Record<string, string>, RegExp][] = [
      [{}, /CIO_SITE_ID is not set/],
      [{ CIO_SITE_ID: 'site-1' }, /CIO_TRACK_API_KEY is not set/],
      [{ ...credentials, CIO_REGION: 'ap' }, /CIO_REGION must be us or eu/],
      [{ ...credentials, CIO_TRACK_BASE_URL: 'not a url' }, /CIO_TRACK_BASE_URL must be a URL/],
      [{ ...credentials, CIO_TRACK_API_VERSION: 'v3' }, /CIO_TRACK_API_VERSION must be v1 or v2/],
      [{ ...credentials, CIO_REQUESTS_PER_SECOND: '0' }, /CIO_REQUESTS_PER_SECOND must be a positive number/],
      [{ ...credentials, CIO_RETRY_MAX_ATTEMPTS: '1.5' }, /CIO_RETRY_MAX_ATTEMPTS must be an integer/],
      [{ ...credentials, CIO_MAX_ITEM_BYTES: '600000' }, /CIO_MAX_ITEM_BYTES \(600000\) must not exceed CIO_MAX_BATCH_BYTES \(500000\)/],
    ];
    for (const [env, message] of invalid) {
      assert.throws(() => parseTrackClientConfig(env), (err: unknown) => err instanceof TrackConfigError && message.test(err.message), JSON.stringify(env));
    }
  });

  test('builds a client as it is', async () => {
    const client = new TrackClient(parseTrackClientConfig({ ...credentials, CIO_REGION: 'eu' }));
    assert.equal(client.baseUrl, 'https://track-eu.customer.io/');
    await client.close();
  });
});

describe('TrackClient options', () => {
  test('rejects missing credentials and bad values', () => {
    assert.throws(() => new TrackClient({ siteId: '', apiKey: 'k' }), /siteId is missing/);
    assert.throws(() => new TrackClient({ siteId: 's', apiKey: '' }), /apiKey is missing/);
    assert.throws(() => new TrackClient({ siteId: 's', apiKey: 'k', baseUrl: 'ftp://x' }), /http or https/);
    assert.throws(() => new TrackClient({ siteId: 's', apiKey: 'k', maxConcurrentRequests: 0 }), /maxConcurrentRequests/);
    assert.throws(() => new TrackClient({ siteId: 's', apiKey: 'k', retry: { maxAttempts: 0 } }), TrackConfigError);
  });
});
