// Runs the development stack natively, without Docker: a private MariaDB with the
// binary log on, a Kafka 4.x KRaft node, Apicurio Registry and Kafka Connect with
// the Debezium connectors, all on 127.0.0.1.
//
//   node deploy/native/stack.ts up | down | status
//
// Jars and archives are resolved by Maven into the cache folder (CIO_CDC_HOME,
// default ~/.cache/cio-cdc), never into the repository. Process ids, data and
// logs live under CIO_CDC_HOME/run, and `down` stops exactly the pids that `up`
// recorded there.

import { parseStackConfig } from './config.ts';
import { StackError } from './errors.ts';
import { stackDown, stackStatus, stackUp } from './lifecycle.ts';

const USAGE = `usage: node deploy/native/stack.ts <command>

commands:
  up       resolve artifacts, start every component and register the connector;
           a component that is already healthy is left alone
  down     stop the processes that 'up' started (by their recorded pids)
  status   print each component, its address and its health; exits 1 when any is down
  purge    'down', then delete the stack's data folder (artifacts stay cached)
`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const config = parseStackConfig(process.env);
  switch (command) {
    case 'up':
      await stackUp(config);
      return 0;
    case 'down':
      await stackDown(config, { purge: false });
      return 0;
    case 'purge':
      await stackDown(config, { purge: true });
      return 0;
    case 'status':
      return (await stackStatus(config)) ? 0 : 1;
    default:
      process.stderr.write(`unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof StackError) {
      process.stderr.write(`stack: ${err.message}\n`);
    } else {
      process.stderr.write(`stack: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  },
);
