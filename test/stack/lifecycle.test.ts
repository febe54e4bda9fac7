import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parseStackConfig } from '../../deploy/native/config.ts';
import { testStack } from '../support/env.ts';

const stackScript = join(import.meta.dirname, '..', '..', 'deploy', 'native', 'stack.ts');
const stack = parseStackConfig(process.env);

function runStack(command: string): { code: number | null; output: string } {
  const result = spawnSync(process.execPath, [stackScript, command], { encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

function pidsOf(statusOutput: string): Map<string, string> {
  const pids = new Map<string, string>();
  for (const line of statusOutput.split('\n')) {
    const match = /^(\S+)\s+healthy\s+\S+\s+pid (\d+)$/.exec(line.trim());
    if (match?.[1] && match[2]) pids.set(match[1], match[2]);
  }
  return pids;
}

describe('native stack lifecycle', { skip: testStack.kind === 'native' ? false : 'this run tests against containers, not the native stack' }, () => {
  it('second up on a healthy stack changes nothing', () => {
    const before = runStack('status');
    assert.equal(before.code, 0, before.output);
    const pidsBefore = pidsOf(before.output);
    assert.deepEqual([...pidsBefore.keys()].sort(), ['connect', 'kafka', 'mariadb', 'registry']);

    const up = runStack('up');
    assert.equal(up.code, 0, up.output);
    for (const name of ['mariadb', 'kafka', 'registry', 'connect']) {
      assert.match(up.output, new RegExp(`^${name}\\s+already healthy`, 'm'), `${name} left alone`);
    }
    assert.doesNotMatch(up.output, /starting/);

    const after = runStack('status');
    assert.deepEqual(pidsOf(after.output), pidsBefore);
  });

  it('status names each component with its address', () => {
    const status = runStack('status');
    const line = (name: string, address: string) => new RegExp(`^${name}\\s+healthy\\s+${address.replaceAll('.', '\\.')}(\\s|$)`, 'm');
    assert.match(status.output, line('mariadb', `127.0.0.1:${stack.mariadbPort}`));
    assert.match(status.output, line('kafka', `127.0.0.1:${stack.kafkaPort}`));
    assert.match(status.output, line('registry', `http://127.0.0.1:${stack.registryPort}/apis/ccompat/v7`));
    assert.match(status.output, line('connect', `http://127.0.0.1:${stack.connectPort}`));
    assert.match(status.output, /^connector\s+running\s+shop-cdc/m);
  });
});
