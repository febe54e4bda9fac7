import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { StackConfig } from './config.ts';
import { StackError } from './errors.ts';
import { runOrThrow } from './processes.ts';

/** Folders of the Maven-resolved artifacts, below the cache root. */
export interface ArtifactPaths {
  /** Kafka broker and Kafka Connect classpath, with a log4j2 binding. */
  readonly libDir: string;
  /** Kafka Connect plugin.path: one sub-folder per connector plugin. */
  readonly pluginsDir: string;
  /** Apicurio Registry, containing quarkus-run.jar. */
  readonly registryDir: string;
}

export function artifactPaths(config: StackConfig): ArtifactPaths {
  return {
    libDir: join(config.artifactsDir, 'lib'),
    pluginsDir: join(config.artifactsDir, 'plugins'),
    registryDir: join(config.artifactsDir, 'apicurio'),
  };
}

function requireTool(tool: string, versionFlag: string, hint: string): void {
  try {
    runOrThrow(`checking ${tool}`, tool, [versionFlag]);
  } catch {
    throw new StackError(`${tool} is missing or does not run: ${hint}`);
  }
}

/**
 * Resolves the artifacts with Maven unless the cache already contains the set that
 * deploy/native/pom.xml describes (the pom's SHA-256 is stored beside them).
 */
export function ensureArtifacts(config: StackConfig): ArtifactPaths {
  const paths = artifactPaths(config);
  const pomFile = join(config.repoDir, 'deploy', 'native', 'pom.xml');
  const pomHash = createHash('sha256').update(readFileSync(pomFile)).digest('hex');
  const stampFile = join(config.artifactsDir, 'pom.sha256');
  const complete =
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8').trim() === pomHash &&
    existsSync(join(paths.registryDir, 'quarkus-run.jar')) &&
    existsSync(join(paths.pluginsDir, 'debezium-connector-mariadb'));
  if (complete) {
    return paths;
  }

  requireTool('java', '-version', 'install a JDK 17 or later (Debian: apt-get install openjdk-17-jre-headless)');
  requireTool('mvn', '-v', 'install Apache Maven (Debian: apt-get install maven)');
  process.stdout.write(`resolving Kafka, Kafka Connect, Debezium and Apicurio with Maven into ${config.artifactsDir} (first run only)\n`);
  for (const dir of [paths.libDir, paths.pluginsDir, paths.registryDir]) {
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(config.artifactsDir, { recursive: true });
  try {
    runOrThrow('resolving the stack artifacts with Maven', 'mvn', ['-B', '-q', '-f', pomFile, 'package', `-Dstack.home=${config.artifactsDir}`], { cwd: config.repoDir });
    runOrThrow('resolving the Avro converter with Maven', 'mvn', ['-B', '-q', '-f', join(config.repoDir, 'deploy', 'native', 'avro-converter', 'pom.xml'), 'package', `-Dstack.home=${config.artifactsDir}`], { cwd: config.repoDir });
  } catch (err) {
    throw new StackError(`${(err as Error).message}\nMaven could not resolve an artifact above; check that Maven Central is reachable and that the versions in deploy/native/pom.xml are published.`);
  }
  if (readdirSync(paths.libDir).length === 0) {
    throw new StackError(`Maven finished but ${paths.libDir} is empty`);
  }
  writeFileSync(stampFile, `${pomHash}\n`);
  return paths;
}
