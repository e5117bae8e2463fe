#!/usr/bin/env node
import { VERSION } from './version';

/**
 * The `oomwatch` binary: `serve` (the default) runs the daemon; the other subcommands are the on-call
 * tools. The only process.exit in oomwatch is here.
 */
const USAGE = `Usage: oomwatch [command] [flags]

Commands:
  serve        Run the exporter (the default when no command is given)
  inspect      One container's memory: limits, usage, memory.stat, OOM state, PSI and OOM history
  events       OOM kills and exits recorded by oomwatch; --follow prints new ones live
  top          Containers by limit ratio with usage bars, unlimited ones flagged, recent OOM kills marked
  recommend    A memory limit per container from its observed peak, as Compose, docker or Kubernetes settings
  version      Print the version

Run "oomwatch <command> --help" for the flags of a command.
Exit codes: 0 ok, 1 error (or findings, with --fail-on), 2 usage error.
`;

type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

// Each command loads its modules when it runs: the on-call tools start in a fraction of the time it takes
// to load the daemon's HTTP server, Kubernetes client and metric registries, which they never use.
const COMMANDS: Record<string, Command> = {
  serve: async (argv, env) => (await import('./main')).serve(argv, env),
  inspect: async (argv, env) => (await import('./cli/inspect')).inspectCommand(argv, env),
  events: async (argv, env) => (await import('./cli/events')).eventsCommand(argv, env),
  top: async (argv, env) => (await import('./cli/top')).topCommand(argv, env),
  recommend: async (argv, env) => (await import('./cli/recommend')).recommendCommand(argv, env),
  version: async () => {
    process.stdout.write(`oomwatch ${VERSION} (node ${process.version})\n`);
    return 0;
  },
};

async function run(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('-')) {
    if (first === '--help' || first === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (first === '--version') return (COMMANDS['version'] as Command)([], process.env);
    return (COMMANDS['serve'] as Command)(argv, process.env);
  }
  const command = COMMANDS[first];
  if (!command) {
    process.stderr.write(`oomwatch: unknown command "${first}"\n\n${USAGE}`);
    return 2;
  }
  return command(rest, process.env);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Sources hold sockets and timers; once a command is done, leave without waiting for them.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`oomwatch: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
