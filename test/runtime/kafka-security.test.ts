import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';

import kafkajs from 'kafkajs';

import { parseSinkConfig } from '../../processors/customerio/sink/config.ts';
import { SinkConfigError } from '../../processors/customerio/sink/errors.ts';
import { parseRuntimeConfig } from '../../processors/runtime/config.ts';
import { ConfigError } from '../../processors/runtime/errors.ts';
import { describeKafkaSecurity, kafkaClientSecurity, parseKafkaSecurity } from '../../processors/runtime/kafka-security.ts';
import { waitFor } from './helpers.ts';

// A self-signed certificate for 127.0.0.1 that exists for these tests only.
const CERT_FILE = join(import.meta.dirname, 'fixtures', 'tls-test-cert.pem');
const KEY_FILE = join(import.meta.dirname, 'fixtures', 'tls-test-key.pem');

const scratch = mkdtempSync(join(tmpdir(), 'cio-cdc-kafka-security-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Builds the test's config error, carrying the variable like the processors' own errors. */
class SettingError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable} ${message}`);
    this.variable = variable;
  }
}

const parse = (env: Record<string, string>) => parseKafkaSecurity(env, (variable, message) => new SettingError(variable, message));

function rejects(env: Record<string, string>, variable: string, message: RegExp): void {
  assert.throws(
    () => parse(env),
    (error: unknown) => {
      assert.ok(error instanceof SettingError, `expected a SettingError, got ${String(error)}`);
      assert.equal(error.variable, variable);
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('kafka security settings', () => {
  it('default to a plaintext connection', () => {
    const security = parse({});
    assert.equal(security.tls, null);
    assert.equal(security.sasl, null);
    assert.deepEqual(kafkaClientSecurity(security), {});
  });

  it('turn on TLS with default CAs', () => {
    const security = parse({ KAFKA_SSL: 'true' });
    assert.deepEqual(kafkaClientSecurity(security), { ssl: true });
    assert.deepEqual(describeKafkaSecurity(security), { tls: true, mutualTls: false, saslMechanism: null });
  });

  it('read the CA, certificate and key files', () => {
    const security = parse({ KAFKA_SSL: 'TRUE', KAFKA_SSL_CA_FILE: CERT_FILE, KAFKA_SSL_CERT_FILE: CERT_FILE, KAFKA_SSL_KEY_FILE: KEY_FILE });
    const pem = readFileSync(CERT_FILE, 'utf8');
    const key = readFileSync(KEY_FILE, 'utf8');
    assert.equal(security.tls?.caFile, CERT_FILE);
    assert.deepEqual(kafkaClientSecurity(security), { ssl: { ca: [pem], cert: pem, key } });
    assert.equal(describeKafkaSecurity(security).mutualTls, true);
  });

  it('keep the private key out of JSON', () => {
    const security = parse({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: CERT_FILE, KAFKA_SSL_KEY_FILE: KEY_FILE });
    assert.doesNotMatch(JSON.stringify(security), /PRIVATE KEY/);
    assert.match(JSON.stringify(security), /tls-test-key\.pem/);
  });

  it('reject a value of KAFKA_SSL other than true or false', () => {
    rejects({ KAFKA_SSL: 'yes' }, 'KAFKA_SSL', /true or false, got "yes"/);
  });

  it('reject TLS files without KAFKA_SSL', () => {
    rejects({ KAFKA_SSL_CA_FILE: CERT_FILE }, 'KAFKA_SSL_CA_FILE', /KAFKA_SSL is not true/);
  });

  it('reject a certificate without its key', () => {
    rejects({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: CERT_FILE }, 'KAFKA_SSL_KEY_FILE', /required when KAFKA_SSL_CERT_FILE is set/);
    rejects({ KAFKA_SSL: 'true', KAFKA_SSL_KEY_FILE: KEY_FILE }, 'KAFKA_SSL_CERT_FILE', /required when KAFKA_SSL_KEY_FILE is set/);
  });

  it('name the variable of an unreadable file', () => {
    const missing = join(scratch, 'absent.pem');
    rejects({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: missing }, 'KAFKA_SSL_CA_FILE', /cannot read .*absent\.pem.*ENOENT/);
  });

  it('reject a file that is not PEM', () => {
    const der = join(scratch, 'ca.der');
    writeFileSync(der, Buffer.from([0x30, 0x82, 0x01, 0x0a]));
    rejects({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: der }, 'KAFKA_SSL_CA_FILE', /no PEM block/);
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`pass SASL ${mechanism} to kafkajs`, () => {
      const security = parse({ KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: 'cdc', KAFKA_SASL_PASSWORD: ' s3cret ' });
      assert.deepEqual(kafkaClientSecurity(security), { sasl: { mechanism, username: 'cdc', password: ' s3cret ' } });
      assert.equal(describeKafkaSecurity(security).saslMechanism, mechanism);
    });
  }

  it('accept an upper-case mechanism', () => {
    assert.equal(parse({ KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }).sasl?.mechanism, 'scram-sha-512');
  });

  it('combine TLS and SASL', () => {
    const options = kafkaClientSecurity(parse({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }));
    assert.equal(options.ssl, true);
    assert.equal(options.sasl?.mechanism, 'plain');
  });

  it('reject an unknown mechanism', () => {
    rejects({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_MECHANISM', /plain, scram-sha-256, scram-sha-512, got "gssapi"/);
  });

  it('require the username and the password with a mechanism', () => {
    rejects({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_USERNAME', /required when KAFKA_SASL_MECHANISM is plain/);
    rejects({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_PASSWORD', /required when KAFKA_SASL_MECHANISM is plain/);
  });

  it('require a mechanism with credentials', () => {
    rejects({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_MECHANISM', /required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set/);
  });

  it('keep the password out of JSON and errors', () => {
    const security = parse({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'hunter2-secret' });
    assert.doesNotMatch(JSON.stringify(security), /hunter2-secret/);
    assert.doesNotMatch(JSON.stringify(describeKafkaSecurity(security)), /hunter2-secret/);
    assert.throws(
      () => parse({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'hunter2-secret' }),
      (error: unknown) => error instanceof Error && !error.message.includes('hunter2-secret'),
    );
  });
});

describe('kafka security in the process configs', () => {
  it('runtime config carries the settings', () => {
    const config = parseRuntimeConfig({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'runtime-secret' }, { applicationId: 'orders' });
    assert.deepEqual(kafkaClientSecurity(config.kafkaSecurity), { ssl: true, sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'runtime-secret' } });
    assert.doesNotMatch(JSON.stringify(config), /runtime-secret/);
  });

  it('runtime config names the bad variable', () => {
    assert.throws(
      () => parseRuntimeConfig({ KAFKA_SASL_MECHANISM: 'kerberos' }, { applicationId: 'orders' }),
      (error: unknown) => error instanceof ConfigError && error.variable === 'KAFKA_SASL_MECHANISM',
    );
  });

  it('sink config carries the settings', () => {
    const config = parseSinkConfig({ CIO_SITE_ID: 's', CIO_TRACK_API_KEY: 'k', KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: CERT_FILE });
    assert.deepEqual(kafkaClientSecurity(config.kafkaSecurity), { ssl: { ca: [readFileSync(CERT_FILE, 'utf8')] } });
  });

  it('sink config names the bad variable', () => {
    assert.throws(
      () => parseSinkConfig({ CIO_SITE_ID: 's', CIO_TRACK_API_KEY: 'k', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }),
      (error: unknown) => error instanceof SinkConfigError && error.variable === 'KAFKA_SASL_PASSWORD',
    );
  });
});

describe('kafka client over TLS', () => {
  it('trusts the CA file and presents the client certificate', async () => {
    // A TLS endpoint that requires a client certificate signed by the test CA. kafkajs completes
    // the handshake, then waits for a Kafka reply that never comes; the handshake is the check.
    const pem = readFileSync(CERT_FILE);
    const handshakes: TLSSocket[] = [];
    const server = createServer({ cert: pem, key: readFileSync(KEY_FILE), ca: [pem], requestCert: true, rejectUnauthorized: true }, (socket) => {
      handshakes.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;

    const config = parseRuntimeConfig(
      {
        KAFKA_BROKERS: `127.0.0.1:${port}`,
        KAFKA_SSL: 'true',
        KAFKA_SSL_CA_FILE: CERT_FILE,
        KAFKA_SSL_CERT_FILE: CERT_FILE,
        KAFKA_SSL_KEY_FILE: KEY_FILE,
      },
      { applicationId: 'tls-test' },
    );
    const kafka = new kafkajs.Kafka({
      clientId: 'tls-test',
      brokers: [...config.kafkaBrokers],
      ...kafkaClientSecurity(config.kafkaSecurity),
      connectionTimeout: 2000,
      requestTimeout: 2000,
      retry: { retries: 0 },
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const admin = kafka.admin();
    const connecting = admin.connect().catch(() => undefined);
    try {
      await waitFor('a TLS handshake with the client certificate', () => handshakes.length > 0, 10_000);
      assert.equal(handshakes[0]!.authorized, true);
      assert.match(String(handshakes[0]!.getPeerCertificate().subject.CN), /cio-cdc test only/);
    } finally {
      for (const socket of handshakes) socket.destroy();
      await connecting;
      await admin.disconnect();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
