import * as fs from 'node:fs';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { type CgroupLayout, CgroupLayoutError, detectLayout } from '../cgroup/layout';
import { serveFlags } from '../config';
import { OomwatchError } from '../errors';
import { type FlagSpec, type FlagValue, formatFlagHelp, parseFlags } from '../flags';
import { StateQueries } from '../state/queries';
import { DB_FILE, SCHEMA_VERSION, StateStore } from '../state/store';
import { CliDocker } from './docker';

/**
 * What every on-call command shares: the host paths (the same flags, environment variables and defaults
 * as `serve`, so inside the oomwatch container `oomwatch inspect web` looks where the daemon looks), the
 * state database opened read-only, the Docker client, warnings on stderr, and the exit-code convention:
 *   0  done (findings are reported but do not fail unless --fail-on asks)
 *   1  an error, or findings that --fail-on names
 *   2  a usage error: a bad flag or argument, or a container argument that names no single container
 */

const SHARED = ['cgroup-root', 'proc-root', 'state-dir', 'docker-socket'] as const;

/** The host-path flags of `serve`, reused as they are. */
export function hostFlags(): FlagSpec[] {
  const serve = serveFlags();
  return SHARED.map((name) => serve.find((f) => f.name === name) as FlagSpec);
}

export const JSON_FLAG: FlagSpec = {
  name: 'json',
  type: 'boolean',
  env: false,
  help: 'Print JSON instead of text (one object; one object per line for streams)',
};

export interface CommandSpec {
  name: string;
  /** One line after "Usage: oomwatch". */
  usage: string;
  description: string;
  flags: FlagSpec[];
  examples: string[];
  /** Extra text after the flags (exit codes, notes). */
  notes?: string[];
}

export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: oomwatch ${spec.usage}`,
    '',
    spec.description,
    '',
    'Flags:',
    formatFlagHelp(spec.flags),
    '',
    ...(spec.notes ? [...spec.notes, ''] : []),
    'Exit codes: 0 ok, 1 error (or findings named by --fail-on), 2 usage error.',
    '',
    'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/** A plain-text logger for the state store's own warnings (read failures), one line on stderr each. */
function stderrLogger(): Logger {
  return pino(
    { level: 'warn' },
    {
      write(line: string): void {
        try {
          const o = JSON.parse(line) as { msg?: string; err?: { message?: string } };
          process.stderr.write(
            `oomwatch: warning: ${o.msg ?? ''}${o.err?.message ? `: ${o.err.message}` : ''}\n`,
          );
        } catch {
          process.stderr.write(line);
        }
      },
    },
  );
}

export class CliContext {
  private layoutCache: CgroupLayout | undefined;
  private dockerCache: CliDocker | null | undefined;
  private readonly stores: StateStore[] = [];
  readonly json: boolean;
  /** Whether stdout is a terminal (colours, redrawing); never when --json. */
  readonly tty: boolean;
  readonly colour: boolean;

  constructor(
    readonly values: Record<string, FlagValue>,
    readonly env: NodeJS.ProcessEnv,
  ) {
    this.json = values['json'] === true;
    this.tty = !this.json && process.stdout.isTTY === true;
    this.colour = this.tty && (env['NO_COLOR'] === undefined || env['NO_COLOR'] === '');
  }

  get cgroupRoot(): string {
    return this.values['cgroup-root'] as string;
  }
  get procRoot(): string {
    return this.values['proc-root'] as string;
  }
  get stateDir(): string {
    return this.values['state-dir'] as string;
  }

  out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  warn(text: string): void {
    process.stderr.write(`oomwatch: warning: ${text}\n`);
  }

  /** The cgroup layout, or an error naming the problem: a missing root, no memory controller, no permission. */
  layout(): CgroupLayout {
    if (this.layoutCache) return this.layoutCache;
    const root = this.cgroupRoot;
    try {
      fs.readdirSync(root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new OomwatchError(
          'OOMW_PERMISSION',
          `oomwatch: cannot read the cgroup tree at ${root}: permission denied. Run as root (or a user that can read it); in a container, mount the host's /sys/fs/cgroup read-only at /host/sys/fs/cgroup`,
        );
      }
    }
    try {
      this.layoutCache = detectLayout(root);
    } catch (err) {
      if (err instanceof CgroupLayoutError)
        throw new OomwatchError('OOMW_CGROUP_ROOT', `oomwatch: ${err.message}`, 1);
      throw err;
    }
    return this.layoutCache;
  }

  /** The cgroup layout, or undefined after a warning (commands that can answer from Docker and the state). */
  layoutOrWarn(): CgroupLayout | undefined {
    try {
      return this.layout();
    } catch (err) {
      this.warn(`${(err as Error).message.replace(/^oomwatch: /, '')}; live memory readings are unavailable`);
      return undefined;
    }
  }

  /** The Docker client, or undefined with --docker-socket none. */
  docker(): CliDocker | undefined {
    if (this.dockerCache === undefined) {
      const raw = this.values['docker-socket'] as string;
      const socket = raw.replace(/^unix:\/\//, '');
      this.dockerCache = socket === 'none' || socket === '' ? null : new CliDocker(socket);
    }
    return this.dockerCache ?? undefined;
  }

  get stateFile(): string {
    return path.join(this.stateDir, DB_FILE);
  }

  /**
   * The daemon's state database, read-only. `required`: a missing database is an error that says what to
   * do; otherwise a warning and undefined.
   */
  openState(required: boolean, what: string): StateQueries | undefined {
    const file = this.stateFile;
    let statError: string | undefined;
    try {
      fs.statSync(file);
    } catch (err) {
      statError = (err as NodeJS.ErrnoException).code ?? 'ENOENT';
    }
    if (statError === 'EACCES' || statError === 'EPERM') {
      const problem = `cannot look into ${this.stateDir} (${statError}): run as root or as the user oomwatch serve runs as`;
      if (required) throw new OomwatchError('OOMW_PERMISSION', `oomwatch: ${problem}`);
      this.warn(`${problem}; going on without ${what}`);
      return undefined;
    }
    if (statError !== undefined) {
      if (required) {
        throw new OomwatchError(
          'OOMW_STATE',
          `oomwatch: no state database at ${file}: oomwatch serve writes it there while it runs. Start it (oomwatch serve --state-dir ${this.stateDir}), or pass --state-dir DIR where it keeps its state (/var/lib/oomwatch in the oomwatch container; on the host, the volume mounted there)`,
        );
      }
      this.warn(
        `no state database at ${file} (is oomwatch serve running with --state-dir ${this.stateDir}?); going on without ${what}`,
      );
      return undefined;
    }
    const store = new StateStore(this.stateDir, stderrLogger(), { readonly: true });
    try {
      store.open();
    } catch (err) {
      const e = err as Error & { code?: string };
      const denied =
        e.code === 'SQLITE_CANTOPEN' || e.code === 'SQLITE_READONLY' || /permission|access/i.test(e.message);
      const problem = denied
        ? `cannot open ${file} read-only (${e.message}): run as root or as the user oomwatch serve runs as; the directory must also let you read ${DB_FILE}-shm and ${DB_FILE}-wal`
        : `cannot read ${file}: ${e.message}`;
      if (required)
        throw new OomwatchError(denied ? 'OOMW_PERMISSION' : 'OOMW_STATE', `oomwatch: ${problem}`);
      this.warn(`${problem}; going on without ${what}`);
      return undefined;
    }
    const version = store.getMeta('schema_version');
    if (version !== undefined && Number(version) !== SCHEMA_VERSION) {
      void store.stop();
      const problem = `${file} has schema version ${version}, this oomwatch reads version ${SCHEMA_VERSION}: use the oomwatch binary of the running daemon (docker exec <oomwatch container> oomwatch ...)`;
      if (required) throw new OomwatchError('OOMW_STATE', `oomwatch: ${problem}`);
      this.warn(`${problem}; going on without ${what}`);
      return undefined;
    }
    this.stores.push(store);
    return new StateQueries(store);
  }

  close(): void {
    for (const s of this.stores) void s.stop();
    this.stores.length = 0;
  }
}

/**
 * Parse flags, print --help, report usage errors, run the command and turn an OomwatchError into its
 * message and exit code. `body` returns the exit code.
 */
export async function runCommand(
  spec: CommandSpec,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  body: (ctx: CliContext, positional: string[]) => Promise<number>,
): Promise<number> {
  const parsed = parseFlags(spec.flags, argv, env);
  if (parsed.help) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  if (parsed.errors.length > 0) {
    process.stderr.write(
      `${parsed.errors.map((e) => `oomwatch ${spec.name}: ${e}`).join('\n')}\nRun "oomwatch ${spec.name} --help" for usage.\n`,
    );
    return 2;
  }
  // `oomwatch events | head`: the reader went away, which is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  const ctx = new CliContext(parsed.values, env);
  try {
    return await body(ctx, parsed.positional);
  } catch (err) {
    if (err instanceof OomwatchError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  } finally {
    ctx.close();
    // The binary exits as soon as a command returns, and writes to a pipe are asynchronous: wait until
    // everything written has been handed to the reader, or `recommend --all --json | jq` gets half a document.
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  }
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve();
    stream.write('', () => resolve());
  });
}

export function usageError(command: string, message: string): OomwatchError {
  return new OomwatchError(
    'OOMW_USAGE',
    `oomwatch ${command}: ${message}\nRun "oomwatch ${command} --help" for usage.`,
  );
}
