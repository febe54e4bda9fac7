// Registers the Debezium source connector with a Kafka Connect worker from
// deploy/connect/shop-connector.json. The native stack and docker-compose.yml
// both register through this file, so both run the same connector config.
//
//   CONNECT_URL=http://127.0.0.1:8083 CDC_DB_HOST=127.0.0.1 ... node deploy/connect/register.ts
//
// `${NAME}` placeholders in the file are filled from the environment; a missing
// variable is an error naming it. PUT /connectors/{name}/config creates or
// updates the connector, so registering twice changes nothing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ConnectorFile {
  readonly name: string;
  readonly config: Readonly<Record<string, string>>;
}

export const CONNECTOR_FILE = join(import.meta.dirname, 'shop-connector.json');

/** Reads the connector file and fills its `${NAME}` placeholders from env. */
export function loadConnectorConfig(env: Readonly<Record<string, string | undefined>>, file = CONNECTOR_FILE): ConnectorFile {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { name: string; config: Record<string, string> };
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed.config)) {
    config[key] = value.replaceAll(/\$\{([A-Z0-9_]+)\}/g, (_match, name: string) => {
      const replacement = env[name];
      if (replacement === undefined || replacement === '') {
        throw new Error(`connector setting ${key} needs the environment variable ${name}, which is not set`);
      }
      return replacement;
    });
  }
  return { name: parsed.name, config };
}

interface ConnectorStatus {
  connector?: { state?: string; trace?: string };
  tasks?: { id: number; state?: string; trace?: string }[];
}

/** Creates or updates the connector, then waits until it and its task run. */
export async function registerConnector(connectUrl: string, connector: ConnectorFile, timeoutMs: number): Promise<void> {
  const response = await fetch(`${connectUrl}/connectors/${encodeURIComponent(connector.name)}/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(connector.config),
  });
  const body = await response.text();
  if (!response.ok) {
    throw new Error(`Kafka Connect rejected connector ${connector.name} (HTTP ${response.status}): ${body}`);
  }

  const deadline = Date.now() + timeoutMs;
  let last: ConnectorStatus = {};
  while (Date.now() < deadline) {
    const statusResponse = await fetch(`${connectUrl}/connectors/${encodeURIComponent(connector.name)}/status`);
    if (statusResponse.ok) {
      last = (await statusResponse.json()) as ConnectorStatus;
      const failed = [last.connector, ...(last.tasks ?? [])].find((entry) => entry?.state === 'FAILED');
      if (failed) {
        throw new Error(`connector ${connector.name} failed:\n${failed.trace ?? '(no trace)'}`);
      }
      const tasks = last.tasks ?? [];
      if (last.connector?.state === 'RUNNING' && tasks.length > 0 && tasks.every((task) => task.state === 'RUNNING')) {
        return;
      }
    } else {
      await statusResponse.arrayBuffer();
    }
    await sleep(500);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for connector ${connector.name} to run; last status: ${JSON.stringify(last)}`);
}

if (import.meta.main) {
  const connectUrl = process.env['CONNECT_URL'] ?? 'http://127.0.0.1:8083';
  const timeoutMs = Number(process.env['CONNECT_REGISTER_TIMEOUT_MS'] ?? 120_000);
  registerConnector(connectUrl, loadConnectorConfig(process.env), timeoutMs).then(
    () => process.stdout.write('connector registered and running\n'),
    (err: unknown) => {
      process.stderr.write(`register: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
