#!/usr/bin/env node
// The `cio-cdc` command. Each subcommand lives in its own module and is loaded
// only when it runs, so `--help` starts fast and needs no Kafka.

interface Subcommand {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

/** Stream processors that `cio-cdc run NAME` starts; each module runs its processor when imported. */
const PROCESSORS = ['orders', 'transactions', 'carts', 'people', 'suppression'] as const;

const RUN_USAGE = `usage: cio-cdc run <processor>

Runs one stream processor until SIGTERM: ${PROCESSORS.join(', ')}.
Configuration comes from the environment; see the processor's README.md under processors/.
`;

const subcommands: Record<string, Subcommand> = {
  run: {
    summary: `run a stream processor (${PROCESSORS.join(', ')})`,
    async run(argv) {
      const [name] = argv;
      if (name === undefined || name === '--help' || name === '-h') {
        process.stdout.write(RUN_USAGE);
        return name === undefined ? 2 : 0;
      }
      if (!(PROCESSORS as readonly string[]).includes(name)) {
        process.stderr.write(`cio-cdc run: unknown processor '${name}'\n\n${RUN_USAGE}`);
        return 2;
      }
      // The processor's main module starts the runtime and exits the process on SIGTERM.
      await import(`../${name}/main.ts`);
      return await new Promise<number>(() => undefined);
    },
  },
  standin: {
    summary: 'run the local Customer.io Track API stand-in (default 127.0.0.1:8089)',
    async run(argv) {
      const { runStandinCommand } = await import('../standin/main.ts');
      return runStandinCommand(argv);
    },
  },
  load: {
    summary: 'replay a public shop dataset (online-retail, rees46) into MySQL as live traffic',
    async run(argv) {
      const { runLoadCommand } = await import('../loaders/load-command.ts');
      return runLoadCommand(argv);
    },
  },
  demo: {
    summary: 'run the whole pipeline on the local stack with generated or dataset traffic and summarize what reached the stand-in',
    async run(argv) {
      const { runDemoCommand } = await import('../demo/main.ts');
      return runDemoCommand(argv);
    },
  },
  sink: {
    summary: 'deliver cio.outbox records to Customer.io, committing only what was accepted or dead-lettered',
    async run(argv) {
      const { runSinkCommand } = await import('../customerio/sink/main.ts');
      return runSinkCommand(argv);
    },
  },
  trace: {
    summary: "explain what the pipeline recorded about one customer, and why an event did or did not reach Customer.io",
    async run(argv) {
      const { runTraceCommand } = await import('../ops/trace-command.ts');
      return runTraceCommand(argv);
    },
  },
  replay: {
    summary: "reset a processor's consumer group offsets on its input topics to replay them (--dry-run shows the plan)",
    async run(argv) {
      const { runReplayCommand } = await import('../ops/replay-command.ts');
      return runReplayCommand(argv);
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(subcommands).map((name) => name.length));
  const lines = Object.entries(subcommands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return [
    'usage: cio-cdc <command> [options]',
    '',
    'Carries MySQL row changes from Debezium and Kafka into Customer.io people and events.',
    '',
    'commands:',
    ...lines,
    '',
    "Run 'cio-cdc <command> --help' for a command's options.",
    'The development stack has its own scripts: npm run stack:up | stack:down | stack:status.',
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = subcommands[name];
  if (!command) {
    process.stderr.write(`cio-cdc: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cio-cdc: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
