import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { Kafka, logLevel } from 'kafkajs';

import { loadConnectorConfig, registerConnector } from '../connect/register.ts';
import { artifactPaths, ensureArtifacts } from './artifacts.ts';
import type { Component } from './components.ts';
import { connectComponent, kafkaComponent, mariadbComponent, registryComponent } from './components.ts';
import type { StackConfig } from './config.ts';
import { StackError } from './errors.ts';
import { recordedProcesses, runningPid, stopProcess, tailOf } from './processes.ts';

/** The stack's components in start order. */
function components(config: StackConfig): Component[] {
  const artifacts = artifactPaths(config);
  return [mariadbComponent(config), kafkaComponent(config, artifacts), registryComponent(config, artifacts), connectComponent(config, artifacts)];
}

/** Environment that fills the placeholders of deploy/connect/shop-connector.json for the native stack. */
export function nativeConnectorEnv(config: StackConfig): Record<string, string> {
  return {
    CDC_CONNECTOR_CLASS: 'io.debezium.connector.mariadb.MariaDbConnector',
    CDC_DB_HOST: config.host,
    CDC_DB_PORT: String(config.mariadbPort),
    CDC_DB_PASSWORD: config.debeziumPassword,
    CDC_KAFKA_BOOTSTRAP: `${config.host}:${config.kafkaPort}`,
    CDC_TOPIC_PARTITIONS: String(config.topicPartitions),
  };
}

async function ensureRunning(component: Component): Promise<void> {
  if (await component.healthy().catch(() => false)) {
    process.stdout.write(`${component.name.padEnd(9)} already healthy at ${component.address}\n`);
    return;
  }
  if (runningPid(component.process) !== null) {
    // Started earlier but failing its health check: stop it and start it again.
    process.stdout.write(`${component.name.padEnd(9)} running but not healthy; restarting\n`);
    await stopProcess(component.process, 30_000);
  }
  const started = Date.now();
  process.stdout.write(`${component.name.padEnd(9)} starting\n`);
  await component.start();
  process.stdout.write(`${component.name.padEnd(9)} healthy at ${component.address} (${Math.round((Date.now() - started) / 1000)} s)\n`);
}

export async function stackUp(config: StackConfig): Promise<void> {
  ensureArtifacts(config);
  const [mariadb, kafka, registry, connect] = components(config) as [Component, Component, Component, Component];
  await Promise.all([ensureRunning(mariadb), ensureRunning(kafka)]);
  await Promise.all([ensureRunning(registry), ensureRunning(connect)]);
  try {
    await registerConnector(connect.address, loadConnectorConfig(nativeConnectorEnv(config)), config.startTimeoutMs);
  } catch (err) {
    throw new StackError(`${(err as Error).message}\n${tailOf(connect.process.logFile)}`);
  }
  await createSourceTopics(config);
  process.stdout.write('connector shop-cdc running; the stack is up\n');
}

/**
 * Creates the Debezium topic of every reference table, as Kafka Connect would on
 * the table's first change. Processors refuse to start while an input topic is
 * missing, and a table that has seen no write yet has no topic.
 */
async function createSourceTopics(config: StackConfig): Promise<void> {
  const schema = readFileSync(join(config.repoDir, 'schemas', 'mysql', 'reference.sql'), 'utf8');
  const tables = [...schema.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)/g)].map((match) => match[1]!);
  const connector = loadConnectorConfig(nativeConnectorEnv(config));
  const prefix = connector.config['topic.prefix']!;
  const database = connector.config['database.include.list']!;
  const wanted = [...tables.map((table) => `${prefix}.${database}.${table}`), `${prefix}.transaction`];

  const admin = new Kafka({ clientId: 'cio-cdc-stack', brokers: [`${config.host}:${config.kafkaPort}`], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: config.topicPartitions,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: '-1' }],
        })),
      });
      process.stdout.write(`created source topics ${missing.join(', ')}\n`);
    }
  } finally {
    await admin.disconnect();
  }
}

export async function stackDown(config: StackConfig, options: { purge: boolean }): Promise<void> {
  // Processors that `npm run demo -- --keep` left running go first: they use the stack.
  for (const proc of recordedProcesses(config.runDir, 'demo-')) {
    const stopped = await stopProcess(proc, 30_000);
    process.stdout.write(`${proc.name.padEnd(9)} ${stopped ? 'stopped' : 'was not running'}\n`);
  }
  for (const component of components(config).reverse()) {
    const stopped = await stopProcess(component.process, 30_000);
    process.stdout.write(`${component.name.padEnd(9)} ${stopped ? 'stopped' : 'was not running'}\n`);
  }
  if (options.purge) {
    rmSync(config.runDir, { recursive: true, force: true });
    process.stdout.write(`deleted ${config.runDir}\n`);
  }
}

/**
 * Stops one running component (SIGTERM, then SIGKILL after 30 s) and starts it again; resolves
 * once it is healthy. The others keep running, so clients see the outage of that one server.
 */
export async function restartComponent(config: StackConfig, name: string): Promise<void> {
  const all = components(config);
  const component = all.find((candidate) => candidate.name === name);
  if (component === undefined) {
    throw new StackError(`no stack component is named '${name}'; expected one of ${all.map((candidate) => candidate.name).join(', ')}`);
  }
  await stopProcess(component.process, 30_000);
  await component.start();
}

/** Prints one line per component; resolves true when all are healthy. */
export async function stackStatus(config: StackConfig): Promise<boolean> {
  let allHealthy = true;
  for (const component of components(config)) {
    const pid = runningPid(component.process);
    const healthy = await component.healthy().catch(() => false);
    allHealthy &&= healthy;
    let state = 'unhealthy';
    if (healthy) {
      state = 'healthy';
    } else if (pid === null) {
      state = 'stopped';
    }
    process.stdout.write(`${component.name.padEnd(9)} ${state.padEnd(9)} ${component.address.padEnd(40)} ${pid === null ? '' : `pid ${pid}`}\n`);
  }
  const connect = components(config)[3];
  if (connect && allHealthy) {
    const response = await fetch(`${connect.address}/connectors/shop-cdc/status`).catch(() => null);
    const status = response?.ok ? ((await response.json()) as { connector?: { state?: string } }) : null;
    const state = status?.connector?.state ?? 'not registered';
    allHealthy &&= state === 'RUNNING';
    process.stdout.write(`${'connector'.padEnd(9)} ${state.toLowerCase().padEnd(9)} shop-cdc\n`);
  }
  return allHealthy;
}

