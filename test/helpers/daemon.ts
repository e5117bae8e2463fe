import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type PromSample, parseExposition } from './prom';
import { REPO } from './paths';

/**
 * Runs the real oomwatch binary (dist/cli.js, built by `npm test`) as a child process, on a free
 * port, and gives the test its URL, its logs and a scrape function.
 */
export const CLI = path.join(REPO, 'dist', 'cli.js');

export interface RunningOomwatch {
  url: string;
  child: ChildProcess;
  logs: string[];
  stateDir: string;
  scrape(): Promise<PromSample[]>;
  scrapeText(accept?: string): Promise<string>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Reuse a state directory (restart tests); a fresh temporary one otherwise. */
  stateDir?: string;
  timeoutMs?: number;
}

export async function startOomwatch(opts: StartOptions = {}): Promise<RunningOomwatch> {
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-state-'));
  const args = [
    CLI,
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--state-dir',
    stateDir,
    '--log-level',
    'debug',
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let buffered = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`oomwatch did not start in time; logs:\n${logs.join('\n')}`)),
      opts.timeoutMs ?? 20_000,
    );
    const onLine = (line: string): void => {
      logs.push(line);
      if (line.includes('"msg":"listening"')) {
        const m = /"address":"([^"]+)"/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      }
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`oomwatch exited with ${code} before listening; logs:\n${logs.join('\n')}`));
    });
  });
  const scrapeText = async (accept?: string): Promise<string> => {
    const res = await fetch(`${url}/metrics`, accept ? { headers: { accept } } : {});
    if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
    return res.text();
  };
  return {
    url,
    child,
    logs,
    stateDir,
    scrapeText,
    scrape: async () => parseExposition(await scrapeText()),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** Poll `probe` until it returns a value that is not undefined, or fail after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
