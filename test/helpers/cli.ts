import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CLI } from './daemon';
import { TEST_IMAGE, docker } from './docker';

/**
 * Running the real built `oomwatch` binary as the on-call engineer does, for the test/real/cli-*.test.ts
 * suites: its exit code, stdout and stderr, optionally as an unprivileged user (nobody, through setpriv).
 */

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** The environment without OOMWATCH_* variables a developer's shell may carry. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('OOMWATCH_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, ...extra };
}

function command(args: string[], asNobody: boolean): [string, string[]] {
  return asNobody
    ? [NOBODY[0] as string, [...NOBODY.slice(1), process.execPath, CLI, ...args]]
    : [process.execPath, [CLI, ...args]];
}

export function runCli(
  args: string[],
  opts: { asNobody?: boolean; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliRun> {
  const [cmd, argv] = command(args, opts.asNobody === true);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `oomwatch ${args.join(' ')} did not finish in time; stdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, opts.timeoutMs ?? 30_000);
    // 'close', not 'exit': the process can exit before its stdout and stderr are read to the end.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running command (events --follow, top): lines as they arrive, with their arrival time. */
export interface RunningCli {
  child: ChildProcess;
  lines: Array<{ text: string; atMs: number }>;
  stderr: () => string;
  waitForLine(pred: (line: string) => boolean, timeoutMs: number): Promise<{ text: string; atMs: number }>;
  /** SIGINT (Ctrl-C) and the exit code. */
  interrupt(): Promise<number | null>;
}

export function startCli(args: string[]): RunningCli {
  const [cmd, argv] = command(args, false);
  const child = spawn(cmd, argv, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<{ text: string; atMs: number }> = [];
  let partial = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    partial += c.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      lines.push({ text: partial.slice(0, nl), atMs: Date.now() });
      partial = partial.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return {
    child,
    lines,
    stderr: () => err,
    waitForLine: (pred, timeoutMs) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const check = (): void => {
          const found = lines.find((l) => pred(l.text));
          if (found) return resolve(found);
          if (Date.now() > deadline || child.exitCode !== null) {
            return reject(
              new Error(
                `no matching line within ${timeoutMs} ms; stdout:\n${lines.map((l) => l.text).join('\n')}\nstderr:\n${err}`,
              ),
            );
          }
          setTimeout(check, 20);
        };
        check();
      }),
    interrupt: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGINT');
      }),
  };
}

/** Label on the containers of these suites (not the shared test label: other suites remove those wholesale). */
export const CLI_TEST_LABEL = 'oomwatch.test.cli=1';

/** A name no other suite or engineer on this host uses. */
export function uniqueName(what: string): string {
  return `oomwatch-cli-${what}-${randomBytes(4).toString('hex')}`;
}

/** `docker run -d` of the busybox test image with no network; returns the full id. */
export async function runTestContainer(name: string, dockerArgs: string[], script: string): Promise<string> {
  return docker(
    'run',
    '-d',
    '--network=none',
    '--label',
    CLI_TEST_LABEL,
    '--name',
    name,
    ...dockerArgs,
    TEST_IMAGE,
    'sh',
    '-c',
    script,
  );
}

/**
 * A shell script that puts exactly `mib` MiB in the container's /dev/shm (tmpfs: charged to the container's
 * memory cgroup, not reclaimable, so it is working set) and keeps running. The loop keeps the shell from
 * exec'ing its last command, so nothing else changes. Needs --shm-size above `mib`.
 */
export function holdShm(mib: number): string {
  return `head -c ${mib * 1024 * 1024} /dev/zero > /dev/shm/hold; while true; do sleep 1; done`;
}

/** A script that allocates far past a small limit in the shell's heap: OOM-killed. */
export function blowUp(afterSeconds = 1): string {
  return `sleep ${afterSeconds}; x=$(head -c 104857600 /dev/zero | tr '\\0' a); echo \${#x}`;
}

export async function removeContainers(names: string[]): Promise<void> {
  if (names.length > 0) await docker('rm', '-f', ...names).catch(() => undefined);
}

/** Whether the Docker Compose plugin is installed (`docker compose version`). */
export function hasComposePlugin(): boolean {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
