import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { ServiceMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

const repoDir = join(import.meta.dirname, '..', '..');
const overlays = ['deploy/k8s/base', 'deploy/k8s/overlays/example'];

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

/** Validators by apiVersion and kind: each throws when a manifest breaks the Kubernetes schema. */
const validators: Record<string, (manifest: Manifest) => void> = {
  'apps/v1/Deployment': (manifest) => new Deployment(manifest as never).validate(),
  'policy/v1/PodDisruptionBudget': (manifest) => new PodDisruptionBudget(manifest as never).validate(),
  'v1/Service': (manifest) => new Service(manifest as never).validate(),
  'v1/ConfigMap': (manifest) => new ConfigMap(manifest as never).validate(),
  'v1/Namespace': (manifest) => new Namespace(manifest as never).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': (manifest) => new ServiceMonitor(manifest as never).validate(),
  'monitoring.coreos.com/v1/PrometheusRule': (manifest) => new PrometheusRule(manifest as never).validate(),
};

/** Renders a kustomization with `kubectl kustomize`. */
function render(dir: string): Manifest[] {
  const result = spawnSync('kubectl', ['kustomize', join(repoDir, dir)], { encoding: 'utf8' });
  if (result.error) {
    assert.fail(`kubectl is needed to render ${dir} (Debian: apt-get install kubernetes-client): ${result.error.message}`);
  }
  assert.equal(result.status, 0, `kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout).map((document) => document.toJSON() as Manifest);
}

describe('kubernetes manifests', () => {
  for (const dir of overlays) {
    it(`${dir} renders and validates`, () => {
      const manifests = render(dir);
      assert.ok(manifests.length > 0, 'the kustomization renders resources');
      for (const manifest of manifests) {
        const validate = validators[`${manifest.apiVersion}/${manifest.kind}`];
        assert.ok(validate, `no schema validator for ${manifest.apiVersion} ${manifest.kind} (${manifest.metadata.name})`);
        assert.doesNotThrow(() => validate(manifest), `${manifest.kind} ${manifest.metadata.name} is valid`);
      }
    });
  }

  it('every processor has probes, a disruption budget and a grace period', () => {
    const manifests = render('deploy/k8s/overlays/example');
    const deployments = manifests.filter((manifest) => manifest.kind === 'Deployment');
    assert.deepEqual(deployments.map((deployment) => deployment.metadata.name).sort(), [
      'cio-cdc-carts',
      'cio-cdc-orders',
      'cio-cdc-people',
      'cio-cdc-sink',
      'cio-cdc-suppression',
      'cio-cdc-transactions',
    ]);
    const budgets = new Set(manifests.filter((manifest) => manifest.kind === 'PodDisruptionBudget').map((budget) => budget.metadata.name));
    for (const deployment of deployments) {
      const pod = (deployment.spec as { template: { spec: { terminationGracePeriodSeconds: number; containers: Record<string, unknown>[] } } }).template.spec;
      const container = pod.containers[0]!;
      assert.ok(container['livenessProbe'], `${deployment.metadata.name} liveness probe`);
      assert.ok(container['readinessProbe'], `${deployment.metadata.name} readiness probe`);
      assert.ok(container['resources'], `${deployment.metadata.name} resources`);
      assert.ok(pod.terminationGracePeriodSeconds > 30, `${deployment.metadata.name} grace period exceeds the 30 s shutdown timeout`);
      assert.ok(budgets.has(deployment.metadata.name), `${deployment.metadata.name} has a PodDisruptionBudget`);
      assert.equal(deployment.metadata.namespace, 'shop-cdc');
    }
  });

  it('base mapping equals the default mapping', () => {
    const base = readFileSync(join(repoDir, 'deploy', 'k8s', 'base', 'mapping.yaml'), 'utf8');
    const fallback = readFileSync(join(repoDir, 'schemas', 'mapping.default.yaml'), 'utf8');
    assert.equal(base, fallback);
  });

  it('secrets come from references only', () => {
    const manifests = render('deploy/k8s/overlays/example');
    assert.equal(manifests.filter((manifest) => manifest.kind === 'Secret').length, 0, 'no Secret is rendered with a value');
    const sink = manifests.find((manifest) => manifest.kind === 'Deployment' && manifest.metadata.name === 'cio-cdc-sink');
    const container = (sink?.spec as { template: { spec: { containers: { env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] }[] } } })
      .template.spec.containers[0]!;
    const apiKey = container.env.find((entry) => entry.name === 'CIO_TRACK_API_KEY');
    assert.equal(apiKey?.value, undefined, 'the API key has no literal value');
    assert.deepEqual(apiKey?.valueFrom?.secretKeyRef, { name: 'cio-cdc-customerio', key: 'track-api-key' });
  });

  it('kafka TLS and SASL come from optional secrets', () => {
    const manifests = render('deploy/k8s/overlays/example');
    type Pod = {
      containers: { envFrom: { secretRef?: { name: string; optional?: boolean } }[]; volumeMounts: { name: string; mountPath: string }[] }[];
      volumes: { name: string; secret?: { secretName: string; optional?: boolean } }[];
    };
    for (const deployment of manifests.filter((manifest) => manifest.kind === 'Deployment')) {
      const pod = (deployment.spec as { template: { spec: Pod } }).template.spec;
      const container = pod.containers[0]!;
      const kafkaSecret = container.envFrom.find((source) => source.secretRef?.name === 'cio-cdc-kafka');
      assert.equal(kafkaSecret?.secretRef?.optional, true, `${deployment.metadata.name} loads the optional secret cio-cdc-kafka`);
      const volume = pod.volumes.find((entry) => entry.name === 'kafka-tls');
      assert.deepEqual(
        { secretName: volume?.secret?.secretName, optional: volume?.secret?.optional },
        { secretName: 'cio-cdc-kafka-tls', optional: true },
        `${deployment.metadata.name} mounts the optional secret cio-cdc-kafka-tls`,
      );
      assert.equal(container.volumeMounts.find((mount) => mount.name === 'kafka-tls')?.mountPath, '/etc/cio-cdc-kafka-tls');
    }
  });

  it('validator rejects an invalid deployment', () => {
    const [deployment] = render('deploy/k8s/base').filter((manifest) => manifest.kind === 'Deployment');
    assert.ok(deployment);
    const broken = structuredClone(deployment);
    (broken.spec as Record<string, unknown>)['replicas'] = 'two';
    assert.throws(() => validators['apps/v1/Deployment']!(broken));
  });
});

describe('monitoring', () => {
  it('alerts and dashboard use metrics the code exports', () => {
    const sources = spawnSync('grep', ['-rhoE', "name: '(cio_[a-z_]+)'", join(repoDir, 'processors')], { encoding: 'utf8' }).stdout;
    const exported = new Set([...sources.matchAll(/'(cio_[a-z_]+)'/g)].map((match) => match[1]!));
    assert.ok(exported.size > 0, 'metric names found in processors/');
    for (const file of ['monitoring.yaml', 'grafana-dashboard.yaml']) {
      const text = readFileSync(join(repoDir, 'deploy', 'k8s', 'base', file), 'utf8');
      for (const [name] of text.matchAll(/cio_[a-z_]+/g)) {
        assert.ok(exported.has(name), `${file} uses ${name}, which no processor exports`);
      }
    }
  });
});
