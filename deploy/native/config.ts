import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { StackError } from './errors.ts';

/** Settings of the native development stack, read once from the environment. */
export interface StackConfig {
  readonly repoDir: string;
  /** Cache root: Maven-resolved artifacts and the run folder live below it. */
  readonly homeDir: string;
  readonly artifactsDir: string;
  readonly runDir: string;
  readonly host: '127.0.0.1';
  readonly mariadbPort: number;
  readonly kafkaPort: number;
  readonly kafkaControllerPort: number;
  readonly connectPort: number;
  readonly registryPort: number;
  /** Apicurio Registry's Quarkus management port (health and metrics). */
  readonly registryManagementPort: number;
  /** Partition count of the topics Debezium creates. */
  readonly topicPartitions: number;
  readonly kafkaHeapMb: number;
  readonly connectHeapMb: number;
  readonly registryHeapMb: number;
  /** Upper bound on each wait for a component to become healthy. */
  readonly startTimeoutMs: number;
  readonly debeziumPassword: string;
}

function readPort(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  return readInt(env, key, fallback, 1, 65535);
}

function readInt(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new StackError(`invalid ${key}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * Parses the stack's environment variables (all optional):
 * CIO_CDC_HOME, STACK_MARIADB_PORT (3307), STACK_KAFKA_PORT (9092),
 * STACK_KAFKA_CONTROLLER_PORT (9093), STACK_CONNECT_PORT (8083),
 * STACK_REGISTRY_PORT (8081), STACK_REGISTRY_MANAGEMENT_PORT (9000), STACK_TOPIC_PARTITIONS (3),
 * STACK_KAFKA_HEAP_MB (768), STACK_CONNECT_HEAP_MB (768),
 * STACK_REGISTRY_HEAP_MB (384), STACK_START_TIMEOUT_MS (180000),
 * STACK_DEBEZIUM_PASSWORD (dbz).
 */
export function parseStackConfig(env: NodeJS.ProcessEnv): StackConfig {
  const homeDir = resolve(env['CIO_CDC_HOME'] || join(homedir(), '.cache', 'cio-cdc'));
  const config: StackConfig = {
    repoDir: resolve(import.meta.dirname, '..', '..'),
    homeDir,
    artifactsDir: join(homeDir, 'artifacts'),
    runDir: join(homeDir, 'run'),
    host: '127.0.0.1',
    mariadbPort: readPort(env, 'STACK_MARIADB_PORT', 3307),
    kafkaPort: readPort(env, 'STACK_KAFKA_PORT', 9092),
    kafkaControllerPort: readPort(env, 'STACK_KAFKA_CONTROLLER_PORT', 9093),
    connectPort: readPort(env, 'STACK_CONNECT_PORT', 8083),
    registryPort: readPort(env, 'STACK_REGISTRY_PORT', 8081),
    registryManagementPort: readPort(env, 'STACK_REGISTRY_MANAGEMENT_PORT', 9000),
    topicPartitions: readInt(env, 'STACK_TOPIC_PARTITIONS', 3, 1, 64),
    kafkaHeapMb: readInt(env, 'STACK_KAFKA_HEAP_MB', 768, 256, 16384),
    connectHeapMb: readInt(env, 'STACK_CONNECT_HEAP_MB', 768, 256, 16384),
    registryHeapMb: readInt(env, 'STACK_REGISTRY_HEAP_MB', 384, 128, 16384),
    startTimeoutMs: readInt(env, 'STACK_START_TIMEOUT_MS', 180_000, 1000, 3_600_000),
    debeziumPassword: env['STACK_DEBEZIUM_PASSWORD'] || 'dbz',
  };
  const ports = [config.mariadbPort, config.kafkaPort, config.kafkaControllerPort, config.connectPort, config.registryPort, config.registryManagementPort];
  if (new Set(ports).size !== ports.length) {
    throw new StackError(`the stack's ports must differ, got ${ports.join(', ')}`);
  }
  return Object.freeze(config);
}
