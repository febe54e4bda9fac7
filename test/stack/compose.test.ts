import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import { loadConnectorConfig } from '../../deploy/connect/register.ts';
import { parseStackConfig } from '../../deploy/native/config.ts';
import { nativeConnectorEnv } from '../../deploy/native/lifecycle.ts';

interface ComposeService {
  image?: string;
  ports?: string[];
  environment?: Record<string, string>;
  command?: string[];
  volumes?: string[];
}

const repoDir = join(import.meta.dirname, '..', '..');
const compose = parse(readFileSync(join(repoDir, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const native = parseStackConfig({});

function service(name: string): ComposeService {
  const found = compose.services[name];
  assert.ok(found, `docker-compose.yml has no service ${name}`);
  return found;
}

/** Maps "127.0.0.1:HOST:CONTAINER" port entries to their host ports. */
function hostPorts(entry: ComposeService): number[] {
  return (entry.ports ?? []).map((port) => {
    const parts = port.split(':');
    assert.equal(parts.length, 3, `port ${port} must name the host address, host port and container port`);
    assert.equal(parts[0], '127.0.0.1', `port ${port} must be bound to 127.0.0.1 only`);
    return Number(parts[1]);
  });
}

describe('docker-compose.yml against the native stack', () => {
  it('publishes the native stack ports', () => {
    assert.deepEqual(hostPorts(service('mysql')), [native.mariadbPort]);
    assert.deepEqual(hostPorts(service('kafka')), [native.kafkaPort]);
    assert.deepEqual(hostPorts(service('connect')), [native.connectPort]);
    assert.deepEqual(hostPorts(service('registry')), [native.registryPort]);
    assert.deepEqual(hostPorts(service('standin')), [8089]);
  });

  it('runs MySQL with the binlog settings Debezium needs', () => {
    const command = service('mysql').command ?? [];
    assert.ok(command.includes('--binlog-format=ROW'), 'binlog format ROW');
    assert.ok(command.includes('--binlog-row-image=FULL'), 'binlog row image FULL');
    assert.ok(command.some((flag) => flag.startsWith('--log-bin')), 'binary log on');
    assert.ok(command.some((flag) => flag.startsWith('--server-id=')), 'server id set');
    const volumes = service('mysql').volumes ?? [];
    assert.ok(volumes.some((volume) => volume.startsWith('./schemas/mysql/reference.sql:')), 'reference schema mounted');
  });

  it('registers the connector from the shared connector file', () => {
    const init = service('connector-init');
    assert.ok((init.command ?? []).join(' ').includes('node deploy/connect/register.ts'), 'connector-init runs register.ts');
    assert.ok((init.volumes ?? []).some((volume) => volume.startsWith('./deploy/connect:')), 'connector-init mounts deploy/connect');

    const fromCompose = loadConnectorConfig(init.environment ?? {});
    const fromNative = loadConnectorConfig(nativeConnectorEnv(native));
    assert.equal(fromCompose.name, fromNative.name);

    // Only the addresses and the connector class (MySQL there, MariaDB here) may differ.
    const addressKeys = new Set(['connector.class', 'database.hostname', 'database.port', 'database.password', 'schema.history.internal.kafka.bootstrap.servers']);
    for (const [key, value] of Object.entries(fromNative.config)) {
      if (addressKeys.has(key)) continue;
      assert.equal(fromCompose.config[key], value, `connector setting ${key}`);
    }
    assert.equal(fromCompose.config['connector.class'], 'io.debezium.connector.mysql.MySqlConnector');
    assert.equal(fromNative.config['connector.class'], 'io.debezium.connector.mariadb.MariaDbConnector');
  });

  it('runs every processor and the sink', () => {
    for (const name of ['orders', 'transactions', 'carts', 'people', 'suppression']) {
      assert.deepEqual(service(name).command, ['node', 'processors/cli/main.ts', 'run', name]);
      assert.equal(service(name).environment?.['KAFKA_BROKERS'], service('connector-init').environment?.['CDC_KAFKA_BOOTSTRAP']);
    }
    assert.deepEqual(service('sink').command, ['node', 'processors/cli/main.ts', 'sink']);
    assert.equal(service('sink').environment?.['CIO_TRACK_BASE_URL'], 'http://standin:8089');
  });

  it('points Kafka Connect at the compose Kafka and registry', () => {
    const connect = service('connect');
    assert.equal(connect.environment?.['BOOTSTRAP_SERVERS'], service('connector-init').environment?.['CDC_KAFKA_BOOTSTRAP']);
    assert.equal(connect.environment?.['ENABLE_APICURIO_CONVERTERS'], 'true');
  });
});
