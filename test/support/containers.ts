// The test stack on a Docker engine, with testcontainers: the same components
// and images as docker-compose.yml, started for one test run.
//
// NOTE: these machines have no Docker engine, so this path is typechecked but
// has not run here; the native stack is what CI tests against.

import { GenericContainer, Network, Wait, getContainerRuntimeClient } from 'testcontainers';
import type { StartedNetwork, StartedTestContainer } from 'testcontainers';

import { loadConnectorConfig, registerConnector } from '../../deploy/connect/register.ts';

export interface ContainerStack {
  /** Variables that test/support/env.ts reads, pointing at the containers. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/** Resolves true when testcontainers finds a Docker engine that answers. */
export async function dockerAvailable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

// Host ports are fixed because Kafka must advertise its host-side address before it starts.
const KAFKA_HOST_PORT = 19092;

export async function startContainerStack(repoDir: string): Promise<ContainerStack> {
  const network: StartedNetwork = await new Network().start();
  const started: StartedTestContainer[] = [];
  try {
    const mysql = await new GenericContainer('mysql:8.4')
      .withNetwork(network)
      .withNetworkAliases('mysql')
      .withEnvironment({ MYSQL_ALLOW_EMPTY_PASSWORD: 'yes' })
      .withCommand(['--server-id=1', '--log-bin=mysql-bin', '--binlog-format=ROW', '--binlog-row-image=FULL', '--gtid-mode=ON', '--enforce-gtid-consistency=ON'])
      .withCopyFilesToContainer([{ source: `${repoDir}/schemas/mysql/reference.sql`, target: '/docker-entrypoint-initdb.d/10-reference.sql' }, { source: `${repoDir}/deploy/compose/debezium-user.sql`, target: '/docker-entrypoint-initdb.d/20-debezium-user.sql' }])
      .withExposedPorts(3306)
      .withWaitStrategy(Wait.forLogMessage(/ready for connections.*port: 3306/))
      .start();
    started.push(mysql);

    const kafka = await new GenericContainer('apache/kafka:4.1.0')
      .withNetwork(network)
      .withNetworkAliases('kafka')
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093',
        KAFKA_ADVERTISED_LISTENERS: `INTERNAL://kafka:29092,EXTERNAL://127.0.0.1:${KAFKA_HOST_PORT}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      })
      .withExposedPorts({ container: 9092, host: KAFKA_HOST_PORT })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start();
    started.push(kafka);

    const registry = await new GenericContainer('apicurio/apicurio-registry:3.3.3')
      .withNetwork(network)
      .withNetworkAliases('registry')
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
      .start();
    started.push(registry);

    const connect = await new GenericContainer('quay.io/debezium/connect:3.5.0.Final')
      .withNetwork(network)
      .withEnvironment({
        BOOTSTRAP_SERVERS: 'kafka:29092',
        GROUP_ID: 'cio-cdc-connect',
        CONFIG_STORAGE_TOPIC: 'cio-cdc-connect-configs',
        OFFSET_STORAGE_TOPIC: 'cio-cdc-connect-offsets',
        STATUS_STORAGE_TOPIC: 'cio-cdc-connect-status',
        ENABLE_APICURIO_CONVERTERS: 'true',
      })
      .withExposedPorts(8083)
      .withWaitStrategy(Wait.forHttp('/connectors', 8083))
      .start();
    started.push(connect);

    const connectUrl = `http://${connect.getHost()}:${connect.getMappedPort(8083)}`;
    const connector = loadConnectorConfig({
      CDC_CONNECTOR_CLASS: 'io.debezium.connector.mysql.MySqlConnector',
      CDC_DB_HOST: 'mysql',
      CDC_DB_PORT: '3306',
      CDC_DB_PASSWORD: 'dbz',
      CDC_KAFKA_BOOTSTRAP: 'kafka:29092',
      CDC_TOPIC_PARTITIONS: '3',
    });
    await registerConnector(connectUrl, connector, 180_000);

    const registryHost = `http://${registry.getHost()}:${registry.getMappedPort(8080)}`;
    return {
      env: {
        TEST_STACK_KIND: 'containers',
        TEST_KAFKA_BROKERS: `127.0.0.1:${KAFKA_HOST_PORT}`,
        TEST_CONNECT_URL: connectUrl,
        TEST_REGISTRY_URL: `${registryHost}/apis/ccompat/v7`,
        TEST_REGISTRY_NATIVE_URL: `${registryHost}/apis/registry/v2`,
        TEST_MYSQL_HOST: mysql.getHost(),
        TEST_MYSQL_PORT: String(mysql.getMappedPort(3306)),
        TEST_MYSQL_USER: 'root',
        TEST_MYSQL_PASSWORD: '',
        TEST_CONNECT_MYSQL_HOST: 'mysql',
        TEST_CONNECT_MYSQL_PORT: '3306',
        TEST_CONNECT_KAFKA_BOOTSTRAP: 'kafka:29092',
        TEST_CONNECT_REGISTRY_NATIVE_URL: 'http://registry:8080/apis/registry/v2',
        TEST_CONNECTOR_CLASS: 'io.debezium.connector.mysql.MySqlConnector',
      },
      async stop() {
        for (const container of started.reverse()) {
          await container.stop();
        }
        await network.stop();
      },
    };
  } catch (err) {
    for (const container of started.reverse()) {
      await container.stop().catch(() => undefined);
    }
    await network.stop().catch(() => undefined);
    throw err;
  }
}
