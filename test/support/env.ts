// Addresses of the stack the tests run against. test/run.ts chooses the stack
// (native or containers) and passes its addresses to the test processes in
// these variables; the defaults are the native stack's ports.

export interface TestStack {
  readonly kind: 'native' | 'containers';
  /** Debezium source connector class of the stack: MariaDB natively, MySQL in containers. */
  readonly connectorClass: string;
  readonly kafkaBrokers: string[];
  readonly connectUrl: string;
  /** Confluent-compatible API of the schema registry. */
  readonly registryUrl: string;
  /** Native API base of the registry, used by Apicurio's Kafka Connect converter. */
  readonly registryNativeUrl: string;
  readonly mysql: { host: string; port: number; user: string; password: string; database: string };
  /** Debezium topic prefix of the registered connector. */
  readonly topicPrefix: string;
  /** How the Kafka Connect worker reaches MySQL and Kafka (differs from the test's view inside containers). */
  readonly fromConnect: { mysqlHost: string; mysqlPort: number; kafkaBootstrap: string; registryNativeUrl: string };
}

function read(key: string, fallback: string): string {
  const value = process.env[key];
  return value === undefined || value === '' ? fallback : value;
}

export const testStack: TestStack = Object.freeze({
  kind: read('TEST_STACK_KIND', 'native') === 'containers' ? 'containers' : 'native',
  connectorClass: read('TEST_CONNECTOR_CLASS', 'io.debezium.connector.mariadb.MariaDbConnector'),
  kafkaBrokers: read('TEST_KAFKA_BROKERS', '127.0.0.1:9092').split(','),
  connectUrl: read('TEST_CONNECT_URL', 'http://127.0.0.1:8083'),
  registryUrl: read('TEST_REGISTRY_URL', 'http://127.0.0.1:8081/apis/ccompat/v7'),
  registryNativeUrl: read('TEST_REGISTRY_NATIVE_URL', 'http://127.0.0.1:8081/apis/registry/v2'),
  mysql: {
    host: read('TEST_MYSQL_HOST', '127.0.0.1'),
    port: Number(read('TEST_MYSQL_PORT', '3307')),
    user: read('TEST_MYSQL_USER', 'root'),
    password: read('TEST_MYSQL_PASSWORD', ''),
    database: 'shop',
  },
  topicPrefix: 'shop',
  fromConnect: {
    mysqlHost: read('TEST_CONNECT_MYSQL_HOST', '127.0.0.1'),
    mysqlPort: Number(read('TEST_CONNECT_MYSQL_PORT', '3307')),
    kafkaBootstrap: read('TEST_CONNECT_KAFKA_BOOTSTRAP', '127.0.0.1:9092'),
    registryNativeUrl: read('TEST_CONNECT_REGISTRY_NATIVE_URL', 'http://127.0.0.1:8081/apis/registry/v2'),
  },
});
