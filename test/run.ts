// Runs the test suite against a real stack.
//
//   node test/run.ts [--only PATTERN]
//
// CIO_CDC_TEST_STACK chooses the stack:
//   native      the stack of `npm run stack:up` (Kafka, Connect, registry, MariaDB on 127.0.0.1)
//   containers  the same components started with testcontainers on a Docker engine
//   auto        (default) native when it is healthy, else containers when a Docker engine answers
// When neither is available the run fails and says so; no test is skipped.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { parseStackConfig } from '../deploy/native/config.ts';
import { dockerAvailable, startContainerStack } from './support/containers.ts';
import type { ContainerStack } from './support/containers.ts';

const repoDir = join(import.meta.dirname, '..');

async function nativeStackHealthy(): Promise<boolean> {
  const status = spawn(process.execPath, [join(repoDir, 'deploy', 'native', 'stack.ts'), 'status'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  status.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  status.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => status.on('close', resolve));
  process.stdout.write(output);
  return code === 0;
}

async function chooseStack(mode: string): Promise<{ kind: 'native' } | { kind: 'containers'; stack: ContainerStack }> {
  if (mode !== 'native' && mode !== 'containers' && mode !== 'auto') {
    throw new Error(`invalid CIO_CDC_TEST_STACK=${mode}: expected native, containers or auto`);
  }
  if (mode !== 'containers' && (await nativeStackHealthy())) {
    return { kind: 'native' };
  }
  if (mode === 'native') {
    throw new Error('the native stack is not healthy (see the status above): run `npm run stack:up` first');
  }
  if (await dockerAvailable()) {
    process.stdout.write('starting the stack with testcontainers\n');
    return { kind: 'containers', stack: await startContainerStack(repoDir) };
  }
  throw new Error(
    mode === 'containers'
      ? 'CIO_CDC_TEST_STACK=containers but no Docker engine answers'
      : 'no stack to test against: the native stack is not running and no Docker engine answers; run `npm run stack:up` (needs Java, Maven and MariaDB) or start Docker',
  );
}

/** Variables that test/support/env.ts reads, pointing at the native stack's ports. */
function nativeStackEnv(): Record<string, string> {
  const stack = parseStackConfig(process.env);
  const registry = `http://${stack.host}:${stack.registryPort}`;
  return {
    TEST_STACK_KIND: 'native',
    TEST_KAFKA_BROKERS: `${stack.host}:${stack.kafkaPort}`,
    TEST_CONNECT_URL: `http://${stack.host}:${stack.connectPort}`,
    TEST_REGISTRY_URL: `${registry}/apis/ccompat/v7`,
    TEST_REGISTRY_NATIVE_URL: `${registry}/apis/registry/v2`,
    TEST_MYSQL_HOST: stack.host,
    TEST_MYSQL_PORT: String(stack.mariadbPort),
    TEST_CONNECT_MYSQL_HOST: stack.host,
    TEST_CONNECT_MYSQL_PORT: String(stack.mariadbPort),
    TEST_CONNECT_KAFKA_BOOTSTRAP: `${stack.host}:${stack.kafkaPort}`,
    TEST_CONNECT_REGISTRY_NATIVE_URL: `${registry}/apis/registry/v2`,
    TEST_CONNECTOR_CLASS: 'io.debezium.connector.mariadb.MariaDbConnector',
  };
}

function testFiles(only: string | undefined): string[] {
  return [only ?? 'test/**/*.test.ts'];
}

async function main(argv: string[]): Promise<number> {
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex >= 0 ? argv[onlyIndex + 1] : undefined;
  if (!existsSync(join(repoDir, '..', 'shared', 'data'))) {
    process.stdout.write('note: ../shared/data is absent; the end-to-end tests that read it will fail and say so\n');
  }
  const chosen = await chooseStack(process.env['CIO_CDC_TEST_STACK'] ?? 'auto');
  const env = { ...process.env, ...(chosen.kind === 'containers' ? chosen.stack.env : nativeStackEnv()) };
  try {
    const child = spawn(
      process.execPath,
      ['--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...testFiles(only)],
      { cwd: repoDir, env, stdio: 'inherit' },
    );
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return code ?? 1;
  } finally {
    if (chosen.kind === 'containers') {
      await chosen.stack.stop();
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`test run failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
