/**
 * TLS and SASL settings of every Kafka client cio-cdc builds (the runtime, the sink, the demo),
 * parsed once from the environment and turned into kafkajs client options.
 *
 *   KAFKA_SSL             false  true: connect with TLS
 *   KAFKA_SSL_CA_FILE     unset  PEM file of the CA certificates to trust instead of Node's defaults
 *   KAFKA_SSL_CERT_FILE   unset  PEM client certificate for mutual TLS; needs KAFKA_SSL_KEY_FILE
 *   KAFKA_SSL_KEY_FILE    unset  PEM private key of the client certificate
 *   KAFKA_SASL_MECHANISM  unset  plain, scram-sha-256 or scram-sha-512
 *   KAFKA_SASL_USERNAME   unset  required with a mechanism
 *   KAFKA_SASL_PASSWORD   unset  required with a mechanism; secret, never logged
 *
 * The files are read while the settings are parsed, so a missing or unreadable file stops the
 * process at start with the variable's name. The password and the private key are stored as
 * non-enumerable properties, so JSON.stringify and pino leave them out.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

import type { SASLOptions } from 'kafkajs';

import type { Environment, InvalidSetting } from './env.ts';

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface KafkaTlsConfig {
  /** PEM text of the CA certificates to trust; null uses Node's default CAs. */
  readonly ca: string | null;
  readonly caFile: string | null;
  /** PEM client certificate, or null without mutual TLS. */
  readonly cert: string | null;
  readonly certFile: string | null;
  /** PEM private key of `cert`; not enumerable. */
  readonly key: string | null;
  readonly keyFile: string | null;
}

export interface KafkaSaslConfig {
  readonly mechanism: SaslMechanism;
  readonly username: string;
  /** Not enumerable. */
  readonly password: string;
}

export interface KafkaSecurityConfig {
  /** Null for a plaintext connection. */
  readonly tls: KafkaTlsConfig | null;
  /** Null without SASL authentication. */
  readonly sasl: KafkaSaslConfig | null;
}

/** Environment variables of the Kafka connection's security, for docs and --help. */
export const KAFKA_SECURITY_CONFIG_KEYS = Object.freeze([
  { variable: 'KAFKA_SSL', default: 'false', unit: 'true|false' },
  { variable: 'KAFKA_SSL_CA_FILE', default: '(Node default CAs)', unit: 'PEM file path' },
  { variable: 'KAFKA_SSL_CERT_FILE', default: '(none)', unit: 'PEM file path' },
  { variable: 'KAFKA_SSL_KEY_FILE', default: '(none)', unit: 'PEM file path' },
  { variable: 'KAFKA_SASL_MECHANISM', default: '(none)', unit: SASL_MECHANISMS.join('|') },
  { variable: 'KAFKA_SASL_USERNAME', default: '(none)', unit: 'text' },
  { variable: 'KAFKA_SASL_PASSWORD', default: '(none)', unit: 'secret' },
] as const);

export const NO_KAFKA_SECURITY: KafkaSecurityConfig = Object.freeze({ tls: null, sasl: null });

function setting(env: Environment, variable: string): string | null {
  const value = env[variable]?.trim();
  return value === undefined || value === '' ? null : value;
}

function readPem(variable: string, file: string, invalid: InvalidSetting): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw invalid(variable, `cannot read ${JSON.stringify(file)}: ${(error as Error).message}`);
  }
  if (!text.includes('-----BEGIN ')) {
    throw invalid(variable, `${JSON.stringify(file)} contains no PEM block (a line starting with -----BEGIN); convert the file to PEM`);
  }
  return text;
}

function parseTls(env: Environment, invalid: InvalidSetting): KafkaTlsConfig | null {
  const sslText = (setting(env, 'KAFKA_SSL') ?? 'false').toLowerCase();
  if (sslText !== 'true' && sslText !== 'false') {
    throw invalid('KAFKA_SSL', `must be true or false, got ${JSON.stringify(env['KAFKA_SSL'])}`);
  }
  const caFile = setting(env, 'KAFKA_SSL_CA_FILE');
  const certFile = setting(env, 'KAFKA_SSL_CERT_FILE');
  const keyFile = setting(env, 'KAFKA_SSL_KEY_FILE');

  if (sslText === 'false') {
    const stray = [['KAFKA_SSL_CA_FILE', caFile], ['KAFKA_SSL_CERT_FILE', certFile], ['KAFKA_SSL_KEY_FILE', keyFile]].find(([, value]) => value !== null);
    if (stray !== undefined) {
      throw invalid(stray[0]!, 'is set, but KAFKA_SSL is not true; set KAFKA_SSL=true to connect with TLS, or unset it');
    }
    return null;
  }
  if (certFile !== null && keyFile === null) {
    throw invalid('KAFKA_SSL_KEY_FILE', 'is required when KAFKA_SSL_CERT_FILE is set (mutual TLS needs the certificate and its key)');
  }
  if (keyFile !== null && certFile === null) {
    throw invalid('KAFKA_SSL_CERT_FILE', 'is required when KAFKA_SSL_KEY_FILE is set (mutual TLS needs the certificate and its key)');
  }

  const tls = {
    ca: caFile === null ? null : readPem('KAFKA_SSL_CA_FILE', caFile, invalid),
    caFile,
    cert: certFile === null ? null : readPem('KAFKA_SSL_CERT_FILE', certFile, invalid),
    certFile,
    keyFile,
  };
  const key = keyFile === null ? null : readPem('KAFKA_SSL_KEY_FILE', keyFile, invalid);
  return Object.freeze(Object.defineProperty(tls, 'key', { value: key, enumerable: false }) as KafkaTlsConfig);
}

function parseSasl(env: Environment, invalid: InvalidSetting): KafkaSaslConfig | null {
  const mechanismText = setting(env, 'KAFKA_SASL_MECHANISM')?.toLowerCase() ?? null;
  const username = setting(env, 'KAFKA_SASL_USERNAME');
  // Not trimmed, because blanks may belong to the password.
  const password = env['KAFKA_SASL_PASSWORD'] ?? '';

  if (mechanismText === null) {
    if (username !== null || password !== '') {
      throw invalid('KAFKA_SASL_MECHANISM', `is required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set: one of ${SASL_MECHANISMS.join(', ')}`);
    }
    return null;
  }
  const mechanism = SASL_MECHANISMS.find((candidate) => candidate === mechanismText);
  if (mechanism === undefined) {
    throw invalid('KAFKA_SASL_MECHANISM', `must be one of ${SASL_MECHANISMS.join(', ')}, got ${JSON.stringify(env['KAFKA_SASL_MECHANISM'])}`);
  }
  if (username === null) {
    throw invalid('KAFKA_SASL_USERNAME', `is required when KAFKA_SASL_MECHANISM is ${mechanism}`);
  }
  if (password === '') {
    throw invalid('KAFKA_SASL_PASSWORD', `is required when KAFKA_SASL_MECHANISM is ${mechanism}`);
  }
  return Object.freeze(Object.defineProperty({ mechanism, username }, 'password', { value: password, enumerable: false }) as KafkaSaslConfig);
}

/** Parses the KAFKA_SSL* and KAFKA_SASL_* variables. `invalid` builds the caller's config error. */
export function parseKafkaSecurity(env: Environment, invalid: InvalidSetting): KafkaSecurityConfig {
  const tls = parseTls(env, invalid);
  const sasl = parseSasl(env, invalid);
  return tls === null && sasl === null ? NO_KAFKA_SECURITY : Object.freeze({ tls, sasl });
}

/** Builds the `ssl` and `sasl` options of `new Kafka(...)` from `security`. A plaintext connection gets none. */
export function kafkaClientSecurity(security: KafkaSecurityConfig): { ssl?: ConnectionOptions | true; sasl?: SASLOptions } {
  const options: { ssl?: ConnectionOptions | true; sasl?: SASLOptions } = {};
  const tls = security.tls;
  if (tls !== null) {
    const files: ConnectionOptions = {};
    if (tls.ca !== null) files.ca = [tls.ca];
    if (tls.cert !== null) files.cert = tls.cert;
    if (tls.key !== null) files.key = tls.key;
    options.ssl = Object.keys(files).length === 0 ? true : files;
  }
  const sasl = security.sasl;
  if (sasl !== null) {
    options.sasl = { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
  }
  return options;
}

/** Summarizes `security` for a start-up log line, without file contents or the password. */
export function describeKafkaSecurity(security: KafkaSecurityConfig): { tls: boolean; mutualTls: boolean; saslMechanism: SaslMechanism | null } {
  const tls = security.tls;
  return { tls: tls !== null, mutualTls: tls !== null && tls.cert !== null, saslMechanism: security.sasl?.mechanism ?? null };
}
