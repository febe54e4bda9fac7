import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { parseStandinConfig } from '../../processors/standin/config.ts';
import { StandinConfigError } from '../../processors/standin/errors.ts';

const mainPath = fileURLToPath(new URL('../../processors/standin/main.ts', import.meta.url));

describe('stand-in config', () => {
  test('uses defaults without flags or environment', () => {
    const { config, help } = parseStandinConfig([], {});
    assert.equal(help, false);
    assert.deepEqual({ ...config, faults: { ...config.faults } }, {
      host: '127.0.0.1',
      port: 8089,
      siteId: 'standin-site',
      apiKey: 'standin-key',
      region: 'us',
      faults: {},
      logLevel: 'info',
    });
    assert.ok(Object.isFrozen(config));
  });

  test('lets a flag win over the environment', () => {
    const { config } = parseStandinConfig(['--port', '9001'], { CIO_STANDIN_PORT: '9000', CIO_STANDIN_REGION: 'eu' });
    assert.equal(config.port, 9001);
    assert.equal(config.region, 'eu');
  });

  test('reads faults as JSON', () => {
    const { config } = parseStandinConfig(['--faults', '{"share5xx":0.1}'], {});
    assert.equal(config.faults.share5xx, 0.1);
  });

  test('rejects bad values naming them', () => {
    const invalid: [string[], Record<string, string>, RegExp][] = [
      [['--port', 'abc'], {}, /--port \/ CIO_STANDIN_PORT must be a port number/],
      [[], { CIO_STANDIN_PORT: '70000' }, /CIO_STANDIN_PORT/],
      [['--region', 'ap'], {}, /must be us or eu/],
      [['--faults', '{"share5xx":3}'], {}, /CIO_STANDIN_FAULTS is invalid: fault setting share5xx/],
      [['--faults', 'nope'], {}, /CIO_STANDIN_FAULTS is invalid/],
      [['--log-level', 'loud'], {}, /CIO_STANDIN_LOG_LEVEL/],
      [['--colour'], {}, /--help/],
    ];
    for (const [argv, env, message] of invalid) {
      assert.throws(() => parseStandinConfig(argv, env), (err: unknown) => err instanceof StandinConfigError && message.test(err.message), argv.join(' '));
    }
  });
});

describe('stand-in main', () => {
  test('listens, serves and stops on SIGTERM', async (t) => {
    const child = spawn(process.execPath, [mainPath, '--port', '0', '--site-id', 'site-main', '--api-key', 'key-main'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    const lines = createInterface({ input: child.stdout });
    const [firstLine] = (await once(lines, 'line')) as [string];
    const started = JSON.parse(firstLine) as { msg: string; url: string };
    assert.equal(started.msg, 'standin listening');
    assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const response = await fetch(`${started.url}/api/v1/accounts/region`, {
      headers: { authorization: `Basic ${Buffer.from('site-main:key-main').toString('base64')}` },
    });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { region: string }).region, 'us');

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
