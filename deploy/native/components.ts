import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ArtifactPaths } from './artifacts.ts';
import type { StackConfig } from './config.ts';
import { StackError } from './errors.ts';
import { isPortOpen, managedProcess, runOrThrow, runningPid, startDetached, tailOf, waitFor } from './processes.ts';
import type { ManagedProcess } from './processes.ts';

/** One server of the stack. */
export interface Component {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** True when the component answers its own health check. */
  healthy(): Promise<boolean>;
  /** Starts the process and waits until it is healthy. */
  start(): Promise<void>;
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.ok;
}

function assertPortFree(component: { name: string; port: number }, host: string, isOpen: boolean): void {
  if (isOpen) {
    throw new StackError(
      `port ${host}:${component.port} is already in use by another process, so ${component.name} cannot start; ` +
        `stop that process or choose another port (see the STACK_*_PORT variables in the README)`,
    );
  }
}

function writeLog4j2(config: StackConfig): string {
  const file = join(config.runDir, 'log4j2.properties');
  mkdirSync(config.runDir, { recursive: true });
  writeFileSync(
    file,
    [
      'status = warn',
      'appender.console.type = Console',
      'appender.console.name = STDOUT',
      'appender.console.layout.type = PatternLayout',
      'appender.console.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.stdout.ref = STDOUT',
      'logger.kafka.name = kafka',
      'logger.kafka.level = WARN',
      'logger.kafkaorg.name = org.apache.kafka',
      'logger.kafkaorg.level = WARN',
      'logger.connectruntime.name = org.apache.kafka.connect.runtime.Worker',
      'logger.connectruntime.level = INFO',
      'logger.debezium.name = io.debezium',
      'logger.debezium.level = INFO',
      '',
    ].join('\n'),
  );
  return file;
}

function javaArgs(heapMb: number, log4jFile: string, logsDir: string): string[] {
  return [
    `-Xms${Math.min(256, heapMb)}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4jFile}`,
    `-Dkafka.logs.dir=${logsDir}`,
  ];
}

export function mariadbComponent(config: StackConfig): Component {
  const dir = join(config.runDir, 'mariadb');
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  const proc = managedProcess(config.runDir, 'mariadb', dataDir);
  const errorLog = join(dir, 'error.log');
  const client = (sql: string) =>
    runOrThrow('running SQL on the stack MariaDB', 'mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot'], { input: sql });

  return {
    name: 'mariadb',
    address: `${config.host}:${config.mariadbPort}`,
    port: config.mariadbPort,
    process: proc,
    async healthy() {
      if (runningPid(proc) === null) return false;
      return (await isPortOpen(config.host, config.mariadbPort)) && existsSync(socket);
    },
    async start() {
      assertPortFree(this, config.host, await isPortOpen(config.host, config.mariadbPort));
      mkdirSync(dir, { recursive: true });
      if (!existsSync(join(dataDir, 'mysql'))) {
        runOrThrow('creating the MariaDB data folder (mariadb-install-db)', 'mariadb-install-db', [
          '--no-defaults',
          `--datadir=${dataDir}`,
          '--user=root',
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
        ]);
      }
      startDetached(
        proc,
        'mariadbd',
        [
          '--no-defaults',
          '--user=root',
          `--datadir=${dataDir}`,
          `--port=${config.mariadbPort}`,
          `--bind-address=${config.host}`,
          `--socket=${socket}`,
          `--pid-file=${join(dir, 'mariadb.pid')}`,
          `--log-error=${errorLog}`,
          '--server-id=1',
          '--log-bin=mariadb-bin',
          '--binlog-format=ROW',
          '--binlog-row-image=FULL',
          '--binlog-annotate-row-events=ON',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_unicode_ci',
          '--default-time-zone=+00:00',
          '--skip-name-resolve',
          '--innodb-buffer-pool-size=128M',
          '--max-connections=200',
        ],
        dir,
      );
      await waitFor('MariaDB to accept connections', proc, () => this.healthy(), config.startTimeoutMs, () => tailOf(errorLog));
      const schema = readFileSync(join(config.repoDir, 'schemas', 'mysql', 'reference.sql'), 'utf8');
      const password = config.debeziumPassword.replaceAll("'", "''");
      client(
        [
          "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';",
          "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;",
          // The grants Debezium's MariaDB connector needs; BINLOG MONITOR is what
          // MariaDB 10.5 and later call REPLICATION CLIENT.
          `CREATE USER IF NOT EXISTS 'debezium'@'127.0.0.1' IDENTIFIED BY '${password}';`,
          "GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, BINLOG MONITOR, LOCK TABLES ON *.* TO 'debezium'@'127.0.0.1';",
          'FLUSH PRIVILEGES;',
          schema,
        ].join('\n'),
      );
    },
  };
}

export function kafkaComponent(config: StackConfig, artifacts: ArtifactPaths): Component {
  const dir = join(config.runDir, 'kafka');
  const dataDir = join(dir, 'data');
  const propsFile = join(dir, 'server.properties');
  const proc = managedProcess(config.runDir, 'kafka', propsFile);
  const classpath = `${artifacts.libDir}/*`;

  return {
    name: 'kafka',
    address: `${config.host}:${config.kafkaPort}`,
    port: config.kafkaPort,
    process: proc,
    async healthy() {
      if (runningPid(proc) === null) return false;
      return isPortOpen(config.host, config.kafkaPort);
    },
    async start() {
      assertPortFree(this, config.host, await isPortOpen(config.host, config.kafkaPort));
      assertPortFree({ name: 'kafka (controller)', port: config.kafkaControllerPort }, config.host, await isPortOpen(config.host, config.kafkaControllerPort));
      mkdirSync(dataDir, { recursive: true });
      const log4j = writeLog4j2(config);
      const listeners = `PLAINTEXT://${config.host}:${config.kafkaPort},CONTROLLER://${config.host}:${config.kafkaControllerPort}`;
      writeFileSync(
        propsFile,
        [
          'process.roles=broker,controller',
          'node.id=1',
          `controller.quorum.bootstrap.servers=${config.host}:${config.kafkaControllerPort}`,
          `listeners=${listeners}`,
          `advertised.listeners=PLAINTEXT://${config.host}:${config.kafkaPort},CONTROLLER://${config.host}:${config.kafkaControllerPort}`,
          'controller.listener.names=CONTROLLER',
          'inter.broker.listener.name=PLAINTEXT',
          'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          `log.dirs=${dataDir}`,
          'num.partitions=1',
          'auto.create.topics.enable=true',
          // A single node: every internal topic has one replica.
          'offsets.topic.replication.factor=1',
          'transaction.state.log.replication.factor=1',
          'transaction.state.log.min.isr=1',
          'share.coordinator.state.topic.replication.factor=1',
          'share.coordinator.state.topic.min.isr=1',
          // Development speed-ups: no join delay, fewer internal partitions.
          'group.initial.rebalance.delay.ms=0',
          'offsets.topic.num.partitions=3',
          'transaction.state.log.num.partitions=3',
          'log.segment.bytes=67108864',
          'log.cleaner.dedupe.buffer.size=33554432',
          '',
        ].join('\n'),
      );
      const clusterIdFile = join(dir, 'cluster-id');
      if (!existsSync(clusterIdFile)) {
        const clusterId = runOrThrow('generating a Kafka cluster id', 'java', ['-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid']).trim();
        writeFileSync(clusterIdFile, `${clusterId}\n`);
      }
      const clusterId = readFileSync(clusterIdFile, 'utf8').trim();
      runOrThrow('formatting the Kafka log folder', 'java', [
        '-cp',
        classpath,
        `-Dlog4j2.configurationFile=${log4j}`,
        'kafka.tools.StorageTool',
        'format',
        '--cluster-id',
        clusterId,
        '--config',
        propsFile,
        '--standalone',
        '--ignore-formatted',
      ]);
      startDetached(proc, 'java', [...javaArgs(config.kafkaHeapMb, log4j, join(dir, 'logs')), '-cp', classpath, 'kafka.Kafka', propsFile], dir);
      await waitFor('the Kafka broker to listen', proc, () => this.healthy(), config.startTimeoutMs, () => tailOf(proc.logFile));
    },
  };
}

/**
 * Finds a Java runtime of at least the given feature version: JAVA_HOME first,
 * then the JDKs under /usr/lib/jvm. Apicurio Registry 3.x needs Java 21.
 */
function findJava(minimumVersion: number): string | null {
  const homes = [process.env['STACK_REGISTRY_JAVA_HOME'], process.env['JAVA_HOME']].filter((home): home is string => Boolean(home));
  if (existsSync('/usr/lib/jvm')) {
    homes.push(...readdirSync('/usr/lib/jvm').map((name) => join('/usr/lib/jvm', name)));
  }
  for (const home of homes) {
    const release = join(home, 'release');
    const java = join(home, 'bin', 'java');
    if (!existsSync(release) || !existsSync(java)) continue;
    const match = /JAVA_VERSION="(\d+)/.exec(readFileSync(release, 'utf8'));
    if (match && Number(match[1]) >= minimumVersion) {
      return java;
    }
  }
  return null;
}

export function registryComponent(config: StackConfig, artifacts: ArtifactPaths): Component {
  const proc = managedProcess(config.runDir, 'registry', 'quarkus-run.jar');
  const url = `http://${config.host}:${config.registryPort}`;
  return {
    name: 'registry',
    address: `${url}/apis/ccompat/v7`,
    port: config.registryPort,
    process: proc,
    async healthy() {
      if (runningPid(proc) === null) return false;
      return httpOk(`${url}/apis/ccompat/v7/subjects`);
    },
    async start() {
      assertPortFree(this, config.host, await isPortOpen(config.host, config.registryPort));
      const java = findJava(21);
      if (java === null) {
        throw new StackError(
          'Apicurio Registry 3.x needs Java 21 or later, and none was found in STACK_REGISTRY_JAVA_HOME, JAVA_HOME or /usr/lib/jvm; ' +
            'install one (for example Temurin 21 or 25) and point STACK_REGISTRY_JAVA_HOME at it',
        );
      }
      startDetached(
        proc,
        java,
        [
          `-Xmx${config.registryHeapMb}m`,
          '-XX:+UseSerialGC',
          `-Dquarkus.http.host=${config.host}`,
          `-Dquarkus.http.port=${config.registryPort}`,
          // Quarkus serves health and metrics on a separate management port, on all interfaces unless told otherwise.
          `-Dquarkus.management.host=${config.host}`,
          `-Dquarkus.management.port=${config.registryManagementPort}`,
          '-Dquarkus.log.level=WARN',
          '-jar',
          join(artifacts.registryDir, 'quarkus-run.jar'),
        ],
        artifacts.registryDir,
      );
      await waitFor('Apicurio Registry to answer', proc, () => this.healthy(), config.startTimeoutMs, () => tailOf(proc.logFile));
    },
  };
}

export function connectComponent(config: StackConfig, artifacts: ArtifactPaths): Component {
  const dir = join(config.runDir, 'connect');
  const propsFile = join(dir, 'connect-distributed.properties');
  const proc = managedProcess(config.runDir, 'connect', propsFile);
  const url = `http://${config.host}:${config.connectPort}`;
  return {
    name: 'connect',
    address: url,
    port: config.connectPort,
    process: proc,
    async healthy() {
      if (runningPid(proc) === null) return false;
      return httpOk(`${url}/connectors`);
    },
    async start() {
      assertPortFree(this, config.host, await isPortOpen(config.host, config.connectPort));
      mkdirSync(dir, { recursive: true });
      const log4j = writeLog4j2(config);
      writeFileSync(
        propsFile,
        [
          `bootstrap.servers=${config.host}:${config.kafkaPort}`,
          'group.id=cio-cdc-connect',
          'config.storage.topic=cio-cdc-connect-configs',
          'offset.storage.topic=cio-cdc-connect-offsets',
          'status.storage.topic=cio-cdc-connect-status',
          'config.storage.replication.factor=1',
          'offset.storage.replication.factor=1',
          'status.storage.replication.factor=1',
          'offset.storage.partitions=1',
          'status.storage.partitions=1',
          'key.converter=org.apache.kafka.connect.json.JsonConverter',
          'value.converter=org.apache.kafka.connect.json.JsonConverter',
          `plugin.path=${artifacts.pluginsDir}`,
          `listeners=http://${config.host}:${config.connectPort}`,
          `rest.advertised.host.name=${config.host}`,
          `rest.advertised.port=${config.connectPort}`,
          // Flush source offsets every second, so a crashed worker replays little.
          'offset.flush.interval.ms=1000',
          'topic.creation.enable=true',
          'scheduled.rebalance.max.delay.ms=0',
          '',
        ].join('\n'),
      );
      startDetached(
        proc,
        'java',
        [...javaArgs(config.connectHeapMb, log4j, join(dir, 'logs')), '-cp', `${artifacts.libDir}/*`, 'org.apache.kafka.connect.cli.ConnectDistributed', propsFile],
        dir,
      );
      await waitFor('Kafka Connect to answer', proc, () => this.healthy(), config.startTimeoutMs, () => tailOf(proc.logFile));
    },
  };
}
